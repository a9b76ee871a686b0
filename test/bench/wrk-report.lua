-- wrk script used by test/bench/bench.mjs (the same as the peer benchmark harness uses).
-- Env: BENCH_METHOD (GET|POST), BENCH_BODY_BYTES (POST body size),
--      BENCH_HOST (optional Host header override, for name-routed tunnels).
-- Prints one line "BENCHJSON {...}" with raw counters; latency in microseconds.
local method = os.getenv("BENCH_METHOD") or "GET"
local body_bytes = tonumber(os.getenv("BENCH_BODY_BYTES") or "0")
local host = os.getenv("BENCH_HOST")

wrk.method = method
if body_bytes > 0 then
  wrk.body = string.rep("b", body_bytes)
  wrk.headers["Content-Type"] = "application/octet-stream"
end
if host and host ~= "" then
  wrk.headers["Host"] = host
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"lat_p50_us":%d,"lat_p99_us":%d,"lat_mean_us":%.1f,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
