// The task queue's SQL (see task_queue.hpp). Claim follows the usual PostgreSQL
// queue shape (River, Graphile Worker): pick rows in a CTE with FOR UPDATE SKIP
// LOCKED, then UPDATE ... RETURNING, counting the attempt at claim time.
#include "store/task_queue.hpp"

#include <algorithm>
#include <regex>

#include "engine/util/error.hpp"
#include "store/row_reader.hpp"
#include "store/statements.hpp"

namespace flashnas::store {
namespace {

#define TASK_COLUMNS                                                                          \
  "id, kind::text AS kind, job_id, trial_id, step, payload::text AS payload, state::text AS state, " \
  "priority, attempts, max_attempts, lease_token::text AS lease_token, "                      \
  FLASHNAS_SQL_TS("lease_expires_at") ", worker_id, " FLASHNAS_SQL_TS("run_after") ", "        \
  "last_error, result::text AS result, " FLASHNAS_SQL_TS("created_at") ", "                   \
  FLASHNAS_SQL_TS("updated_at") ", " FLASHNAS_SQL_TS("started_at") ", "                       \
  FLASHNAS_SQL_TS("finished_at") ", device_kind"

// The back-off before retry number `attempts` (1-based): base * 2^(attempts-1), capped.
#define BACKOFF(base, cap) "make_interval(secs => least(" base " * power(2, greatest(attempts - 1, 0)), " cap "))"

// The claim itself, shared by task_claim and task_claim_and_start: CTEs
// `picked` (up to $4 available tasks of the kinds $1, of job $5 when not null,
// locked, skipping locked rows; with $6 null only tasks any worker measures, else
// only tasks of device kind $6 whose job is in project $7) and `claimed` (those tasks leased to worker $2
// for $3 seconds).
// ANY(ARRAY(...)) keeps generic plans on key lookups (UPDATE ... FROM made
// prepared statements scan every task).
#define CLAIM_CTES                                                                          \
  "WITH picked AS ("                                                                        \
  "  SELECT id AS picked_id FROM tasks"                                                     \
  "  WHERE state = 'available' AND run_after <= now() AND kind = ANY($1::task_kind[])"      \
  "    AND ($5::bigint IS NULL OR job_id = $5)"                                              \
  "    AND ($6::text IS NULL AND device_kind IS NULL"                                         \
  "         OR device_kind = $6 AND job_id IN (SELECT id FROM jobs WHERE project_id = $7))"   \
  "  ORDER BY priority DESC, id LIMIT $4"                                                   \
  "  FOR UPDATE SKIP LOCKED), "                                                             \
  "claimed AS ("                                                                            \
  "  UPDATE tasks SET state = 'running', attempts = attempts + 1, lease_token = gen_random_uuid()," \
  "    lease_expires_at = now() + make_interval(secs => $3), worker_id = $2,"               \
  "    started_at = now(), updated_at = now() "                                             \
  "  WHERE id = ANY(ARRAY(SELECT picked_id FROM picked)) RETURNING tasks.*)"

const Statement kStatements[] = {
    {"task_enqueue",
     "WITH t AS (INSERT INTO tasks (kind, job_id, trial_id, payload, priority, max_attempts, step, device_kind) "
     "VALUES ($1::task_kind, $2, $3, $4::jsonb, $5, $6, $7, $8) "
     "ON CONFLICT (job_id, kind, step) WHERE step IS NOT NULL DO NOTHING RETURNING id, kind) "
     "SELECT t.id, pg_notify('flashnas_tasks', t.kind::text) FROM t"},
    {"task_claim",
     CLAIM_CTES " "
     "SELECT " TASK_COLUMNS " FROM claimed ORDER BY priority DESC, id"},
    // task_claim, plus the job service's "work started" bookkeeping in the same
    // statement, so a worker claims in one round trip without BEGIN/COMMIT: each
    // claimed task's job becomes running (with a job.running event) if it was
    // queued, and its trial running (with a new trial seq) if it was pending.
    // A statement may change a row only once, so each job row is updated once:
    // its state, the event seq and every trial seq taken for it. Locking the job
    // rows first (FOR UPDATE returns the latest committed version) tells reliably
    // whether this claim is the one that starts the job; the lock order stays
    // tasks, jobs, trials. A trial seq taken for a trial a concurrent claimer
    // started first is left unused (seqs stay increasing, gaps are allowed).
    {"task_claim_and_start",
     CLAIM_CTES ", "
     "locked_jobs AS ("
     "  SELECT id AS job_id, state AS old_state FROM jobs"
     "  WHERE id = ANY(ARRAY(SELECT job_id FROM claimed)) ORDER BY id FOR UPDATE), "
     "starting AS ("
     "  SELECT id AS trial_id, job_id, row_number() OVER (PARTITION BY job_id ORDER BY id) AS n,"
     "         count(*) OVER (PARTITION BY job_id) AS k"
     "  FROM trials WHERE state = 'pending' AND id = ANY(ARRAY(SELECT trial_id FROM claimed))), "
     "job_marks AS ("
     "  UPDATE jobs j SET"
     "    state = CASE WHEN l.old_state = 'queued' THEN 'running'::job_state ELSE j.state END,"
     "    started_at = CASE WHEN l.old_state = 'queued' THEN now() ELSE j.started_at END,"
     "    updated_at = CASE WHEN l.old_state = 'queued' THEN now() ELSE j.updated_at END,"
     "    last_event_seq = j.last_event_seq + CASE WHEN l.old_state = 'queued' THEN 1 ELSE 0 END,"
     "    last_trial_seq = j.last_trial_seq + coalesce((SELECT max(k) FROM starting s WHERE s.job_id = j.id), 0) "
     "  FROM locked_jobs l WHERE j.id = l.job_id"
     "    AND (l.old_state = 'queued' OR EXISTS (SELECT 1 FROM starting s WHERE s.job_id = j.id))"
     "  RETURNING j.id AS job_id, l.old_state = 'queued' AS started, j.last_event_seq, j.last_trial_seq), "
     "job_events_added AS ("
     "  INSERT INTO job_events (job_id, seq, kind, payload)"
     "  SELECT m.job_id, m.last_event_seq, 'job.running',"
     "         jsonb_build_object('task_id', (SELECT min(c.id) FROM claimed c WHERE c.job_id = m.job_id))"
     "  FROM job_marks m WHERE m.started), "
     "trial_marks AS ("
     "  UPDATE trials t SET state = 'running', seq = m.last_trial_seq - s.k + s.n, updated_at = now()"
     "  FROM starting s JOIN job_marks m ON m.job_id = s.job_id"
     "  WHERE t.id = s.trial_id AND t.state = 'pending') "
     "SELECT " TASK_COLUMNS " FROM claimed ORDER BY priority DESC, id"},
    {"task_heartbeat",
     "UPDATE tasks SET lease_expires_at = now() + make_interval(secs => $3), updated_at = now() "
     "WHERE id = $1 AND lease_token = $2::uuid AND state = 'running' RETURNING id"},
    {"task_complete",
     "UPDATE tasks SET state = 'succeeded', result = $3::jsonb, lease_token = NULL,"
     "  lease_expires_at = NULL, finished_at = now(), updated_at = now() "
     "WHERE id = $1 AND lease_token = $2::uuid AND state = 'running' RETURNING " TASK_COLUMNS},
    // $4: retryable. A retryable failure with attempts left goes back after a back-off.
    {"task_fail",
     "UPDATE tasks SET"
     "  state = (CASE WHEN $4 AND attempts < max_attempts THEN 'available'"
     "                WHEN $4 THEN 'dead' ELSE 'failed' END)::task_state,"
     "  run_after = CASE WHEN $4 AND attempts < max_attempts"
     "                   THEN now() + " BACKOFF("$5", "$6") " ELSE run_after END,"
     "  finished_at = CASE WHEN $4 AND attempts < max_attempts THEN NULL ELSE now() END,"
     "  last_error = $3, lease_token = NULL, lease_expires_at = NULL, updated_at = now() "
     "WHERE id = $1 AND lease_token = $2::uuid AND state = 'running' RETURNING " TASK_COLUMNS},
    {"task_release",
     "WITH r AS ("
     "  UPDATE tasks SET state = 'available', attempts = greatest(attempts - 1, 0), run_after = now(),"
     "    lease_token = NULL, lease_expires_at = NULL, updated_at = now()"
     "  WHERE id = $1 AND lease_token = $2::uuid AND state = 'running' RETURNING *) "
     "SELECT " TASK_COLUMNS ", pg_notify('flashnas_tasks', kind::text) FROM r"},
    {"task_rescue_expired",
     "WITH expired AS ("
     "  SELECT id AS expired_id FROM tasks"
     "  WHERE state = 'running' AND lease_expires_at < now()"
     "  ORDER BY lease_expires_at LIMIT $3 FOR UPDATE SKIP LOCKED) "
     "UPDATE tasks SET"
     "  state = (CASE WHEN attempts < max_attempts THEN 'available' ELSE 'dead' END)::task_state,"
     "  run_after = CASE WHEN attempts < max_attempts THEN now() + " BACKOFF("$1", "$2") " ELSE run_after END,"
     "  finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE now() END,"
     "  last_error = format('lease expired on worker %s (attempt %s of %s)',"
     "                      coalesce(worker_id, '?'), attempts, max_attempts),"
     "  lease_token = NULL, lease_expires_at = NULL, updated_at = now() "
     "WHERE id = ANY(ARRAY(SELECT expired_id FROM expired)) RETURNING " TASK_COLUMNS},
    {"task_cancel_for_job",
     "UPDATE tasks SET state = 'cancelled', lease_token = NULL, lease_expires_at = NULL,"
     "  finished_at = now(), updated_at = now() "
     "WHERE job_id = $1 AND state IN ('available', 'running') RETURNING " TASK_COLUMNS},
    {"task_get", "SELECT " TASK_COLUMNS " FROM tasks WHERE id = $1"},
    {"task_list_for_trial", "SELECT " TASK_COLUMNS " FROM tasks WHERE trial_id = $1 ORDER BY id"},
    {"task_tally",
     "SELECT kind::text, state::text, trial_id IS NOT NULL, count(*), max(step) FROM tasks WHERE job_id = $1 "
     "GROUP BY 1, 2, 3"},
    {"task_counts",
     "SELECT kind::text, state::text, count(*) FROM tasks GROUP BY kind, state ORDER BY kind, state"},
};

Task read_task(const pqxx::row& r) {
  Task t;
  t.id = r["id"].as<int64_t>();
  t.kind = row::enumeration<TaskKind>(r, "kind");
  t.job_id = row::opt<int64_t>(r, "job_id");
  t.trial_id = row::opt<int64_t>(r, "trial_id");
  t.step = row::opt<int32_t>(r, "step");
  t.payload = row::json(r, "payload");
  t.state = row::enumeration<TaskState>(r, "state");
  t.priority = r["priority"].as<int32_t>();
  t.attempts = r["attempts"].as<int32_t>();
  t.max_attempts = r["max_attempts"].as<int32_t>();
  t.lease_token = row::opt<std::string>(r, "lease_token");
  t.lease_expires_at = row::opt<std::string>(r, "lease_expires_at");
  t.worker_id = row::opt<std::string>(r, "worker_id");
  t.run_after = row::str(r, "run_after");
  t.last_error = row::opt<std::string>(r, "last_error");
  t.result = row::opt_json(r, "result");
  t.created_at = row::str(r, "created_at");
  t.updated_at = row::str(r, "updated_at");
  t.started_at = row::opt<std::string>(r, "started_at");
  t.finished_at = row::opt<std::string>(r, "finished_at");
  t.device_kind = row::opt<std::string>(r, "device_kind");
  return t;
}

std::vector<Task> read_tasks(const pqxx::result& res) {
  std::vector<Task> out;
  out.reserve(res.size());
  for (const auto& r : res) out.push_back(read_task(r));
  return out;
}

std::optional<Task> read_optional(const pqxx::result& res) {
  if (res.empty()) return std::nullopt;
  return read_task(res[0]);
}

// Lease tokens are UUIDs; anything else cannot hold a lease (and would make the
// ::uuid cast raise an error instead of simply not matching).
bool plausible_token(const std::string& token) {
  static const std::regex uuid("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
  return std::regex_match(token, uuid);
}

void check_lease_seconds(double lease_seconds) {
  if (!(lease_seconds > 0 && lease_seconds <= 86400)) {
    throw InvalidInput("lease_seconds must be in (0, 86400]", "lease_seconds");
  }
}

}  // namespace

std::span<const Statement> task_statements() { return kStatements; }

std::optional<int64_t> task_enqueue(pqxx::transaction_base& tx, const NewTask& task) {
  FLASHNAS_CHECK(task.payload.is_object(), "a task payload is a JSON object");
  FLASHNAS_CHECK(task.max_attempts >= 1 && task.max_attempts <= 100, "max_attempts {} outside [1, 100]",
                 task.max_attempts);
  FLASHNAS_CHECK(!task.step || task.job_id, "a task with a step belongs to a job");
  const auto r = tx.exec_prepared("task_enqueue", std::string(name_of(task.kind)), task.job_id, task.trial_id,
                                  task.payload.dump(), task.priority, task.max_attempts, task.step,
                                  task.device_kind);
  if (r.empty()) return std::nullopt;
  return r[0][0].as<int64_t>();
}

namespace {
// Both claim statements take ($1 kinds, $2 worker, $3 lease seconds, $4 limit, $5 job or null,
// $6 device kind or null, $7 its project).
std::vector<Task> claim_with(const char* statement, pqxx::transaction_base& tx, const ClaimRequest& c) {
  check_lease_seconds(c.lease_seconds);
  if (c.kinds.empty() || c.limit < 1) return {};
  std::vector<std::string> kinds;
  for (TaskKind k : c.kinds) kinds.emplace_back(name_of(k));
  std::optional<std::string> device_kind;
  std::optional<int64_t> device_project;
  if (c.device) {
    device_kind = c.device->kind;
    device_project = c.device->project_id;
  }
  return read_tasks(tx.exec_prepared(statement, row::text_array(kinds), c.worker_id, c.lease_seconds, c.limit,
                                     c.job_id, device_kind, device_project));
}
}  // namespace

std::vector<Task> task_claim(pqxx::transaction_base& tx, const ClaimRequest& request) {
  return claim_with("task_claim", tx, request);
}

std::vector<Task> task_claim_and_start(pqxx::transaction_base& tx, const ClaimRequest& request) {
  return claim_with("task_claim_and_start", tx, request);
}

bool task_heartbeat(pqxx::transaction_base& tx, int64_t task_id, const std::string& token,
                    double lease_seconds) {
  check_lease_seconds(lease_seconds);
  if (!plausible_token(token)) return false;
  return !tx.exec_prepared("task_heartbeat", task_id, token, lease_seconds).empty();
}

std::optional<Task> task_complete(pqxx::transaction_base& tx, int64_t task_id, const std::string& token,
                                  const nlohmann::json& result) {
  if (!result.is_object()) throw InvalidInput("a task result must be a JSON object", "result");
  if (!plausible_token(token)) return std::nullopt;
  return read_optional(tx.exec_prepared("task_complete", task_id, token, result.dump()));
}

std::optional<Task> task_fail(pqxx::transaction_base& tx, int64_t task_id, const std::string& token,
                              const std::string& error, Failure failure, const QueueOptions& options) {
  if (!plausible_token(token)) return std::nullopt;
  return read_optional(tx.exec_prepared("task_fail", task_id, token, error.empty() ? "unknown error" : error,
                                        failure == Failure::retryable, options.backoff_base_seconds,
                                        options.backoff_cap_seconds));
}

std::optional<Task> task_release(pqxx::transaction_base& tx, int64_t task_id, const std::string& token) {
  if (!plausible_token(token)) return std::nullopt;
  return read_optional(tx.exec_prepared("task_release", task_id, token));
}

std::vector<Task> task_rescue_expired(pqxx::transaction_base& tx, const QueueOptions& options) {
  return read_tasks(tx.exec_prepared("task_rescue_expired", options.backoff_base_seconds,
                                     options.backoff_cap_seconds, std::max(1, options.rescue_batch)));
}

std::vector<Task> task_cancel_for_job(pqxx::transaction_base& tx, int64_t job_id) {
  return read_tasks(tx.exec_prepared("task_cancel_for_job", job_id));
}

std::optional<Task> task_get(pqxx::transaction_base& tx, int64_t task_id) {
  return read_optional(tx.exec_prepared("task_get", task_id));
}

std::vector<Task> task_list_for_trial(pqxx::transaction_base& tx, int64_t trial_id) {
  return read_tasks(tx.exec_prepared("task_list_for_trial", trial_id));
}

std::vector<TaskTally> task_tally(pqxx::transaction_base& tx, int64_t job_id) {
  std::vector<TaskTally> out;
  for (const auto& r : tx.exec_prepared("task_tally", job_id)) {
    out.push_back({parse_enum_or_throw<TaskKind>(r[0].c_str(), "kind"),
                   parse_enum_or_throw<TaskState>(r[1].c_str(), "state"), r[2].as<bool>(), r[3].as<int64_t>(),
                   r[4].is_null() ? std::nullopt : std::optional<int32_t>(r[4].as<int32_t>())});
  }
  return out;
}

std::vector<TaskCount> task_counts(pqxx::transaction_base& tx) {
  std::vector<TaskCount> out;
  for (const auto& r : tx.exec_prepared("task_counts")) {
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>()});
  }
  return out;
}

}  // namespace flashnas::store
