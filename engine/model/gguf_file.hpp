// GgufFile: the parsed structure of a GGUF v2/v3 file (header, metadata, tensor
// infos, data offsets), validated against the file's size. It does not know
// what a Llama model is (gguf_reader.hpp turns it into a Model) and it does not
// copy tensor data (it points into the caller's bytes).
//
// Spec: ggml docs/gguf.md. Layout: magic "GGUF", u32 version, u64 tensor count,
// u64 metadata count, metadata (key string, u32 type, value), tensor infos
// (name, u32 n_dims, u64 dims innermost first, u32 ggml type, u64 offset), padding
// to `general.alignment` (default 32), then tensor data.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/model/tensor_types.hpp"

namespace flashnas {

enum class GgufValueType : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
  string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};
std::string_view gguf_value_type_name(GgufValueType type);

// One metadata value. Integers and booleans land in `integer` (a u64 above
// INT64_MAX saturates, so range checks on access refuse it), floats in
// `number`. Arrays keep their element type and one of the vectors; nested
// arrays are checked for bounds but their contents are not kept.
struct GgufValue {
  GgufValueType type = GgufValueType::u32;
  GgufValueType elem_type = GgufValueType::u32;  // arrays only
  int64_t integer = 0;
  double number = 0.0;
  std::string text;
  int64_t array_size = 0;
  std::vector<int64_t> integers;
  std::vector<double> numbers;
  std::vector<std::string> strings;

  bool is_array() const { return type == GgufValueType::array; }
};
bool gguf_type_is_integer(GgufValueType type);  // incl. bool
bool gguf_type_is_float(GgufValueType type);

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // innermost first: dims[0] is the row length
  TensorType type = TensorType::f32;
  int64_t offset = 0;         // absolute file offset of the data
  int64_t numel = 0;
  int64_t n_bytes = 0;
  std::span<const uint8_t> data;  // into the parsed bytes
};

struct GgufFile {
  uint32_t version = 3;
  int64_t alignment = 32;
  int64_t data_offset = 0;  // absolute offset of the data section
  std::map<std::string, GgufValue, std::less<>> metadata;
  std::vector<GgufTensorInfo> tensors;  // file order
  std::unordered_map<std::string, size_t> tensor_index;
  std::string what;  // the file's name, for messages

  const GgufValue* find(std::string_view key) const;
  const GgufTensorInfo* find_tensor(const std::string& name) const;

  // Typed access; a present value of the wrong type or out of range throws
  // InvalidInput naming the key.
  std::optional<int64_t> get_int(std::string_view key, int64_t min, int64_t max) const;
  int64_t require_int(std::string_view key, int64_t min, int64_t max) const;
  std::optional<double> get_number(std::string_view key) const;  // float or integer
  std::optional<std::string> get_string(std::string_view key) const;
  // A scalar integer broadcast to `n`, or an integer array of exactly n entries.
  std::optional<std::vector<int64_t>> get_int_per_layer(std::string_view key, int64_t n,
                                                        int64_t min, int64_t max) const;
};

// Limits that keep a hostile file from making the parser allocate unboundedly.
struct GgufLimits {
  int64_t max_string_bytes = int64_t{1} << 26;  // one metadata string
  int64_t max_key_bytes = 1 << 16;
  int64_t max_name_bytes = 1 << 10;             // tensor names
  int64_t max_dims = 4;
  int64_t max_array_depth = 4;
};

// Parses and validates; throws InvalidInput naming the problem (truncation,
// bad magic or version, duplicate keys or tensors, offsets outside the file,
// unsupported tensor types by name).
GgufFile parse_gguf(std::span<const uint8_t> bytes, const std::string& what,
                    const GgufLimits& limits = {});

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
constexpr int64_t kGgufDefaultAlignment = 32;

}  // namespace flashnas
