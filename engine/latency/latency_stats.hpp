// Robust summary statistics of repeated timings: median, median absolute
// deviation, coefficient of variation, min and max. Pure functions on a list of
// samples; not the timing itself (measure_latency.hpp).
#pragma once

#include <nlohmann/json_fwd.hpp>

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

}  // namespace flashnas::latency
