// Projects and API keys: SQL for the tenants of the service and the keys that
// authenticate them. Keys are stored as the sha256 of the key text (the caller
// hashes; this layer never sees a key). Not the authentication policy (server/).
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "store/records.hpp"

namespace flashnas::store {

// Creates the project, or returns the existing one with that name.
Project project_ensure(pqxx::transaction_base& tx, const std::string& name);
std::optional<Project> project_find(pqxx::transaction_base& tx, const std::string& name);
std::optional<Project> project_get(pqxx::transaction_base& tx, int64_t id);

// The scopes a key can carry.
const std::vector<std::string>& key_scopes();

struct NewApiKey {
  int64_t project_id = 0;
  std::string key_hash;              // sha256 hex of the key
  std::string key_prefix;            // the first characters of the key (1..16)
  std::vector<std::string> scopes;   // non-empty subset of key_scopes()
  std::string label;
};
// Throws InvalidInput for unknown scopes; the schema rejects a hash that is not hex.
ApiKey api_key_create(pqxx::transaction_base& tx, const NewApiKey& key);

// The live (not revoked) key with this hash; records its use (at most once a minute).
std::optional<ApiKey> api_key_authenticate(pqxx::transaction_base& tx, const std::string& key_hash);

// Revokes a key; false when no live key had that id.
bool api_key_revoke(pqxx::transaction_base& tx, int64_t key_id);

}  // namespace flashnas::store
