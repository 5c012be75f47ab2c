-- wrk: durable agent-reply ingest. Each request posts a new agent reply (a message id never
-- used before) to the integration box of BENCH_PROVIDER, over the conversations of
-- BENCH_TARGETS in turn, with the CXone bearer BENCH_BEARER.
package.path = os.getenv("BENCH_DIR") .. "/wrk/?.lua;" .. package.path
local targets = require("targets")

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local list, n, nonce, provider
function init(args)
  list = targets.load()
  n = 0
  nonce = os.getenv("BENCH_NONCE") .. "t" .. tostring(tid)
  provider = os.getenv("BENCH_PROVIDER")
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_BEARER")
end

function request()
  n = n + 1
  local t = list[(n % #list) + 1]
  local id = "wrk-" .. nonce .. "-" .. n
  local body = '{"id":"' .. id .. '","messageContent":{"type":"TEXT","payload":{"text":"reply '
    .. id .. '"}},"thread":{"idOnExternalPlatform":"' .. t.thread .. '"},'
    .. '"authorUser":{"firstName":"Ada","surname":"Agent"}}'
  return wrk.format("POST", "/cxone/" .. provider .. "/box/1.0/posts/" .. t.thread .. "/messages",
    nil, body)
end
