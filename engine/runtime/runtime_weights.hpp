// RuntimeWeights: the 2-D weight matrices of a model in the format the forward
// pass executes, as WeightMatrix views (weight_matrix.hpp). For F32 the views
// point into the ModelWeights block (no copy); for Q8_0 the runtime owns one
// 64-byte aligned block of quantised rows. Norm vectors are not here: they stay
// F32 and are read from ModelWeights, which must outlive this object.
//
// Legend: C d_model, NH heads, KVH kv heads, HS head size, FF FFN width, V vocab.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/model/arch_config.hpp"
#include "engine/model/model_weights.hpp"
#include "engine/runtime/weight_matrix.hpp"

namespace flashnas {

struct RuntimeLayerWeights {
  WeightMatrix wq;      // (NH*HS, C)    empty in skip layers
  WeightMatrix wk;      // (KVH*HS, C)   empty in skip layers
  WeightMatrix wv;      // (KVH*HS, C)   empty in skip layers
  WeightMatrix wo;      // (C, NH*HS)    empty in skip layers
  WeightMatrix w_gate;  // (FF, C)
  WeightMatrix w_up;    // (FF, C)
  WeightMatrix w_down;  // (C, FF)
};

struct RuntimeWeights {
  struct FreeBytes {
    void operator()(uint8_t* p) const noexcept;
  };

  WeightFormat format = WeightFormat::f32;  // what was asked for
  WeightMatrix tok_embd;                    // (V, C): the lookup reads one row (read_weight_row)
  WeightMatrix output;                      // (V, C): the same quantised rows when tied
  std::vector<RuntimeLayerWeights> layers;  // L
  // Matrices quantised, and those kept F32 because Q8_0 needs a row length K
  // that is a multiple of 32 (llama.cpp's quantiser falls back the same way):
  // e.g. stories260K's w_down, whose K is FF = 172. A tied head counts once.
  int64_t q8_0_matrices = 0;
  int64_t f32_matrices = 0;
  int64_t q8_0_bytes = 0;  // size of the quantised block
  std::unique_ptr<uint8_t[], FreeBytes> storage;
};

// Views of `weights` in `format`. For q8_0, every matrix whose K is a multiple
// of 32 is quantised with the GGUF Q8_0 quantiser (quantize_q8_0_block), the
// others stay F32. Throws InvalidInput when the config is invalid.
RuntimeWeights quantize_model_weights(const ArchConfig& config, const ModelWeights& weights,
                                      WeightFormat format);

// A (N, K) matrix quantised to the runtime's Q8_0 rows, with its own storage;
// for tests and benchmarks. Throws InvalidInput (field "K") unless K % 32 == 0.
struct Q8_0Matrix {
  WeightMatrix view;
  std::unique_ptr<uint8_t[], RuntimeWeights::FreeBytes> storage;
};
Q8_0Matrix quantize_matrix_q8_0(const float* weight, int64_t N, int64_t K);

// out (K) = row `row` of w as F32 (a copy, or dequantised).
void read_weight_row(float* out, const WeightMatrix& w, int64_t row);

}  // namespace flashnas
