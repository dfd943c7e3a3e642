// Causal grouped-query attention over a KV span: NH query heads share KVH
// key/value heads (query head h reads kv head h / (NH/KVH)). The optional
// window limits a query at position p to keys p-W < j <= p (sliding-window
// attention); window 0 means full causal attention. Not the projections (the
// forward pass does those with matmul_forward) and not the cache (kv_cache.hpp).
//
// Legend: T tokens, NH heads, KVH kv heads, HS head size, S attended positions.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/runtime/kv_cache.hpp"

namespace flashnas {

class ThreadPool;

struct AttentionShape {
  int64_t n_heads = 0;     // NH
  int64_t n_kv_heads = 0;  // KVH
  int64_t head_dim = 0;    // HS
  int64_t window = 0;      // W; 0 = unlimited (full causal)
};

// Scratch for scores; sized on first use and reused (no allocation once warm).
struct AttentionScratch {
  std::vector<float> scores;  // (threads, S)
};

enum class AttentionMode : uint8_t {
  decode,   // one query per row, the decode kernel
  prefill,  // rows of a prompt: for small heads 8 queries per register; a row's
            // value is the same whatever T is (also for T == 1)
};

// out (T, NH*HS) = softmax(q k^T / sqrt(HS) + causal/window mask) v, per head,
// for queries at positions pos0 .. pos0+T-1. q (T, NH*HS) is already rotated;
// kv holds every position these queries may see. `pool` may be null.
void attention_forward(float* out, const float* q, const KvSpan& kv, int64_t pos0, int64_t T,
                       const AttentionShape& shape, AttentionScratch& scratch, ThreadPool* pool,
                       AttentionMode mode = AttentionMode::prefill);

}  // namespace flashnas
