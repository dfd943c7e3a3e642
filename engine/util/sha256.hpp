// SHA-256 of files and byte strings (hex), for content addressing and cache keys.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace flashnas {

std::string sha256_hex(std::string_view bytes);
std::string sha256_file_hex(const std::string& path);  // throws Error if unreadable

}  // namespace flashnas
