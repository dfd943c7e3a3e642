// ModelWeights: every tensor of a model in one contiguous, 64-byte aligned F32
// block, with named views into it (llm.c's malloc_and_point_parameters).
// Checkpoints are row-major, so every view is row-major: a (R, K) matrix W has
// W[r*K + k]. Pruning builds a new ArchConfig and repacks into a new block; it
// never changes shapes in place.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/model/arch_config.hpp"

namespace flashnas {

struct LayerWeights {
  // Attention sub-block: all null for skip layers.
  float* attn_norm = nullptr;  // (C)
  float* wq = nullptr;         // (NH*HS, C)
  float* wk = nullptr;         // (KVH*HS, C)
  float* wv = nullptr;         // (KVH*HS, C)
  float* wo = nullptr;         // (C, NH*HS)
  // Feed-forward sub-block (SwiGLU): out = W_down (silu(W_gate x) * (W_up x)).
  float* ffn_norm = nullptr;   // (C)
  float* w_gate = nullptr;     // (FF, C)
  float* w_up = nullptr;       // (FF, C)
  float* w_down = nullptr;     // (C, FF)
};

struct AlignedFree {
  void operator()(float* p) const noexcept;
};
using AlignedFloats = std::unique_ptr<float[], AlignedFree>;

// A zero-filled, 64-byte aligned block of n floats (n rounded up to 16, so
// whole cache lines). Throws Error when the allocation fails.
AlignedFloats allocate_aligned_floats(int64_t n);

struct ModelWeights {
  AlignedFloats storage;     // the one block every view points into
  int64_t n_floats = 0;
  float* tok_embd = nullptr;  // (V, C)
  float* out_norm = nullptr;  // (C)
  float* output = nullptr;    // (V, C); equals tok_embd when the config is tied
  std::vector<LayerWeights> layers;  // L
};

// Floats of the block allocate_weights makes for `config` (views padded to 16
// floats), without allocating: for memory estimates of weight-shaped blocks
// (gradients, optimiser moments).
int64_t count_weight_floats(const ArchConfig& config);

// Allocates a zero-filled block sized for `config` and points every view into it.
ModelWeights allocate_weights(const ArchConfig& config);

// Deep copy (new block, same values).
ModelWeights clone_weights(const ArchConfig& config, const ModelWeights& weights);

// Which tensor a view is; format loaders map these to their own names
// (tensor_names.hpp), pruning and writers iterate over them.
enum class TensorId : uint8_t {
  tok_embd, out_norm, output,
  attn_norm, wq, wk, wv, wo,
  ffn_norm, w_gate, w_up, w_down,
};

struct TensorView {
  TensorId id;
  int64_t layer;   // -1 for global tensors
  float* data;
  int64_t rows;    // 1 for vectors
  int64_t cols;    // row length
  int64_t numel() const { return rows * cols; }
};

// Every tensor the config has, in a fixed order (globals first, then layer by
// layer). A tied output head is not listed separately; skip layers list no
// attention tensors.
std::vector<TensorView> list_tensors(const ArchConfig& config, ModelWeights& weights);

}  // namespace flashnas
