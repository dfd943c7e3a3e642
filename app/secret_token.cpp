// Secret tokens (see secret_token.hpp).
#include "app/secret_token.hpp"

#include <fmt/format.h>
#include <openssl/rand.h>

#include "engine/util/error.hpp"

namespace flashnas::app {

std::string new_secret_token(std::string_view prefix) {
  unsigned char bytes[20];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw Error("OpenSSL could not generate random bytes");
  std::string token(prefix);
  for (unsigned char b : bytes) token += fmt::format("{:02x}", b);
  return token;
}

std::string token_prefix_of(const std::string& token) { return token.substr(0, 12); }

}  // namespace flashnas::app
