// Median, MAD and coefficient of variation of timing samples.
#include "engine/latency/latency_stats.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "engine/util/error.hpp"

namespace flashnas::latency {

double median_of(std::vector<double> values) {
  FLASHNAS_CHECK(!values.empty(), "median of an empty list");
  const size_t n = values.size();
  const size_t mid = n / 2;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid), values.end());
  const double upper = values[mid];
  if (n % 2 == 1) return upper;
  const double lower = *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
  return 0.5 * (lower + upper);
}

SampleStats summarize_samples(const std::vector<double>& samples) {
  FLASHNAS_CHECK(!samples.empty(), "no samples to summarise");
  for (double s : samples) FLASHNAS_CHECK(std::isfinite(s), "non-finite sample {}", s);
  SampleStats st;
  st.samples = samples;
  st.median = median_of(samples);
  std::vector<double> deviations;
  deviations.reserve(samples.size());
  for (double s : samples) deviations.push_back(std::abs(s - st.median));
  st.mad = median_of(deviations);
  const double n = static_cast<double>(samples.size());
  double sum = 0.0;
  for (double s : samples) sum += s;
  st.mean = sum / n;
  double ss = 0.0;
  for (double s : samples) ss += (s - st.mean) * (s - st.mean);
  st.stddev = samples.size() > 1 ? std::sqrt(ss / (n - 1.0)) : 0.0;
  st.cv = st.mean > 0.0 ? st.stddev / st.mean : 0.0;
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  const size_t cut = sorted.size() / 4;  // dropped from each end
  double middle = 0.0;
  for (size_t i = cut; i < sorted.size() - cut; ++i) middle += sorted[i];
  st.iqm = middle / static_cast<double>(sorted.size() - 2 * cut);
  st.min = *std::min_element(samples.begin(), samples.end());
  st.max = *std::max_element(samples.begin(), samples.end());
  return st;
}

nlohmann::json sample_stats_to_json(const SampleStats& st) {
  return {{"median", st.median}, {"mad", st.mad}, {"mean", st.mean}, {"iqm", st.iqm},
          {"stddev", st.stddev}, {"cv", st.cv},   {"min", st.min},   {"max", st.max},
          {"samples", st.samples}};
}

std::string_view latency_statistic_name(LatencyStatistic statistic) {
  switch (statistic) {
    case LatencyStatistic::min: return "min";
    case LatencyStatistic::iqm: return "iqm";
    case LatencyStatistic::median: break;
  }
  return "median";
}

LatencyStatistic parse_latency_statistic(std::string_view text, const std::string& field) {
  for (LatencyStatistic s : {LatencyStatistic::median, LatencyStatistic::min, LatencyStatistic::iqm}) {
    if (text == latency_statistic_name(s)) return s;
  }
  throw InvalidInput(fmt::format("{} must be median, min or iqm, got '{}'", field, text), field);
}

double statistic_of(const SampleStats& stats, LatencyStatistic statistic) {
  switch (statistic) {
    case LatencyStatistic::min: return stats.min;
    case LatencyStatistic::iqm: return stats.iqm;
    case LatencyStatistic::median: break;
  }
  return stats.median;
}

}  // namespace flashnas::latency
