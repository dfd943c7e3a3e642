-- wrk script for bench/api/run: GET one job with an API key, then print one JSON
-- line with throughput and latency percentiles (microseconds -> milliseconds).
local key = os.getenv("FLASHNAS_BENCH_KEY")
wrk.headers["Authorization"] = "Bearer " .. key

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
               + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "requests_per_second": %.1f, "errors": %d, ' ..
    '"non_2xx": %d, "latency_ms": {"mean": %.3f, "p50": %.3f, "p90": %.3f, "p99": %.3f, "max": %.3f}}\n',
    summary.requests, seconds, summary.requests / seconds, errors, summary.errors.status,
    latency.mean / 1e3, latency:percentile(50) / 1e3, latency:percentile(90) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3))
end
