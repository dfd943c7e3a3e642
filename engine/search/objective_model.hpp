// ObjectiveModel: the acquisition's view of one objective (or constraint) over encoded
// search points: posterior mean, variance and covariance of the latent value. Two
// implementations: GpObjectiveModel (a GaussianProcess, either learned by the search
// or fixed and fitted elsewhere, e.g. the latency model, with an optional feature
// map from the search encoding to the GP's inputs) and FixedObjectiveModel (a known
// deterministic function: zero variance). Not the acquisition itself (nehvi.hpp).
//
// Legend: M, Ma, Mb points, E encoding dimensions.
#pragma once

#include <Eigen/Core>

#include <functional>
#include <memory>

#include "engine/search/gp/gaussian_process.hpp"

namespace flashnas::search {

class ObjectiveModel {
 public:
  virtual ~ObjectiveModel() = default;
  // Marginal posterior of the latent objective at x (M, E): mean (M), variance (M).
  virtual void posterior(const Eigen::MatrixXd& x, Eigen::VectorXd& mean, Eigen::VectorXd& variance) const = 0;
  // Posterior covariance between the points of a (Ma, E) and b (Mb, E): (Ma, Mb).
  virtual Eigen::MatrixXd covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const = 0;
};

// Maps encoded points (M, E) to the GP's inputs (M, D).
using FeatureMap = std::function<Eigen::MatrixXd(const Eigen::MatrixXd&)>;

// Caches the posterior factors of the last first argument of covariance(): the
// acquisition asks for covariance(baseline, candidates) many times with the same
// baseline, and the factors cost O(N^2 B). Also those of the last posterior()
// call: the acquisition asks for posterior(candidates) and then
// covariance(baseline, candidates), and the O(N^2 M) solve is done once for both.
// Not thread-safe (one acquisition at a time).
class GpObjectiveModel final : public ObjectiveModel {
 public:
  // The GP must be fitted. Without a feature map the GP's inputs are the encodings.
  explicit GpObjectiveModel(std::shared_ptr<const GaussianProcess> gp, FeatureMap features = nullptr);
  void posterior(const Eigen::MatrixXd& x, Eigen::VectorXd& mean, Eigen::VectorXd& variance) const override;
  Eigen::MatrixXd covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const override;
  const GaussianProcess& gp() const { return *gp_; }

 private:
  // posterior() of more points than this predicts in blocks and keeps nothing:
  // the factors hold an (N, M) matrix.
  static constexpr Eigen::Index kMaxCachedPoints = 2048;
  Eigen::MatrixXd inputs(const Eigen::MatrixXd& x) const { return features_ ? features_(x) : x; }
  struct Cached {
    Eigen::MatrixXd x;  // (M, E) the points, compared exactly
    GpPointFactors factors;
    bool holds(const Eigen::MatrixXd& y) const { return x.rows() == y.rows() && x.cols() == y.cols() && x == y; }
  };
  const GpPointFactors& factors_of(const Eigen::MatrixXd& x, Cached& slot, const Cached& other) const;
  std::shared_ptr<const GaussianProcess> gp_;
  FeatureMap features_;
  mutable Cached baseline_, last_;  // covariance's first argument; posterior's argument
};

class FixedObjectiveModel final : public ObjectiveModel {
 public:
  // f maps encoded points (M, E) to values (M).
  explicit FixedObjectiveModel(std::function<Eigen::VectorXd(const Eigen::MatrixXd&)> f);
  void posterior(const Eigen::MatrixXd& x, Eigen::VectorXd& mean, Eigen::VectorXd& variance) const override;
  Eigen::MatrixXd covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) const override;

 private:
  std::function<Eigen::VectorXd(const Eigen::MatrixXd&)> f_;
};

}  // namespace flashnas::search
