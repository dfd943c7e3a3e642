// The task queue on PostgreSQL: enqueue (with a NOTIFY wake-up), claim with
// FOR UPDATE SKIP LOCKED and a lease token, heartbeat, complete / fail / release
// only while the token still holds (so a result lands exactly once), and the
// rescuer that takes back expired leases. Every function runs inside the
// caller's transaction, so job bookkeeping can commit atomically with it
// (job_service.hpp). Not the worker loop (workers/).
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "store/records.hpp"

namespace flashnas::store {

// The NOTIFY channel; the payload is the task kind.
inline constexpr const char* kTaskChannel = "flashnas_tasks";

struct QueueOptions {
  double lease_seconds = 60;          // a claim or heartbeat holds the task this long
  double backoff_base_seconds = 2;    // attempt n is retried after base * 2^(n-1) seconds ...
  double backoff_cap_seconds = 300;   // ... but never later than this
  int rescue_batch = 100;             // expired leases taken back per rescue call
  int default_max_attempts = 3;       // for tasks created by the job service
};

struct NewTask {
  TaskKind kind = TaskKind::evaluate;
  std::optional<int64_t> job_id, trial_id;
  nlohmann::json payload = nlohmann::json::object();
  int priority = 0;      // higher first
  int max_attempts = 3;
  std::optional<int32_t> step;  // at most one task per (job, kind, step)
  // A latency task for a device agent of this kind; nullopt: any worker's own CPU.
  std::optional<std::string> device_kind;
};

// Inserts an available task and NOTIFYs kTaskChannel (delivered at commit).
// Returns its id, or nullopt when the job already has a task of this kind and step.
std::optional<int64_t> task_enqueue(pqxx::transaction_base& tx, const NewTask& task);

// An agent claims only latency tasks of its device kind in its own project.
struct DeviceClaim {
  int64_t project_id = 0;
  std::string kind;
};

struct ClaimRequest {
  std::vector<TaskKind> kinds;
  std::string worker_id;
  double lease_seconds = 60;
  int limit = 1;
  std::optional<int64_t> job_id;  // only tasks of this job (a batch of one job's latency tasks)
  std::optional<DeviceClaim> device = std::nullopt;  // nullopt: a worker, which never takes device tasks
};

// Claims up to `limit` available tasks of `kinds` (priority, then age), skipping
// rows other claimers hold. Each claimed task gets a new lease token, its attempt
// counted, state running. May return fewer (or none); in claim order.
std::vector<Task> task_claim(pqxx::transaction_base& tx, const ClaimRequest& request);

// task_claim, and in the same statement each claimed task's job marked running
// (event "job.running") if queued and its trial running if pending: one atomic
// statement, so it needs no surrounding transaction (a nontransaction claims in
// one round trip). Tasks come back in claim order (priority, then age), like
// task_claim. Used by claim_tasks().
std::vector<Task> task_claim_and_start(pqxx::transaction_base& tx, const ClaimRequest& request);

// Extends the lease. False when the token no longer holds (rescued, cancelled, finished).
bool task_heartbeat(pqxx::transaction_base& tx, int64_t task_id, const std::string& token,
                    double lease_seconds);

// Marks the task succeeded with `result` (a JSON object) if the token still holds;
// returns the finished task, or nullopt when the lease was lost (the result is dropped).
std::optional<Task> task_complete(pqxx::transaction_base& tx, int64_t task_id, const std::string& token,
                                  const nlohmann::json& result);

enum class Failure {
  retryable,  // back to available after a back-off, or dead when attempts are used up
  permanent,  // failed now (bad input: retrying cannot help)
};

// Records `error` if the token still holds; returns the task in its new state
// (available, dead or failed), or nullopt when the lease was lost.
std::optional<Task> task_fail(pqxx::transaction_base& tx, int64_t task_id, const std::string& token,
                              const std::string& error, Failure failure, const QueueOptions& options);

// Gives a held task back untouched (a worker shutting down): available now, and
// the attempt it used is not counted. Nullopt when the lease was lost.
std::optional<Task> task_release(pqxx::transaction_base& tx, int64_t task_id, const std::string& token);

// Returns tasks whose lease expired to available (after a back-off), or marks
// them dead once max_attempts are used. Returns the tasks it changed.
std::vector<Task> task_rescue_expired(pqxx::transaction_base& tx, const QueueOptions& options);

// Cancels a job's available and running tasks (running ones lose their lease).
std::vector<Task> task_cancel_for_job(pqxx::transaction_base& tx, int64_t job_id);

std::optional<Task> task_get(pqxx::transaction_base& tx, int64_t task_id);
std::vector<Task> task_list_for_trial(pqxx::transaction_base& tx, int64_t trial_id);

// A job's tasks counted by kind, state and whether they belong to a trial, with
// the highest step of each group: what the job logic decides its next move from.
struct TaskTally {
  TaskKind kind = TaskKind::evaluate;
  TaskState state = TaskState::available;
  bool has_trial = false;
  int64_t count = 0;
  std::optional<int32_t> max_step;
};
std::vector<TaskTally> task_tally(pqxx::transaction_base& tx, int64_t job_id);

struct TaskCount {
  std::string kind, state;
  int64_t count = 0;
};
// Queue depth by kind and state (for /metrics).
std::vector<TaskCount> task_counts(pqxx::transaction_base& tx);

}  // namespace flashnas::store
