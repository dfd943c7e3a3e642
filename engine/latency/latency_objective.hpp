// LatencyObjectiveModel: a fitted latency model seen as a search objective (or
// outcome constraint) over encoded architectures, as stage 2 uses it: the value
// is w_prefill * TTFT + w_decode * decode ms/token, each latency log-normal from
// its GP on log latency. The acquisition needs a Gaussian posterior, so the sum
// is linearised at the posterior median (the delta method): mean
// sum_k w_k exp(m_k), covariance sum_k w_k^2 exp(m_k(a)) exp(m_k(b)) Cov_k(a, b).
// At the few-percent relative uncertainty of a fitted latency model the
// linearisation error is a fraction of that uncertainty. A transferred model's
// GPs are queried through LatencyModel::gp_inputs (the source's prediction as
// an input and offset). Not the model itself
// (latency_model.hpp) nor the acquisition (engine/search/nehvi.hpp).
//
// Legend: M, Ma, Mb points, E encoding dims, D latency features.
#pragma once

#include <Eigen/Core>

#include <memory>

#include "engine/latency/latency_model.hpp"
#include "engine/search/objective_model.hpp"

namespace flashnas::latency {

class LatencyObjectiveModel final : public search::ObjectiveModel {
 public:
  // features: encoded points (M, E) -> latency features (M, D). At least one
  // weight must be positive, none negative.
  LatencyObjectiveModel(std::shared_ptr<const LatencyModel> model, search::FeatureMap features,
                        double prefill_weight, double decode_weight);

  void posterior(const Eigen::MatrixXd& x, Eigen::VectorXd& mean, Eigen::VectorXd& variance) const override;
  Eigen::MatrixXd covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const override;

 private:
  // Per point set: each used GP's posterior factors and w_k exp(m_k) per point.
  struct Factors {
    search::GpPointFactors gp[2];
    Eigen::VectorXd scale[2];  // (M)
  };
  struct Cached {
    Eigen::MatrixXd x;  // (M, E) the points, compared exactly
    Factors factors;
    bool holds(const Eigen::MatrixXd& y) const { return x.rows() == y.rows() && x.cols() == y.cols() && x == y; }
  };
  // posterior() of more points than this predicts in blocks and keeps nothing.
  static constexpr Eigen::Index kMaxCachedPoints = 2048;
  Factors factors(const Eigen::MatrixXd& x) const;
  const Factors& factors_of(const Eigen::MatrixXd& x, Cached& slot, const Cached& other) const;
  const search::GaussianProcess& gp(int k) const { return k == 0 ? model_->prefill_gp() : model_->decode_gp(); }

  std::shared_ptr<const LatencyModel> model_;
  search::FeatureMap features_;
  double weight_[2];
  // The acquisition asks for covariance(baseline, candidates) many times with one
  // baseline, and for posterior(candidates) right before covariance(baseline,
  // candidates): both factor sets are kept, so the features and the O(N^2 M)
  // solves are computed once per point set. Not thread-safe (one acquisition at a time).
  mutable Cached baseline_, last_;  // covariance's first argument; posterior's argument
};

}  // namespace flashnas::latency
