-- wrk: bot message accept. Each request is a new end-user message (POST
-- /v1/conversations/{id}/messages) to the conversations of BENCH_TARGETS in turn, with the
-- provider's bot API key BENCH_BEARER.
package.path = os.getenv("BENCH_DIR") .. "/wrk/?.lua;" .. package.path
local targets = require("targets")

local list, n
function init(args)
  list = targets.load()
  n = 0
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_BEARER")
end

function request()
  n = n + 1
  local t = list[(n % #list) + 1]
  return wrk.format("POST", "/v1/conversations/" .. t.conv .. "/messages", nil,
    '{"text":"My order 1234 never arrived"}')
end
