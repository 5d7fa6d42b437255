-- wrk script: POST a JSON signup with a unique username per request.
-- BENCH_PREFIX makes names unique across runs.
local threads = {}
local prefix = os.getenv("BENCH_PREFIX") or "u"

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

counter = 0
bad = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  counter = counter + 1
  local name = prefix .. "t" .. tid .. "n" .. counter
  local body = '{"username":"' .. name .. '","email":"' .. name .. '@example.com"}'
  return wrk.format(nil, wrk.path, nil, body)
end

function response(status, headers, body)
  if status ~= 201 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local non_201 = 0
  for _, thread in ipairs(threads) do
    non_201 = non_201 + thread:get("bad")
  end
  local errors = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "rps": %.2f, "p50_ms": %.3f, "p99_ms": %.3f, ' ..
    '"mean_ms": %.3f, "non_201": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000,
    non_201, errors.connect + errors.read + errors.write + errors.timeout))
end
