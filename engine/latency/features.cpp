// Latency features from ArchConfig and arch_cost.
#include "engine/latency/features.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "engine/model/arch_cost.hpp"
#include "engine/util/error.hpp"

namespace flashnas::latency {

namespace {

double log_term(double x) { return std::log10(1.0 + x); }

}  // namespace

const std::vector<std::string>& latency_feature_names() {
  static const std::vector<std::string> names = {
      "n_layers",          "d_model",           "d_ffn_mean",          "n_full",
      "n_swa",             "n_skip",            "window",              "prompt_len",
      "log_prefill_flops", "log_decode_flops",  "log_weight_bytes",    "log_kv_bytes_read",
      "log_attn_prefill_full", "log_attn_prefill_swa", "log_attn_decode_full",
      "log_attn_decode_swa"};
  return names;
}

Eigen::VectorXd latency_features(const ArchConfig& c, int64_t P) {
  if (P < 1) throw InvalidInput(fmt::format("prompt_len must be at least 1, got {}", P), "prompt_len");
  c.validate();
  Eigen::VectorXd f = Eigen::VectorXd::Zero(kLatencyFeatureCount);
  double ffn_sum = 0.0;
  int64_t counts[3] = {0, 0, 0};
  int64_t window = 0;
  // Attention FLOPs per attended key: q.k and the value accumulation per head
  // (arch_cost.hpp's convention), split by layer kind.
  const double per_key = 4.0 * static_cast<double>(c.n_heads) * static_cast<double>(c.head_dim);
  double attn_prefill[3] = {0, 0, 0}, attn_decode[3] = {0, 0, 0};
  for (int64_t l = 0; l < c.n_layers(); ++l) {
    const LayerConfig& layer = c.layers[static_cast<size_t>(l)];
    const int kind = static_cast<int>(layer.kind);
    ffn_sum += static_cast<double>(layer.d_ffn);
    ++counts[kind];
    if (layer.kind == LayerKind::swa) window = std::max(window, layer.window);
    attn_prefill[kind] += per_key * static_cast<double>(attended_keys_prefill(c, l, P));
    attn_decode[kind] += per_key * static_cast<double>(attended_keys(c, l, P));
  }
  const int full = static_cast<int>(LayerKind::full), swa = static_cast<int>(LayerKind::swa);
  f[kFeatNLayers] = static_cast<double>(c.n_layers());
  f[kFeatDModel] = static_cast<double>(c.d_model);
  f[kFeatDFfnMean] = ffn_sum / static_cast<double>(c.n_layers());
  f[kFeatNFull] = static_cast<double>(counts[full]);
  f[kFeatNSwa] = static_cast<double>(counts[swa]);
  f[kFeatNSkip] = static_cast<double>(counts[static_cast<int>(LayerKind::skip)]);
  f[kFeatWindow] = static_cast<double>(window);
  f[kFeatPromptLen] = static_cast<double>(P);
  f[kFeatLogPrefillFlops] = log_term(prefill_flops(c, P));
  f[kFeatLogDecodeFlops] = log_term(decode_flops_per_token(c, P));
  f[kFeatLogWeightBytes] = log_term(weight_bytes_per_decode_token(c));
  f[kFeatLogKvBytesRead] = log_term(kv_bytes_read_per_decode(c, P));
  f[kFeatLogAttnPrefillFull] = log_term(attn_prefill[full]);
  f[kFeatLogAttnPrefillSwa] = log_term(attn_prefill[swa]);
  f[kFeatLogAttnDecodeFull] = log_term(attn_decode[full]);
  f[kFeatLogAttnDecodeSwa] = log_term(attn_decode[swa]);
  return f;
}

std::vector<int64_t> prefill_mean_columns() {
  return {kFeatLogPrefillFlops, kFeatLogAttnPrefillFull, kFeatLogAttnPrefillSwa};
}

std::vector<int64_t> decode_mean_columns() {
  return {kFeatLogWeightBytes, kFeatLogDecodeFlops, kFeatLogKvBytesRead};
}

nlohmann::json latency_features_spec_to_json() {
  return {{"version", kLatencyFeaturesVersion}, {"names", latency_feature_names()}};
}

void check_latency_features_spec(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("version") || !j.contains("names")) {
    throw InvalidInput("features must be an object with version and names", "features");
  }
  if (j.at("version") != kLatencyFeaturesVersion || j.at("names") != latency_feature_names()) {
    throw InvalidInput(fmt::format("features: the model was fitted on features {} (version {}); "
                                   "this build computes version {}",
                                   j.at("names").dump(), j.at("version").dump(),
                                   kLatencyFeaturesVersion),
                       "features");
  }
}

}  // namespace flashnas::latency
