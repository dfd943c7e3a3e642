// Secrets handed out once: API keys and device tokens. The service keeps only
// their sha256 (engine/util/sha256.hpp), so a leaked database leaks no token.
#pragma once

#include <string>
#include <string_view>

namespace flashnas::app {

// `prefix` + 40 hex digits: 160 random bits from OpenSSL's CSPRNG. The prefix
// ("fnk_" keys, "fnd_" device tokens) tells a human which kind of secret it is.
std::string new_secret_token(std::string_view prefix);

// The first characters kept in clear to tell tokens apart (never enough to use one).
std::string token_prefix_of(const std::string& token);

}  // namespace flashnas::app
