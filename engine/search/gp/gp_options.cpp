// GpOptions: validation and JSON.
#include "engine/search/gp/gp_options.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>

#include "engine/util/json_reader.hpp"

namespace flashnas::search {

std::string_view gp_mean_kind_name(GpMeanKind kind) {
  switch (kind) {
    case GpMeanKind::zero: return "zero";
    case GpMeanKind::constant: return "constant";
    case GpMeanKind::linear: return "linear";
  }
  return "?";
}

namespace {

constexpr size_t kMaxFeatures = 4096;  // entries of the per-feature lists

GpMeanKind parse_mean_kind(std::string_view s, const std::string& field) {
  if (s == "zero") return GpMeanKind::zero;
  if (s == "constant") return GpMeanKind::constant;
  if (s == "linear") return GpMeanKind::linear;
  throw InvalidInput(fmt::format("{}: must be zero, constant or linear, got '{}'", field, s), field);
}

// A hyperparameter box: 0 < min <= max, reported on the min field.
void check_box(FieldChecks& c, std::string_view min_key, std::string_view max_key, double lo, double hi) {
  c.require(std::isfinite(lo) && std::isfinite(hi) && lo > 0.0 && lo <= hi, min_key,
            fmt::format("need 0 < min <= max, got [{}, {}]", lo, hi), {max_key});
}

}  // namespace

void GpOptions::validate(FieldErrors& errors, int64_t n_features, const std::string& prefix) const {
  FieldChecks c(errors, prefix);
  c.require(mean != GpMeanKind::linear || !linear_mean_columns.empty(), "linear_mean_columns",
            "a linear mean needs at least one column", {"mean"});
  for (size_t i = 0; i < linear_mean_columns.size(); ++i) {
    const int64_t col = linear_mean_columns[i];
    c.require(col >= 0 && (n_features < 0 || col < n_features), fmt::format("linear_mean_columns[{}]", i),
              n_features < 0 ? fmt::format("must be >= 0, got {}", col)
                             : fmt::format("column {} outside [0, {})", col, n_features));
  }
  c.require(lower_bounds.size() == upper_bounds.size(), "upper_bounds",
            fmt::format("has {} entries, lower_bounds {}", upper_bounds.size(), lower_bounds.size()),
            {"lower_bounds"});
  if (!lower_bounds.empty() && lower_bounds.size() == upper_bounds.size()) {
    c.require(n_features < 0 || static_cast<int64_t>(lower_bounds.size()) == n_features, "lower_bounds",
              fmt::format("{} bounds for {} features", lower_bounds.size(), n_features));
    for (size_t i = 0; i < lower_bounds.size(); ++i) {
      const double lo = lower_bounds[i], hi = upper_bounds[i];
      c.require(std::isfinite(lo) && std::isfinite(hi) && lo < hi, fmt::format("lower_bounds[{}]", i),
                fmt::format("need lower < upper, got [{}, {}]", lo, hi), {fmt::format("upper_bounds[{}]", i)});
    }
  }
  check_box(c, "lengthscale_min", "lengthscale_max", lengthscale_min, lengthscale_max);
  check_box(c, "signal_variance_min", "signal_variance_max", signal_variance_min, signal_variance_max);
  check_box(c, "noise_variance_floor", "noise_variance_max", noise_variance_floor, noise_variance_max);
  c.at_least("random_starts", random_starts, 0);
  c.at_least("max_iterations", max_iterations, 0);
  c.at_least("fit_subset_size", fit_subset_size, 2);
  c.at_least("polish_iterations", polish_iterations, 0);
  c.at_least("refit_every", refit_every, 0);
  c.require(initial_jitter > 0.0 && std::isfinite(initial_jitter), "initial_jitter",
            fmt::format("must be > 0, got {}", initial_jitter));
  c.at_least("max_jitter_tries", max_jitter_tries, 1);
}

void GpOptions::validate(int64_t n_features) const {
  FieldErrors errors;
  validate(errors, n_features);
  errors.throw_if_any();
}

nlohmann::json gp_options_to_json(const GpOptions& o) {
  return {{"mean", std::string(gp_mean_kind_name(o.mean))},
          {"linear_mean_columns", o.linear_mean_columns},
          {"lower_bounds", o.lower_bounds},
          {"upper_bounds", o.upper_bounds},
          {"standardize_outputs", o.standardize_outputs},
          {"lengthscale_min", o.lengthscale_min},
          {"lengthscale_max", o.lengthscale_max},
          {"signal_variance_min", o.signal_variance_min},
          {"signal_variance_max", o.signal_variance_max},
          {"noise_variance_floor", o.noise_variance_floor},
          {"noise_variance_max", o.noise_variance_max},
          {"use_priors", o.use_priors},
          {"random_starts", o.random_starts},
          {"max_iterations", o.max_iterations},
          {"fit_subset_size", o.fit_subset_size},
          {"polish_iterations", o.polish_iterations},
          {"seed", o.seed},
          {"refit_every", o.refit_every},
          {"initial_jitter", o.initial_jitter},
          {"max_jitter_tries", o.max_jitter_tries}};
}

GpOptions read_gp_options(JsonObjectReader& r) {
  GpOptions o;
  o.mean = r.parsed("mean", false, parse_mean_kind).value_or(o.mean);
  o.linear_mean_columns = r.integers("linear_mean_columns", false, kMaxFeatures).value_or(o.linear_mean_columns);
  o.lower_bounds = r.numbers("lower_bounds", false, kMaxFeatures).value_or(o.lower_bounds);
  o.upper_bounds = r.numbers("upper_bounds", false, kMaxFeatures).value_or(o.upper_bounds);
  o.standardize_outputs = r.boolean("standardize_outputs", false).value_or(o.standardize_outputs);
  o.lengthscale_min = r.number("lengthscale_min", false).value_or(o.lengthscale_min);
  o.lengthscale_max = r.number("lengthscale_max", false).value_or(o.lengthscale_max);
  o.signal_variance_min = r.number("signal_variance_min", false).value_or(o.signal_variance_min);
  o.signal_variance_max = r.number("signal_variance_max", false).value_or(o.signal_variance_max);
  o.noise_variance_floor = r.number("noise_variance_floor", false).value_or(o.noise_variance_floor);
  o.noise_variance_max = r.number("noise_variance_max", false).value_or(o.noise_variance_max);
  o.use_priors = r.boolean("use_priors", false).value_or(o.use_priors);
  o.random_starts = r.integer("random_starts", false).value_or(o.random_starts);
  o.max_iterations = r.integer("max_iterations", false).value_or(o.max_iterations);
  o.fit_subset_size = r.integer("fit_subset_size", false).value_or(o.fit_subset_size);
  o.polish_iterations = r.integer("polish_iterations", false).value_or(o.polish_iterations);
  o.seed = r.unsigned_integer("seed", false).value_or(o.seed);
  o.refit_every = r.integer("refit_every", false).value_or(o.refit_every);
  o.initial_jitter = r.number("initial_jitter", false).value_or(o.initial_jitter);
  o.max_jitter_tries = r.integer("max_jitter_tries", false).value_or(o.max_jitter_tries);
  o.validate(r.errors(), -1, r.prefix());
  return o;
}

GpOptions gp_options_from_json(const nlohmann::json& j) { return read_object(j, "", "gp", read_gp_options); }

}  // namespace flashnas::search
