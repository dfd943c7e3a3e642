// Importance scores: how much each layer, model-dimension channel and FFN neuron
// of a backbone matters, derived from calibration statistics (or seeded random,
// the baseline), and the top-k selection pruning uses. Not the repacking of
// weights (prune_to_arch.hpp).
//
// Which statistic ranks what, and why:
//  - Layers: greedy backward elimination by calibration loss (calibration.cpp:
//    drop, round after round, the layer whose removal raises the NLL least).
//    One-shot rankings, block influence (1 - cos of block input and output,
//    ShortGPT) or the leave-one-out loss (Minitron), both keep layer 0 of
//    stories260K when only 1-2 layers remain, which scores far worse than the
//    last layer (bench/README.md, prune section); both stay in the stats.
//  - Model-dimension channels: residual-stream energy, mean x^2 over tokens and
//    over the L+1 residual points (Minitron's width pruning, Muralidharan et al.
//    2024, ranks channels by activation magnitude). Every tensor reads and writes
//    the residual stream, so its energy is what removing a channel takes away from
//    every consumer; the normalised inputs are kept in the stats for comparison.
//  - FFN neurons: energy of the down projection's input h = silu(gate) * up; a
//    neuron's contribution to the output is h times its column of W_down.
//
// Legend: C d_model, FF FFN width, L layers.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model/arch_config.hpp"
#include "engine/prune/calibration_stats.hpp"

namespace flashnas {

struct ImportanceScores {
  std::vector<double> layer;                 // (L) higher = keep first
  std::vector<double> channel;               // (C)
  std::vector<std::vector<double>> neuron;   // (L, FF_l)
};

// Scores from calibration statistics (see the file comment for the choices).
// Checks that the stats fit the backbone.
ImportanceScores importance_from_stats(const CalibrationStats& stats, const ArchConfig& backbone);

// Seeded uniform random scores of the backbone's shapes: the baseline that shows
// the calibrated ranking is worth having. Same seed, same scores.
ImportanceScores random_importance(const ArchConfig& backbone, uint64_t seed);

// Indices of the k highest scores, returned in ascending index order (pruning
// keeps the original order). Ties go to the lower index; deterministic.
std::vector<int64_t> top_k_indices(const std::vector<double>& scores, int64_t k);

}  // namespace flashnas
