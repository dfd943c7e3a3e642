// InferenceSession: runs one token sequence through a model: batched prefill
// (matrix-matrix work over the whole prompt) and decode (one token with the KV
// caches). Holds the run state: scratch activations allocated once for
// max_batch tokens, one KV cache per layer, the RoPE table. Config and weights
// are separate types (ArchConfig, ModelWeights); the session copies the config
// and borrows the weights, which must outlive it.
//
// Layer kinds follow the config: full, swa:W (query i sees keys i-W < j <= i),
// skip (only the FFN sub-block runs; attention weights, if present, are unused).
// To run a model with other layer kinds, pass a modified copy of its config.
//
// Legend: T tokens, C d_model, NH heads, KVH kv heads, HS head size, FF FFN width, V vocab.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/model/arch_config.hpp"
#include "engine/model/model.hpp"
#include "engine/model/model_weights.hpp"
#include "engine/runtime/attention.hpp"
#include "engine/runtime/forward_observer.hpp"
#include "engine/runtime/kernels.hpp"
#include "engine/runtime/kv_cache.hpp"
#include "engine/runtime/runtime_context.hpp"
#include "engine/runtime/runtime_weights.hpp"

namespace flashnas {

struct SessionOptions {
  int64_t max_positions = 2048;  // context capacity: KV caches and RoPE table
  int64_t max_batch = 256;       // tokens per forward call; longer prompts are chunked
  // Format of the matrix products. q8_0: the session quantises the model's
  // matrices once (runtime_weights.hpp; the F32 weights stay borrowed for the
  // norms and for matrices Q8_0 cannot hold); decode runs int8 GEMVs on Q8_0
  // activations, prefill the packed SGEMM on dequantised W and F32 activations.
  WeightFormat weights = WeightFormat::f32;
};

struct PrefillOptions {
  // false: logits of the last position only (time to first token; generation
  // and latency measurement), bit-identical to the last row with true.
  // true: logits of every position (evaluation needs each next-token NLL).
  bool all_logits = false;
  ForwardObserver* observer = nullptr;  // calibration hook; null costs nothing
};

class InferenceSession {
 public:
  // Throws InvalidInput when the config is invalid or a non-skip layer lacks
  // attention weights.
  InferenceSession(const ArchConfig& config, const ModelWeights& weights, RuntimeContext& context,
                   SessionOptions options = {});
  InferenceSession(const Model& model, RuntimeContext& context, SessionOptions options = {})
      : InferenceSession(model.config, model.weights, context, options) {}

  // Appends `tokens` at positions position() .. position()+T-1. Returns the
  // logits of the last position (V), or with all_logits those of every
  // position (T, V) row-major. The span points into the session and stays
  // valid until the next prefill/decode/reset.
  std::span<const float> prefill(std::span<const int32_t> tokens, const PrefillOptions& options = {});

  // One token at position(); returns its logits (V).
  std::span<const float> decode(int32_t token);

  void reset();  // forget the sequence (caches emptied, scratch kept)
  int64_t position() const { return position_; }
  int64_t max_positions() const { return options_.max_positions; }
  int64_t kv_cache_bytes() const;
  const ArchConfig& config() const { return config_; }
  const RuntimeWeights& runtime_weights() const { return runtime_weights_; }

 private:
  enum class HeadRows : uint8_t { none, last, all };  // which rows get logits
  // Runs T <= max_batch tokens at position_; writes the logits of `head` rows
  // to `logits` (rows, V). `decoding`: one generated token (decode kernels).
  void forward(const int32_t* tokens, int64_t T, HeadRows head, ForwardObserver* observer,
               float* logits, bool decoding = false);
  void check_tokens(std::span<const int32_t> tokens) const;

  ArchConfig config_;
  const ModelWeights& weights_;        // F32; the norms are read from here
  RuntimeWeights runtime_weights_;     // the matrices, in options_.weights
  RuntimeContext& context_;
  SessionOptions options_;
  int64_t position_ = 0;
  RopeTable rope_;
  std::vector<std::unique_ptr<KvCache>> caches_;  // L
  AttentionScratch attention_scratch_;

  // Run state, sized once for max_batch rows (B).
  std::vector<float> x_;       // (B, C) residual stream
  std::vector<float> xb_;      // (B, C) normalised input of a sub-block
  std::vector<float> x_in_;    // (B, C) layer input, kept only for an observer
  std::vector<float> q_;       // (B, NH*HS)
  std::vector<float> k_;       // (B, KVH*HS)
  std::vector<float> v_;       // (B, KVH*HS)
  std::vector<float> att_;     // (B, NH*HS) attention output before wo
  std::vector<float> gate_;    // (B, FF max) gate, then silu(gate) * up
  std::vector<float> up_;      // (B, FF max)
  std::vector<float> logits_;  // (V), or (T, V) after an all_logits prefill
};

}  // namespace flashnas
