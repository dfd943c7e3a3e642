// Analytic cost of running an architecture: parameters, FLOPs (forward, prefill,
// decode), bytes of weights and KV cache moved. Counts follow what each layer kind
// really costs: skip layers have no attention matmuls, no attention scores and no
// cache; swa layers attend at most W positions and cache at most W; full layers
// attend and cache every previous position. Not a latency model (engine/latency/)
// and not parameter storage (count_parameters in arch_config.hpp, which this reuses).
//
// Conventions (stated once, used everywhere below):
//  - A token at 0-based position p attends to itself and the p positions before it:
//    full layers p+1 keys, swa layers min(p+1, W) keys, skip layers none.
//  - A matmul with a (R, K) weight costs 2*R*K FLOPs per token (multiply + add).
//  - Attention costs 4*NH*HS FLOPs per attended key per layer: 2*HS for the score
//    q.k and 2*HS for accumulating the value, per head.
//  - RMSNorm, RoPE, SwiGLU, softmax and the residual adds are O(C + FF) per token
//    and omitted: they are small next to the matmuls at every size flashnas uses.
//  - "Decode at context P": P tokens are already in the cache and the new token
//    sits at position P (it attends P+1 keys on a full layer).
//
// Legend: C d_model, NH heads, KVH kv heads, HS head size, FF FFN width, V vocab,
// P prompt / context length, W sliding window.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>

#include "engine/model/arch_config.hpp"

namespace flashnas {

struct ArchCostOptions {
  double weight_bytes_per_element = 4.0;  // F32 weights; 2 for F16/BF16, ~0.56 for Q4_0
  double kv_bytes_per_element = 4.0;      // F32 cache; 2 for an F16 cache
  // Prefill for generation needs logits only for the last prompt token (llama.cpp
  // does this); evaluation needs them everywhere.
  bool prefill_logits_every_position = false;
};

// Parameters (tied head counted once) and those outside the token embedding and
// output head.
int64_t cost_parameters(const ArchConfig& c);
int64_t cost_non_embedding_parameters(const ArchConfig& c);

// Keys attended by one query at 0-based position p in layer `layer`.
int64_t attended_keys(const ArchConfig& c, int64_t layer, int64_t p);

// Sum over positions 0..P-1 of attended_keys (closed form, no loop over P).
int64_t attended_keys_prefill(const ArchConfig& c, int64_t layer, int64_t P);

// Matmul FLOPs of one token through every layer (no output head).
double layer_matmul_flops_per_token(const ArchConfig& c);
// Output head: 2*V*C per token that needs logits.
double head_flops_per_token(const ArchConfig& c);

// Mean FLOPs per token of a forward over a window of `context` tokens with logits
// at every position (the evaluation protocol's cost): matmuls + head + mean
// attention over positions 0..context-1.
double flops_per_token(const ArchConfig& c, int64_t context);

// FLOPs of prefilling a P-token prompt (sum over its positions).
double prefill_flops(const ArchConfig& c, int64_t P, const ArchCostOptions& opt = {});

// FLOPs of generating one token at context P (see the convention above).
double decode_flops_per_token(const ArchConfig& c, int64_t P);

// Weight bytes read to decode one token: every layer weight, the final norm, the
// whole output head and one embedding row (tied: the head is the embedding).
double weight_bytes_per_decode_token(const ArchConfig& c, const ArchCostOptions& opt = {});

// KV cache: bytes a layer stores per cached position (2*KVH*HS elements; 0 for skip).
double kv_bytes_per_position(const ArchConfig& c, int64_t layer, const ArchCostOptions& opt = {});
// Whole cache after P positions: full layers hold P, swa min(P, W), skip none.
double kv_cache_bytes(const ArchConfig& c, int64_t P, const ArchCostOptions& opt = {});
// kv_cache_bytes(P) / P: what one token of context costs in cache, averaged over
// a context of P (swa layers make it shrink as P grows past W).
double kv_cache_bytes_per_token(const ArchConfig& c, int64_t P, const ArchCostOptions& opt = {});
// Cache bytes read by one decode step at context P (keys and values of every
// attended position, itself included).
double kv_bytes_read_per_decode(const ArchConfig& c, int64_t P, const ArchCostOptions& opt = {});

// Every figure above at one context length, for features and reports.
struct ArchCost {
  int64_t context = 0;
  int64_t params = 0;
  int64_t non_embedding_params = 0;
  double flops_per_token = 0;
  double prefill_flops = 0;
  double decode_flops_per_token = 0;
  double weight_bytes_per_decode_token = 0;
  double kv_cache_bytes = 0;
  double kv_cache_bytes_per_token = 0;
  double kv_bytes_read_per_decode = 0;
};
ArchCost arch_cost(const ArchConfig& c, int64_t context, const ArchCostOptions& opt = {});
nlohmann::json arch_cost_to_json(const ArchCost& cost);

}  // namespace flashnas
