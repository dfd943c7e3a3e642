// The job context of one task outcome (see job_context.hpp).
#include "app/job_context.hpp"

#include <fmt/format.h>

#include "app/checkpoints.hpp"
#include "engine/util/error.hpp"
#include "store/event_repository.hpp"
#include "store/job_repository.hpp"

namespace flashnas::app {

void JobContext::refresh() {
  const auto fresh = store::job_get_any_project(tx, job.id);
  FLASHNAS_CHECK(fresh.has_value(), "job {} vanished inside its transaction", job.id);
  job = *fresh;
}

std::optional<JobContext> lock_job(pqxx::transaction_base& tx, int64_t job_id, const store::QueueOptions& queue) {
  if (!store::job_lock(tx, job_id)) return std::nullopt;
  auto job = store::job_get_any_project(tx, job_id);
  if (!job) return std::nullopt;
  JobSpec spec = job_spec_from_json(job->kind, job->spec);
  return JobContext{tx, std::move(*job), std::move(spec), queue};
}

void finish_by_trials(JobContext& ctx, const nlohmann::json& succeeded_event) {
  const store::JobProgress& p = ctx.job.progress;
  if (p.total > 0 && p.failed == p.total) {
    const std::string error = fmt::format("all {} trials failed", p.total);
    if (store::job_finish(ctx.tx, ctx.id(), store::JobState::failed, error)) {
      store::event_append(ctx.tx, ctx.id(), "job.failed", {{"error", error}});
    }
  } else if (store::job_finish(ctx.tx, ctx.id(), store::JobState::succeeded, std::nullopt)) {
    store::event_append(ctx.tx, ctx.id(), "job.succeeded", succeeded_event);
    export_frontier(ctx);  // the models users came for, ready to download
  }
}

bool enqueue(JobContext& ctx, store::TaskKind kind, const nlohmann::json& payload, std::optional<int64_t> trial_id,
             std::optional<int32_t> step) {
  store::NewTask task;
  task.kind = kind;
  task.job_id = ctx.id();
  task.trial_id = trial_id;
  task.payload = payload;
  task.max_attempts = ctx.queue.default_max_attempts;
  task.step = step;
  if (kind == store::TaskKind::latency && latency_spec_of(ctx.spec).device_kind != kLocalDeviceKind) {
    task.device_kind = latency_spec_of(ctx.spec).device_kind;  // for the kind's device agents only
  }
  return store::task_enqueue(ctx.tx, task).has_value();
}

}  // namespace flashnas::app
