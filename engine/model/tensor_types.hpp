// Element encodings a checkpoint may store (F32, F16, BF16, Q8_0) and their
// conversion to and from the engine's F32. Not file-format parsing: GGUF and
// safetensors readers call these once they have located a tensor's bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace flashnas {

// Values are ggml's type ids (GGUF stores them); safetensors maps its dtype names.
enum class TensorType : uint32_t { f32 = 0, f16 = 1, q8_0 = 8, bf16 = 30 };

// ggml's name of any type id ("Q4_K", "F16", ...), or "type <id>" when unknown.
std::string_view ggml_type_name(uint32_t id);
bool is_supported_type(uint32_t id);
// "f32" | "f16" | "bf16" | "q8_0" (flags, export options); InvalidInput(field) otherwise.
TensorType parse_tensor_type(std::string_view name, const std::string& field);
constexpr std::string_view kSupportedTypes = "F32, F16, BF16, Q8_0";

// Q8_0: blocks of 32 values stored as an fp16 scale then 32 int8 (34 bytes).
constexpr int64_t kQ8BlockValues = 32;
constexpr int64_t kQ8BlockBytes = 34;

// Bytes that `numel` values take, or -1 if the count is invalid for the type
// (Q8_0 needs a multiple of 32) or the size would overflow int64.
int64_t tensor_bytes(TensorType type, int64_t numel);

// ggml's quantize_row_q8_0_ref on one block of kQ8BlockValues values x:
// d = max|x| / 127, q[j] = round(x[j] / d) (half away from zero, so |q| <= 127);
// returns d as the fp16 bits GGUF stores (dequantised value: half_to_float(d) * q).
// The engine's one Q8_0 quantiser: encode_tensor (checkpoint writers) and the
// runtime's Q8_0 weights and activations (engine/runtime/q8_0_matmul.hpp) call it.
uint16_t quantize_q8_0_block(const float* x, int8_t* q);

float half_to_float(uint16_t h);
uint16_t float_to_half(float f);  // round to nearest even; overflow -> inf
float bf16_to_float(uint16_t b);
uint16_t float_to_bf16(float f);  // round to nearest even; NaN stays NaN

// Decodes `out.size()` values; `in` must hold exactly tensor_bytes(type, out.size()).
void decode_tensor(std::span<float> out, TensorType type, std::span<const uint8_t> in);
// Encodes `in` into `out` (sized tensor_bytes(type, in.size())).
void encode_tensor(std::span<uint8_t> out, TensorType type, std::span<const float> in);

}  // namespace flashnas
