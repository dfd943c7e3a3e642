// KeyCache: hash, look up, remember for a few seconds.
#include "server/key_cache.hpp"

#include "engine/util/sha256.hpp"

namespace flashnas::server {

KeyCache::KeyCache(Lookup lookup, std::chrono::seconds ttl)
    : lookup_(std::move(lookup)), ttl_(ttl) {}

std::optional<Principal> KeyCache::authenticate(const std::string& key) {
  // Keys are random ASCII tokens; anything long or odd cannot be one.
  if (key.empty() || key.size() > 200) return std::nullopt;
  const std::string hash = sha256_hex(key);
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(hash);
    if (it != entries_.end() && it->second.expires > now) return it->second.principal;
  }
  auto principal = lookup_(hash);  // outside the lock: a slow database must not serialise requests
  std::lock_guard lock(mutex_);
  if (entries_.size() >= kMaxEntries) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = it->second.expires <= now ? entries_.erase(it) : std::next(it);
    }
    if (entries_.size() >= kMaxEntries) entries_.clear();
  }
  entries_[hash] = {principal, now + ttl_};
  return principal;
}

void KeyCache::clear() {
  std::lock_guard lock(mutex_);
  entries_.clear();
}

}  // namespace flashnas::server
