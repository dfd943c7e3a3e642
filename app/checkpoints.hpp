// Checkpoints: a trial's pruned model as a downloadable file. The first request
// for a trial and format enqueues an export task (one in flight at most) and
// answers "exporting"; the worker's result is recorded with the file's content
// hash; later requests get the file. When a sweep or search succeeds, every
// frontier trial is exported in safetensors, so the models users want are ready.
#pragma once

#include <pqxx/pqxx>

#include <optional>

#include "app/job_context.hpp"
#include "app/task_contract.hpp"
#include "store/records.hpp"

namespace flashnas::app {

enum class CheckpointAvailability : uint8_t {
  ready,          // `checkpoint` names the file
  exporting,      // an export task is waiting or running
  not_evaluated,  // the trial did not succeed: there is nothing worth exporting
};

struct CheckpointStatus {
  CheckpointAvailability availability = CheckpointAvailability::exporting;
  std::optional<store::Checkpoint> checkpoint;
  store::TrialState trial_state = store::TrialState::pending;
};

// Nullopt when the project has no such job or the job no such trial.
std::optional<CheckpointStatus> request_checkpoint(pqxx::transaction_base& tx, int64_t project_id, int64_t job_id,
                                                   int64_t trial_id, store::CheckpointFormat format);

// complete_task's part for an export result.
void apply_export(JobContext& ctx, const store::Task& task, const ExportResult& result);

// Enqueues the safetensors export of every trial on the job's latest frontier.
void export_frontier(JobContext& ctx);

}  // namespace flashnas::app
