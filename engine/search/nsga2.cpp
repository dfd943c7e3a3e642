// NSGA-II operators: sorting, crowding, SBX, polynomial mutation (Deb et al. 2002; Deb & Agrawal 1995).
#include "engine/search/nsga2.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace flashnas::search {

namespace {
bool dominates(const Eigen::MatrixXd& y, Eigen::Index a, Eigen::Index b) {
  bool strictly = false;
  for (Eigen::Index m = 0; m < y.cols(); ++m) {
    if (y(a, m) > y(b, m)) return false;
    if (y(a, m) < y(b, m)) strictly = true;
  }
  return strictly;
}
}  // namespace

std::vector<int64_t> non_dominated_ranks(const Eigen::MatrixXd& y) {
  const Eigen::Index n = y.rows();
  std::vector<std::vector<Eigen::Index>> dominated_by_me(static_cast<size_t>(n));
  std::vector<int64_t> count(static_cast<size_t>(n), 0), rank(static_cast<size_t>(n), -1);
  std::vector<Eigen::Index> current;
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index j = 0; j < n; ++j) {
      if (i == j) continue;
      if (dominates(y, i, j)) dominated_by_me[i].push_back(j);
      else if (dominates(y, j, i)) ++count[i];
    }
    if (count[i] == 0) {
      rank[i] = 0;
      current.push_back(i);
    }
  }
  for (int64_t r = 0; !current.empty(); ++r) {
    std::vector<Eigen::Index> next;
    for (Eigen::Index i : current) {
      for (Eigen::Index j : dominated_by_me[i]) {
        if (--count[j] == 0) {
          rank[j] = r + 1;
          next.push_back(j);
        }
      }
    }
    current = std::move(next);
  }
  return rank;
}

std::vector<double> crowding_distance(const Eigen::MatrixXd& y, const std::vector<int64_t>& front) {
  const size_t n = front.size();
  std::vector<double> d(n, 0.0);
  if (n <= 2) {
    std::fill(d.begin(), d.end(), std::numeric_limits<double>::infinity());
    return d;
  }
  std::vector<size_t> order(n);
  for (Eigen::Index m = 0; m < y.cols(); ++m) {
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return y(front[a], m) < y(front[b], m); });
    const double lo = y(front[order.front()], m), hi = y(front[order.back()], m);
    d[order.front()] = d[order.back()] = std::numeric_limits<double>::infinity();
    if (!(hi > lo)) continue;
    for (size_t k = 1; k + 1 < n; ++k) {
      d[order[k]] += (y(front[order[k + 1]], m) - y(front[order[k - 1]], m)) / (hi - lo);
    }
  }
  return d;
}

std::pair<Eigen::VectorXd, Eigen::VectorXd> sbx_crossover(const Eigen::VectorXd& a, const Eigen::VectorXd& b,
                                                          double eta, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  Eigen::VectorXd c1 = a, c2 = b;
  for (Eigen::Index i = 0; i < a.size(); ++i) {
    if (u01(rng) > 0.5 || std::abs(a(i) - b(i)) < 1e-14) continue;
    const double u = u01(rng);
    const double beta = u <= 0.5 ? std::pow(2.0 * u, 1.0 / (eta + 1.0)) : std::pow(1.0 / (2.0 * (1.0 - u)), 1.0 / (eta + 1.0));
    const double mid = 0.5 * (a(i) + b(i)), half = 0.5 * (b(i) - a(i));
    c1(i) = std::clamp(mid - beta * half, 0.0, 1.0);
    c2(i) = std::clamp(mid + beta * half, 0.0, 1.0);
  }
  return {c1, c2};
}

Eigen::VectorXd polynomial_mutation(const Eigen::VectorXd& x, double eta, double rate, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  Eigen::VectorXd y = x;
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    if (u01(rng) >= rate) continue;
    const double u = u01(rng), v = x(i);
    double delta;
    if (u < 0.5) {
      delta = std::pow(2.0 * u + (1.0 - 2.0 * u) * std::pow(1.0 - v, eta + 1.0), 1.0 / (eta + 1.0)) - 1.0;
    } else {
      delta = 1.0 - std::pow(2.0 * (1.0 - u) + 2.0 * (u - 0.5) * std::pow(v, eta + 1.0), 1.0 / (eta + 1.0));
    }
    y(i) = std::clamp(v + delta, 0.0, 1.0);
  }
  return y;
}

}  // namespace flashnas::search
