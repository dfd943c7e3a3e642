// qNEHVI for two objectives: joint baseline samples, conditional candidate samples,
// exact 2-D hypervolume improvement, probability of feasibility.
#include "engine/search/nehvi.hpp"

#include <cmath>

#include "engine/search/gp/gp_likelihood.hpp"
#include "engine/util/error.hpp"

namespace flashnas::search {

namespace {

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// Jitter keeps the baseline covariance factorable: observed points have posterior
// variance near the noise level, and duplicates or fixed models give zero.
constexpr double kRelativeJitter = 1e-8;
constexpr double kAbsoluteJitter = 1e-12;

}  // namespace

NehviAcquisition::NehviAcquisition(std::array<std::shared_ptr<const ObjectiveModel>, 2> objectives,
                                   std::vector<OutcomeConstraint> constraints, const Eigen::Vector2d& reference,
                                   const Eigen::MatrixXd& baseline, const NehviOptions& options)
    : objectives_(std::move(objectives)),
      constraints_(std::move(constraints)),
      reference_{reference(0), reference(1)},
      options_(options),
      rng_(options.seed),
      baseline_(baseline) {
  FLASHNAS_CHECK(objectives_[0] && objectives_[1], "NEHVI needs two objective models");
  if (options_.samples < 1) throw InvalidInput("must be >= 1", "samples");
  if (!reference.allFinite()) throw InvalidInput("reference point is not finite", "reference");
  for (const auto& c : constraints_) FLASHNAS_CHECK(c.model != nullptr, "constraint without a model");
  const Eigen::Index b = baseline_.rows(), s = options_.samples;
  std::normal_distribution<double> normal(0.0, 1.0);
  for (int k = 0; k < 2; ++k) {
    ObjectiveSamples& os = samples_[k];
    os.z.resize(b, s);
    for (Eigen::Index i = 0; i < os.z.size(); ++i) os.z.data()[i] = normal(rng_);
    if (b == 0) {
      os.chol.resize(0, 0);
      os.f.resize(0, s);
      continue;
    }
    Eigen::VectorXd mean, var;
    objectives_[k]->posterior(baseline_, mean, var);
    Eigen::MatrixXd cov = objectives_[k]->covariance(baseline_, baseline_);  // (B, B)
    cov.diagonal().array() += std::max(kAbsoluteJitter, kRelativeJitter * std::abs(cov.diagonal().mean()));
    double jitter = 0.0;
    os.chol = cholesky_with_jitter(cov, 1e-8, 8, &jitter);
    os.f = os.chol * os.z;
    os.f.colwise() += mean;
  }
  baseline_feasible_.resize(static_cast<size_t>(b));
  for (Eigen::Index i = 0; i < b; ++i) baseline_feasible_[i] = feasible_by_mean(baseline_.row(i).transpose());
  draw_step_samples();
  rebuild_fronts();
}

void NehviAcquisition::draw_step_samples() {
  std::normal_distribution<double> normal(0.0, 1.0);
  for (auto& os : samples_) {
    os.zq.resize(options_.samples);
    for (Eigen::Index i = 0; i < os.zq.size(); ++i) os.zq(i) = normal(rng_);
  }
}

void NehviAcquisition::rebuild_fronts() {
  const Eigen::Index s = options_.samples;
  fronts_.assign(static_cast<size_t>(s), Staircase2{});
  std::vector<Point2> pts;
  for (Eigen::Index j = 0; j < s; ++j) {
    pts.clear();
    for (Eigen::Index i = 0; i < baseline_.rows(); ++i) {
      if (baseline_feasible_[i]) pts.push_back({samples_[0].f(i, j), samples_[1].f(i, j)});
    }
    fronts_[j] = make_staircase(pts, reference_);
  }
}

bool NehviAcquisition::feasible_by_mean(const Eigen::VectorXd& x) const {
  for (const auto& c : constraints_) {
    Eigen::VectorXd mean, var;
    c.model->posterior(x.transpose(), mean, var);
    if (!(mean(0) <= c.upper_bound)) return false;
  }
  return true;
}

Eigen::MatrixXd NehviAcquisition::sample_candidates(int k, const Eigen::MatrixXd& x, Eigen::MatrixXd* a_out,
                                                    Eigen::VectorXd* cond_var_out) const {
  const ObjectiveSamples& os = samples_[k];
  Eigen::VectorXd mean, var;
  objectives_[k]->posterior(x, mean, var);
  Eigen::MatrixXd f(x.rows(), options_.samples);  // (M, S)
  Eigen::VectorXd cond_var = var;
  Eigen::MatrixXd at;  // (B, M) L^{-1} Sigma_{B,x}
  if (baseline_.rows() > 0) {
    at = objectives_[k]->covariance(baseline_, x);
    os.chol.triangularView<Eigen::Lower>().solveInPlace(at);
    cond_var -= at.colwise().squaredNorm().transpose();
    f.noalias() = at.transpose() * os.z;  // most of the scoring time at large B
  } else {
    f.setZero();
  }
  cond_var = cond_var.cwiseMax(0.0);
  f.noalias() += cond_var.cwiseSqrt() * os.zq.transpose();
  f.colwise() += mean;
  if (a_out) *a_out = std::move(at);
  if (cond_var_out) *cond_var_out = cond_var;
  return f;
}

Eigen::VectorXd NehviAcquisition::probability_of_feasibility(const Eigen::MatrixXd& x) const {
  Eigen::VectorXd pof = Eigen::VectorXd::Ones(x.rows());
  for (const auto& c : constraints_) {
    Eigen::VectorXd mean, var;
    c.model->posterior(x, mean, var);
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      const double sd = std::sqrt(std::max(var(i), 0.0));
      pof(i) *= sd > 0.0 ? normal_cdf((c.upper_bound - mean(i)) / sd) : (mean(i) <= c.upper_bound ? 1.0 : 0.0);
    }
  }
  return pof;
}

Eigen::VectorXd NehviAcquisition::score(const Eigen::MatrixXd& x) const {
  const Eigen::VectorXd pof = probability_of_feasibility(x);
  const Eigen::MatrixXd f0 = sample_candidates(0, x, nullptr, nullptr);  // (M, S)
  const Eigen::MatrixXd f1 = sample_candidates(1, x, nullptr, nullptr);
  Eigen::VectorXd out(x.rows());
  const Eigen::Index s = options_.samples;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    double sum = 0.0;
    if (pof(i) > 0.0) {
      for (Eigen::Index j = 0; j < s; ++j) {
        sum += hypervolume_improvement(fronts_[j], {f0(i, j), f1(i, j)}, reference_);
      }
    }
    const double value = pof(i) * sum / static_cast<double>(s);
    out(i) = value > 0.0 ? value : pof(i) - 1.0;
  }
  return out;
}

void NehviAcquisition::add_pending(const Eigen::VectorXd& x) {
  const Eigen::MatrixXd xm = x.transpose();  // (1, E)
  const Eigen::Index b = baseline_.rows();
  for (int k = 0; k < 2; ++k) {
    Eigen::MatrixXd at;
    Eigen::VectorXd cond_var;
    const Eigen::MatrixXd fx = sample_candidates(k, xm, &at, &cond_var);  // (1, S)
    ObjectiveSamples& os = samples_[k];
    const double jitter = std::max(kAbsoluteJitter, kRelativeJitter * std::abs(cond_var(0)));
    os.chol.conservativeResize(b + 1, b + 1);
    if (b > 0) {
      os.chol.row(b).head(b) = at.col(0).transpose();
      os.chol.col(b).head(b).setZero();
    }
    os.chol(b, b) = std::sqrt(cond_var(0) + jitter);
    os.z.conservativeResize(b + 1, Eigen::NoChange);
    os.z.row(b) = os.zq.transpose();
    os.f.conservativeResize(b + 1, Eigen::NoChange);
    os.f.row(b) = fx.row(0);
  }
  baseline_.conservativeResize(b + 1, Eigen::NoChange);
  baseline_.row(b) = x.transpose();
  baseline_feasible_.push_back(feasible_by_mean(x));
  if (baseline_feasible_.back()) {
    for (Eigen::Index j = 0; j < options_.samples; ++j) {
      staircase_insert(fronts_[j], {samples_[0].f(b, j), samples_[1].f(b, j)}, reference_);
    }
  }
  draw_step_samples();
}

}  // namespace flashnas::search
