// Checkpoints (see checkpoints.hpp).
#include "app/checkpoints.hpp"

#include "engine/util/error.hpp"
#include "store/checkpoint_repository.hpp"
#include "store/event_repository.hpp"
#include "store/frontier_repository.hpp"
#include "store/job_repository.hpp"
#include "store/trial_repository.hpp"

namespace flashnas::app {
namespace {

// Exports a client waits for go before the frontier's batch.
constexpr int kRequestedExportPriority = 10;

}  // namespace

std::optional<CheckpointStatus> request_checkpoint(pqxx::transaction_base& tx, int64_t project_id, int64_t job_id,
                                                   int64_t trial_id, store::CheckpointFormat format) {
  if (!store::job_get(tx, project_id, job_id)) return std::nullopt;
  const auto trial = store::trial_get(tx, trial_id);
  if (!trial || trial->job_id != job_id) return std::nullopt;
  CheckpointStatus status;
  status.trial_state = trial->state;
  if (trial->state != store::TrialState::succeeded) {
    status.availability = CheckpointAvailability::not_evaluated;
    return status;
  }
  status.checkpoint = store::checkpoint_get(tx, trial_id, format);
  if (status.checkpoint) {
    status.availability = CheckpointAvailability::ready;
    return status;
  }
  // The partial unique index makes concurrent requests enqueue one task.
  if (store::export_enqueue(tx, job_id, trial_id, format, kRequestedExportPriority)) {
    store::event_append(tx, job_id, "checkpoint.requested",
                        {{"trial_id", trial_id}, {"format", store::name_of(format)}});
  }
  status.availability = CheckpointAvailability::exporting;
  return status;
}

void apply_export(JobContext& ctx, const store::Task& task, const ExportResult& r) {
  FLASHNAS_CHECK(task.trial_id.has_value(), "export task {} has no trial", task.id);
  store::Checkpoint c;
  c.job_id = ctx.id();
  c.trial_id = *task.trial_id;
  c.format = r.format;
  c.sha256 = r.sha256;
  c.bytes = r.bytes;
  c.path = r.path;
  const store::Checkpoint recorded = store::checkpoint_insert(ctx.tx, c);
  store::event_append(ctx.tx, ctx.id(), "checkpoint.exported",
                      {{"trial_id", recorded.trial_id}, {"format", store::name_of(recorded.format)},
                       {"sha256", recorded.sha256}, {"bytes", recorded.bytes}});
}

void export_frontier(JobContext& ctx) {
  const auto frontier = store::frontier_latest(ctx.tx, ctx.id());
  if (!frontier) return;
  for (const auto& point : frontier->points) {
    const int64_t trial_id = point.at("trial_id").get<int64_t>();
    if (store::checkpoint_get(ctx.tx, trial_id, store::CheckpointFormat::safetensors)) continue;
    store::export_enqueue(ctx.tx, ctx.id(), trial_id, store::CheckpointFormat::safetensors, 0);
  }
}

}  // namespace flashnas::app
