// Parzen estimator: Optuna 3.1's univariate bandwidths, truncated-Gaussian sampling, log density.
#include "engine/search/parzen_estimator.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <vector>

#include "engine/util/error.hpp"

namespace flashnas::search {

namespace {

constexpr double kEps = 1e-12;  // Optuna's EPS: the smallest width without the magic clip

// Probability mass of N(mu, sigma^2) in [0, 1].
double mass_in_unit_interval(double mu, double sigma) {
  const double a = (0.0 - mu) / sigma, b = (1.0 - mu) / sigma;
  return 0.5 * (std::erf(b / std::numbers::sqrt2) - std::erf(a / std::numbers::sqrt2));
}

}  // namespace

ParzenEstimator::ParzenEstimator(const Eigen::VectorXd& observations, const Eigen::VectorXd& weights,
                                 const ParzenOptions& options) {
  const Eigen::Index k = observations.size();
  if (weights.size() != k) throw InvalidInput("one weight per observation", "weights");
  if (k > 0 && (!observations.allFinite() || observations.minCoeff() < 0.0 || observations.maxCoeff() > 1.0)) {
    throw InvalidInput("observations must lie in [0, 1]", "observations");
  }
  if (k > 0 && (!weights.allFinite() || weights.minCoeff() < 0.0)) {
    throw InvalidInput("weights must be finite and >= 0", "weights");
  }
  const bool prior = options.consider_prior || k == 0;
  if (prior && !(options.prior_weight > 0.0 && std::isfinite(options.prior_weight))) {
    throw InvalidInput("prior_weight must be a positive number", "prior_weight");
  }
  if (!prior && !(weights.sum() > 0.0)) throw InvalidInput("weights are all zero", "weights");
  const Eigen::Index c = k + (prior ? 1 : 0);

  mus_.resize(c);
  mus_.head(k) = observations;
  weights_.resize(c);
  weights_.head(k) = weights;
  if (prior) {
    mus_(k) = 0.5;
    weights_(k) = options.prior_weight;
  }
  weights_ /= weights_.sum();

  // Each kernel is as wide as the larger gap to its neighbours in sorted order, the
  // prior's mean included and the bounds 0 and 1 acting as neighbours (hyperopt's rule,
  // kept by Optuna 3.1). Without consider_endpoints the outermost kernels take the gap
  // on their inner side only, so a point near a bound is not widened by it.
  std::vector<Eigen::Index> order(static_cast<size_t>(c));
  std::iota(order.begin(), order.end(), Eigen::Index{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](Eigen::Index a, Eigen::Index b) { return mus_(a) < mus_(b); });
  std::vector<double> with_ends(static_cast<size_t>(c) + 2);
  with_ends.front() = 0.0;
  with_ends.back() = 1.0;
  for (size_t i = 0; i < order.size(); ++i) with_ends[i + 1] = mus_(order[i]);
  std::vector<double> sorted_sigmas(static_cast<size_t>(c));
  for (size_t i = 0; i < sorted_sigmas.size(); ++i) {
    sorted_sigmas[i] = std::max(with_ends[i + 1] - with_ends[i], with_ends[i + 2] - with_ends[i + 1]);
  }
  if (!options.consider_endpoints && with_ends.size() >= 4) {
    sorted_sigmas.front() = with_ends[2] - with_ends[1];
    sorted_sigmas.back() = with_ends[with_ends.size() - 2] - with_ends[with_ends.size() - 3];
  }
  // The magic clip: no kernel narrower than the range over min(100, 1 + C), none wider
  // than the range.
  const double min_sigma =
      options.consider_magic_clip ? 1.0 / std::min(100.0, 1.0 + static_cast<double>(c)) : kEps;
  sigmas_.resize(c);
  for (size_t i = 0; i < order.size(); ++i) sigmas_(order[i]) = std::clamp(sorted_sigmas[i], min_sigma, 1.0);
  if (prior) sigmas_(k) = 1.0;

  log_scale_.resize(c);
  for (Eigen::Index i = 0; i < c; ++i) {
    const double width = options.optuna31_log_pdf ? 1.0 : sigmas_(i);
    log_scale_(i) = std::log(weights_(i)) - std::log(width * std::sqrt(2.0 * std::numbers::pi) *
                                                     mass_in_unit_interval(mus_(i), sigmas_(i)));
  }
}

double ParzenEstimator::sample(std::mt19937_64& rng) const {
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  const double u = u01(rng);
  Eigen::Index i = 0;
  double cumulative = weights_(0);
  while (i + 1 < weights_.size() && u >= cumulative) cumulative += weights_(++i);
  // Rejection from the untruncated Gaussian: exact, and cheap because every mean lies
  // in [0, 1] and every width is at most 1, so at least a third of the draws land inside.
  std::normal_distribution<double> gauss(mus_(i), sigmas_(i));
  for (int tries = 0; tries < 10000; ++tries) {
    const double x = gauss(rng);
    if (x >= 0.0 && x <= 1.0) return x;
  }
  return std::clamp(mus_(i), 0.0, 1.0);  // unreachable in practice
}

double ParzenEstimator::log_pdf(double x) const {
  // log-sum-exp over the components, in two passes to stay allocation-free (it runs
  // 2 x 24 times per dimension per proposal).
  auto term = [&](Eigen::Index i) {
    const double z = (x - mus_(i)) / sigmas_(i);
    return log_scale_(i) - 0.5 * z * z;
  };
  double max_term = -std::numeric_limits<double>::infinity();
  for (Eigen::Index i = 0; i < mus_.size(); ++i) max_term = std::max(max_term, term(i));
  if (!std::isfinite(max_term)) return max_term;
  double sum = 0.0;
  for (Eigen::Index i = 0; i < mus_.size(); ++i) sum += std::exp(term(i) - max_term);
  return max_term + std::log(sum);
}

}  // namespace flashnas::search
