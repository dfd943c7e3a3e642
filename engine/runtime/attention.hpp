// Causal grouped-query attention over a KV span: NH query heads share KVH
// key/value heads (query head h reads kv head h / (NH/KVH)). The optional
// window limits a query at position p to keys p-W < j <= p (sliding-window
// attention); window 0 means full causal attention. The backward (training)
// follows the forward. Not the projections (the forward pass does those with
// matmul_forward) and not the cache (kv_cache.hpp).
//
// Legend: B sequences, T tokens, NH heads, KVH kv heads, HS head size, S attended positions.
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

// Backward of attention_forward over B independent sequences of T tokens, each
// starting at position 0 with its own rows as keys and values (training). For
// each sequence, head h and query row t, with s_j = scale q.k_j over the keys
// j the row sees, P = softmax(s) and out = sum_j P_j v_j:
//   dv_j += P_j dout                     dP_j = dout . v_j
//   D     = sum_j P_j dP_j = dout . out  dS_j = P_j (dP_j - D)
//   dq    = scale sum_j dS_j k_j         dk_j += scale dS_j q
// P is recomputed from q and k (the forward saves only its output), 32 query rows at a
// time through the packed GEMM, as FlashAttention-2's backward does (Dao 2023); head
// size 8 puts 8 query rows in the lanes of a register instead.
// Threads take (sequence, kv head) pairs, each writing its own rows of dk and
// dv, so the results do not depend on the thread count.
// dq, dout, q, out (B*T, NH*HS); dk, dv, k, v (B*T, KVH*HS). dq, dk, dv are
// written (not added). q and k are the rotated ones the forward attended with,
// out its output.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, int64_t B, int64_t T,
                        const AttentionShape& shape, AttentionScratch& scratch, ThreadPool* pool);

}  // namespace flashnas
