// Importance scores from calibration statistics or a seed, and top-k selection.
#include "engine/prune/importance.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "engine/util/error.hpp"

namespace flashnas {

ImportanceScores importance_from_stats(const CalibrationStats& stats, const ArchConfig& backbone) {
  stats.check_matches(backbone);
  ImportanceScores s;
  // A layer's score is the round greedy elimination dropped it in: keeping the
  // top k keeps the k layers that survived longest.
  s.layer.assign(static_cast<size_t>(backbone.n_layers()), 0.0);
  for (size_t round = 0; round < stats.layer_elimination_order.size(); ++round) {
    s.layer[static_cast<size_t>(stats.layer_elimination_order[round])] = static_cast<double>(round);
  }
  s.channel = stats.residual_energy;
  s.neuron = stats.ffn_neuron_energy;
  return s;
}

ImportanceScores random_importance(const ArchConfig& backbone, uint64_t seed) {
  // mt19937_64 and a hand-rolled [0,1) map: the standard distributions are not
  // specified bit-for-bit across library versions, the engine is.
  std::mt19937_64 rng(seed);
  auto draw = [&]() { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
  ImportanceScores s;
  s.layer.resize(static_cast<size_t>(backbone.n_layers()));
  for (double& x : s.layer) x = draw();
  s.channel.resize(static_cast<size_t>(backbone.d_model));
  for (double& x : s.channel) x = draw();
  for (const LayerConfig& layer : backbone.layers) {
    std::vector<double> v(static_cast<size_t>(layer.d_ffn));
    for (double& x : v) x = draw();
    s.neuron.push_back(std::move(v));
  }
  return s;
}

std::vector<int64_t> top_k_indices(const std::vector<double>& scores, int64_t k) {
  const int64_t n = static_cast<int64_t>(scores.size());
  FLASHNAS_CHECK(k >= 0 && k <= n, "cannot keep {} of {}", k, n);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return scores[static_cast<size_t>(a)] > scores[static_cast<size_t>(b)];
  });
  order.resize(static_cast<size_t>(k));
  std::sort(order.begin(), order.end());
  return order;
}

}  // namespace flashnas
