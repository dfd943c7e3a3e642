// KeyCache: API key authentication with a short-lived in-memory cache, so a hot
// endpoint does not pay a database round trip per request for the key lookup.
// The price: a key revoked elsewhere keeps working for at most `ttl` on this
// process (revocations through this process clear the cache).
// Not key creation (cli/cmd_admin.cpp) nor the SQL (store/).
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "server/router.hpp"

namespace flashnas::server {

class KeyCache {
 public:
  // Looks a key up by its sha256 hex; nullopt if unknown or revoked.
  using Lookup = std::function<std::optional<Principal>(const std::string& key_hash)>;

  KeyCache(Lookup lookup, std::chrono::seconds ttl);

  // sha256 of the presented key, then the cache, then `lookup`. Unknown keys are
  // cached too (negatively) so a client retrying a bad key cannot flood the database.
  std::optional<Principal> authenticate(const std::string& key);

  // Forgets every cached answer: a revocation made here takes effect at once.
  void clear();

 private:
  struct Entry {
    std::optional<Principal> principal;
    std::chrono::steady_clock::time_point expires;
  };
  static constexpr size_t kMaxEntries = 10000;  // bound memory under a key-guessing flood

  Lookup lookup_;
  std::chrono::seconds ttl_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;  // key: sha256 hex
};

}  // namespace flashnas::server
