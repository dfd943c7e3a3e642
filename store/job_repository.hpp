// Jobs: SQL for job rows (creation with an idempotency key, reads with trial
// progress, listing with filters and keyset pagination, state transitions, the
// per-job sequence counters). Reads for the API are scoped to a project.
// The rules that tie jobs, trials and tasks together are in job_service.hpp.
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "store/records.hpp"

namespace flashnas::store {

struct NewJob {
  int64_t project_id = 0;
  JobKind kind = JobKind::sweep;
  std::optional<JobStage> stage;  // required for search and latency_study, absent for sweeps
  std::string name;
  nlohmann::json spec = nlohmann::json::object();
  std::optional<std::string> idempotency_key;
  std::optional<std::string> request_hash;  // sha256 hex of the request, to tell a retry from a reuse
};

// Inserts a queued job. Nullopt when the project already has a job with this
// idempotency key (look it up with job_find_by_key).
std::optional<Job> job_insert(pqxx::transaction_base& tx, const NewJob& job);
std::optional<Job> job_find_by_key(pqxx::transaction_base& tx, int64_t project_id, const std::string& key);

std::optional<Job> job_get(pqxx::transaction_base& tx, int64_t project_id, int64_t job_id);
std::optional<Job> job_get_any_project(pqxx::transaction_base& tx, int64_t job_id);  // for workers
// Locks the job's row until the transaction ends (SELECT ... FOR UPDATE); false
// if there is no such job.
bool job_lock(pqxx::transaction_base& tx, int64_t job_id);

struct JobFilter {
  int64_t project_id = 0;
  std::optional<JobState> state;
  std::optional<JobKind> kind;
  std::optional<int64_t> before_id;  // keyset cursor: the last id of the previous page
  int limit = 50;
};
// Newest first. Throws InvalidInput for a limit outside [1, 1000].
std::vector<Job> job_list(pqxx::transaction_base& tx, const JobFilter& filter);

// Any non-terminal state -> `state` (succeeded, failed or cancelled). False when
// the job had already finished. `error` is required for failed.
bool job_finish(pqxx::transaction_base& tx, int64_t job_id, JobState state,
                const std::optional<std::string>& error);

// Setters of a running search or latency-study job (no-ops on finished jobs; false then).
bool job_set_stage(pqxx::transaction_base& tx, int64_t job_id, JobStage stage);
bool job_set_latency_model(pqxx::transaction_base& tx, int64_t job_id, int64_t latency_model_id);
bool job_set_reference_point(pqxx::transaction_base& tx, int64_t job_id, const nlohmann::json& reference);
// The summary may also be written as the job finishes, so it is set whatever the state.
void job_set_summary(pqxx::transaction_base& tx, int64_t job_id, const nlohmann::json& summary);

// Takes `count` trial sequence numbers for the job; returns the first. Locks the
// job row until commit (so ?after= readers see sequence numbers in order).
int64_t job_take_trial_seqs(pqxx::transaction_base& tx, int64_t job_id, int64_t count);

}  // namespace flashnas::store
