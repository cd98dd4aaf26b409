-- wrk: citizens answering their invitation link (/s/<token>), as a browser does.
--
-- Run with one connection per thread (wrk -tN -cN): each thread is one simulated
-- browser walking one respondent at a time.  An iteration takes a single-use token
-- from MINYI_BENCH_TOKENS (one per line; thread k of N takes lines k, k+N, ...),
-- loads the unit page (it holds the link's CSRF token; invitation pages set no
-- cookie), submits the five items and a comment, and follows the redirect to the
-- thanks page.  A submission counts as completed only when the server answers
-- the POST with the redirect to /thanks.
--
-- The window: MINYI_BENCH_WARMUP seconds are run and forgotten, then
-- MINYI_BENCH_SECONDS are measured; after that no thread starts a new respondent,
-- and each stops once the one it was walking is done, so nothing is cut off
-- mid-request and what the server stored can be compared with what the clients
-- saw.  Each thread then writes what it saw to MINYI_BENCH_OUT/thread-<k>.txt
-- (counts, and the latency in ms of every request answered inside the window);
-- bench_system.py reads those files and ends wrk.
--
-- Why wrk and not locust: the load generator shares the 2 cores with the app and
-- PostgreSQL; locust spent about 1 ms of CPU per submission, wrk a fraction of it.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } minyi_timespec;
int clock_gettime(int clock, minyi_timespec *now);
]])
local CLOCK_MONOTONIC = 1
local clock = ffi.new("minyi_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

local WARMUP = tonumber(os.getenv("MINYI_BENCH_WARMUP") or "0")
local SECONDS = tonumber(os.getenv("MINYI_BENCH_SECONDS") or "20")
local COMMENTS = { "窗口服务态度很好，办事效率高。", "希望周末也能办理业务。", "排队时间有点长。" }

-- In wrk's main Lua state: number the threads and give them one shared clock start
-- (thread:set makes the globals thread_index and started_at of the thread's state).
local threads_seen = 0
local clock_start = nil

function setup(thread)
  clock_start = clock_start or now()
  thread:set("thread_index", threads_seen)
  thread:set("started_at", clock_start)
  threads_seen = threads_seen + 1
end

-- In each thread's own Lua state from here on.
local tokens = {}
local next_token = 1
local window_start, window_end
local token, pending, step, sent_at, flow_started_at
local counts = { completed = 0, completed_in_window = 0, failed = 0, page_failed = 0 }
local latencies = { ["unit page"] = {}, ["submit"] = {}, ["thanks page"] = {},
  ["submission (page + submit + thanks)"] = {} }
local failures = { ["unit page"] = 0, ["submit"] = 0, ["thanks page"] = 0 }

function init(args)
  local threads = tonumber(os.getenv("MINYI_BENCH_THREADS"))
  local line_number = 0
  for line in io.lines(os.getenv("MINYI_BENCH_TOKENS")) do
    if line ~= "" then
      if line_number % threads == thread_index then
        tokens[#tokens + 1] = line
      end
      line_number = line_number + 1
    end
  end
  window_start = started_at + WARMUP
  window_end = window_start + SECONDS
  math.randomseed(thread_index + 1)
end

local function encode(text)
  return (text:gsub("[^%w%-_%.~]", function(character)
    return string.format("%%%02X", string.byte(character))
  end))
end

local function record(name, moment, milliseconds)
  if moment >= window_start then
    local list = latencies[name]
    list[#list + 1] = milliseconds
  end
end

local function fail(name, moment)
  if moment >= window_start then
    failures[name] = failures[name] + 1
  end
end

local function write_out()
  local out = io.open(os.getenv("MINYI_BENCH_OUT") .. "/thread-" .. thread_index .. ".txt", "w")
  for name, value in pairs(counts) do
    out:write("count\t", name, "\t", value, "\n")
  end
  for name, value in pairs(failures) do
    out:write("failures\t", name, "\t", value, "\n")
  end
  for name, list in pairs(latencies) do
    out:write("latency\t", name, "\t", table.concat(list, ","), "\n")
  end
  out:close()
end

local function start_flow()
  token = tokens[next_token]
  next_token = next_token + 1
  step = "unit page"
  pending = wrk.format("GET", "/s/" .. token .. "/1")
end

-- A respondent is done (or failed): start the next, or stop this thread when no other
-- may start.  The event loop ends before the socket turns writable again, so nothing
-- more is sent.
local function flow_done()
  if tokens[next_token] == nil or now() >= window_end then
    write_out()
    wrk.thread:stop()
  else
    start_flow()
  end
end

-- A page or a submission failed: count it and go on with the next respondent.
local function give_up(name, outcome, moment)
  counts[outcome] = counts[outcome] + 1
  fail(name, moment)
  flow_done()
end

-- What to send is decided when the previous answer arrives (response), so calling
-- request() twice sends the same thing: wrk calls it once more than it sends, to
-- check the script.
function request()
  if pending == nil then
    start_flow()
  end
  sent_at = now()
  if step == "unit page" then
    flow_started_at = sent_at
  end
  return pending
end

function response(status, headers, body)
  local moment = now()
  local milliseconds = (moment - sent_at) * 1000
  if step == "unit page" then
    local found = body and body:match('name="csrf_token" type="hidden" value="([^"]+)"')
    if status ~= 200 or not found then
      return give_up("unit page", "page_failed", moment)
    end
    record("unit page", moment, milliseconds)
    local chosen, order = {}, {}
    for name, value in body:gmatch('name="(item_%d+)"[^>]*type="radio" value="(%d+)"') do
      if chosen[name] == nil then
        chosen[name] = {}
        order[#order + 1] = name
      end
      local values = chosen[name]
      values[#values + 1] = value
    end
    local fields = { "csrf_token=" .. encode(found) }
    for _, name in ipairs(order) do
      local values = chosen[name]
      fields[#fields + 1] = name .. "=" .. values[math.random(#values)]
    end
    fields[#fields + 1] = "comment=" .. encode(COMMENTS[math.random(#COMMENTS)])
    fields[#fields + 1] = "action=submit"
    pending = wrk.format("POST", "/s/" .. token .. "/1",
      { ["Content-Type"] = "application/x-www-form-urlencoded" }, table.concat(fields, "&"))
    step = "submit"
  elseif step == "submit" then
    local location = headers["Location"] or headers["location"] or ""
    if status ~= 302 or location:sub(-7) ~= "/thanks" then
      return give_up("submit", "failed", moment)
    end
    record("submit", moment, milliseconds)
    counts.completed = counts.completed + 1
    if moment >= window_start and moment < window_end then
      counts.completed_in_window = counts.completed_in_window + 1
    end
    step = "thanks page"
    pending = wrk.format("GET", "/thanks")
  else
    if status == 200 then
      record("thanks page", moment, milliseconds)
      record("submission (page + submit + thanks)", moment, (moment - flow_started_at) * 1000)
    else
      fail("thanks page", moment)
    end
    flow_done()
  end
end
