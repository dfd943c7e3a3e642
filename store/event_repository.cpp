// Job events: SQL (see event_repository.hpp).
#include "store/event_repository.hpp"

#include "engine/util/error.hpp"
#include "store/row_reader.hpp"
#include "store/statements.hpp"

namespace flashnas::store {
namespace {

const Statement kStatements[] = {
    {"event_append",
     "WITH s AS (UPDATE jobs SET last_event_seq = last_event_seq + 1 WHERE id = $1"
     " RETURNING last_event_seq AS next_seq) "
     "INSERT INTO job_events (job_id, seq, kind, payload) SELECT $1, s.next_seq, $2, $3::jsonb FROM s "
     "RETURNING seq"},
    {"event_list",
     "SELECT job_id, seq, kind, payload::text AS payload, " FLASHNAS_SQL_TS("created_at")
     " FROM job_events WHERE job_id = $2 AND seq > $3"
     " AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = $2 AND jobs.project_id = $1)"
     " ORDER BY seq LIMIT $4"},
};

}  // namespace

std::span<const Statement> event_statements() { return kStatements; }

int64_t event_append(pqxx::transaction_base& tx, int64_t job_id, const std::string& kind,
                     const nlohmann::json& payload) {
  if (!payload.is_object()) throw InvalidInput("an event payload must be a JSON object", "payload");
  const auto res = tx.exec_prepared("event_append", job_id, kind, payload.dump());
  if (res.empty()) throw Error("job " + std::to_string(job_id) + " does not exist");
  return res[0][0].as<int64_t>();
}

std::vector<JobEvent> event_list(pqxx::transaction_base& tx, int64_t project_id, int64_t job_id, int64_t after,
                                 int limit) {
  if (limit < 1 || limit > 1000) throw InvalidInput("limit must be in [1, 1000]", "limit");
  std::vector<JobEvent> out;
  for (const auto& r : tx.exec_prepared("event_list", project_id, job_id, after, limit)) {
    out.push_back(JobEvent{r["job_id"].as<int64_t>(), r["seq"].as<int64_t>(), row::str(r, "kind"),
                           row::json(r, "payload"), row::str(r, "created_at")});
  }
  return out;
}

}  // namespace flashnas::store
