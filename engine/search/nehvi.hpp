// Noisy expected hypervolume improvement for two minimised objectives (qNEHVI,
// Daulton et al. 2021, as in BoTorch), with outcome constraints by probability of
// feasibility. The posterior is sampled jointly over the baseline (observed and
// pending points) and each candidate with fixed, seeded base samples; per sample
// the baseline's Pareto staircase is built once and each candidate's exact 2-D
// hypervolume improvement is averaged. Greedy batches: add_pending() appends the
// chosen point to the baseline (one Cholesky row per objective), so the next
// choice sees it. Not the search over candidates (acquisition_search.hpp).
//
// Legend: B baseline points, M candidates, S posterior samples, E encoding dims.
#pragma once

#include <Eigen/Core>

#include <array>
#include <memory>
#include <random>
#include <vector>

#include "engine/search/hypervolume_2d.hpp"
#include "engine/search/objective_model.hpp"

namespace flashnas::search {

// value(x) <= upper_bound, judged by the constraint model's posterior.
struct OutcomeConstraint {
  std::shared_ptr<const ObjectiveModel> model;
  double upper_bound = 0.0;
};

struct NehviOptions {
  int64_t samples = 128;  // S: posterior samples (fixed, seeded base samples), as BoTorch
  uint64_t seed = 0;
};

class NehviAcquisition {
 public:
  // baseline (B, E): observed points plus pending ones. Objectives are minimised and
  // must both be set; the reference point bounds the hypervolume.
  NehviAcquisition(std::array<std::shared_ptr<const ObjectiveModel>, 2> objectives,
                   std::vector<OutcomeConstraint> constraints, const Eigen::Vector2d& reference,
                   const Eigen::MatrixXd& baseline, const NehviOptions& options);

  // Score of each candidate (M, E) -> (M): P(feasible) * E[HVI] when positive;
  // otherwise P(feasible) - 1 (in [-1, 0]), so a candidate that is certainly
  // infeasible scores exactly -1 and ties among zero-improvement candidates go to
  // the more probably feasible one.
  Eigen::VectorXd score(const Eigen::MatrixXd& candidates) const;

  // Probability that each candidate satisfies every constraint: (M).
  Eigen::VectorXd probability_of_feasibility(const Eigen::MatrixXd& candidates) const;

  // Appends x (E) to the baseline as a pending point, jointly sampled.
  void add_pending(const Eigen::VectorXd& x);
  int64_t baseline_size() const { return baseline_.rows(); }

 private:
  // Per objective: the joint samples of the baseline and how to extend them.
  struct ObjectiveSamples {
    Eigen::MatrixXd chol;  // (B, B) lower Cholesky of the baseline posterior covariance
    Eigen::MatrixXd z;     // (B, S) base samples of the baseline
    Eigen::MatrixXd f;     // (B, S) sampled values: mean + chol z
    Eigen::VectorXd zq;    // (S) base samples shared by all candidates of this greedy step
  };
  // Candidate samples (M, S) of objective k, conditioned on the baseline samples.
  Eigen::MatrixXd sample_candidates(int k, const Eigen::MatrixXd& x, Eigen::MatrixXd* a_out,
                                    Eigen::VectorXd* cond_var_out) const;
  bool feasible_by_mean(const Eigen::VectorXd& x) const;
  void draw_step_samples();
  void rebuild_fronts();

  std::array<std::shared_ptr<const ObjectiveModel>, 2> objectives_;
  std::vector<OutcomeConstraint> constraints_;
  Point2 reference_;
  NehviOptions options_;
  std::mt19937_64 rng_;
  Eigen::MatrixXd baseline_;                // (B, E)
  std::vector<char> baseline_feasible_;     // (B)
  std::array<ObjectiveSamples, 2> samples_;
  std::vector<Staircase2> fronts_;          // (S) staircase of the feasible baseline samples
};

}  // namespace flashnas::search
