-- mixed_wrk.lua — the wrk script of tests/bench/bench_mixed.sh.
--
-- Environment:
--   MIXED_ACCOUNTS  the accounts.lua written by mixed_setup.py ({id, token} pairs)
--   MIXED_KIND      mixed (60 % GET /feed, 30 % GET /accounts/{id}/tweets, 10 %
--                   POST /tweets), or feed, timeline or post alone
--                   warm: every account's feed and timeline once (the warm-up)
--   MIXED_THREADS   wrk's -t (the warm-up splits the accounts between threads)
--   MIXED_IDS       file prefix: each wrk thread appends the id of every tweet
--                   answered 202 to PREFIX-<thread>.txt (checked in PostgreSQL)
--
-- Every request is made by a random account with its token: the read and write
-- budgets (CHIRP_RATE_*) are per account. A timeline is a random account's,
-- half the time one of the 200 most followed (the popular ones are read most).
-- The last line printed is
--   BENCH kind=K requests=N seconds=S rps=R p50_ms=A p99_ms=B max_ms=C
--         statuses=200:N,202:N unexpected=N posts=N errors_connect=N errors_read=N
--         errors_write=N errors_timeout=N
-- (wrk's latency percentiles cover every request of the run, whatever its kind.)

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  thread:set("nthreads", tonumber(os.getenv("MIXED_THREADS") or "1"))
  table.insert(threads, thread)
end

function init(args)
  accounts = dofile(os.getenv("MIXED_ACCOUNTS"))
  kind = os.getenv("MIXED_KIND") or "mixed"
  statuses = {}
  posts = 0
  seq = 0
  math.randomseed(os.time() * 1000 + tid * 7919)
  local prefix = os.getenv("MIXED_IDS")
  if prefix and prefix ~= "" then
    ids = assert(io.open(prefix .. "-" .. tid .. ".txt", "a"))
    ids:setvbuf("line")
  end
end

local function account()
  return accounts[math.random(#accounts)]
end

-- warm: thread t of T reads the feed and the timeline of accounts t, t+T, ...
-- once each, then asks for /healthz until the run ends.
local warm_next = nil

function request()
  local k = kind
  if k == "warm" then
    if warm_next == nil then warm_next = tid * 2 - 1 end
    local i = math.floor((warm_next + 1) / 2)
    if i > #accounts then return wrk.format("GET", "/healthz") end
    local a = accounts[i]
    local feed = warm_next % 2 == 1
    warm_next = warm_next + (feed and 1 or 2 * nthreads - 1)
    local headers = { ["Authorization"] = "Bearer " .. a[2] }
    if feed then return wrk.format("GET", "/api/v1/feed?limit=20", headers) end
    return wrk.format("GET", "/api/v1/accounts/" .. a[1] .. "/tweets?limit=20", headers)
  end
  if k == "mixed" then
    local r = math.random(100)
    if r <= 60 then k = "feed" elseif r <= 90 then k = "timeline" else k = "post" end
  end
  local a = account()
  local headers = { ["Authorization"] = "Bearer " .. a[2] }
  if k == "feed" then
    return wrk.format("GET", "/api/v1/feed?limit=20", headers)
  elseif k == "timeline" then
    local b
    if math.random(2) == 1 then b = accounts[math.random(math.min(200, #accounts))] else b = account() end
    return wrk.format("GET", "/api/v1/accounts/" .. b[1] .. "/tweets?limit=20", headers)
  end
  seq = seq + 1
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/api/v1/tweets", headers,
    '{"text":"bench mixed ' .. tid .. "-" .. seq .. ' lorem ipsum dolor sit amet"}')
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 202 then
    posts = posts + 1
    if ids then
      local id = body and body:match('"id":"(%d+)"')
      if id then ids:write(id, "\n") end
    end
  end
end

function done(summary, latency, requests)
  local all, codes, bad, nposts = {}, {}, 0, 0
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses") or {}) do all[code] = (all[code] or 0) + n end
    nposts = nposts + (t:get("posts") or 0)
  end
  for code, n in pairs(all) do
    table.insert(codes, code)
    if code ~= 200 and code ~= 202 then bad = bad + n end
  end
  table.sort(codes)
  local list = {}
  for _, code in ipairs(codes) do table.insert(list, string.format("%d:%d", code, all[code])) end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "BENCH kind=%s requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "statuses=%s unexpected=%d posts=%d errors_connect=%d errors_read=%d errors_write=%d " ..
    "errors_timeout=%d\n",
    os.getenv("MIXED_KIND") or "mixed", summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    (#list > 0) and table.concat(list, ",") or "-", bad, nposts,
    e.connect, e.read, e.write, e.timeout))
end
