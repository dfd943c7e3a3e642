// MappedFile: a read-only view of a whole file (POSIX mmap), for loaders that
// parse checkpoints without copying them. Not a writer, not a cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace flashnas {

class MappedFile {
 public:
  // Throws InvalidInput (field "path") when the file cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  int64_t size() const { return static_cast<int64_t>(size_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace flashnas
