// Options of the Gaussian process (mean function, bounds, priors, fitting budget),
// as a plain struct read from and written to JSON. Not the fitted state.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/util/json_reader_fwd.hpp"

namespace flashnas::search {

// Prior mean of the GP (in standardised output units, on unit-cube inputs).
//   zero:     m(x) = 0
//   constant: m(x) = b0
//   linear:   m(x) = b0 + sum_c b_c x_c over `linear_mean_columns`
// The coefficients are not hyperparameters: given the kernel hyperparameters they
// are fitted by generalised least squares, and their uncertainty enters the
// predictive variance (Rasmussen & Williams 2006, section 2.7).
enum class GpMeanKind : uint8_t { zero, constant, linear };
std::string_view gp_mean_kind_name(GpMeanKind kind);

struct GpOptions {
  GpMeanKind mean = GpMeanKind::constant;
  std::vector<int64_t> linear_mean_columns;  // input columns of the linear mean (linear only)

  // Inputs are mapped to the unit cube by these per-feature bounds; empty: the
  // data's min and max at fit time (a constant feature gets width 1).
  std::vector<double> lower_bounds, upper_bounds;
  bool standardize_outputs = true;  // y -> (y - mean) / sd before fitting

  // Hyperparameter boxes (standardised output units, unit-cube inputs).
  double lengthscale_min = 0.01, lengthscale_max = 50.0;
  double signal_variance_min = 1e-4, signal_variance_max = 50.0;
  double noise_variance_floor = 1e-6, noise_variance_max = 2.0;  // floor == max fixes the noise
  // Weak priors (see gp_log_prior) so length scales and noise do not collapse.
  bool use_priors = true;

  // Fitting budget: each likelihood evaluation is O(N^3), so the multi-start search
  // runs on a seeded subset of at most `fit_subset_size` points and the best start
  // is then polished on all points for `polish_iterations` L-BFGS iterations.
  int64_t random_starts = 2;  // besides the fixed default start (and a warm start on refits)
  int64_t max_iterations = 40;
  int64_t fit_subset_size = 200;
  int64_t polish_iterations = 3;
  uint64_t seed = 0;

  // add_observation() refits the hyperparameters every this many new points
  // (0: never; the Cholesky factor is always updated incrementally).
  int64_t refit_every = 1;

  // Cholesky retries add jitter * mean(diag K), growing 10x per try.
  double initial_jitter = 1e-10;
  int64_t max_jitter_tries = 7;

  // Records every broken rule as {field, reason}, fields under `prefix`;
  // n_features < 0 when the inputs' width is not known yet.
  void validate(FieldErrors& errors, int64_t n_features, const std::string& prefix = "") const;
  void validate(int64_t n_features) const;  // throws one InvalidInput naming every bad field
};

nlohmann::json gp_options_to_json(const GpOptions& options);
// Missing fields keep defaults; unknown fields are refused; validates; every
// bad field is reported in one InvalidInput.
GpOptions gp_options_from_json(const nlohmann::json& j);
// The same from `r`'s object (e.g. the "gp" of NEHVI options), errors recorded
// in r.errors(); the caller reports unknown fields with finish().
GpOptions read_gp_options(JsonObjectReader& r);

}  // namespace flashnas::search
