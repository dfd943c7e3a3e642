// Multi-objective TPE (MOTPE: Ozaki et al., GECCO 2020 and JAIR 2022) as Optuna 3.1's
// TPESampler runs it on several objectives with its defaults (sampler.py,
// hssp.py): the observations are split into a good set (whole non-dominated fronts,
// the last one cut by greedy hypervolume subset selection) and the rest; the good
// points are weighted by their hypervolume contributions; each dimension gets a
// Parzen estimator l for the good points and g for the rest (independent sampling,
// multivariate=False), and takes the best of 24 draws from l by log l - log g.
// Works on encodings in [0, 1]^E; mapping a draw to a valid point of a discrete space
// is the caller's (SearchSpace::nearest_valid). Objectives are minimised.
// The optimiser that uses it (random start-up, batches, de-duplication) is in optimizers.hpp.
//
// Legend: N observed points, E encoding dims, B good ("below") points.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <random>
#include <vector>

#include "engine/search/parzen_estimator.hpp"

namespace flashnas::search {

struct TpeOptions {
  int64_t ei_candidates = 24;  // Optuna's n_ei_candidates: draws from l per dimension
  ParzenOptions parzen;
};

// Optuna's default_gamma: how many of n observations are good, min(ceil(0.1 n), 25).
int64_t tpe_default_gamma(int64_t n);

// Optuna's default_weights for g's n observations in evaluation order: 1 for the
// newest 25, a linear ramp from 1/n up to 1 for the older ones.
Eigen::VectorXd tpe_default_weights(int64_t n);

// The reference point Optuna uses inside TPE: the worst value of each objective of
// y (N, 2) moved 10% of its magnitude further out (1e-12 where that is 0).
Eigen::Vector2d tpe_reference_point(const Eigen::MatrixXd& y);

// Greedy hypervolume subset selection (Guerreiro et al. 2016, a 1 - 1/e
// approximation): k rows of y (N, 2) picked one by one, each adding the most
// hypervolume against `reference` to those already picked; ties go to the lower row.
// Returns row indices in the order picked.
std::vector<int64_t> greedy_hypervolume_subset(const Eigen::MatrixXd& y, int64_t k,
                                               const Eigen::Vector2d& reference);

struct TpeSplit {
  std::vector<int64_t> below;  // n_below rows: whole fronts by rank, then the subset's picks in order
  std::vector<int64_t> above;  // every other row, ascending (evaluation order)
};

// Optuna's _split_observation_pairs for several objectives: y (N, 2), 0 <= n_below <= N.
TpeSplit tpe_split(const Eigen::MatrixXd& y, int64_t n_below);

// Optuna's _calculate_weights_below_for_multi_objective: each good point's exclusive
// hypervolume contribution within y_below (B, 2) against tpe_reference_point(y_below),
// plus 1e-12, over the largest; (B) in (0, 1]. Dominated good points get about 1e-12.
Eigen::VectorXd tpe_below_weights(const Eigen::MatrixXd& y_below);

// l and g of every dimension for one set of observations x (N, E), y (N, 2), N >= 1.
class TpeModel {
 public:
  TpeModel(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y, const TpeOptions& options);

  // One proposal in [0, 1]^E (E): per dimension, the draw from l with the largest
  // log l - log g among ei_candidates draws (the first on ties).
  Eigen::VectorXd sample(std::mt19937_64& rng) const;

  const TpeSplit& split() const { return split_; }
  const std::vector<ParzenEstimator>& below() const { return below_; }  // l per dimension (E)
  const std::vector<ParzenEstimator>& above() const { return above_; }  // g per dimension (E)

 private:
  TpeOptions options_;
  TpeSplit split_;
  std::vector<ParzenEstimator> below_, above_;
};

}  // namespace flashnas::search
