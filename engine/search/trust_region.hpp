// The side length of a trust region as TuRBO adapts it (Eriksson et al. 2019, "Scalable
// Global Optimization via Local Bayesian Optimization", NeurIPS, section 2; kept for
// several objectives by MORBO, Daulton et al. 2022, UAI): doubled after
// success_tolerance consecutive batches that improved the observed front's hypervolume,
// halved after failure_tolerance consecutive batches that did not, and back to the
// initial length once it falls below the minimum (where TuRBO restarts). Lengths are
// fractions of the unit range of each encoding entry. Not where candidates are drawn
// (acquisition_search.hpp takes the length) and not the hypervolume (pareto.hpp).
//
// Why NEHVI needs it: with a handful of points in several dimensions the GP's fitted
// length scales are long, so it extrapolates small, spurious trends to the faces of
// the box with confidence; maximised over the whole box, qNEHVI then proposes corners
// (DTLZ2, bench/README.md). Drawn from boxes around the non-dominated points, the
// proposals stay where the data are until the front stops improving locally.
//
// Legend: q batch size, E encoding dims.
#pragma once

#include <Eigen/Core>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>

namespace flashnas::search {

struct TrustRegionOptions {
  bool enabled = true;
  double initial_length = 0.8;      // TuRBO's L_init
  double min_length = 1.0 / 128.0;  // L_min = 2^-7
  double max_length = 1.6;          // L_max
  int64_t success_tolerance = 3;    // tau_succ
  int64_t failure_tolerance = 0;    // tau_fail; 0: ceil(max(4 / q, E / q)), TuRBO's choice
};
nlohmann::json trust_region_options_to_json(const TrustRegionOptions& o);
TrustRegionOptions trust_region_options_from_json(const nlohmann::json& j);  // missing fields keep defaults

struct TrustRegion {
  double length = 0.0;
  int64_t successes = 0, failures = 0;  // consecutive batches since the last change of length
};

TrustRegion start_trust_region(const TrustRegionOptions& o);

// The region after one more batch of q points in an E-dimensional encoding; `improved`:
// whether that batch raised the hypervolume of the observed front.
TrustRegion update_trust_region(const TrustRegion& region, bool improved, int64_t q, int64_t dims,
                                const TrustRegionOptions& o);

// TuRBO's "improved": the new value beats the old by a relative 1e-3.
bool hypervolume_improved(double before, double after);

// The region a sequence of observations leads to, replayed for a caller that keeps
// no state between steps (the search service): y (N, 2) minimised objective values
// in observation order; the first `first` rows start the region, then each
// following group of `batch` rows is one batch, judged by the hypervolume of the
// front observed so far against `reference` (a trailing partial group is not judged yet).
TrustRegion replay_trust_region(const Eigen::MatrixXd& y, const Eigen::Vector2d& reference, int64_t first,
                                int64_t batch, int64_t dims, const TrustRegionOptions& o);

}  // namespace flashnas::search
