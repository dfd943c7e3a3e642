// Projects and API keys: SQL (see project_repository.hpp).
#include "store/project_repository.hpp"

#include <algorithm>

#include "engine/util/error.hpp"
#include "store/row_reader.hpp"
#include "store/statements.hpp"

namespace flashnas::store {
namespace {

#define PROJECT_COLUMNS "id, name, " FLASHNAS_SQL_TS("created_at")
#define KEY_COLUMNS                                                                          \
  "k.id, k.project_id, p.name AS project_name, k.key_prefix, k.scopes::text AS scopes, k.label, " \
  "(to_json(k.created_at) #>> '{}') AS created_at, (to_json(k.revoked_at) #>> '{}') AS revoked_at"

const Statement kStatements[] = {
    // ON CONFLICT DO UPDATE (a no-op write) so RETURNING also yields an existing row.
    {"project_ensure",
     "INSERT INTO projects (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name "
     "RETURNING " PROJECT_COLUMNS},
    {"project_find", "SELECT " PROJECT_COLUMNS " FROM projects WHERE name = $1"},
    {"project_get", "SELECT " PROJECT_COLUMNS " FROM projects WHERE id = $1"},
    {"api_key_create",
     "WITH k AS (INSERT INTO api_keys (project_id, key_hash, key_prefix, scopes, label) "
     "VALUES ($1, $2, $3, $4::text[], $5) RETURNING *) "
     "SELECT " KEY_COLUMNS " FROM k JOIN projects p ON p.id = k.project_id"},
    // last_used_at is refreshed at most once a minute: authentication runs on every
    // request, and a write per request would cap the API's throughput.
    {"api_key_authenticate",
     "WITH k AS (SELECT * FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL),"
     " touch AS (UPDATE api_keys SET last_used_at = now() WHERE id IN (SELECT id FROM k)"
     "   AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')) "
     "SELECT " KEY_COLUMNS " FROM k JOIN projects p ON p.id = k.project_id"},
    {"api_key_revoke",
     "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING id"},
};

Project read_project(const pqxx::row& r) {
  return Project{r["id"].as<int64_t>(), row::str(r, "name"), row::str(r, "created_at")};
}

std::optional<Project> read_optional_project(const pqxx::result& res) {
  if (res.empty()) return std::nullopt;
  return read_project(res[0]);
}

ApiKey read_key(const pqxx::row& r) {
  ApiKey k;
  k.id = r["id"].as<int64_t>();
  k.project_id = r["project_id"].as<int64_t>();
  k.project_name = row::str(r, "project_name");
  k.key_prefix = row::str(r, "key_prefix");
  k.scopes = row::simple_text_array(row::str(r, "scopes"));
  k.label = row::str(r, "label");
  k.created_at = row::str(r, "created_at");
  k.revoked_at = row::opt<std::string>(r, "revoked_at");
  return k;
}

}  // namespace

std::span<const Statement> project_statements() { return kStatements; }

Project project_ensure(pqxx::transaction_base& tx, const std::string& name) {
  return read_project(tx.exec_prepared1("project_ensure", name));
}

std::optional<Project> project_find(pqxx::transaction_base& tx, const std::string& name) {
  return read_optional_project(tx.exec_prepared("project_find", name));
}

std::optional<Project> project_get(pqxx::transaction_base& tx, int64_t id) {
  return read_optional_project(tx.exec_prepared("project_get", id));
}

const std::vector<std::string>& key_scopes() {
  static const std::vector<std::string> scopes = {"read", "submit", "admin"};
  return scopes;
}

ApiKey api_key_create(pqxx::transaction_base& tx, const NewApiKey& key) {
  if (key.scopes.empty()) throw InvalidInput("a key needs at least one scope", "scopes");
  for (const auto& s : key.scopes) {
    if (std::find(key_scopes().begin(), key_scopes().end(), s) == key_scopes().end()) {
      throw InvalidInput("unknown scope '" + s + "' (read, submit, admin)", "scopes");
    }
  }
  return read_key(tx.exec_prepared1("api_key_create", key.project_id, key.key_hash, key.key_prefix,
                                    row::text_array(key.scopes), key.label));
}

std::optional<ApiKey> api_key_authenticate(pqxx::transaction_base& tx, const std::string& key_hash) {
  const auto res = tx.exec_prepared("api_key_authenticate", key_hash);
  if (res.empty()) return std::nullopt;
  return read_key(res[0]);
}

bool api_key_revoke(pqxx::transaction_base& tx, int64_t key_id) {
  return !tx.exec_prepared("api_key_revoke", key_id).empty();
}

}  // namespace flashnas::store
