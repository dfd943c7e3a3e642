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
  "j.stage::text AS stage, j.latency_model_id, j.reference_point::text AS reference_point, "       \
  "j.summary::text AS summary, j.idempotency_key, j.request_hash, j.error, "                     \
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
     "WITH j AS (INSERT INTO jobs (project_id, kind, name, spec, idempotency_key, request_hash, stage) "
     "VALUES ($1, $2::job_kind, $3, $4::jsonb, $5, $6, $7::job_stage) "
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
    {"job_set_stage",
     "UPDATE jobs SET stage = $2::job_stage, updated_at = now() WHERE id = $1 AND state IN ('queued', 'running') "
     "RETURNING id"},
    {"job_set_latency_model",
     "UPDATE jobs SET latency_model_id = $2, updated_at = now() WHERE id = $1 AND state IN ('queued', 'running') "
     "RETURNING id"},
    {"job_set_reference_point",
     "UPDATE jobs SET reference_point = $2::jsonb, updated_at = now() "
     "WHERE id = $1 AND state IN ('queued', 'running') RETURNING id"},
    {"job_set_summary", "UPDATE jobs SET summary = $2::jsonb WHERE id = $1"},
    {"job_take_trial_seqs",
     "UPDATE jobs SET last_trial_seq = last_trial_seq + $2 WHERE id = $1 RETURNING last_trial_seq - $2 + 1"},
};

Job read_job(const pqxx::row& r) {
  Job j;
  j.id = r["id"].as<int64_t>();
  j.project_id = r["project_id"].as<int64_t>();
  j.kind = row::enumeration<JobKind>(r, "kind");
  j.name = row::str(r, "name");
  j.spec = row::json(r, "spec");
  j.state = row::enumeration<JobState>(r, "state");
  j.stage = row::opt_enumeration<JobStage>(r, "stage");
  j.latency_model_id = row::opt<int64_t>(r, "latency_model_id");
  j.reference_point = row::opt_json(r, "reference_point");
  j.summary = row::opt_json(r, "summary");
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

}  // namespace

std::span<const Statement> job_statements() { return kStatements; }

std::optional<Job> job_insert(pqxx::transaction_base& tx, const NewJob& job) {
  if (!job.spec.is_object()) throw InvalidInput("a job spec must be a JSON object", "spec");
  if ((job.kind == JobKind::sweep) != !job.stage) throw InvalidInput("sweeps have no stage; other jobs need one", "stage");
  const std::optional<std::string> stage = job.stage ? std::optional<std::string>(name_of(*job.stage)) : std::nullopt;
  return read_optional(tx.exec_prepared("job_insert", job.project_id, std::string(name_of(job.kind)), job.name,
                                        job.spec.dump(), job.idempotency_key, job.request_hash, stage));
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
  if (filter.limit < 1 || filter.limit > 1000) throw InvalidInput("limit must be in [1, 1000]", "limit");
  const auto state = filter.state ? std::optional<std::string>(name_of(*filter.state)) : std::nullopt;
  const auto kind = filter.kind ? std::optional<std::string>(name_of(*filter.kind)) : std::nullopt;
  std::vector<Job> out;
  for (const auto& r : tx.exec_prepared("job_list", filter.project_id, state, kind, filter.before_id, filter.limit)) {
    out.push_back(read_job(r));
  }
  return out;
}

bool job_finish(pqxx::transaction_base& tx, int64_t job_id, JobState state,
                const std::optional<std::string>& error) {
  FLASHNAS_CHECK(is_terminal(state), "job_finish to the non-final state {}", name_of(state));
  return !tx.exec_prepared("job_finish", job_id, std::string(name_of(state)), error).empty();
}

bool job_set_stage(pqxx::transaction_base& tx, int64_t job_id, JobStage stage) {
  return !tx.exec_prepared("job_set_stage", job_id, std::string(name_of(stage))).empty();
}

bool job_set_latency_model(pqxx::transaction_base& tx, int64_t job_id, int64_t latency_model_id) {
  return !tx.exec_prepared("job_set_latency_model", job_id, latency_model_id).empty();
}

bool job_set_reference_point(pqxx::transaction_base& tx, int64_t job_id, const nlohmann::json& reference) {
  FLASHNAS_CHECK(reference.is_object(), "a reference point is a JSON object");
  return !tx.exec_prepared("job_set_reference_point", job_id, reference.dump()).empty();
}

void job_set_summary(pqxx::transaction_base& tx, int64_t job_id, const nlohmann::json& summary) {
  FLASHNAS_CHECK(summary.is_object(), "a job summary is a JSON object");
  tx.exec_prepared("job_set_summary", job_id, summary.dump());
}

int64_t job_take_trial_seqs(pqxx::transaction_base& tx, int64_t job_id, int64_t count) {
  const auto res = tx.exec_prepared("job_take_trial_seqs", job_id, count);
  if (res.empty()) throw Error("job " + std::to_string(job_id) + " does not exist");
  return res[0][0].as<int64_t>();
}

}  // namespace flashnas::store
