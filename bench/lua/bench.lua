-- One wrk script for every row, so that every row pays the same Lua costs.
--
--   wrk -s bench.lua URL -- get                       GET the URL's path
--   wrk -s bench.lua URL -- post FILE TYPE [ACCEPT]   POST FILE's bytes as TYPE
--   wrk -s bench.lua URL -- paths FILE                GET each line of FILE in turn, cycling
--   wrk -s bench.lua URL -- once FILE TYPE THREADS    POST each "path<TAB>body" line once
--
-- In "once" mode thread k of THREADS takes lines k, k+THREADS, ...: no line is
-- sent twice, so each 2xx is one secret really revealed. A thread that runs out
-- stops (and counts it), so a run that was too long ends early and shows it.
-- done() prints one line: BENCH {json}.

local threads = {}
local next_index = 1

function setup(thread)
   thread:set("index", next_index)
   next_index = next_index + 1
   table.insert(threads, thread)
end

local mode, lines, pos, step, fixed
ok, other, exhausted = 0, 0, 0

local function read_lines(path)
   local found = {}
   for line in io.lines(path) do
      if #line > 0 then found[#found + 1] = line end
   end
   return found
end

function init(args)
   mode = args[1]
   if mode == "post" then
      local file = assert(io.open(args[2], "rb"))
      wrk.body = file:read("*a")
      file:close()
      wrk.method = "POST"
      wrk.headers["Content-Type"] = args[3]
      if args[4] then wrk.headers["Accept"] = args[4] end
      fixed = wrk.format()
   elseif mode == "paths" then
      lines = read_lines(args[2])
      pos = index
   elseif mode == "once" then
      lines = read_lines(args[2])
      wrk.headers["Content-Type"] = args[3]
      step = tonumber(args[4])
      pos = index
   else
      fixed = wrk.format("GET")
   end
end

function request()
   if mode == "paths" then
      local path = lines[(pos - 1) % #lines + 1]
      pos = pos + 1
      return wrk.format("GET", path)
   elseif mode == "once" then
      local line = lines[pos]
      if line == nil then
         -- Out of inputs: stop this thread, so that the run's duration (and so
         -- its rate) covers only the time it had real work.
         exhausted = exhausted + 1
         wrk.thread:stop()
         return wrk.format("GET", "/__exhausted__", nil, "")
      end
      pos = pos + step
      local tab = line:find("\t", 1, true)
      return wrk.format("POST", line:sub(1, tab - 1), nil, line:sub(tab + 1))
   end
   return fixed
end

function response(status, headers, body)
   if status >= 200 and status < 300 then
      ok = ok + 1
   else
      other = other + 1
   end
end

function done(summary, latency, requests)
   local total_ok, total_other, total_exhausted = 0, 0, 0
   for _, thread in ipairs(threads) do
      total_ok = total_ok + thread:get("ok")
      total_other = total_other + thread:get("other")
      total_exhausted = total_exhausted + thread:get("exhausted")
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"ok":%d,"other":%d,' ..
      '"exhausted":%d,"socket_errors":%d,"timeouts":%d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      total_ok, total_other, total_exhausted,
      errors.connect + errors.read + errors.write, errors.timeout))
end
