// Asynchronous successive halving over heal budgets (see fidelity_policy.hpp).
#include "app/fidelity_policy.hpp"

#include <Eigen/Core>

#include <algorithm>
#include <numeric>

#include "engine/search/pareto.hpp"
#include "engine/util/error.hpp"

namespace flashnas::app {

std::vector<int64_t> asha_top(const std::vector<RungResult>& results, int64_t eta) {
  FLASHNAS_CHECK(eta >= 2, "eta must be at least 2, got {}", eta);
  const auto n = static_cast<int64_t>(results.size());
  const int64_t k = n / eta;
  if (k == 0) return {};
  // Non-dominated sorting (NSGA-II's fronts): peel the front off, rank the rest.
  std::vector<int64_t> rank(static_cast<size_t>(n), -1);
  std::vector<int64_t> left(static_cast<size_t>(n));
  std::iota(left.begin(), left.end(), 0);
  for (int64_t front = 0; !left.empty(); ++front) {
    Eigen::MatrixXd y(static_cast<Eigen::Index>(left.size()), 2);
    for (size_t i = 0; i < left.size(); ++i) {
      const RungResult& r = results[static_cast<size_t>(left[i])];
      y.row(static_cast<Eigen::Index>(i)) << r.latency, r.quality;
    }
    const std::vector<int64_t> nd =
        search::non_dominated_indices(y, {search::ObjectiveSense::minimize, search::ObjectiveSense::minimize});
    std::vector<int64_t> rest;
    size_t j = 0;
    for (size_t i = 0; i < left.size(); ++i) {
      if (j < nd.size() && nd[j] == static_cast<int64_t>(i)) {
        rank[static_cast<size_t>(left[i])] = front;
        ++j;
      } else {
        rest.push_back(left[i]);
      }
    }
    left = std::move(rest);
  }
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    const RungResult& x = results[static_cast<size_t>(a)];
    const RungResult& y = results[static_cast<size_t>(b)];
    const int64_t ra = rank[static_cast<size_t>(a)], rb = rank[static_cast<size_t>(b)];
    if (ra != rb) return ra < rb;
    if (x.quality != y.quality) return x.quality < y.quality;
    return x.trial_id < y.trial_id;
  });
  std::vector<int64_t> out;
  for (int64_t i = 0; i < k; ++i) out.push_back(results[static_cast<size_t>(order[static_cast<size_t>(i)])].trial_id);
  return out;
}

std::vector<double> fidelity_offsets(const std::vector<RungHistory>& trials, int32_t rungs) {
  FLASHNAS_CHECK(rungs >= 1, "at least one rung");
  std::vector<double> offsets(static_cast<size_t>(rungs), 0.0);
  for (int32_t r = rungs - 2; r >= 0; --r) {
    double sum = 0.0;
    int64_t pairs = 0;
    for (const RungHistory& h : trials) {
      const auto lo = h.find(r), hi = h.find(r + 1);
      if (lo == h.end() || hi == h.end()) continue;
      sum += hi->second - lo->second;
      ++pairs;
    }
    const double gap = pairs > 0 ? sum / static_cast<double>(pairs) : 0.0;
    offsets[static_cast<size_t>(r)] = offsets[static_cast<size_t>(r) + 1] + gap;
  }
  return offsets;
}

}  // namespace flashnas::app
