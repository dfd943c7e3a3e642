// UTF-8 validation for uploaded text (datasets): well-formed sequences only,
// no overlongs, no surrogates, nothing above U+10FFFF (RFC 3629).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace flashnas::app {

// nullopt when `text` is valid UTF-8, else the byte offset of the first bad sequence.
std::optional<int64_t> find_invalid_utf8(std::string_view text);

}  // namespace flashnas::app
