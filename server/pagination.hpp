// Keyset pagination cursors: opaque to clients ("next_cursor" of one page is the
// "cursor" of the next), here the last id of the page in decimal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace flashnas::server {

std::string encode_cursor(int64_t last_id);
// nullopt for no cursor; ApiError 400 (field "cursor") for a malformed one.
std::optional<int64_t> decode_cursor(const std::optional<std::string>& cursor);

}  // namespace flashnas::server
