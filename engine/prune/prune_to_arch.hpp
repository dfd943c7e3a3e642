// prune_to_arch: the backbone cut down to a candidate architecture, keeping the
// most important layers, model-dimension channels and FFN neurons (importance.hpp)
// with their inherited weights. Not the scoring itself, not evaluation.
//
// What is kept, and where:
//  - Layers: the n_layers highest-scoring, in their original order; the i-th kept
//    layer takes the candidate's layer_types[i] and d_ffn[i].
//  - Channels: the d_model highest-scoring, in original order, cut consistently
//    from the token embedding (columns), every norm weight, the input side of wq,
//    wk, wv, w_gate, w_up (columns), the output side of wo, w_down (rows), the
//    final norm and the output head (columns). A tied head stays tied.
//  - FFN: per kept layer the d_ffn highest-scoring neurons: rows of w_gate and
//    w_up, columns of w_down.
//  - Attention: heads are kept whole. skip layers drop the attention weights;
//    swa layers keep them and get the candidate's window.
// RMSNorm over fewer channels divides by the RMS of the kept channels only, so a
// width-pruned layer sees its inputs rescaled: inherent to width pruning (healing
// by continued pretraining recovers it), not corrected here.
//
// Legend: C d_model, NH heads, KVH kv heads, HS head size, FF FFN width, V vocab.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/model/bound_arch.hpp"
#include "engine/model/model.hpp"
#include "engine/prune/calibration_stats.hpp"
#include "engine/prune/importance.hpp"

namespace flashnas {

struct PruneOptions {
  // When set, every score is replaced by seeded random ones (the baseline).
  std::optional<uint64_t> random_importance_seed;
};

// Which backbone indices a pruned model keeps (ascending), for reports and tests.
struct PrunePlan {
  std::vector<int64_t> layers;                 // n_layers backbone layer indices
  std::vector<int64_t> channels;               // d_model backbone channel indices
  std::vector<std::vector<int64_t>> neurons;   // per kept layer, d_ffn[i] neuron indices
};

// Chooses what to keep of the backbone for `arch` (bound to this backbone, so
// its dimensions fit). The kept layers must also supply the candidate's widths
// and kinds: errors name the candidate's field (d_ffn[i], layer_types[i]).
PrunePlan plan_pruning(const ArchConfig& backbone, const ImportanceScores& scores, const BoundArch& arch);

// Copies the kept weights into a new model of config arch.config(). The
// tokenizer is the backbone's (shared).
Model apply_prune_plan(const Model& backbone, const BoundArch& arch, const PrunePlan& plan);

// Scores (from `stats`, or random per options) and the plan for `arch`.
PrunePlan plan_from_stats(const ArchConfig& backbone, const CalibrationStats& stats, const BoundArch& arch,
                          const PruneOptions& options = {});

// plan_from_stats, then apply_prune_plan.
Model prune_to_arch(const Model& backbone, const CalibrationStats& stats, const BoundArch& arch,
                    const PruneOptions& options = {});

}  // namespace flashnas
