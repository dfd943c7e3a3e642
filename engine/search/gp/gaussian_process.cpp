// GaussianProcess: data transforms, conditioning, prediction, incremental updates, JSON.
#include "engine/search/gp/gaussian_process.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/search/gp/gp_hyperparameter_fit.hpp"
#include "engine/search/gp/matern52_kernel.hpp"

namespace flashnas::search {

namespace {

constexpr Eigen::Index kPredictBlock = 2048;  // query points per block: bounds the (N, M) temporaries

void check_finite(const Eigen::MatrixXd& m, const char* field) {
  if (!m.allFinite()) throw InvalidInput(std::string(field) + " contains a non-finite value", field);
}

}  // namespace

GaussianProcess::GaussianProcess(GpOptions options) : options_(std::move(options)) { options_.validate(-1); }

void GaussianProcess::require_fitted(const char* what) const {
  if (!fitted_) throw Error(std::string("GaussianProcess::") + what + " before fit/condition");
}

void GaussianProcess::set_data(const Eigen::MatrixXd& x, const Eigen::VectorXd& y) {
  if (x.rows() != y.size()) {
    throw InvalidInput(fmt::format("{} input rows but {} outputs", x.rows(), y.size()), "y");
  }
  if (x.rows() < 1 || x.cols() < 1) throw InvalidInput("need at least one point and one feature", "x");
  check_finite(x, "x");
  check_finite(y, "y");
  options_.validate(x.cols());
  const Eigen::Index d = x.cols();
  x_raw_ = x;
  y_raw_ = y;
  if (!options_.lower_bounds.empty()) {
    lower_ = Eigen::Map<const Eigen::VectorXd>(options_.lower_bounds.data(), d);
    width_ = Eigen::Map<const Eigen::VectorXd>(options_.upper_bounds.data(), d) - lower_;
  } else {
    lower_ = x.colwise().minCoeff().transpose();
    width_ = x.colwise().maxCoeff().transpose() - lower_;
    for (Eigen::Index i = 0; i < d; ++i) {
      if (!(width_(i) > 0.0)) width_(i) = 1.0;  // a constant feature
    }
  }
  y_mean_ = 0.0;
  y_scale_ = 1.0;
  if (options_.standardize_outputs) {
    y_mean_ = y.mean();
    const double var = y.size() > 1 ? (y.array() - y_mean_).square().sum() / static_cast<double>(y.size() - 1) : 0.0;
    y_scale_ = var > 1e-24 ? std::sqrt(var) : 1.0;
  }
  x_unit_ = to_unit(x);
  y_std_ = (y.array() - y_mean_) / y_scale_;
  basis_ = gp_mean_basis(x_unit_, options_.mean, options_.linear_mean_columns);
}

Eigen::MatrixXd GaussianProcess::to_unit(const Eigen::MatrixXd& x) const {
  return (x.rowwise() - lower_.transpose()).array().rowwise() / width_.transpose().array();
}

void GaussianProcess::fit(const Eigen::MatrixXd& x, const Eigen::VectorXd& y) {
  const bool warm = fitted_ && hyper_.lengthscales.size() == x.cols();
  const GpHyperparameters previous = hyper_;
  set_data(x, y);
  hyper_ = fit_gp_hyperparameters(x_unit_, y_std_, basis_, options_, warm ? &previous : nullptr);
  cond_ = gp_condition(x_unit_, y_std_, basis_, hyper_, options_);
  added_since_fit_ = 0;
  fitted_ = true;
}

void GaussianProcess::condition(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                const GpHyperparameters& hyper) {
  if (hyper.lengthscales.size() != x.cols()) {
    throw InvalidInput(fmt::format("{} length scales for {} features", hyper.lengthscales.size(), x.cols()),
                       "lengthscales");
  }
  if (!(hyper.lengthscales.minCoeff() > 0.0 && hyper.signal_variance > 0.0 && hyper.noise_variance > 0.0)) {
    throw InvalidInput("hyperparameters must be positive", "hyperparameters");
  }
  set_data(x, y);
  hyper_ = hyper;
  hyper_.noise_variance = std::max(hyper.noise_variance, options_.noise_variance_floor);
  cond_ = gp_condition(x_unit_, y_std_, basis_, hyper_, options_);
  added_since_fit_ = 0;
  fitted_ = true;
}

void GaussianProcess::add_observation(const Eigen::VectorXd& x, double y) {
  add_observations(x.transpose(), Eigen::VectorXd::Constant(1, y));
}

void GaussianProcess::add_observations(const Eigen::MatrixXd& x, const Eigen::VectorXd& y) {
  require_fitted("add_observations");
  if (x.cols() != n_features()) {
    throw InvalidInput(fmt::format("{} features, the GP has {}", x.cols(), n_features()), "x");
  }
  if (x.rows() != y.size()) throw InvalidInput("input rows and outputs differ", "y");
  check_finite(x, "x");
  check_finite(y, "y");
  for (Eigen::Index p = 0; p < x.rows(); ++p) {
    const Eigen::Index n = x_raw_.rows();
    x_raw_.conservativeResize(n + 1, Eigen::NoChange);
    x_raw_.row(n) = x.row(p);
    y_raw_.conservativeResize(n + 1);
    y_raw_(n) = y(p);
    const Eigen::MatrixXd xu = to_unit(x.row(p));  // (1, D)
    x_unit_.conservativeResize(n + 1, Eigen::NoChange);
    x_unit_.row(n) = xu.row(0);
    y_std_.conservativeResize(n + 1);
    y_std_(n) = (y(p) - y_mean_) / y_scale_;
    basis_ = gp_mean_basis(x_unit_, options_.mean, options_.linear_mean_columns);

    // Extend L: [L 0; l^T d] with l = L^{-1} k, d = sqrt(k(x,x) + noise + jitter - l.l).
    const Eigen::VectorXd k = matern52_covariance(x_unit_.topRows(n), xu, hyper_.lengthscales,
                                                  hyper_.signal_variance);  // (N)
    const Eigen::VectorXd l = cond_.chol.triangularView<Eigen::Lower>().solve(k);
    const double kxx = hyper_.signal_variance + hyper_.noise_variance + cond_.jitter;
    const double d2 = kxx - l.squaredNorm();
    if (d2 > 1e-12 * kxx) {
      cond_.chol.conservativeResize(n + 1, n + 1);
      cond_.chol.row(n).head(n) = l.transpose();
      cond_.chol.col(n).head(n).setZero();
      cond_.chol(n, n) = std::sqrt(d2);
      gp_solve_mean_and_weights(cond_, y_std_, basis_);
    } else {
      // Numerically a duplicate: refactorise from scratch (with jitter retries).
      cond_ = gp_condition(x_unit_, y_std_, basis_, hyper_, options_);
    }
    ++added_since_fit_;
  }
  if (options_.refit_every > 0 && added_since_fit_ >= options_.refit_every) {
    const Eigen::MatrixXd xs = x_raw_;
    const Eigen::VectorXd ys = y_raw_;
    fit(xs, ys);
  }
}

GpPointFactors GaussianProcess::point_factors(const Eigen::MatrixXd& x) const {
  require_fitted("point_factors");
  if (x.cols() != n_features()) {
    throw InvalidInput(fmt::format("{} features, the GP has {}", x.cols(), n_features()), "x");
  }
  GpPointFactors f;
  f.x_unit = to_unit(x);
  const Eigen::MatrixXd ks = matern52_covariance(x_unit_, f.x_unit, hyper_.lengthscales,
                                                 hyper_.signal_variance);  // (N, M)
  const Eigen::MatrixXd hs = gp_mean_basis(f.x_unit, options_.mean, options_.linear_mean_columns);  // (M, P)
  Eigen::VectorXd mean_std = ks.transpose() * cond_.alpha;
  if (hs.cols() > 0) mean_std += hs * cond_.beta;
  f.mean = (mean_std.array() * y_scale_ + y_mean_).matrix();
  f.v = cond_.chol.triangularView<Eigen::Lower>().solve(ks);  // most of the prediction time
  if (hs.cols() > 0) {
    f.r = hs.transpose() - cond_.basis_w.transpose() * f.v;  // (P, M)
    cond_.coef_chol.triangularView<Eigen::Lower>().solveInPlace(f.r);
  } else {
    f.r.resize(0, x.rows());
  }
  return f;
}

Eigen::MatrixXd GaussianProcess::posterior_covariance(const GpPointFactors& a, const GpPointFactors& b) const {
  require_fitted("posterior_covariance");
  Eigen::MatrixXd c = matern52_covariance(a.x_unit, b.x_unit, hyper_.lengthscales, hyper_.signal_variance);
  c.noalias() -= a.v.transpose() * b.v;
  if (a.r.rows() > 0) c.noalias() += a.r.transpose() * b.r;
  return c * (y_scale_ * y_scale_);
}

Eigen::ArrayXd GaussianProcess::latent_variance_std(const GpPointFactors& f) const {
  Eigen::ArrayXd var = hyper_.signal_variance - f.v.colwise().squaredNorm().transpose().array();
  if (f.r.rows() > 0) var += f.r.colwise().squaredNorm().transpose().array();
  return var.max(0.0);
}

Eigen::VectorXd GaussianProcess::posterior_variance(const GpPointFactors& f) const {
  require_fitted("posterior_variance");
  return (latent_variance_std(f) * (y_scale_ * y_scale_)).matrix();
}

GpPrediction GaussianProcess::predict(const Eigen::MatrixXd& x, bool include_noise) const {
  require_fitted("predict");
  GpPrediction p;
  p.mean.resize(x.rows());
  p.variance.resize(x.rows());
  for (Eigen::Index start = 0; start < x.rows(); start += kPredictBlock) {
    const Eigen::Index m = std::min(kPredictBlock, x.rows() - start);
    const GpPointFactors f = point_factors(x.middleRows(start, m));
    p.mean.segment(start, m) = f.mean;
    Eigen::ArrayXd var = latent_variance_std(f);
    if (include_noise) var += hyper_.noise_variance;
    p.variance.segment(start, m) = (var * (y_scale_ * y_scale_)).matrix();
  }
  return p;
}

void GaussianProcess::predict_joint(const Eigen::MatrixXd& x, Eigen::VectorXd& mean, Eigen::MatrixXd& cov) const {
  const GpPointFactors f = point_factors(x);
  mean = f.mean;
  cov = posterior_covariance(f, f);
}

double GaussianProcess::log_marginal_likelihood() const {
  require_fitted("log_marginal_likelihood");
  return gp_log_marginal_likelihood(x_unit_, y_std_, basis_, hyper_, options_, nullptr);
}

nlohmann::json GaussianProcess::to_json() const {
  require_fitted("to_json");
  nlohmann::json rows = nlohmann::json::array();
  for (Eigen::Index i = 0; i < x_raw_.rows(); ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (Eigen::Index j = 0; j < x_raw_.cols(); ++j) row.push_back(x_raw_(i, j));
    rows.push_back(std::move(row));
  }
  auto vec = [](const Eigen::VectorXd& v) { return std::vector<double>(v.data(), v.data() + v.size()); };
  return {{"format", "flashnas.gp.v1"},
          {"options", gp_options_to_json(options_)},
          {"x", rows},
          {"y", vec(y_raw_)},
          {"lower", vec(lower_)},
          {"width", vec(width_)},
          {"y_mean", y_mean_},
          {"y_scale", y_scale_},
          {"lengthscales", vec(hyper_.lengthscales)},
          {"signal_variance", hyper_.signal_variance},
          {"noise_variance", hyper_.noise_variance}};
}

GaussianProcess GaussianProcess::from_json(const nlohmann::json& j) {
  try {
    if (!j.is_object() || j.value("format", "") != "flashnas.gp.v1") {
      throw InvalidInput("not a flashnas.gp.v1 object", "format");
    }
    GaussianProcess gp(gp_options_from_json(j.at("options")));
    const auto rows = j.at("x").get<std::vector<std::vector<double>>>();
    const auto y = j.at("y").get<std::vector<double>>();
    if (rows.empty() || rows.size() != y.size()) throw InvalidInput("x and y must be non-empty, same length", "x");
    const size_t d = rows[0].size();
    Eigen::MatrixXd x(static_cast<Eigen::Index>(rows.size()), static_cast<Eigen::Index>(d));
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].size() != d) throw InvalidInput(fmt::format("row {} has {} features, not {}", i, rows[i].size(), d), "x");
      for (size_t c = 0; c < d; ++c) x(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(c)) = rows[i][c];
    }
    GpHyperparameters h;
    const auto ls = j.at("lengthscales").get<std::vector<double>>();
    h.lengthscales = Eigen::Map<const Eigen::VectorXd>(ls.data(), static_cast<Eigen::Index>(ls.size()));
    h.signal_variance = j.at("signal_variance").get<double>();
    h.noise_variance = j.at("noise_variance").get<double>();
    const Eigen::Map<const Eigen::VectorXd> yv(y.data(), static_cast<Eigen::Index>(y.size()));
    gp.condition(x, yv, h);
    // Restore the transforms of the original fit (they may predate later additions).
    const auto lower = j.at("lower").get<std::vector<double>>();
    const auto width = j.at("width").get<std::vector<double>>();
    if (lower.size() != d || width.size() != d) throw InvalidInput("lower/width length differs from features", "lower");
    gp.lower_ = Eigen::Map<const Eigen::VectorXd>(lower.data(), static_cast<Eigen::Index>(d));
    gp.width_ = Eigen::Map<const Eigen::VectorXd>(width.data(), static_cast<Eigen::Index>(d));
    if (!(gp.width_.minCoeff() > 0.0)) throw InvalidInput("width must be positive", "width");
    gp.y_mean_ = j.at("y_mean").get<double>();
    gp.y_scale_ = j.at("y_scale").get<double>();
    if (!(gp.y_scale_ > 0.0)) throw InvalidInput("y_scale must be positive", "y_scale");
    gp.x_unit_ = gp.to_unit(gp.x_raw_);
    gp.y_std_ = (gp.y_raw_.array() - gp.y_mean_) / gp.y_scale_;
    gp.basis_ = gp_mean_basis(gp.x_unit_, gp.options_.mean, gp.options_.linear_mean_columns);
    gp.cond_ = gp_condition(gp.x_unit_, gp.y_std_, gp.basis_, gp.hyper_, gp.options_);
    return gp;
  } catch (const nlohmann::json::exception& e) {
    throw InvalidInput(std::string("GP JSON: ") + e.what(), "gp");
  }
}

}  // namespace flashnas::search
