// WeightMatrix: a read-only view of one (N, K) row-major weight matrix in one
// of the formats the runtime executes (F32, or Q8_0 in the row layout below),
// which matmul_forward (matmul.hpp) takes. Not storage: the F32 block belongs
// to ModelWeights, the Q8_0 block to RuntimeWeights (runtime_weights.hpp).
//
// Legend: N rows (outputs), K row length (inputs).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/model/tensor_types.hpp"

namespace flashnas {

// Weight format the forward pass runs its matrix products with.
//   f32:  the checkpoint's F32 weights as they are.
//   q8_0: blocks of 32 int8 weights with one scale (GGUF's Q8_0 values); decode
//         streams about 0.28 of the F32 bytes, as a llama.cpp Q8_0 deployment does.
enum class WeightFormat : uint8_t { f32, q8_0 };
std::string_view weight_format_name(WeightFormat format);
// Throws InvalidInput(field) for anything but "f32" or "q8_0".
WeightFormat parse_weight_format(std::string_view text, const std::string& field);

// The runtime's Q8_0 row: the K/32 blocks' int8 quants, then their K/32 F32
// scales, padded to a multiple of 32 bytes; row n starts at n * row bytes of a
// 64-byte aligned block. The values are exactly GGUF's (the scale is the fp16
// scale converted once), but not GGUF's 34-byte interleaved blocks, because:
//   - quants and scales of a row are adjacent, so the decode GEMV reading 8
//     rows keeps 8 sequential streams in flight (as the F32 GEMV does), not 16;
//   - every 32-byte quant block is 32-byte aligned (a 34-byte block straddles
//     a cache line every other block);
//   - F32 scales need no fp16 conversion per block in the inner loop.
// Cost: 36 bytes per 32 values instead of 34, plus at most 28 bytes per row.
constexpr int64_t q8_0_row_bytes(int64_t K) {
  const int64_t raw = K + K / kQ8BlockValues * static_cast<int64_t>(sizeof(float));
  return (raw + 31) / 32 * 32;
}

struct WeightMatrix {
  WeightFormat format = WeightFormat::f32;
  const float* f32 = nullptr;    // (N, K) row-major, when format is f32
  const uint8_t* q8_0 = nullptr; // N rows of q8_0_row_bytes(K), when format is q8_0
  int64_t rows = 0;              // N
  int64_t cols = 0;              // K (a multiple of 32 for q8_0)
};

}  // namespace flashnas
