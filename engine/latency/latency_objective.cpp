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
  const Eigen::MatrixXd f = features_(x);
  Factors out;
  for (int k = 0; k < 2; ++k) {
    if (weight_[k] == 0.0) continue;
    out.gp[k] = gp(k).point_factors(f);
    out.scale[k] = weight_[k] * out.gp[k].mean.array().exp();
  }
  return out;
}

const LatencyObjectiveModel::Factors& LatencyObjectiveModel::cached_factors(const Eigen::MatrixXd& x) const {
  const bool hit = cached_x_.rows() == x.rows() && cached_x_.cols() == x.cols() && cached_x_ == x;
  if (!hit) {
    cached_ = factors(x);
    cached_x_ = x;
  }
  return cached_;
}

void LatencyObjectiveModel::posterior(const Eigen::MatrixXd& x, Eigen::VectorXd& mean,
                                      Eigen::VectorXd& variance) const {
  const Eigen::MatrixXd f = features_(x);
  mean = Eigen::VectorXd::Zero(x.rows());
  variance = Eigen::VectorXd::Zero(x.rows());
  for (int k = 0; k < 2; ++k) {
    if (weight_[k] == 0.0) continue;
    const search::GpPrediction p = gp(k).predict(f);
    const Eigen::ArrayXd scale = weight_[k] * p.mean.array().exp();
    mean.array() += scale;
    variance.array() += scale.square() * p.variance.array().max(0.0);
  }
}

Eigen::MatrixXd LatencyObjectiveModel::covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const {
  const Factors& fa = cached_factors(a);
  const Factors fb_local = &a == &b ? Factors{} : factors(b);
  const Factors& fb = &a == &b ? fa : fb_local;
  Eigen::MatrixXd out = Eigen::MatrixXd::Zero(a.rows(), b.rows());
  for (int k = 0; k < 2; ++k) {
    if (weight_[k] == 0.0) continue;
    out += fa.scale[k].asDiagonal() * gp(k).posterior_covariance(fa.gp[k], fb.gp[k]) * fb.scale[k].asDiagonal();
  }
  return out;
}

}  // namespace flashnas::latency
