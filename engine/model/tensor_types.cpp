// F16 / BF16 / Q8_0 <-> F32 conversion (bit-exact, round to nearest even).
#include "engine/model/tensor_types.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/util/error.hpp"

namespace flashnas {

std::string_view ggml_type_name(uint32_t id) {
  // ggml's enum ggml_type; ids 4 and 5 were removed upstream.
  static constexpr std::string_view names[] = {
      "F32",     "F16",    "Q4_0",    "Q4_1",  "Q4_2",   "Q4_3",   "Q5_0",  "Q5_1",
      "Q8_0",    "Q8_1",   "Q2_K",    "Q3_K",  "Q4_K",   "Q5_K",   "Q6_K",  "Q8_K",
      "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S",  "IQ2_S", "IQ4_XS",
      "I8",      "I16",    "I32",     "I64",   "F64",    "IQ1_M",  "BF16",  "Q4_0_4_4",
      "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0"};
  if (id < std::size(names)) return names[id];
  return "unknown";
}

bool is_supported_type(uint32_t id) {
  return id == 0 || id == 1 || id == 8 || id == 30;
}

TensorType parse_tensor_type(std::string_view name, const std::string& field) {
  if (name == "f32") return TensorType::f32;
  if (name == "f16") return TensorType::f16;
  if (name == "bf16") return TensorType::bf16;
  if (name == "q8_0") return TensorType::q8_0;
  throw InvalidInput(fmt::format("{}: unknown tensor type '{}' (expected f32, f16, bf16 or q8_0)",
                                 field, name), field);
}

int64_t tensor_bytes(TensorType type, int64_t numel) {
  if (numel < 0) return -1;
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  switch (type) {
    case TensorType::f32: return numel > kMax / 4 ? -1 : numel * 4;
    case TensorType::f16:
    case TensorType::bf16: return numel > kMax / 2 ? -1 : numel * 2;
    case TensorType::q8_0:
      if (numel % kQ8BlockValues != 0) return -1;
      return numel / kQ8BlockValues * kQ8BlockBytes;
  }
  return -1;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);  // rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // signed zero
  } else {
    // Subnormal half: normalise the mantissa into a float's implicit-one form.
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    bits = sign | static_cast<uint32_t>(112 - e) << 23 | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

uint16_t float_to_half(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // nan
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (abs < 0x38800000u) {
    // Result is subnormal (or zero): value / 2^-24 rounded to nearest even.
    if (abs < 0x33000000u) return sign;  // below half the smallest subnormal
    const uint32_t exp = abs >> 23;
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exp;  // value = mant * 2^(exp-150) = q * 2^-24
    uint32_t q = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  // Normal: rebias and round the 13 dropped mantissa bits to nearest even.
  uint32_t h = ((abs >> 23) - 112) << 10 | ((abs >> 13) & 0x3ffu);
  const uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: fine
  return static_cast<uint16_t>(sign | h);
}

float bf16_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

uint16_t float_to_bf16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet nan
  const uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

uint16_t quantize_q8_0_block(const float* x, int8_t* q) {
  // ggml's quantize_row_q8_0_ref: d = max|x| / 127, q = round(x / d).
  float amax = 0.0f;
  for (int64_t j = 0; j < kQ8BlockValues; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int64_t j = 0; j < kQ8BlockValues; ++j) q[j] = static_cast<int8_t>(std::lround(x[j] * id));
  return float_to_half(d);
}

void decode_tensor(std::span<float> out, TensorType type, std::span<const uint8_t> in) {
  const int64_t n = static_cast<int64_t>(out.size());
  FLASHNAS_CHECK(tensor_bytes(type, n) == static_cast<int64_t>(in.size()),
                 "{} bytes do not hold {} values", in.size(), n);
  const uint8_t* p = in.data();
  switch (type) {
    case TensorType::f32:
      std::memcpy(out.data(), p, in.size());
      return;
    case TensorType::f16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = half_to_float(h);
      }
      return;
    case TensorType::bf16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, p + 2 * i, 2);
        out[i] = bf16_to_float(b);
      }
      return;
    case TensorType::q8_0:
      for (int64_t blk = 0; blk < n / kQ8BlockValues; ++blk) {
        const uint8_t* block = p + blk * kQ8BlockBytes;
        uint16_t d16;
        std::memcpy(&d16, block, 2);
        const float d = half_to_float(d16);
        for (int64_t j = 0; j < kQ8BlockValues; ++j) {
          out[blk * kQ8BlockValues + j] = d * static_cast<float>(static_cast<int8_t>(block[2 + j]));
        }
      }
      return;
  }
}

void encode_tensor(std::span<uint8_t> out, TensorType type, std::span<const float> in) {
  const int64_t n = static_cast<int64_t>(in.size());
  FLASHNAS_CHECK(tensor_bytes(type, n) == static_cast<int64_t>(out.size()),
                 "{} bytes cannot hold {} values", out.size(), n);
  uint8_t* p = out.data();
  switch (type) {
    case TensorType::f32:
      std::memcpy(p, in.data(), out.size());
      return;
    case TensorType::f16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = float_to_half(in[i]);
        std::memcpy(p + 2 * i, &h, 2);
      }
      return;
    case TensorType::bf16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t b = float_to_bf16(in[i]);
        std::memcpy(p + 2 * i, &b, 2);
      }
      return;
    case TensorType::q8_0:
      for (int64_t blk = 0; blk < n / kQ8BlockValues; ++blk) {
        uint8_t* block = p + blk * kQ8BlockBytes;
        int8_t q[kQ8BlockValues];
        const uint16_t d16 = quantize_q8_0_block(in.data() + blk * kQ8BlockValues, q);
        std::memcpy(block, &d16, 2);
        std::memcpy(block + 2, q, sizeof(q));
      }
      return;
  }
}

}  // namespace flashnas
