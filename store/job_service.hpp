// The job service: the rules that tie jobs, trials and tasks together, each
// call one transaction's worth of work on the caller's transaction (so the task
// result and its effects commit together, exactly once).
//  - submit: the job, its trials (one per distinct arch hash) and their first
//    tasks in one transaction; an idempotency key returns the earlier job.
//  - claim: a job becomes running when its first task is claimed.
//  - complete / fail / rescue: results land in the trial; a trial whose tasks
//    are all finished is settled (failed with the reason if any task failed or
//    died); a job whose trials are all settled succeeds, or fails only when
//    every trial failed.
//  - cancel: the job, its unfinished trials and tasks; running tasks lose their lease.
// Lock order everywhere: tasks, then the job row, then trials (no deadlocks).
// SQL stays in the repositories.
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "store/records.hpp"
#include "store/task_queue.hpp"

namespace flashnas::store {

struct NewTrial {
  nlohmann::json arch;   // the candidate architecture (canonical JSON)
  std::string arch_hash; // its identity in the job, e.g. candidate_arch_hash()
};

struct SweepRequest {
  int64_t project_id = 0;
  std::string name;
  nlohmann::json spec = nlohmann::json::object();  // stored as given (the validated request)
  std::vector<NewTrial> candidates;                // duplicates (same hash) become one trial
  std::optional<std::string> idempotency_key;
  std::optional<std::string> request_hash;
  int priority = 0;
};

struct SubmitResult {
  Job job;
  bool created = false;  // false: an earlier submission with the same idempotency key
};

// A sweep: per distinct candidate a trial with an `evaluate` and a `latency` task
// (payload {"arch", "arch_hash"}; the job spec holds the rest).
SubmitResult submit_sweep(pqxx::transaction_base& tx, const SweepRequest& request, const QueueOptions& options);

// Claims tasks and marks their jobs and trials running (event "job.running"), in
// one statement: safe in a pqxx::nontransaction (one round trip).
std::vector<Task> claim_tasks(pqxx::transaction_base& tx, const std::vector<std::string>& kinds,
                              const std::string& worker_id, const QueueOptions& options, int limit);

// Completes a held task and applies its result to the trial (see apply rules in
// job_service.cpp); false when the lease was lost (nothing changes). Throws
// InvalidInput when the result lacks what its kind must report; the caller's
// transaction must then be rolled back and the task failed.
bool complete_task(pqxx::transaction_base& tx, int64_t task_id, const std::string& token,
                   const nlohmann::json& result);

// Fails a held task; settles its trial when the task is finished for good.
// Nullopt when the lease was lost.
std::optional<Task> fail_task(pqxx::transaction_base& tx, int64_t task_id, const std::string& token,
                              const std::string& error, Failure failure, const QueueOptions& options);

// Runs the rescuer and settles the trials of tasks that died. Returns the tasks changed.
std::vector<Task> rescue_expired_tasks(pqxx::transaction_base& tx, const QueueOptions& options);

struct CancelResult {
  Job job;
  bool changed = false;  // false: the job had already finished
};
// Nullopt when the project has no such job.
std::optional<CancelResult> cancel_job(pqxx::transaction_base& tx, int64_t project_id, int64_t job_id);

}  // namespace flashnas::store
