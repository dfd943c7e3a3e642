// The latency model as a linearised search objective (see latency_objective.hpp).
#include "engine/latency/latency_objective.hpp"

#include <cmath>

#include "engine/util/error.hpp"

namespace flashnas::latency {

LatencyObjectiveModel::LatencyObjectiveModel(std::shared_ptr<const LatencyModel> model, search::FeatureMap features,
                                             double prefill_weight, double decode_weight)
    : model_(std::move(model)), features_(std::move(features)), weight_{prefill_weight, decode_weight} {
  FLASHNAS_CHECK(model_ && features_, "LatencyObjectiveModel needs a model and a feature map");
  FLASHNAS_CHECK(prefill_weight >= 0 && decode_weight >= 0 && prefill_weight + decode_weight > 0,
                 "latency objective weights ({}, {}) must be non-negative, one positive", prefill_weight,
                 decode_weight);
}

LatencyObjectiveModel::Factors LatencyObjectiveModel::factors(const Eigen::MatrixXd& x) const {
  const LatencyModel::GpInputs in = model_->gp_inputs(features_(x));
  Factors out;
  for (int k = 0; k < 2; ++k) {
    if (weight_[k] == 0.0) continue;
    out.gp[k] = gp(k).point_factors(in.x[k]);
    out.scale[k] = weight_[k] * (out.gp[k].mean + in.offset[k]).array().exp();
  }
  return out;
}

const LatencyObjectiveModel::Factors& LatencyObjectiveModel::factors_of(const Eigen::MatrixXd& x, Cached& slot,
                                                                      const Cached& other) const {
  if (slot.holds(x)) return slot.factors;
  slot.factors = other.holds(x) ? other.factors : factors(x);
  slot.x = x;
  return slot.factors;
}

void LatencyObjectiveModel::posterior(const Eigen::MatrixXd& x, Eigen::VectorXd& mean,
                                      Eigen::VectorXd& variance) const {
  mean = Eigen::VectorXd::Zero(x.rows());
  variance = Eigen::VectorXd::Zero(x.rows());
  if (x.rows() > kMaxCachedPoints) {  // predict() bounds its temporaries by blocks
    const LatencyModel::GpInputs in = model_->gp_inputs(features_(x));
    for (int k = 0; k < 2; ++k) {
      if (weight_[k] == 0.0) continue;
      const search::GpPrediction p = gp(k).predict(in.x[k]);
      const Eigen::ArrayXd scale = weight_[k] * (p.mean + in.offset[k]).array().exp();
      mean.array() += scale;
      variance.array() += scale.square() * p.variance.array();
    }
    return;
  }
  const Factors& fx = factors_of(x, last_, baseline_);
  for (int k = 0; k < 2; ++k) {
    if (weight_[k] == 0.0) continue;
    mean.array() += fx.scale[k].array();
    variance.array() += fx.scale[k].array().square() * gp(k).posterior_variance(fx.gp[k]).array();
  }
}

Eigen::MatrixXd LatencyObjectiveModel::covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const {
  const Factors& fa = factors_of(a, baseline_, last_);
  const bool same = &a == &b, last = !same && last_.holds(b);
  const Factors fb_local = same || last ? Factors{} : factors(b);
  const Factors& fb = same ? fa : last ? last_.factors : fb_local;
  Eigen::MatrixXd out = Eigen::MatrixXd::Zero(a.rows(), b.rows());
  for (int k = 0; k < 2; ++k) {
    if (weight_[k] == 0.0) continue;
    out += fa.scale[k].asDiagonal() * gp(k).posterior_covariance(fa.gp[k], fb.gp[k]) * fb.scale[k].asDiagonal();
  }
  return out;
}

}  // namespace flashnas::latency
