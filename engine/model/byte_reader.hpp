// ByteReader: a bounds-checked little-endian cursor over untrusted bytes (GGUF,
// safetensors, tokenizer.bin). Every read checks the remaining length first, so
// a truncated or hostile file throws InvalidInput instead of reading past the end.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "engine/util/error.hpp"

namespace flashnas {

static_assert(std::endian::native == std::endian::little,
              "checkpoint readers assume a little-endian host");

class ByteReader {
 public:
  // `what` names the file in error messages.
  ByteReader(std::span<const uint8_t> bytes, std::string what)
      : bytes_(bytes), what_(std::move(what)) {}

  int64_t offset() const { return pos_; }
  int64_t size() const { return static_cast<int64_t>(bytes_.size()); }
  int64_t remaining() const { return size() - pos_; }

  template <typename T>
  T read(const char* field) {
    static_assert(std::is_trivially_copyable_v<T>);
    need(static_cast<int64_t>(sizeof(T)), field);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += static_cast<int64_t>(sizeof(T));
    return value;
  }

  std::string_view read_bytes(int64_t n, const char* field) {
    if (n < 0) fail(field, fmt::format("negative length {}", n));
    need(n, field);
    std::string_view out(reinterpret_cast<const char*>(bytes_.data() + pos_),
                         static_cast<size_t>(n));
    pos_ += n;
    return out;
  }

  void seek(int64_t offset, const char* field) {
    if (offset < 0 || offset > size()) {
      fail(field, fmt::format("offset {} outside the file ({} bytes)", offset, size()));
    }
    pos_ = offset;
  }

  [[noreturn]] void fail(const std::string& field, const std::string& reason) const {
    throw InvalidInput(fmt::format("{}: {} at byte {}: {}", what_, field, pos_, reason), field);
  }

 private:
  void need(int64_t n, const char* field) const {
    if (n > remaining()) {
      fail(field, fmt::format("truncated ({} bytes needed, {} left)", n, remaining()));
    }
  }

  std::span<const uint8_t> bytes_;
  std::string what_;
  int64_t pos_ = 0;
};

}  // namespace flashnas
