-- wrk script: POST an OpenAI chat completion request and print one parseable result line.
-- Environment: BENCH_BODY_FILE (the request body, from bench/workloads.py; without it the tiny
-- prompt below with BENCH_MODEL, default gpt-4o-mini, and BENCH_STREAM=1 for "stream": true),
-- BENCH_KEY (sent as "Authorization: Bearer ..." when set), BENCH_HEADERS (more headers,
-- "name=value;name=value"), BENCH_LABEL (echoed back).
local model = os.getenv("BENCH_MODEL") or "gpt-4o-mini"
local stream = os.getenv("BENCH_STREAM") == "1"
local key = os.getenv("BENCH_KEY")
local body_file = os.getenv("BENCH_BODY_FILE")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
for name, value in string.gmatch(os.getenv("BENCH_HEADERS") or "", "([^=;]+)=([^;]*)") do
  wrk.headers[name] = value
end
if body_file and body_file ~= "" then
  local fh = assert(io.open(body_file, "rb"))
  wrk.body = fh:read("*a")
  fh:close()
else
  wrk.body = '{"model":"' .. model .. '","messages":[{"role":"system","content":"You are terse."},'
    .. '{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":64'
    .. (stream and ',"stream":true' or '') .. '}'
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT label=%s requests=%d rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f "
      .. "non2xx=%d connect_err=%d read_err=%d write_err=%d timeout_err=%d\n",
    os.getenv("BENCH_LABEL") or "-", summary.requests, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect, e.read, e.write, e.timeout))
end
