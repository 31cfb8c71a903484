-- feed_wrk.lua — the wrk script of bench_feed.sh and bench_likes.sh: one
-- request shape per run, every answer's status counted, one summary line.
--
-- Environment:
--   BENCH_METHOD       GET or POST (default GET)
--   BENCH_BODY_FILE    file whose content is the request body
--   BENCH_TOKEN        sent as "Authorization: Bearer <token>"
--   BENCH_TOKENS_FILE  one token per line: each request takes the next one,
--                      thread k of T using lines k, k+T, k+2T, ... so no two
--                      requests of a run share a token until the file is used
--                      up (then it starts over)
--   BENCH_EXPECT       the status that counts as success (default 200)
--
-- Last line:
--   BENCH requests=N seconds=S rps=R ok_rps=R2 p50_ms=A p99_ms=B max_ms=C
--         expected=N unexpected=N statuses=202:N,... wrapped=N
--         errors_connect=N errors_read=N errors_write=N errors_timeout=N
-- (rps counts every answer, ok_rps only the expected status.)

local threads = {}
local nthreads = 0

function setup(thread)
  thread:set("tid", nthreads)
  nthreads = nthreads + 1
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  wrapped = 0
  local method = os.getenv("BENCH_METHOD") or "GET"
  local body = nil
  local file = os.getenv("BENCH_BODY_FILE")
  base_headers = {}
  if file and file ~= "" then
    local f = assert(io.open(file, "rb"))
    body = f:read("*a")
    f:close()
    base_headers["Content-Type"] = "application/json"
  end
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then
    base_headers["Authorization"] = "Bearer " .. token
  end
  req_method, req_body = method, body
  tokens = nil
  local tf = os.getenv("BENCH_TOKENS_FILE")
  if tf and tf ~= "" then
    tokens = {}
    for line in io.lines(tf) do
      if line ~= "" then tokens[#tokens + 1] = line end
    end
    -- the thread count is only known in setup(); wrk passes it nowhere else
    stride = tonumber(os.getenv("BENCH_THREADS") or "1")
    nexti = tid + 1
  end
  if not tokens then
    fixed = wrk.format(method, nil, base_headers, body)
  end
end

function request()
  if fixed then return fixed end
  local t = tokens[nexti]
  nexti = nexti + stride
  if nexti > #tokens then
    nexti = tid + 1
    wrapped = wrapped + 1
  end
  local h = {}
  for k, v in pairs(base_headers) do h[k] = v end
  h["Authorization"] = "Bearer " .. t
  return wrk.format(req_method, nil, h, req_body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local expect = tonumber(os.getenv("BENCH_EXPECT") or "200")
  local all, codes, wraps = {}, {}, 0
  for _, t in ipairs(threads) do
    local s = t:get("statuses") or {}
    for code, n in pairs(s) do
      all[code] = (all[code] or 0) + n
    end
    wraps = wraps + (t:get("wrapped") or 0)
  end
  local good, bad = 0, 0
  for code, n in pairs(all) do
    table.insert(codes, code)
    if code == expect then good = good + n else bad = bad + n end
  end
  table.sort(codes)
  local list = {}
  for _, code in ipairs(codes) do
    table.insert(list, string.format("%d:%d", code, all[code]))
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d seconds=%.3f rps=%.1f ok_rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "expected=%d unexpected=%d statuses=%s wrapped=%d errors_connect=%d errors_read=%d " ..
    "errors_write=%d errors_timeout=%d\n",
    summary.requests, secs, summary.requests / secs, good / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    good, bad, (#list > 0) and table.concat(list, ",") or "-", wraps,
    e.connect, e.read, e.write, e.timeout))
end
