// TuRBO's trust-region length schedule, and its options as JSON.
#include "engine/search/trust_region.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "engine/search/pareto.hpp"
#include "engine/util/error.hpp"

namespace flashnas::search {

TrustRegion start_trust_region(const TrustRegionOptions& o) { return TrustRegion{o.initial_length, 0, 0}; }

TrustRegion update_trust_region(const TrustRegion& region, bool improved, int64_t q, int64_t dims,
                                const TrustRegionOptions& o) {
  if (q < 1 || dims < 1) throw InvalidInput("batch size and dimensions must be >= 1", "batch");
  const double batches = static_cast<double>(q);
  const int64_t failure_tolerance =
      o.failure_tolerance > 0
          ? o.failure_tolerance
          : static_cast<int64_t>(std::ceil(std::max(4.0 / batches, static_cast<double>(dims) / batches)));
  TrustRegion r = region;
  if (improved) {
    ++r.successes;
    r.failures = 0;
  } else {
    ++r.failures;
    r.successes = 0;
  }
  if (r.successes >= o.success_tolerance) {
    r.length = std::min(2.0 * r.length, o.max_length);
    r.successes = 0;
  } else if (r.failures >= failure_tolerance) {
    r.length *= 0.5;
    r.failures = 0;
  }
  if (r.length < o.min_length) r = start_trust_region(o);
  return r;
}

bool hypervolume_improved(double before, double after) { return after > before + 1e-3 * std::abs(before); }

TrustRegion replay_trust_region(const Eigen::MatrixXd& y, const Eigen::Vector2d& reference, int64_t first,
                                int64_t batch, int64_t dims, const TrustRegionOptions& o) {
  FLASHNAS_CHECK(y.cols() == 2 && first >= 0 && batch >= 1, "replay_trust_region: bad shapes");
  TrustRegion region = start_trust_region(o);
  const int64_t n = y.rows();
  double before = hypervolume_2d(y.topRows(std::min(first, n)), reference);
  for (int64_t end = first + batch; end <= n; end += batch) {
    const double after = hypervolume_2d(y.topRows(end), reference);
    region = update_trust_region(region, hypervolume_improved(before, after), batch, dims, o);
    before = after;
  }
  return region;
}

nlohmann::json trust_region_options_to_json(const TrustRegionOptions& o) {
  return {{"enabled", o.enabled},
          {"initial_length", o.initial_length},
          {"min_length", o.min_length},
          {"max_length", o.max_length},
          {"success_tolerance", o.success_tolerance},
          {"failure_tolerance", o.failure_tolerance}};
}

TrustRegionOptions trust_region_options_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw InvalidInput("trust region options must be an object", "trust_region");
  TrustRegionOptions o;
  if (j.contains("enabled")) {
    if (!j.at("enabled").is_boolean()) throw InvalidInput("enabled must be a boolean", "enabled");
    o.enabled = j.at("enabled").get<bool>();
  }
  auto read_length = [&](const char* key, double& out) {
    if (!j.contains(key)) return;
    if (!j.at(key).is_number() || !(j.at(key).get<double>() > 0.0) || !std::isfinite(j.at(key).get<double>())) {
      throw InvalidInput(fmt::format("{} must be a positive number", key), key);
    }
    out = j.at(key).get<double>();
  };
  read_length("initial_length", o.initial_length);
  read_length("min_length", o.min_length);
  read_length("max_length", o.max_length);
  auto read_count = [&](const char* key, int64_t& out, int64_t min) {
    if (!j.contains(key)) return;
    if (!j.at(key).is_number_integer() || j.at(key).get<int64_t>() < min) {
      throw InvalidInput(fmt::format("{} must be an integer >= {}", key, min), key);
    }
    out = j.at(key).get<int64_t>();
  };
  read_count("success_tolerance", o.success_tolerance, 1);
  read_count("failure_tolerance", o.failure_tolerance, 0);
  if (!(o.min_length <= o.initial_length && o.initial_length <= o.max_length)) {
    throw InvalidInput("need min_length <= initial_length <= max_length", "initial_length");
  }
  return o;
}

}  // namespace flashnas::search
