// ObjectiveModel implementations: GP-backed and fixed deterministic.
#include "engine/search/objective_model.hpp"

#include "engine/util/error.hpp"

namespace flashnas::search {

GpObjectiveModel::GpObjectiveModel(std::shared_ptr<const GaussianProcess> gp, FeatureMap features)
    : gp_(std::move(gp)), features_(std::move(features)) {
  FLASHNAS_CHECK(gp_ && gp_->fitted(), "GpObjectiveModel needs a fitted GP");
}

void GpObjectiveModel::posterior(const Eigen::MatrixXd& x, Eigen::VectorXd& mean, Eigen::VectorXd& variance) const {
  if (x.rows() > kMaxCachedPoints) {  // predict() bounds its temporaries by blocks
    GpPrediction p = gp_->predict(inputs(x));
    mean = std::move(p.mean);
    variance = std::move(p.variance);
    return;
  }
  const GpPointFactors& f = factors_of(x, last_, baseline_);
  mean = f.mean;
  variance = gp_->posterior_variance(f);
}

const GpPointFactors& GpObjectiveModel::factors_of(const Eigen::MatrixXd& x, Cached& slot, const Cached& other) const {
  if (slot.holds(x)) return slot.factors;
  slot.factors = other.holds(x) ? other.factors : gp_->point_factors(inputs(x));
  slot.x = x;
  return slot.factors;
}

Eigen::MatrixXd GpObjectiveModel::covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const {
  const GpPointFactors& fa = factors_of(a, baseline_, last_);
  if (&a == &b) return gp_->posterior_covariance(fa, fa);
  if (last_.holds(b)) return gp_->posterior_covariance(fa, last_.factors);
  return gp_->posterior_covariance(fa, gp_->point_factors(inputs(b)));
}

FixedObjectiveModel::FixedObjectiveModel(std::function<Eigen::VectorXd(const Eigen::MatrixXd&)> f)
    : f_(std::move(f)) {
  FLASHNAS_CHECK(static_cast<bool>(f_), "FixedObjectiveModel needs a function");
}

void FixedObjectiveModel::posterior(const Eigen::MatrixXd& x, Eigen::VectorXd& mean, Eigen::VectorXd& variance) const {
  mean = f_(x);
  FLASHNAS_CHECK(mean.size() == x.rows(), "fixed objective returned {} values for {} points", mean.size(), x.rows());
  variance = Eigen::VectorXd::Zero(x.rows());
}

Eigen::MatrixXd FixedObjectiveModel::covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const {
  return Eigen::MatrixXd::Zero(a.rows(), b.rows());
}

}  // namespace flashnas::search
