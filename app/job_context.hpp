// What the job logic works on while it applies one task outcome: the caller's
// transaction (the task's own row and the job row are locked), the job and its
// typed spec, and the queue settings for tasks it enqueues. Internal to app/.
#pragma once

#include <pqxx/pqxx>

#include "app/job_spec.hpp"
#include "store/records.hpp"
#include "store/task_queue.hpp"

namespace flashnas::app {

struct JobContext {
  pqxx::transaction_base& tx;
  store::Job job;  // re-read with refresh() after changes to trials
  JobSpec spec;
  const store::QueueOptions& queue;

  void refresh();  // re-reads the job row (state, stage, progress)
  int64_t id() const { return job.id; }
};

// Loads the job (locking its row first, so two transactions ending tasks of one
// job serialise and each sees the other's commit). Nullopt when it is gone.
std::optional<JobContext> lock_job(pqxx::transaction_base& tx, int64_t job_id, const store::QueueOptions& queue);

// Ends a job whose trials are all settled: failed when every trial failed, else
// succeeded (with `succeeded_event` as the job.succeeded event's payload).
void finish_by_trials(JobContext& ctx, const nlohmann::json& succeeded_event);

// Enqueues a task of the job with the queue's default attempts; false when the
// job already has a task of this kind and step.
bool enqueue(JobContext& ctx, store::TaskKind kind, const nlohmann::json& payload,
             std::optional<int64_t> trial_id = std::nullopt, std::optional<int32_t> step = std::nullopt);

}  // namespace flashnas::app
