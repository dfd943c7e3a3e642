// MOTPE as in Optuna 3.1: gamma, weights, the hypervolume-based split and weights, per-dimension l and g.
#include "engine/search/tpe.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/search/nsga2.hpp"
#include "engine/search/pareto.hpp"
#include "engine/util/error.hpp"

namespace flashnas::search {

namespace {

constexpr double kEps = 1e-12;  // Optuna's EPS

Eigen::MatrixXd rows_of(const Eigen::MatrixXd& m, const std::vector<int64_t>& rows) {
  Eigen::MatrixXd out(static_cast<Eigen::Index>(rows.size()), m.cols());
  for (size_t i = 0; i < rows.size(); ++i) out.row(static_cast<Eigen::Index>(i)) = m.row(rows[i]);
  return out;
}

void check_objectives(const Eigen::MatrixXd& y) {
  if (y.cols() != 2) throw InvalidInput(fmt::format("TPE needs two objectives, got {}", y.cols()), "y");
  if (!y.allFinite()) throw InvalidInput("objective values must be finite", "y");
}

}  // namespace

int64_t tpe_default_gamma(int64_t n) {
  return std::min<int64_t>(static_cast<int64_t>(std::ceil(0.1 * static_cast<double>(n))), 25);
}

Eigen::VectorXd tpe_default_weights(int64_t n) {
  Eigen::VectorXd w = Eigen::VectorXd::Ones(std::max<int64_t>(n, 0));
  const int64_t ramp = n - 25;  // numpy.linspace(1 / n, 1, n - 25)
  const double first = 1.0 / static_cast<double>(n);
  for (int64_t i = 0; i < ramp; ++i) {
    w(i) = ramp == 1 ? first : first + (1.0 - first) * static_cast<double>(i) / static_cast<double>(ramp - 1);
  }
  return w;
}

Eigen::Vector2d tpe_reference_point(const Eigen::MatrixXd& y) {
  check_objectives(y);
  if (y.rows() == 0) throw InvalidInput("no points to take a reference point from", "y");
  Eigen::Vector2d r;
  for (int m = 0; m < 2; ++m) {
    const double worst = y.col(m).maxCoeff();
    r(m) = std::max(1.1 * worst, 0.9 * worst);
    if (r(m) == 0.0) r(m) = kEps;
  }
  return r;
}

std::vector<int64_t> greedy_hypervolume_subset(const Eigen::MatrixXd& y, int64_t k,
                                               const Eigen::Vector2d& reference) {
  check_objectives(y);
  const Eigen::Index n = y.rows();
  if (k < 0 || k > n) throw InvalidInput(fmt::format("cannot pick {} of {} points", k, n), "k");
  // contribution(j): what row j would add to the picked set. It starts as j's own box
  // and, after each pick s, loses the part of j's box that s's box also covers and the
  // earlier picks did not: HV(picked + max(s, j)) - HV(picked) (Optuna's update).
  std::vector<double> contribution(static_cast<size_t>(n));
  for (Eigen::Index j = 0; j < n; ++j) contribution[j] = hypervolume_2d(y.row(j), reference);
  std::vector<bool> picked(static_cast<size_t>(n), false);
  std::vector<int64_t> out;
  Eigen::MatrixXd picked_y(0, 2);
  double picked_hv = 0.0;
  while (static_cast<int64_t>(out.size()) < k) {
    Eigen::Index best = -1;
    for (Eigen::Index j = 0; j < n; ++j) {
      if (!picked[j] && (best < 0 || contribution[j] > contribution[best])) best = j;
    }
    picked[best] = true;
    Eigen::MatrixXd with(picked_y.rows() + 1, 2);
    with.topRows(picked_y.rows()) = picked_y;
    for (Eigen::Index j = 0; j < n; ++j) {
      if (picked[j]) continue;
      with.bottomRows(1) = y.row(best).cwiseMax(y.row(j));
      contribution[j] -= hypervolume_2d(with, reference) - picked_hv;
    }
    with.bottomRows(1) = y.row(best);
    picked_y = with;
    picked_hv = hypervolume_2d(picked_y, reference);
    out.push_back(best);
  }
  return out;
}

TpeSplit tpe_split(const Eigen::MatrixXd& y, int64_t n_below) {
  check_objectives(y);
  const int64_t n = y.rows();
  if (n_below < 0 || n_below > n) {
    throw InvalidInput(fmt::format("cannot split {} of {} points", n_below, n), "n_below");
  }
  const std::vector<int64_t> rank = non_dominated_ranks(y);
  auto front = [&](int64_t r) {
    std::vector<int64_t> f;
    for (int64_t i = 0; i < n; ++i) {
      if (rank[i] == r) f.push_back(i);
    }
    return f;
  };
  TpeSplit split;
  int64_t r = 0;
  std::vector<int64_t> f = front(0);
  // Whole fronts while they fit, then the subset of the next front that adds the most
  // hypervolume, against a reference point taken from that front alone.
  while (static_cast<int64_t>(split.below.size()) < n_below &&
         static_cast<int64_t>(split.below.size() + f.size()) <= n_below) {
    split.below.insert(split.below.end(), f.begin(), f.end());
    f = front(++r);
  }
  const int64_t rest = n_below - static_cast<int64_t>(split.below.size());
  if (rest > 0) {
    const Eigen::MatrixXd fy = rows_of(y, f);
    for (int64_t j : greedy_hypervolume_subset(fy, rest, tpe_reference_point(fy))) split.below.push_back(f[j]);
  }
  std::vector<bool> is_below(static_cast<size_t>(n), false);
  for (int64_t i : split.below) is_below[i] = true;
  for (int64_t i = 0; i < n; ++i) {
    if (!is_below[i]) split.above.push_back(i);
  }
  return split;
}

Eigen::VectorXd tpe_below_weights(const Eigen::MatrixXd& y_below) {
  check_objectives(y_below);
  const Eigen::Index b = y_below.rows();
  if (b <= 1) return Eigen::VectorXd::Ones(b);
  const Eigen::Vector2d reference = tpe_reference_point(y_below);
  const double hv = hypervolume_2d(y_below, reference);
  Eigen::VectorXd w(b);
  Eigen::MatrixXd others(b - 1, 2);
  for (Eigen::Index i = 0; i < b; ++i) {
    others.topRows(i) = y_below.topRows(i);
    others.bottomRows(b - 1 - i) = y_below.bottomRows(b - 1 - i);
    w(i) = hv - hypervolume_2d(others, reference) + kEps;
  }
  return (w / w.maxCoeff()).cwiseMax(0.0).cwiseMin(1.0);
}

TpeModel::TpeModel(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y, const TpeOptions& options)
    : options_(options) {
  if (x.rows() < 1 || y.rows() != x.rows()) throw InvalidInput("TPE needs N >= 1 rows of x and y", "x");
  if (options.ei_candidates < 1) throw InvalidInput("must be >= 1", "ei_candidates");
  split_ = tpe_split(y, tpe_default_gamma(y.rows()));
  const Eigen::MatrixXd x_below = rows_of(x, split_.below), x_above = rows_of(x, split_.above);
  const Eigen::VectorXd w_below = tpe_below_weights(rows_of(y, split_.below));
  const Eigen::VectorXd w_above = tpe_default_weights(static_cast<int64_t>(split_.above.size()));
  for (Eigen::Index d = 0; d < x.cols(); ++d) {
    below_.emplace_back(x_below.col(d), w_below, options.parzen);
    above_.emplace_back(x_above.col(d), w_above, options.parzen);
  }
}

Eigen::VectorXd TpeModel::sample(std::mt19937_64& rng) const {
  Eigen::VectorXd x(static_cast<Eigen::Index>(below_.size()));
  for (size_t d = 0; d < below_.size(); ++d) {
    double best_score = -std::numeric_limits<double>::infinity();
    for (int64_t c = 0; c < options_.ei_candidates; ++c) {
      const double v = below_[d].sample(rng);
      const double score = below_[d].log_pdf(v) - above_[d].log_pdf(v);
      if (c == 0 || score > best_score) {
        best_score = score;
        x(static_cast<Eigen::Index>(d)) = v;
      }
    }
  }
  return x;
}

}  // namespace flashnas::search
