// The job service: the rules that tie jobs, trials and tasks together, each call
// one transaction's worth of work on the caller's transaction, so a task's result
// and all its effects commit together, exactly once (the lease token decides).
//  - submit: the job and its first tasks in one transaction (an idempotency key
//    returns the earlier job): a sweep's trials with an evaluate and a latency
//    task each; a latency study's or search's stage-1 latency tasks; a search
//    with a fitted latency model starts at its first search step.
//  - complete: a task's typed result lands where it belongs (trial metrics,
//    latency measurements, latency models, new trials) and the job moves on
//    (search_job.hpp for the stages of search and latency-study jobs).
//  - fail / rescue: a trial whose tasks all finished is settled (failed with
//    every reason if any task failed or died); a failed search step or fit
//    fails its job.
//  - cancel: the job, its unfinished trials and tasks; running tasks lose their lease.
// Lock order everywhere: tasks, then the job row, then trials (no deadlocks).
#pragma once

#include <pqxx/pqxx>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "app/job_binding.hpp"
#include "app/task_contract.hpp"
#include "store/records.hpp"
#include "store/task_queue.hpp"

namespace flashnas::app {

struct SubmitOptions {
  std::optional<std::string> idempotency_key;
  std::optional<std::string> request_hash;  // tells a retry from a key reused for another request
  int priority = 0;
};

struct SubmitResult {
  store::Job job;
  bool created = false;  // false: an earlier submission with the same idempotency key
};

SubmitResult submit_job(pqxx::transaction_base& tx, int64_t project_id, const BoundJob& job,
                        const SubmitOptions& options, const store::QueueOptions& queue);

// Claims tasks and marks their jobs and trials running (event "job.running"), in
// one statement: safe in a pqxx::nontransaction (one round trip).
std::vector<store::Task> claim_tasks(pqxx::transaction_base& tx, const store::ClaimRequest& request);

// Claims one task as claim_tasks does, then up to batch_of(its kind) - 1 more of
// the same kind and job: a batch measured together, interleaved (workers' and
// device agents' latency tasks). request.limit is ignored.
std::vector<store::Task> claim_batch(pqxx::transaction_base& tx, store::ClaimRequest request,
                                     const std::function<int(store::TaskKind)>& batch_of);

// Completes a held task with its result and applies it; false when the lease was
// lost (nothing changes). Throws InvalidInput when the result does not fit the
// task (a handler bug); the caller's transaction must then be rolled back and
// the task failed.
bool complete_task(pqxx::transaction_base& tx, const store::Task& task, const std::string& token,
                   const TaskResult& result, const store::QueueOptions& queue);

// Fails a held task with a public message; settles what depends on it when it
// is finished for good. Nullopt when the lease was lost.
std::optional<store::Task> fail_task(pqxx::transaction_base& tx, int64_t task_id, const std::string& token,
                                     const std::string& error, store::Failure failure,
                                     const store::QueueOptions& queue);

// Runs the rescuer and settles what depends on tasks that died. Returns the tasks changed.
std::vector<store::Task> rescue_expired_tasks(pqxx::transaction_base& tx, const store::QueueOptions& queue);

struct CancelResult {
  store::Job job;
  bool changed = false;  // false: the job had already finished
};
// Nullopt when the project has no such job.
std::optional<CancelResult> cancel_job(pqxx::transaction_base& tx, int64_t project_id, int64_t job_id);

}  // namespace flashnas::app
