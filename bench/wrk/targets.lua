-- Shared by the wrk scripts of bench/run.sh: the conversations of BENCH_TARGETS
-- ("<conversation id> <thread id>" per line) and a per-thread counter for unique ids.
local M = {}

function M.load()
  local path = os.getenv("BENCH_TARGETS")
  local list = {}
  for line in io.lines(path) do
    local conv, thread = line:match("^(%S+) (%S+)$")
    if conv then
      list[#list + 1] = {conv = conv, thread = thread}
    end
  end
  assert(#list > 0, "no conversations in " .. tostring(path))
  return list
end

return M
