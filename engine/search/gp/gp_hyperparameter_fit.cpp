// Multi-start L-BFGS-B maximisation of the GP log marginal likelihood.
#include "engine/search/gp/gp_hyperparameter_fit.hpp"

#include <LBFGSB.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

namespace flashnas::search {

namespace {

// Log-space box of the hyperparameters, and which of them are free (lo < hi).
struct LogBox {
  Eigen::VectorXd lo, hi;
  std::vector<Eigen::Index> free;
};

LogBox make_box(Eigen::Index d, const GpOptions& o) {
  LogBox b;
  b.lo.resize(d + 2);
  b.hi.resize(d + 2);
  b.lo.head(d).setConstant(std::log(o.lengthscale_min));
  b.hi.head(d).setConstant(std::log(o.lengthscale_max));
  b.lo(d) = std::log(o.signal_variance_min);
  b.hi(d) = std::log(o.signal_variance_max);
  b.lo(d + 1) = std::log(o.noise_variance_floor);
  b.hi(d + 1) = std::log(o.noise_variance_max);
  for (Eigen::Index i = 0; i < d + 2; ++i) {
    if (b.hi(i) > b.lo(i)) b.free.push_back(i);
  }
  return b;
}

// Negative (log likelihood + log prior) as a function of the free log-hyperparameters.
class NegativeLogPosterior {
 public:
  NegativeLogPosterior(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const Eigen::MatrixXd& h,
                       const GpOptions& o, const LogBox& box, Eigen::VectorXd full)
      : x_(x), y_(y), h_(h), o_(o), box_(box), full_(std::move(full)) {}

  Eigen::VectorXd expand(const Eigen::VectorXd& free) const {
    Eigen::VectorXd theta = full_;
    for (size_t i = 0; i < box_.free.size(); ++i) theta(box_.free[i]) = free(static_cast<Eigen::Index>(i));
    return theta;
  }

  double operator()(const Eigen::VectorXd& free, Eigen::VectorXd& grad) {
    const GpHyperparameters hyper = unpack_log_hyperparameters(expand(free));
    Eigen::VectorXd g_lml, g_prior;
    const double value = gp_log_marginal_likelihood(x_, y_, h_, hyper, o_, &g_lml) +
                         gp_log_prior(hyper, o_, &g_prior);
    grad.resize(free.size());
    for (size_t i = 0; i < box_.free.size(); ++i) {
      grad(static_cast<Eigen::Index>(i)) = -(g_lml(box_.free[i]) + g_prior(box_.free[i]));
    }
    return -value;
  }

 private:
  const Eigen::MatrixXd& x_;
  const Eigen::VectorXd& y_;
  const Eigen::MatrixXd& h_;
  const GpOptions& o_;
  const LogBox& box_;
  Eigen::VectorXd full_;
};

struct StartResult {
  Eigen::VectorXd theta;
  double value = std::numeric_limits<double>::infinity();  // negative log posterior
};

// One L-BFGS-B run from `theta0`; on a numerical failure keeps the best point reached.
StartResult run_start(const Eigen::MatrixXd& x, const Eigen::VectorXd& y, const Eigen::MatrixXd& h,
                      const GpOptions& o, const LogBox& box, const Eigen::VectorXd& theta0,
                      int64_t iterations) {
  const Eigen::VectorXd clamped = theta0.cwiseMax(box.lo).cwiseMin(box.hi);
  NegativeLogPosterior f(x, y, h, o, box, clamped);
  const Eigen::Index nf = static_cast<Eigen::Index>(box.free.size());
  Eigen::VectorXd z(nf), lo(nf), hi(nf);
  for (Eigen::Index i = 0; i < nf; ++i) {
    z(i) = clamped(box.free[i]);
    lo(i) = box.lo(box.free[i]);
    hi(i) = box.hi(box.free[i]);
  }
  StartResult r;
  try {
    Eigen::VectorXd g;
    r.value = f(z, g);
    r.theta = f.expand(z);
    if (nf == 0 || iterations == 0) return r;
    LBFGSpp::LBFGSBParam<double> param;
    param.max_iterations = static_cast<int>(iterations);
    param.epsilon = 1e-5;
    param.epsilon_rel = 1e-5;
    param.past = 1;
    param.delta = 1e-7;
    param.max_linesearch = 30;
    LBFGSpp::LBFGSBSolver<double> solver(param);
    double fx = 0.0;
    Eigen::VectorXd zz = z;
    solver.minimize(f, zz, fx, lo, hi);
    if (std::isfinite(fx) && fx < r.value) {
      r.value = fx;
      r.theta = f.expand(zz);
    }
  } catch (const std::exception&) {
    // Line-search or factorisation failure: keep what the start reached (maybe nothing).
  }
  return r;
}

}  // namespace

GpHyperparameters default_gp_hyperparameters(Eigen::Index n_features, const GpOptions& o) {
  GpHyperparameters h;
  h.lengthscales = Eigen::VectorXd::Constant(n_features, std::clamp(0.5, o.lengthscale_min, o.lengthscale_max));
  h.signal_variance = std::clamp(1.0, o.signal_variance_min, o.signal_variance_max);
  h.noise_variance = std::clamp(1e-3, o.noise_variance_floor, o.noise_variance_max);
  return h;
}

GpHyperparameters fit_gp_hyperparameters(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                         const Eigen::MatrixXd& h, const GpOptions& o,
                                         const GpHyperparameters* warm_start) {
  const Eigen::Index n = x.rows(), d = x.cols();
  const LogBox box = make_box(d, o);
  std::mt19937_64 rng(o.seed);

  // The multi-start phase works on a seeded subset when N is large.
  Eigen::MatrixXd xs = x, hs = h;
  Eigen::VectorXd ys = y;
  const bool subset = n > o.fit_subset_size;
  if (subset) {
    std::vector<Eigen::Index> idx(static_cast<size_t>(n));
    std::iota(idx.begin(), idx.end(), Eigen::Index{0});
    std::shuffle(idx.begin(), idx.end(), rng);
    idx.resize(static_cast<size_t>(o.fit_subset_size));
    std::sort(idx.begin(), idx.end());
    xs = x(idx, Eigen::all);
    hs = h(idx, Eigen::all);
    ys = y(idx);
  }

  std::vector<Eigen::VectorXd> starts;
  starts.push_back(pack_log_hyperparameters(default_gp_hyperparameters(d, o)));
  if (warm_start && warm_start->lengthscales.size() == d) starts.push_back(pack_log_hyperparameters(*warm_start));
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int64_t s = 0; s < o.random_starts; ++s) {
    Eigen::VectorXd t(d + 2);
    for (Eigen::Index i = 0; i < d; ++i) t(i) = std::log(0.05) + u(rng) * (std::log(3.0) - std::log(0.05));
    t(d) = std::log(0.2) + u(rng) * (std::log(3.0) - std::log(0.2));
    t(d + 1) = std::log(1e-6) + u(rng) * (std::log(0.1) - std::log(1e-6));
    starts.push_back(t);
  }

  StartResult best;
  for (const auto& t0 : starts) {
    StartResult r = run_start(xs, ys, hs, o, box, t0, o.max_iterations);
    if (r.theta.size() > 0 && r.value < best.value) best = std::move(r);
  }
  if (best.theta.size() == 0) {
    throw GpNumericalError(fmt::format("no GP hyperparameter start could be evaluated on {} points", xs.rows()));
  }
  if (subset && o.polish_iterations > 0) {
    StartResult r = run_start(x, y, h, o, box, best.theta, o.polish_iterations);
    if (r.theta.size() > 0) best = std::move(r);
  }
  return unpack_log_hyperparameters(best.theta);
}

}  // namespace flashnas::search
