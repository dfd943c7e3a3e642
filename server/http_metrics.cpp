// HTTP request counters and latency histograms in Prometheus text format.
#include "server/http_metrics.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace flashnas::server {

void HttpMetrics::observe(const std::string& method, const std::string& route, int status,
                          double seconds) {
  const auto bucket = static_cast<size_t>(
      std::lower_bound(kBuckets.begin(), kBuckets.end(), seconds) - kBuckets.begin());
  std::lock_guard lock(mutex_);
  auto& s = series_[{method, route, status}];
  if (bucket < kBuckets.size()) ++s.buckets[bucket];
  ++s.count;
  s.sum += seconds;
}

std::string prometheus_label(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string HttpMetrics::render() const {
  std::lock_guard lock(mutex_);
  std::string out;
  out += "# HELP flashnas_http_requests_total HTTP requests by method, route pattern and status.\n";
  out += "# TYPE flashnas_http_requests_total counter\n";
  for (const auto& [key, s] : series_) {
    const auto& [method, route, status] = key;
    out += fmt::format("flashnas_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {}\n",
                       prometheus_label(method), prometheus_label(route), status, s.count);
  }
  out += "# HELP flashnas_http_request_duration_seconds Time from routing to response, by route and status.\n";
  out += "# TYPE flashnas_http_request_duration_seconds histogram\n";
  for (const auto& [key, s] : series_) {
    const auto& [method, route, status] = key;
    const std::string labels = fmt::format("method=\"{}\",route=\"{}\",status=\"{}\"",
                                           prometheus_label(method), prometheus_label(route), status);
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kBuckets.size(); ++b) {
      cumulative += s.buckets[b];
      out += fmt::format("flashnas_http_request_duration_seconds_bucket{{{},le=\"{}\"}} {}\n", labels,
                         kBuckets[b], cumulative);
    }
    out += fmt::format("flashnas_http_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n", labels,
                       s.count);
    out += fmt::format("flashnas_http_request_duration_seconds_sum{{{}}} {}\n", labels, s.sum);
    out += fmt::format("flashnas_http_request_duration_seconds_count{{{}}} {}\n", labels, s.count);
  }
  return out;
}

}  // namespace flashnas::server
