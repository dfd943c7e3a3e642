// Jobs: SQL (see job_repository.hpp).
#include "store/job_repository.hpp"

#include <algorithm>

#include "engine/util/error.hpp"
#include "store/row_reader.hpp"
#include "store/statements.hpp"

namespace flashnas::store {
namespace {

#define JOB_COLUMNS                                                                              \
  "j.id, j.project_id, j.kind::text AS kind, j.name, j.spec::text AS spec, j.state::text AS state, " \
  "j.idempotency_key, j.request_hash, j.error, "                                                 \
  "(to_json(j.created_at) #>> '{}') AS created_at, (to_json(j.updated_at) #>> '{}') AS updated_at, " \
  "(to_json(j.started_at) #>> '{}') AS started_at, (to_json(j.finished_at) #>> '{}') AS finished_at, " \
  "p.total, p.pending, p.running, p.succeeded, p.failed, p.cancelled"
// Trial counts by state, computed per job row.
#define JOB_PROGRESS                                                                      \
  " CROSS JOIN LATERAL (SELECT count(*) AS total,"                                        \
  " count(*) FILTER (WHERE t.state = 'pending') AS pending,"                              \
  " count(*) FILTER (WHERE t.state = 'running') AS running,"                              \
  " count(*) FILTER (WHERE t.state = 'succeeded') AS succeeded,"                          \
  " count(*) FILTER (WHERE t.state = 'failed') AS failed,"                                \
  " count(*) FILTER (WHERE t.state = 'cancelled') AS cancelled"                           \
  " FROM trials t WHERE t.job_id = j.id) p"

const Statement kStatements[] = {
    {"job_insert",
     "WITH j AS (INSERT INTO jobs (project_id, kind, name, spec, idempotency_key, request_hash) "
     "VALUES ($1, $2::job_kind, $3, $4::jsonb, $5, $6) "
     "ON CONFLICT (project_id, idempotency_key) DO NOTHING RETURNING *) "
     "SELECT " JOB_COLUMNS " FROM j CROSS JOIN (SELECT 0::bigint AS total, 0::bigint AS pending, "
     "0::bigint AS running, 0::bigint AS succeeded, 0::bigint AS failed, 0::bigint AS cancelled) p"},
    {"job_find_by_key",
     "SELECT " JOB_COLUMNS " FROM jobs j" JOB_PROGRESS " WHERE j.project_id = $1 AND j.idempotency_key = $2"},
    {"job_get", "SELECT " JOB_COLUMNS " FROM jobs j" JOB_PROGRESS " WHERE j.id = $1 AND j.project_id = $2"},
    {"job_get_any_project", "SELECT " JOB_COLUMNS " FROM jobs j" JOB_PROGRESS " WHERE j.id = $1"},
    {"job_list",
     "SELECT " JOB_COLUMNS " FROM jobs j" JOB_PROGRESS
     " WHERE j.project_id = $1 AND ($2::job_state IS NULL OR j.state = $2::job_state)"
     " AND ($3::job_kind IS NULL OR j.kind = $3::job_kind) AND ($4::bigint IS NULL OR j.id < $4)"
     " ORDER BY j.id DESC LIMIT $5"},
    {"job_lock", "SELECT id FROM jobs WHERE id = $1 FOR UPDATE"},
    {"job_finish",
     "UPDATE jobs SET state = $2::job_state, error = $3, finished_at = now(), updated_at = now(),"
     " started_at = coalesce(started_at, CASE WHEN $2::job_state = 'succeeded' THEN now() END) "
     "WHERE id = $1 AND state IN ('queued', 'running') RETURNING id"},
    {"job_take_trial_seqs",
     "UPDATE jobs SET last_trial_seq = last_trial_seq + $2 WHERE id = $1 RETURNING last_trial_seq - $2 + 1"},
};

Job read_job(const pqxx::row& r) {
  Job j;
  j.id = r["id"].as<int64_t>();
  j.project_id = r["project_id"].as<int64_t>();
  j.kind = row::str(r, "kind");
  j.name = row::str(r, "name");
  j.spec = row::json(r, "spec");
  j.state = row::str(r, "state");
  j.idempotency_key = row::opt<std::string>(r, "idempotency_key");
  j.request_hash = row::opt<std::string>(r, "request_hash");
  j.error = row::opt<std::string>(r, "error");
  j.created_at = row::str(r, "created_at");
  j.updated_at = row::str(r, "updated_at");
  j.started_at = row::opt<std::string>(r, "started_at");
  j.finished_at = row::opt<std::string>(r, "finished_at");
  j.progress.total = r["total"].as<int64_t>();
  j.progress.pending = r["pending"].as<int64_t>();
  j.progress.running = r["running"].as<int64_t>();
  j.progress.succeeded = r["succeeded"].as<int64_t>();
  j.progress.failed = r["failed"].as<int64_t>();
  j.progress.cancelled = r["cancelled"].as<int64_t>();
  return j;
}

std::optional<Job> read_optional(const pqxx::result& res) {
  if (res.empty()) return std::nullopt;
  return read_job(res[0]);
}

void check_one_of(const std::string& value, const std::vector<std::string>& allowed, const std::string& field) {
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw InvalidInput("'" + value + "' is not one of " + list, field);
  }
}

}  // namespace

std::span<const Statement> job_statements() { return kStatements; }

const std::vector<std::string>& job_kinds() {
  static const std::vector<std::string> kinds = {"search", "latency_study", "sweep"};
  return kinds;
}

const std::vector<std::string>& job_states() {
  static const std::vector<std::string> states = {"queued", "running", "succeeded", "failed", "cancelled"};
  return states;
}

bool job_state_is_terminal(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "cancelled";
}

std::optional<Job> job_insert(pqxx::transaction_base& tx, const NewJob& job) {
  check_one_of(job.kind, job_kinds(), "kind");
  if (!job.spec.is_object()) throw InvalidInput("a job spec must be a JSON object", "spec");
  return read_optional(tx.exec_prepared("job_insert", job.project_id, job.kind, job.name, job.spec.dump(),
                                        job.idempotency_key, job.request_hash));
}

std::optional<Job> job_find_by_key(pqxx::transaction_base& tx, int64_t project_id, const std::string& key) {
  return read_optional(tx.exec_prepared("job_find_by_key", project_id, key));
}

std::optional<Job> job_get(pqxx::transaction_base& tx, int64_t project_id, int64_t job_id) {
  return read_optional(tx.exec_prepared("job_get", job_id, project_id));
}

std::optional<Job> job_get_any_project(pqxx::transaction_base& tx, int64_t job_id) {
  return read_optional(tx.exec_prepared("job_get_any_project", job_id));
}

bool job_lock(pqxx::transaction_base& tx, int64_t job_id) {
  return !tx.exec_prepared("job_lock", job_id).empty();
}

std::vector<Job> job_list(pqxx::transaction_base& tx, const JobFilter& filter) {
  if (filter.state) check_one_of(*filter.state, job_states(), "state");
  if (filter.kind) check_one_of(*filter.kind, job_kinds(), "kind");
  if (filter.limit < 1 || filter.limit > 1000) throw InvalidInput("limit must be in [1, 1000]", "limit");
  std::vector<Job> out;
  for (const auto& r : tx.exec_prepared("job_list", filter.project_id, filter.state, filter.kind,
                                        filter.before_id, filter.limit)) {
    out.push_back(read_job(r));
  }
  return out;
}

bool job_finish(pqxx::transaction_base& tx, int64_t job_id, const std::string& state,
                const std::optional<std::string>& error) {
  if (!job_state_is_terminal(state)) throw InvalidInput("'" + state + "' is not a final job state", "state");
  return !tx.exec_prepared("job_finish", job_id, state, error).empty();
}

int64_t job_take_trial_seqs(pqxx::transaction_base& tx, int64_t job_id, int64_t count) {
  const auto res = tx.exec_prepared("job_take_trial_seqs", job_id, count);
  if (res.empty()) throw Error("job " + std::to_string(job_id) + " does not exist");
  return res[0][0].as<int64_t>();
}

}  // namespace flashnas::store
