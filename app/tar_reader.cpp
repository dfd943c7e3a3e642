// ustar parsing: 512-byte headers, octal fields, content padded to 512 bytes,
// two zero blocks at the end (POSIX.1-1988 / pax interchange format header).
#include "app/tar_reader.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <set>

#include "engine/util/error.hpp"

namespace flashnas::app {
namespace {

constexpr int64_t kBlock = 512;

[[noreturn]] void fail(const std::string& message) {
  throw InvalidInput("tar archive: " + message, "body");
}

// A NUL- or space-terminated octal number in a fixed-width header field.
int64_t parse_octal(std::string_view field, const char* what, int64_t offset) {
  int64_t value = 0;
  size_t i = 0;
  while (i < field.size() && field[i] == ' ') ++i;
  bool any = false;
  for (; i < field.size() && field[i] != '\0' && field[i] != ' '; ++i) {
    if (field[i] < '0' || field[i] > '7') {
      fail(fmt::format("header at byte {}: {} is not an octal number", offset, what));
    }
    if (value > (INT64_MAX >> 3)) fail(fmt::format("header at byte {}: {} overflows", offset, what));
    value = value * 8 + (field[i] - '0');
    any = true;
  }
  if (!any) fail(fmt::format("header at byte {}: {} is empty", offset, what));
  return value;
}

std::string_view c_string(std::string_view field) {
  const auto end = field.find('\0');
  return end == std::string_view::npos ? field : field.substr(0, end);
}

bool is_zero_block(std::string_view block) {
  for (char c : block) {
    if (c != '\0') return false;
  }
  return true;
}

// The archive name as a relative path with no "." or ".." components.
std::string safe_name(std::string_view prefix, std::string_view name, int64_t offset) {
  std::string full = prefix.empty() ? std::string(name) : fmt::format("{}/{}", prefix, name);
  while (full.rfind("./", 0) == 0) full.erase(0, 2);
  if (full.empty() || full.front() == '/') {
    fail(fmt::format("entry at byte {}: name must be a relative path", offset));
  }
  size_t start = 0;
  while (start <= full.size()) {
    const size_t end = std::min(full.find('/', start), full.size());
    const std::string_view part(full.data() + start, end - start);
    if (part == "..") fail(fmt::format("entry at byte {}: name contains \"..\"", offset));
    start = end + 1;
  }
  for (unsigned char c : full) {
    if (c < 0x20 || c == 0x7F) fail(fmt::format("entry at byte {}: name has a control character", offset));
  }
  return full;
}

}  // namespace

std::vector<TarFile> read_tar_files(std::string_view archive) {
  std::vector<TarFile> files;
  std::set<std::string> names;
  const int64_t n = static_cast<int64_t>(archive.size());
  int64_t offset = 0;
  while (true) {
    if (offset + kBlock > n) {
      if (offset == n && !files.empty()) break;  // tolerate a missing end-of-archive marker
      fail(fmt::format("truncated at byte {} (expected a 512-byte header)", offset));
    }
    const std::string_view header = archive.substr(offset, kBlock);
    if (is_zero_block(header)) break;  // end of archive

    const std::string_view magic = header.substr(257, 5);
    if (magic != "ustar") fail(fmt::format("header at byte {}: not a ustar header", offset));

    // Checksum: the sum of all header bytes with the checksum field read as spaces.
    const int64_t stored = parse_octal(header.substr(148, 8), "checksum", offset);
    int64_t sum = 0;
    for (int64_t i = 0; i < kBlock; ++i) {
      sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(header[i]);
    }
    if (sum != stored) fail(fmt::format("header at byte {}: checksum mismatch", offset));

    if (static_cast<unsigned char>(header[124]) & 0x80) {
      fail(fmt::format("header at byte {}: base-256 sizes are not supported", offset));
    }
    const int64_t size = parse_octal(header.substr(124, 12), "size", offset);
    const int64_t data_start = offset + kBlock;
    if (size > n - data_start) {
      fail(fmt::format("entry at byte {}: {} bytes of content but the archive ends first",
                       offset, size));
    }
    const char type = header[156];
    if (type == '0' || type == '\0') {
      std::string name = safe_name(c_string(header.substr(345, 155)),
                                   c_string(header.substr(0, 100)), offset);
      if (!names.insert(name).second) fail(fmt::format("duplicate entry \"{}\"", name));
      files.push_back({std::move(name), archive.substr(data_start, size)});
    } else if (type == '1' || type == '2') {
      fail(fmt::format("entry at byte {}: links are not accepted", offset));
    }
    // Directories ('5'), pax ('x', 'g') and GNU long-name ('L', 'K') entries carry no
    // file content we use; their data is skipped like any other entry's.
    const int64_t padded = (size + kBlock - 1) / kBlock * kBlock;
    offset = data_start + std::min(padded, n - data_start);
  }
  return files;
}

}  // namespace flashnas::app
