-- wrk_status.lua — the wrk script of bench_tweets.sh: one request shape per
-- run, every answer's status counted, and one machine-readable summary line.
--
-- Environment:
--   BENCH_METHOD     GET or POST (default GET)
--   BENCH_BODY_FILE  file whose content is the request body (POST)
--   BENCH_TOKEN      sent as "Authorization: Bearer <token>" when set
--   BENCH_EXPECT     the one status that counts as success (default 200)
--
-- The last line wrk prints is
--   BENCH requests=N seconds=S rps=R p50_ms=A p99_ms=B max_ms=C expected=N
--         unexpected=N statuses=202:N,503:N errors_connect=N errors_read=N
--         errors_write=N errors_timeout=N
-- A run with unexpected > 0 or any socket error is not a valid figure.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  local method = os.getenv("BENCH_METHOD") or "GET"
  local headers = {}
  local body = nil
  local token = os.getenv("BENCH_TOKEN")
  if token and token ~= "" then
    headers["Authorization"] = "Bearer " .. token
  end
  local file = os.getenv("BENCH_BODY_FILE")
  if file and file ~= "" then
    local f = assert(io.open(file, "rb"))
    body = f:read("*a")
    f:close()
    headers["Content-Type"] = "application/json"
  end
  -- Built once: every request of this thread is the same bytes.
  req = wrk.format(method, nil, headers, body)
end

function request()
  return req
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local expect = tonumber(os.getenv("BENCH_EXPECT") or "200")
  local all, codes = {}, {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses") or {}
    for code, n in pairs(s) do
      all[code] = (all[code] or 0) + n
    end
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
    "BENCH requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "expected=%d unexpected=%d statuses=%s errors_connect=%d errors_read=%d " ..
    "errors_write=%d errors_timeout=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    good, bad, (#list > 0) and table.concat(list, ",") or "-",
    e.connect, e.read, e.write, e.timeout))
end
