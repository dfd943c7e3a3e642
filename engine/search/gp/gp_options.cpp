// GpOptions: validation and JSON.
#include "engine/search/gp/gp_options.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>

#include "engine/util/error.hpp"

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

GpMeanKind parse_mean_kind(const std::string& s) {
  if (s == "zero") return GpMeanKind::zero;
  if (s == "constant") return GpMeanKind::constant;
  if (s == "linear") return GpMeanKind::linear;
  throw InvalidInput("mean must be zero, constant or linear, got '" + s + "'", "mean");
}

void check_range(double lo, double hi, const char* field) {
  if (!(std::isfinite(lo) && std::isfinite(hi) && lo > 0.0 && lo <= hi)) {
    throw InvalidInput(fmt::format("{}: need 0 < min <= max, got [{}, {}]", field, lo, hi), field);
  }
}

template <typename T>
void read(const nlohmann::json& j, const char* key, T& out) {
  if (!j.contains(key)) return;
  try {
    out = j.at(key).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw InvalidInput(fmt::format("{}: {}", key, e.what()), key);
  }
}

}  // namespace

void GpOptions::validate(int64_t n_features) const {
  if (mean == GpMeanKind::linear && linear_mean_columns.empty()) {
    throw InvalidInput("a linear mean needs at least one column", "linear_mean_columns");
  }
  for (int64_t c : linear_mean_columns) {
    if (c < 0 || (n_features >= 0 && c >= n_features)) {
      throw InvalidInput(fmt::format("column {} outside [0, {})", c, n_features), "linear_mean_columns");
    }
  }
  if (lower_bounds.size() != upper_bounds.size()) {
    throw InvalidInput("lower_bounds and upper_bounds differ in length", "upper_bounds");
  }
  if (!lower_bounds.empty()) {
    if (n_features >= 0 && static_cast<int64_t>(lower_bounds.size()) != n_features) {
      throw InvalidInput(fmt::format("{} bounds for {} features", lower_bounds.size(), n_features),
                         "lower_bounds");
    }
    for (size_t i = 0; i < lower_bounds.size(); ++i) {
      if (!(std::isfinite(lower_bounds[i]) && std::isfinite(upper_bounds[i]) &&
            lower_bounds[i] < upper_bounds[i])) {
        throw InvalidInput(fmt::format("feature {}: need lower < upper", i), "lower_bounds");
      }
    }
  }
  check_range(lengthscale_min, lengthscale_max, "lengthscale_min");
  check_range(signal_variance_min, signal_variance_max, "signal_variance_min");
  check_range(noise_variance_floor, noise_variance_max, "noise_variance_floor");
  if (random_starts < 0) throw InvalidInput("must be >= 0", "random_starts");
  if (max_iterations < 0) throw InvalidInput("must be >= 0", "max_iterations");
  if (fit_subset_size < 2) throw InvalidInput("must be >= 2", "fit_subset_size");
  if (polish_iterations < 0) throw InvalidInput("must be >= 0", "polish_iterations");
  if (refit_every < 0) throw InvalidInput("must be >= 0", "refit_every");
  if (!(initial_jitter > 0.0)) throw InvalidInput("must be > 0", "initial_jitter");
  if (max_jitter_tries < 1) throw InvalidInput("must be >= 1", "max_jitter_tries");
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

GpOptions gp_options_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw InvalidInput("GP options must be a JSON object", "gp");
  GpOptions o;
  if (j.contains("mean")) {
    if (!j.at("mean").is_string()) throw InvalidInput("mean must be a string", "mean");
    o.mean = parse_mean_kind(j.at("mean").get<std::string>());
  }
  read(j, "linear_mean_columns", o.linear_mean_columns);
  read(j, "lower_bounds", o.lower_bounds);
  read(j, "upper_bounds", o.upper_bounds);
  read(j, "standardize_outputs", o.standardize_outputs);
  read(j, "lengthscale_min", o.lengthscale_min);
  read(j, "lengthscale_max", o.lengthscale_max);
  read(j, "signal_variance_min", o.signal_variance_min);
  read(j, "signal_variance_max", o.signal_variance_max);
  read(j, "noise_variance_floor", o.noise_variance_floor);
  read(j, "noise_variance_max", o.noise_variance_max);
  read(j, "use_priors", o.use_priors);
  read(j, "random_starts", o.random_starts);
  read(j, "max_iterations", o.max_iterations);
  read(j, "fit_subset_size", o.fit_subset_size);
  read(j, "polish_iterations", o.polish_iterations);
  read(j, "seed", o.seed);
  read(j, "refit_every", o.refit_every);
  read(j, "initial_jitter", o.initial_jitter);
  read(j, "max_jitter_tries", o.max_jitter_tries);
  o.validate(-1);
  return o;
}

}  // namespace flashnas::search
