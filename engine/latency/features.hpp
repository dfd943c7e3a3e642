// Latency features of an architecture under a workload (prompt length P):
// its dimensions, the counts of each layer kind, and analytic cost terms from
// engine/model/arch_cost.hpp (FLOPs, bytes moved, attention cost by layer kind).
// These are the GP inputs of the latency model; the analytic terms also carry
// its linear mean. Not the model (latency_model.hpp).
//
// Cost terms enter as log10(1 + x): latency is close to proportional to them,
// so the log-latency target is close to linear in these features, and the GP
// only has to learn the machine's departures from the analytic counts
// (efficiency of small matrices, cache effects, per-layer overheads).
//
// Legend: N points, D features.
#pragma once

#include <Eigen/Core>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/arch_config.hpp"

namespace flashnas::latency {

// Column order of the feature vector. Bump kLatencyFeaturesVersion whenever the
// list or a definition changes: a saved model is only valid for its version.
enum LatencyFeature : int {
  kFeatNLayers = 0,        // L
  kFeatDModel,             // C
  kFeatDFfnMean,           // mean FF over layers
  kFeatNFull,              // layers of each kind
  kFeatNSwa,
  kFeatNSkip,
  kFeatWindow,             // sliding window (0 when no layer is swa)
  kFeatPromptLen,          // P
  kFeatLogPrefillFlops,    // prefill of P tokens, logits of the last one
  kFeatLogDecodeFlops,     // one decode step at context P
  kFeatLogWeightBytes,     // F32 weight bytes streamed by one decode step
  kFeatLogKvBytesRead,     // KV-cache bytes read by one decode step at context P
  kFeatLogAttnPrefillFull, // attention FLOPs of the prefill in full layers
  kFeatLogAttnPrefillSwa,  // ... in swa layers
  kFeatLogAttnDecodeFull,  // attention FLOPs of one decode step in full layers
  kFeatLogAttnDecodeSwa,   // ... in swa layers
  kLatencyFeatureCount,
};
inline constexpr int kLatencyFeaturesVersion = 1;

// Names of the columns, in order (used in JSON and reports).
const std::vector<std::string>& latency_feature_names();

// Feature vector (D) of `config` at prompt length P >= 1.
Eigen::VectorXd latency_features(const ArchConfig& config, int64_t prompt_len);

// Columns of the linear mean: the analytic terms that drive each target.
std::vector<int64_t> prefill_mean_columns();
std::vector<int64_t> decode_mean_columns();

// Description of the features stored with a model: version and names. Loading
// refuses a description that differs from this build's (the features would
// silently mean something else).
nlohmann::json latency_features_spec_to_json();
void check_latency_features_spec(const nlohmann::json& j);  // throws InvalidInput("features")

}  // namespace flashnas::latency
