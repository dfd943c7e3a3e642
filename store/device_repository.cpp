// Registered devices: SQL (see device_repository.hpp).
#include "store/device_repository.hpp"

#include "engine/util/error.hpp"
#include "store/row_reader.hpp"
#include "store/statements.hpp"

namespace flashnas::store {
namespace {

#define DEVICE_COLUMNS                                                                        \
  "id, project_id, kind, name, token_prefix, info::text AS info, " FLASHNAS_SQL_TS("created_at") \
  ", " FLASHNAS_SQL_TS("last_seen_at") ", " FLASHNAS_SQL_TS("revoked_at")

const Statement kStatements[] = {
    {"device_register",
     "INSERT INTO devices (project_id, kind, name, info, token_hash, token_prefix) "
     "VALUES ($1, $2, $3, $4::jsonb, $5, $6) "
     "ON CONFLICT (project_id, kind, name) WHERE project_id IS NOT NULL DO NOTHING RETURNING " DEVICE_COLUMNS},
    {"device_get", "SELECT " DEVICE_COLUMNS " FROM devices WHERE id = $1 AND project_id = $2"},
    {"device_list", "SELECT " DEVICE_COLUMNS " FROM devices WHERE project_id = $1 ORDER BY id DESC"},
    {"device_revoke",
     "UPDATE devices SET revoked_at = now() WHERE id = $1 AND project_id = $2 AND revoked_at IS NULL RETURNING id"},
    {"device_authenticate",
     "UPDATE devices SET last_seen_at = CASE WHEN last_seen_at IS NULL OR last_seen_at < now() - interval '1 second'"
     "                                       THEN now() ELSE last_seen_at END "
     "WHERE token_hash = $1 AND project_id IS NOT NULL AND revoked_at IS NULL RETURNING " DEVICE_COLUMNS},
    {"device_kind_registered",
     "SELECT EXISTS (SELECT 1 FROM devices WHERE project_id = $1 AND kind = $2 AND revoked_at IS NULL)"},
    {"device_kind_live",
     "SELECT EXISTS (SELECT 1 FROM devices WHERE project_id = $1 AND kind = $2 AND revoked_at IS NULL"
     "  AND last_seen_at > now() - make_interval(secs => $3))"},
};

Device read_device(const pqxx::row& r) {
  Device d;
  d.id = r["id"].as<int64_t>();
  d.project_id = row::opt<int64_t>(r, "project_id");
  d.kind = row::str(r, "kind");
  d.name = row::str(r, "name");
  d.token_prefix = row::opt<std::string>(r, "token_prefix");
  d.info = row::json(r, "info");
  d.created_at = row::str(r, "created_at");
  d.last_seen_at = row::opt<std::string>(r, "last_seen_at");
  d.revoked_at = row::opt<std::string>(r, "revoked_at");
  return d;
}

std::optional<Device> read_optional(const pqxx::result& res) {
  if (res.empty()) return std::nullopt;
  return read_device(res[0]);
}

}  // namespace

std::span<const Statement> device_statements() { return kStatements; }

std::optional<Device> device_register(pqxx::transaction_base& tx, const NewDevice& d) {
  if (!d.info.is_object()) throw InvalidInput("info must be a JSON object", "info");
  return read_optional(tx.exec_prepared("device_register", d.project_id, d.kind, d.name, d.info.dump(),
                                        d.token_hash, d.token_prefix));
}

std::optional<Device> device_get(pqxx::transaction_base& tx, int64_t project_id, int64_t device_id) {
  return read_optional(tx.exec_prepared("device_get", device_id, project_id));
}

std::vector<Device> device_list(pqxx::transaction_base& tx, int64_t project_id) {
  std::vector<Device> out;
  for (const auto& r : tx.exec_prepared("device_list", project_id)) out.push_back(read_device(r));
  return out;
}

bool device_revoke(pqxx::transaction_base& tx, int64_t project_id, int64_t device_id) {
  return !tx.exec_prepared("device_revoke", device_id, project_id).empty();
}

std::optional<Device> device_authenticate(pqxx::transaction_base& tx, const std::string& token_hash) {
  return read_optional(tx.exec_prepared("device_authenticate", token_hash));
}

bool device_kind_registered(pqxx::transaction_base& tx, int64_t project_id, const std::string& kind) {
  return tx.exec_prepared1("device_kind_registered", project_id, kind)[0].as<bool>();
}

bool device_kind_live(pqxx::transaction_base& tx, int64_t project_id, const std::string& kind, double seconds) {
  return tx.exec_prepared1("device_kind_live", project_id, kind, seconds)[0].as<bool>();
}

}  // namespace flashnas::store
