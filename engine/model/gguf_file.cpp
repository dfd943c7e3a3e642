// GGUF structure parsing with bounds, count and overflow checks on every field.
#include "engine/model/gguf_file.hpp"

#include <limits>

#include "engine/model/byte_reader.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// Smallest encoding of one value of each type: bounds the element count an
// array may claim before anything is allocated for it.
int64_t min_value_bytes(GgufValueType type) {
  switch (type) {
    case GgufValueType::u8: case GgufValueType::i8: case GgufValueType::boolean: return 1;
    case GgufValueType::u16: case GgufValueType::i16: return 2;
    case GgufValueType::u32: case GgufValueType::i32: case GgufValueType::f32: return 4;
    case GgufValueType::u64: case GgufValueType::i64: case GgufValueType::f64: return 8;
    case GgufValueType::string: return 8;   // the length prefix
    case GgufValueType::array: return 12;   // element type + count
  }
  return 1;
}

bool known_value_type(uint32_t t) { return t <= 12; }

class GgufParser {
 public:
  GgufParser(std::span<const uint8_t> bytes, const std::string& what, const GgufLimits& limits)
      : in_(bytes, what), limits_(limits), bytes_(bytes) {}

  std::string read_string(const char* field, int64_t max_bytes) {
    const uint64_t n = in_.read<uint64_t>(field);
    if (n > static_cast<uint64_t>(max_bytes) || static_cast<int64_t>(n) > in_.remaining()) {
      in_.fail(field, fmt::format("string length {} exceeds the limit or the file", n));
    }
    return std::string(in_.read_bytes(static_cast<int64_t>(n), field));
  }

  // Reads one scalar of `type` into `integer` or `number`.
  void read_scalar(GgufValueType type, int64_t& integer, double& number, const char* field) {
    switch (type) {
      case GgufValueType::u8: integer = in_.read<uint8_t>(field); return;
      case GgufValueType::i8: integer = in_.read<int8_t>(field); return;
      case GgufValueType::u16: integer = in_.read<uint16_t>(field); return;
      case GgufValueType::i16: integer = in_.read<int16_t>(field); return;
      case GgufValueType::u32: integer = in_.read<uint32_t>(field); return;
      case GgufValueType::i32: integer = in_.read<int32_t>(field); return;
      case GgufValueType::i64: integer = in_.read<int64_t>(field); return;
      case GgufValueType::u64: {
        const uint64_t v = in_.read<uint64_t>(field);
        integer = v > static_cast<uint64_t>(kInt64Max) ? kInt64Max : static_cast<int64_t>(v);
        return;
      }
      case GgufValueType::boolean: {
        const uint8_t b = in_.read<uint8_t>(field);
        if (b > 1) in_.fail(field, fmt::format("bool value {} is neither 0 nor 1", b));
        integer = b;
        return;
      }
      case GgufValueType::f32: number = in_.read<float>(field); return;
      case GgufValueType::f64: number = in_.read<double>(field); return;
      case GgufValueType::string:
      case GgufValueType::array: break;
    }
    in_.fail(field, "not a scalar type");
  }

  GgufValueType read_type(const char* field) {
    const uint32_t t = in_.read<uint32_t>(field);
    if (!known_value_type(t)) in_.fail(field, fmt::format("unknown metadata value type {}", t));
    return static_cast<GgufValueType>(t);
  }

  GgufValue read_value(GgufValueType type, const std::string& key, int depth) {
    GgufValue v;
    v.type = type;
    const char* field = key.c_str();
    if (type == GgufValueType::string) {
      v.text = read_string(field, limits_.max_string_bytes);
    } else if (type == GgufValueType::array) {
      if (depth >= limits_.max_array_depth) in_.fail(field, "arrays nested too deeply");
      v.elem_type = read_type(field);
      const uint64_t n = in_.read<uint64_t>(field);
      if (n > static_cast<uint64_t>(in_.remaining() / min_value_bytes(v.elem_type))) {
        in_.fail(field, fmt::format("array of {} elements cannot fit in the file", n));
      }
      v.array_size = static_cast<int64_t>(n);
      read_array_elements(v, key, depth);
    } else {
      read_scalar(type, v.integer, v.number, field);
    }
    return v;
  }

  void read_array_elements(GgufValue& v, const std::string& key, int depth) {
    const char* field = key.c_str();
    const size_t n = static_cast<size_t>(v.array_size);
    if (v.elem_type == GgufValueType::string) {
      v.strings.reserve(n);
      for (size_t i = 0; i < n; ++i) v.strings.push_back(read_string(field, limits_.max_string_bytes));
    } else if (v.elem_type == GgufValueType::array) {
      // Each element is itself {type, count, values}; checked, not kept.
      for (size_t i = 0; i < n; ++i) (void)read_value(GgufValueType::array, key, depth + 1);
    } else if (gguf_type_is_float(v.elem_type)) {
      v.numbers.resize(n);
      int64_t unused = 0;
      for (size_t i = 0; i < n; ++i) read_scalar(v.elem_type, unused, v.numbers[i], field);
    } else {
      v.integers.resize(n);
      double unused = 0;
      for (size_t i = 0; i < n; ++i) read_scalar(v.elem_type, v.integers[i], unused, field);
    }
  }

  GgufFile parse() {
    GgufFile f;
    const uint32_t magic = in_.read<uint32_t>("magic");
    if (magic != kGgufMagic) in_.fail("magic", fmt::format("not a GGUF file (magic {:#010x})", magic));
    f.version = in_.read<uint32_t>("version");
    if (f.version != 2 && f.version != 3) {
      in_.fail("version", fmt::format("GGUF version {} is not supported (supported: 2, 3; "
                                      "little-endian only)", f.version));
    }
    const uint64_t n_tensors = in_.read<uint64_t>("tensor_count");
    const uint64_t n_kv = in_.read<uint64_t>("metadata_kv_count");
    // Every metadata entry takes >= 13 bytes and every tensor info >= 32, so
    // counts beyond that are lies; refusing them bounds the allocations below.
    if (n_kv > static_cast<uint64_t>(in_.remaining() / 13)) {
      in_.fail("metadata_kv_count", fmt::format("{} entries cannot fit in the file", n_kv));
    }
    if (n_tensors > static_cast<uint64_t>(in_.remaining() / 32)) {
      in_.fail("tensor_count", fmt::format("{} tensors cannot fit in the file", n_tensors));
    }
    for (uint64_t i = 0; i < n_kv; ++i) {
      std::string key = read_string("metadata key", limits_.max_key_bytes);
      const GgufValueType type = read_type(key.c_str());
      GgufValue value = read_value(type, key, 0);
      if (f.metadata.count(key)) in_.fail(key, "duplicate metadata key");
      f.metadata.emplace(std::move(key), std::move(value));
    }
    if (const GgufValue* a = f.find("general.alignment")) {
      if (a->type != GgufValueType::u32 || a->integer <= 0 || a->integer > (1 << 20) ||
          (a->integer & (a->integer - 1)) != 0) {
        in_.fail("general.alignment", "must be a u32 power of two up to 2^20");
      }
      f.alignment = a->integer;
    }
    f.tensors.reserve(static_cast<size_t>(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) f.tensors.push_back(read_tensor_info());
    // Data starts at the next multiple of the alignment after the infos.
    const int64_t end_of_infos = in_.offset();
    f.data_offset = (end_of_infos + f.alignment - 1) / f.alignment * f.alignment;
    const int64_t file_size = in_.size();
    if (f.data_offset > file_size && !f.tensors.empty()) {
      in_.fail("data", "file ends before the tensor data section");
    }
    std::span<const uint8_t> all = bytes_;
    for (size_t i = 0; i < f.tensors.size(); ++i) {
      GgufTensorInfo& t = f.tensors[i];
      if (t.offset % f.alignment != 0) {
        in_.fail(t.name, fmt::format("data offset {} is not a multiple of the alignment {}",
                                     t.offset, f.alignment));
      }
      // offset <= file_size and n_bytes <= file_size were checked, so no overflow here.
      if (t.offset > file_size - f.data_offset || t.n_bytes > file_size - f.data_offset - t.offset) {
        in_.fail(t.name, fmt::format("data [{}, +{}) lies past the end of the file ({} bytes)",
                                     f.data_offset + t.offset, t.n_bytes, file_size));
      }
      t.offset += f.data_offset;
      t.data = all.subspan(static_cast<size_t>(t.offset), static_cast<size_t>(t.n_bytes));
      if (!f.tensor_index.emplace(t.name, i).second) in_.fail(t.name, "duplicate tensor name");
    }
    return f;
  }

 private:
  GgufTensorInfo read_tensor_info() {
    GgufTensorInfo t;
    t.name = read_string("tensor name", limits_.max_name_bytes);
    const char* field = t.name.c_str();
    const uint32_t n_dims = in_.read<uint32_t>(field);
    if (n_dims == 0 || n_dims > limits_.max_dims) {
      in_.fail(t.name, fmt::format("{} dimensions (supported: 1 to {})", n_dims, limits_.max_dims));
    }
    t.numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = in_.read<uint64_t>(field);
      // No tensor can have more elements than the file has bytes (every type
      // takes >= 1 byte per element), which also keeps the product in range.
      if (dim == 0 || dim > static_cast<uint64_t>(in_.size()) ||
          static_cast<int64_t>(dim) > in_.size() / t.numel) {
        in_.fail(t.name, fmt::format("dimension {} = {} is zero or larger than the file", d, dim));
      }
      t.dims.push_back(static_cast<int64_t>(dim));
      t.numel *= static_cast<int64_t>(dim);
    }
    const uint32_t type = in_.read<uint32_t>(field);
    if (!is_supported_type(type)) {
      in_.fail(t.name, fmt::format("tensor {} has type {}, supported: {}", t.name,
                                   ggml_type_name(type), kSupportedTypes));
    }
    t.type = static_cast<TensorType>(type);
    t.n_bytes = tensor_bytes(t.type, t.numel);
    if (t.n_bytes < 0) {
      in_.fail(t.name, fmt::format("{} elements are not a whole number of {} blocks", t.numel,
                                   ggml_type_name(type)));
    }
    const uint64_t offset = in_.read<uint64_t>(field);
    if (offset > static_cast<uint64_t>(in_.size())) {
      in_.fail(t.name, fmt::format("data offset {} lies past the end of the file", offset));
    }
    t.offset = static_cast<int64_t>(offset);
    return t;
  }

  ByteReader in_;
  GgufLimits limits_;
  std::span<const uint8_t> bytes_;
};

}  // namespace

std::string_view gguf_value_type_name(GgufValueType type) {
  static constexpr std::string_view names[] = {"u8",  "i8",     "u16",   "i16", "u32",
                                               "i32", "f32",    "bool",  "string", "array",
                                               "u64", "i64",    "f64"};
  const auto i = static_cast<uint32_t>(type);
  return i < std::size(names) ? names[i] : "unknown";
}

bool gguf_type_is_integer(GgufValueType t) {
  return t != GgufValueType::f32 && t != GgufValueType::f64 && t != GgufValueType::string &&
         t != GgufValueType::array;
}

bool gguf_type_is_float(GgufValueType t) {
  return t == GgufValueType::f32 || t == GgufValueType::f64;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = metadata.find(key);
  return it == metadata.end() ? nullptr : &it->second;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index.find(name);
  return it == tensor_index.end() ? nullptr : &tensors[it->second];
}

namespace {

[[noreturn]] void bad_value(const GgufFile& f, std::string_view key, const std::string& reason) {
  throw InvalidInput(fmt::format("{}: metadata {} {}", f.what, key, reason), std::string(key));
}

void check_range(const GgufFile& f, std::string_view key, int64_t v, int64_t min, int64_t max) {
  if (v < min || v > max) bad_value(f, key, fmt::format("= {} is outside [{}, {}]", v, min, max));
}

}  // namespace

std::optional<int64_t> GgufFile::get_int(std::string_view key, int64_t min, int64_t max) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!gguf_type_is_integer(v->type)) {
    bad_value(*this, key, fmt::format("must be an integer, not {}", gguf_value_type_name(v->type)));
  }
  check_range(*this, key, v->integer, min, max);
  return v->integer;
}

int64_t GgufFile::require_int(std::string_view key, int64_t min, int64_t max) const {
  auto v = get_int(key, min, max);
  if (!v) bad_value(*this, key, "is required");
  return *v;
}

std::optional<double> GgufFile::get_number(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (gguf_type_is_float(v->type)) return v->number;
  if (gguf_type_is_integer(v->type) && v->type != GgufValueType::boolean) {
    return static_cast<double>(v->integer);
  }
  bad_value(*this, key, fmt::format("must be a number, not {}", gguf_value_type_name(v->type)));
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufValueType::string) {
    bad_value(*this, key, fmt::format("must be a string, not {}", gguf_value_type_name(v->type)));
  }
  return v->text;
}

std::optional<std::vector<int64_t>> GgufFile::get_int_per_layer(std::string_view key, int64_t n,
                                                                int64_t min, int64_t max) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_array()) {
    return std::vector<int64_t>(static_cast<size_t>(n), *get_int(key, min, max));
  }
  if (!gguf_type_is_integer(v->elem_type) || v->array_size != n) {
    bad_value(*this, key, fmt::format("must be an integer or an array of {} integers", n));
  }
  for (int64_t x : v->integers) check_range(*this, key, x, min, max);
  return v->integers;
}

GgufFile parse_gguf(std::span<const uint8_t> bytes, const std::string& what,
                    const GgufLimits& limits) {
  GgufParser parser(bytes, what, limits);
  GgufFile f = parser.parse();
  f.what = what;
  return f;
}

}  // namespace flashnas
