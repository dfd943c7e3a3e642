// Robust summary statistics of repeated timings: median, median absolute
// deviation, coefficient of variation, min and max. Pure functions on a list of
// samples; not the timing itself (measure_latency.hpp).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flashnas::latency {

struct SampleStats {
  double median = 0.0;
  double mad = 0.0;     // median of |x_i - median|: robust spread, in the samples' unit
  double mean = 0.0;
  double iqm = 0.0;     // interquartile mean: the mean of the middle half of the sorted samples
  double stddev = 0.0;  // sample standard deviation (n - 1); 0 for one sample
  double cv = 0.0;      // stddev / mean: the noise gate of measure_latency
  double min = 0.0;
  double max = 0.0;
  std::vector<double> samples;  // every raw sample, in measurement order
};

// Median of a non-empty list (mean of the two middle values for even sizes).
// Throws flashnas::Error on an empty list.
double median_of(std::vector<double> values);

// Summary of a non-empty list of finite samples; throws flashnas::Error otherwise.
SampleStats summarize_samples(const std::vector<double>& samples);

nlohmann::json sample_stats_to_json(const SampleStats& stats);

// Which summary of the repeated runs stands for the measured latency. The
// median is the convention; on a machine shared with other work the minimum
// estimates the undisturbed latency, since interference only adds time; the
// interquartile mean (iqm) uses more of the samples than the median and is
// less sensitive to one lucky run than the minimum.
enum class LatencyStatistic : uint8_t { median, min, iqm };
std::string_view latency_statistic_name(LatencyStatistic statistic);
// Throws InvalidInput naming `field` for anything but median, min or iqm.
LatencyStatistic parse_latency_statistic(std::string_view text, const std::string& field);
// The chosen summary of `stats`.
double statistic_of(const SampleStats& stats, LatencyStatistic statistic);

}  // namespace flashnas::latency
