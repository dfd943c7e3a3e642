// Checkpoints: SQL (see checkpoint_repository.hpp).
#include "store/checkpoint_repository.hpp"

#include "engine/util/error.hpp"
#include "store/row_reader.hpp"
#include "store/statements.hpp"

namespace flashnas::store {
namespace {

#define CHECKPOINT_COLUMNS "id, job_id, trial_id, format::text AS format, sha256, bytes, path, " FLASHNAS_SQL_TS("created_at")

const Statement kStatements[] = {
    {"checkpoint_get", "SELECT " CHECKPOINT_COLUMNS " FROM checkpoints WHERE trial_id = $1 AND format = $2::checkpoint_format"},
    {"checkpoint_insert",
     "INSERT INTO checkpoints (job_id, trial_id, format, sha256, bytes, path) "
     "VALUES ($1, $2, $3::checkpoint_format, $4, $5, $6) ON CONFLICT (trial_id, format) DO NOTHING"},
    // The same NOTIFY as task_enqueue, so idle workers wake up.
    {"export_enqueue",
     "WITH added AS (INSERT INTO tasks (kind, job_id, trial_id, payload, priority, max_attempts) "
     "  VALUES ('export', $1, $2, jsonb_build_object('format', $3::text), $4, 3) "
     "  ON CONFLICT (trial_id, (payload ->> 'format')) WHERE kind = 'export' AND state IN ('available', 'running') "
     "  DO NOTHING RETURNING id) "
     "SELECT id, pg_notify('flashnas_tasks', 'export') FROM added"},
};

Checkpoint read_checkpoint(const pqxx::row& r) {
  Checkpoint c;
  c.id = r["id"].as<int64_t>();
  c.job_id = r["job_id"].as<int64_t>();
  c.trial_id = r["trial_id"].as<int64_t>();
  c.format = parse_enum_or_throw<CheckpointFormat>(row::str(r, "format"), "format");
  c.sha256 = row::str(r, "sha256");
  c.bytes = r["bytes"].as<int64_t>();
  c.path = row::str(r, "path");
  c.created_at = row::str(r, "created_at");
  return c;
}

}  // namespace

std::span<const Statement> checkpoint_statements() { return kStatements; }

std::optional<Checkpoint> checkpoint_get(pqxx::transaction_base& tx, int64_t trial_id, CheckpointFormat format) {
  const auto res = tx.exec_prepared("checkpoint_get", trial_id, std::string(name_of(format)));
  if (res.empty()) return std::nullopt;
  return read_checkpoint(res[0]);
}

Checkpoint checkpoint_insert(pqxx::transaction_base& tx, const Checkpoint& c) {
  tx.exec_prepared("checkpoint_insert", c.job_id, c.trial_id, std::string(name_of(c.format)), c.sha256, c.bytes,
                   c.path);
  auto recorded = checkpoint_get(tx, c.trial_id, c.format);
  FLASHNAS_CHECK(recorded.has_value(), "checkpoint of trial {} not recorded", c.trial_id);
  return *recorded;
}

bool export_enqueue(pqxx::transaction_base& tx, int64_t job_id, int64_t trial_id, CheckpointFormat format,
                    int priority) {
  return !tx.exec_prepared("export_enqueue", job_id, trial_id, std::string(name_of(format)), priority).empty();
}

}  // namespace flashnas::store
