// ObjectiveModel implementations: GP-backed and fixed deterministic.
#include "engine/search/objective_model.hpp"

#include "engine/util/error.hpp"

namespace flashnas::search {

GpObjectiveModel::GpObjectiveModel(std::shared_ptr<const GaussianProcess> gp, FeatureMap features)
    : gp_(std::move(gp)), features_(std::move(features)) {
  FLASHNAS_CHECK(gp_ && gp_->fitted(), "GpObjectiveModel needs a fitted GP");
}

void GpObjectiveModel::posterior(const Eigen::MatrixXd& x, Eigen::VectorXd& mean, Eigen::VectorXd& variance) const {
  GpPrediction p = gp_->predict(inputs(x));
  mean = std::move(p.mean);
  variance = std::move(p.variance);
}

const GpPointFactors& GpObjectiveModel::factors_of(const Eigen::MatrixXd& x) const {
  const bool hit = cached_x_.rows() == x.rows() && cached_x_.cols() == x.cols() && cached_x_ == x;
  if (!hit) {
    cached_factors_ = gp_->point_factors(inputs(x));
    cached_x_ = x;
  }
  return cached_factors_;
}

Eigen::MatrixXd GpObjectiveModel::covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const {
  const GpPointFactors& fa = factors_of(a);
  if (&a == &b) return gp_->posterior_covariance(fa, fa);
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
