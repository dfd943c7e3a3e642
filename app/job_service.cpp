// The job service (see job_service.hpp): submission, task outcomes, trial
// settling, frontiers, cancellation. The stages of search and latency-study
// jobs are in search_job.cpp; SQL stays in the repositories.
#include "app/job_service.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "app/checkpoints.hpp"
#include "app/frontier.hpp"
#include "app/job_context.hpp"
#include "app/search_job.hpp"
#include "engine/util/error.hpp"
#include "store/event_repository.hpp"
#include "store/frontier_repository.hpp"
#include "store/job_repository.hpp"
#include "store/latency_repository.hpp"
#include "store/trial_repository.hpp"

namespace flashnas::app {
namespace {

using nlohmann::json;
using store::TaskKind;
using store::TaskState;
using store::TrialState;

void check_finite(double v, bool positive, const char* field) {
  if (!std::isfinite(v) || v < 0 || (positive && v == 0)) {
    throw InvalidInput(fmt::format("must be a finite number {} 0, got {}", positive ? ">" : ">=", v), field);
  }
}

void apply_evaluate(JobContext& ctx, const store::Task& task, const store::Trial& trial, const EvaluateResult& r) {
  check_finite(r.eval_nll, false, "result.eval_nll");
  check_finite(r.flops_per_token, true, "result.flops_per_token");
  if (r.params < 1 || r.non_embedding_params < 0 || r.kv_cache_bytes_per_token < 0) {
    throw InvalidInput("parameter and cache counts must not be negative", "result.params");
  }
  check_finite(r.zero_shot_nll, false, "result.zero_shot_nll");
  store::TrialMetrics m;
  m.eval_nll = r.eval_nll;
  m.zero_shot_nll = r.zero_shot_nll;
  if (r.heal) {
    check_finite(r.heal->healed_nll, false, "result.heal.healed_nll");
    if (r.eval_nll != r.heal->healed_nll) throw InvalidInput("a healed trial's quality is its healed NLL", "result.eval_nll");
    m.healed_nll = r.heal->healed_nll;
    json cost = heal_outcome_to_json(*r.heal);
    cost.erase("healed_nll");  // a column of its own
    m.heal = std::move(cost);
  }
  m.params = r.params;
  m.non_embedding_params = r.non_embedding_params;
  m.flops_per_token = r.flops_per_token;
  m.kv_cache_bytes_per_token = r.kv_cache_bytes_per_token;
  if (!store::trial_set_metrics(ctx.tx, trial.id, m)) return;
  // A multi-fidelity search keeps every rung's result (promotions rank them).
  if (const auto rung = evaluate_payload_from_json(task.payload).rung) {
    FLASHNAS_CHECK(trial.rung == rung && trial.fidelity, "trial {} is not at rung {}", trial.id, *rung);
    store::trial_rung_insert(ctx.tx, {trial.id, *rung, *trial.fidelity, r.eval_nll});
  }
}

void insert_measurement(JobContext& ctx, const store::Task& task, const LatencyResult& r,
                        store::MeasurementPhase phase, int32_t round) {
  check_finite(r.prefill_ms, true, "result.prefill_ms");
  check_finite(r.decode_ms_per_token, true, "result.decode_ms_per_token");
  store::LatencyMeasurement lm;
  lm.device_kind = r.device_kind;
  lm.device_id = r.device_id;
  lm.arch = r.arch;
  lm.arch_hash = r.arch_hash;
  lm.prompt_len = static_cast<int32_t>(r.prompt_len);
  lm.decode_tokens = static_cast<int32_t>(r.decode_tokens);
  lm.prefill_ms = r.prefill_ms;
  lm.decode_ms_per_token = r.decode_ms_per_token;
  lm.prefill_spread = r.prefill_spread;
  lm.decode_spread = r.decode_spread;
  lm.samples = r.samples;
  lm.environment = r.environment;
  lm.job_id = ctx.id();
  lm.trial_id = task.trial_id;
  lm.phase = phase;
  lm.round = round;
  store::measurement_insert(ctx.tx, lm);
}

void apply_trial_latency(JobContext& ctx, const store::Task& task, const store::Trial& trial, const LatencyResult& r) {
  insert_measurement(ctx, task, r, store::MeasurementPhase::trial, 0);
  store::TrialMetrics m;
  m.prefill_ms = r.prefill_ms;
  m.decode_ms_per_token = r.decode_ms_per_token;
  store::trial_set_metrics(ctx.tx, trial.id, m);
}

// The latency objective and constraints a job's frontier is judged by.
// (and, for a multi-fidelity search, the top rung: only its trials count).
struct FrontierRules {
  LatencyObjective objective;
  std::vector<OutcomeConstraintSpec> constraints;
  int32_t top_rung = 0;
};
FrontierRules frontier_rules(const JobSpec& spec) {
  if (const auto* s = std::get_if<SearchSpec>(&spec)) return {s->latency.objective, s->constraints, s->rungs() - 1};
  return {latency_spec_of(spec).objective, {}, 0};
}

// Stores a new frontier version when its membership changed and, for searches,
// the hypervolume after this evaluation.
void update_frontier(JobContext& ctx, const store::Trial& settled) {
  const std::vector<store::Trial> trials = store::trial_list_all(ctx.tx, ctx.id());
  const FrontierRules rules = frontier_rules(ctx.spec);
  const std::vector<FrontierPoint> front =
      pareto_frontier(frontier_candidates(trials, rules.objective, rules.constraints, rules.top_rung));
  std::vector<int64_t> ids;
  for (const auto& p : front) ids.push_back(p.trial->id);
  std::sort(ids.begin(), ids.end());
  const auto latest = store::frontier_latest(ctx.tx, ctx.id());
  std::vector<int64_t> latest_ids;
  if (latest) {
    for (const auto& p : latest->points) latest_ids.push_back(p.at("trial_id").get<int64_t>());
    std::sort(latest_ids.begin(), latest_ids.end());
  }
  std::optional<int32_t> version = latest ? std::optional<int32_t>(latest->version) : std::nullopt;
  if (!front.empty() && (!latest || ids != latest_ids)) {
    version = store::frontier_insert(ctx.tx, ctx.id(), frontier_points_json(front)).version;
    store::event_append(ctx.tx, ctx.id(), "frontier.updated", {{"version", *version}, {"points", front.size()}});
  }
  if (ctx.job.kind != store::JobKind::search || !ctx.job.reference_point) return;
  // Every settled evaluation: a trial at rung r has settled r + 1 times, or r
  // while its rung-r evaluation runs (multi-fidelity searches).
  int32_t evaluations = 0;
  for (const auto& t : trials) {
    if (t.state == TrialState::succeeded || t.state == TrialState::failed) {
      evaluations += 1 + t.rung.value_or(0);
    } else if (t.state == TrialState::pending || t.state == TrialState::running) {
      evaluations += t.rung.value_or(0);
    }
  }
  const ReferencePoint reference{ctx.job.reference_point->at("eval_nll").get<double>(),
                                 ctx.job.reference_point->at("latency").get<double>()};
  store::hypervolume_append(ctx.tx, ctx.id(),
                            {evaluations, frontier_hypervolume(front, reference), settled.id, version, ""});
}

// A sweep whose trials are all settled: succeeded, or failed when every trial failed.
void settle_sweep(JobContext& ctx) {
  ctx.refresh();
  const store::JobProgress& p = ctx.job.progress;
  if (store::is_terminal(ctx.job.state) || p.pending + p.running > 0) return;
  finish_by_trials(ctx, {{"succeeded", p.succeeded}, {"failed", p.failed}});
}

// A trial whose tasks have all finished: failed (with every task's reason) if
// any task failed or died, else succeeded. Then the job moves on.
void settle_trial(JobContext& ctx, int64_t trial_id) {
  const auto tasks = store::task_list_for_trial(ctx.tx, trial_id);
  std::string errors;
  bool all_cancelled = !tasks.empty();
  for (const auto& t : tasks) {
    if (!store::is_terminal(t.state)) return;
    if (t.state == TaskState::failed || t.state == TaskState::dead) {
      errors += fmt::format("{}{}: {}", errors.empty() ? "" : "; ", store::name_of(t.kind),
                            t.last_error.value_or(std::string(store::name_of(t.state))));
    }
    all_cancelled = all_cancelled && t.state == TaskState::cancelled;
  }
  bool settled = false;
  if (!errors.empty()) {
    settled = store::trial_finish(ctx.tx, trial_id, TrialState::failed, errors);
    if (settled) store::event_append(ctx.tx, ctx.id(), "trial.failed", {{"trial_id", trial_id}, {"error", errors}});
  } else if (all_cancelled) {
    store::trial_finish(ctx.tx, trial_id, TrialState::cancelled, std::nullopt);
  } else {
    settled = store::trial_finish(ctx.tx, trial_id, TrialState::succeeded, std::nullopt);
    if (settled) store::event_append(ctx.tx, ctx.id(), "trial.succeeded", {{"trial_id", trial_id}});
  }
  if (!settled) return;
  update_frontier(ctx, *store::trial_get(ctx.tx, trial_id));
  if (ctx.job.kind == store::JobKind::search) {
    after_search_trial(ctx);
  } else {
    settle_sweep(ctx);
  }
}

// What a task that ended without a result (failed for good, dead) leaves to do.
void after_task_ended(JobContext& ctx, const store::Task& task) {
  if (task.kind == TaskKind::export_checkpoint) return;  // the trial was settled before; a client may ask again
  if (task.trial_id) {
    settle_trial(ctx, *task.trial_id);
  } else if (task.kind == TaskKind::latency) {
    after_study_latency(ctx);  // a stage-1 point lost: the study goes on without it
  } else {
    fail_staged_job(ctx, task, task.last_error.value_or(std::string(store::name_of(task.state))));
  }
}

SubmitResult submit_sweep(JobContext& ctx, const BoundJob& job) {
  const std::optional<HealSpec>& heal = std::get<SweepSpec>(job.request.spec).evaluation.heal;
  int32_t ordinal = 0;
  for (const BoundArch& arch : job.candidates) {
    const json arch_json = candidate_arch_to_json(arch.arch());
    store::NewTrial t;
    t.arch = arch_json;
    t.arch_hash = candidate_arch_hash(arch.arch());
    const auto trial = store::trial_insert(ctx.tx, ctx.id(), ordinal, t);
    if (!trial) continue;  // the same architecture twice: one trial (parsing already merges them)
    ++ordinal;
    enqueue(ctx, TaskKind::evaluate, evaluate_payload_to_json({arch.arch(), heal, std::nullopt}), trial->id);
    enqueue(ctx, TaskKind::latency, latency_payload_to_json({arch.arch(), std::nullopt, 0}), trial->id);
  }
  store::event_append(ctx.tx, ctx.id(), "job.created", {{"kind", "sweep"}, {"trials", ordinal}});
  return {*store::job_get_any_project(ctx.tx, ctx.id()), true};
}

// The trial of a task, which must exist (trials are deleted only with their job).
store::Trial trial_of(JobContext& ctx, const store::Task& task) {
  auto trial = store::trial_get(ctx.tx, *task.trial_id);
  FLASHNAS_CHECK(trial.has_value(), "task {} names the missing trial {}", task.id, *task.trial_id);
  return *trial;
}

}  // namespace

SubmitResult submit_job(pqxx::transaction_base& tx, int64_t project_id, const BoundJob& job,
                        const SubmitOptions& options, const store::QueueOptions& queue) {
  const store::JobKind kind = job_kind_of(job.request.spec);
  store::NewJob nj;
  nj.project_id = project_id;
  nj.kind = kind;
  nj.name = job.request.name;
  nj.spec = job_spec_to_json(job.request.spec);
  nj.idempotency_key = options.idempotency_key;
  nj.request_hash = options.request_hash;
  if (kind != store::JobKind::sweep) {
    const auto* search = std::get_if<SearchSpec>(&job.request.spec);
    nj.stage = search && search->latency_model ? store::JobStage::searching : store::JobStage::measuring;
  }
  auto inserted = store::job_insert(tx, nj);
  if (!inserted) {
    auto existing = store::job_find_by_key(tx, project_id, *options.idempotency_key);
    if (!existing) throw Error("idempotency key conflict without a visible job (retry the request)");
    return {*existing, false};
  }
  JobContext ctx{tx, *inserted, job.request.spec, queue};
  if (kind == store::JobKind::sweep) return submit_sweep(ctx, job);
  start_staged_job(ctx, job);
  ctx.refresh();
  return {ctx.job, true};
}

std::vector<store::Task> claim_tasks(pqxx::transaction_base& tx, const store::ClaimRequest& request) {
  // One statement does the claim and the job/trial bookkeeping (task_queue.hpp).
  return store::task_claim_and_start(tx, request);
}

std::vector<store::Task> claim_batch(pqxx::transaction_base& tx, store::ClaimRequest request,
                                     const std::function<int(store::TaskKind)>& batch_of) {
  request.limit = 1;
  std::vector<store::Task> tasks = claim_tasks(tx, request);
  if (tasks.empty() || !tasks.front().job_id) return tasks;
  const int batch = batch_of(tasks.front().kind);
  if (batch > 1) {
    request.kinds = {tasks.front().kind};
    request.limit = batch - 1;
    request.job_id = tasks.front().job_id;
    for (store::Task& t : claim_tasks(tx, request)) tasks.push_back(std::move(t));
  }
  return tasks;
}

bool complete_task(pqxx::transaction_base& tx, const store::Task& held, const std::string& token,
                   const TaskResult& result, const store::QueueOptions& queue) {
  if (task_kind_of(result) != held.kind) {
    throw InvalidInput(fmt::format("a {} task cannot report a {} result", store::name_of(held.kind),
                                   store::name_of(task_kind_of(result))),
                       "result");
  }
  const auto task = store::task_complete(tx, held.id, token, task_result_to_json(result));
  if (!task) return false;
  if (!task->job_id) return true;
  auto ctx = lock_job(tx, *task->job_id, queue);
  if (!ctx) return true;
  if (const auto* r = std::get_if<EvaluateResult>(&result)) {
    FLASHNAS_CHECK(task->trial_id.has_value(), "evaluate task {} has no trial", task->id);
    const store::Trial trial = trial_of(*ctx, *task);
    apply_evaluate(*ctx, *task, trial, *r);
    settle_trial(*ctx, trial.id);
  } else if (const auto* r = std::get_if<LatencyResult>(&result)) {
    if (task->trial_id) {
      const store::Trial trial = trial_of(*ctx, *task);
      apply_trial_latency(*ctx, *task, trial, *r);
      if (ctx->job.kind == store::JobKind::search) after_trial_latency(*ctx);
      settle_trial(*ctx, trial.id);
    } else {
      const LatencyPayload payload = latency_payload_from_json(task->payload);
      insert_measurement(*ctx, *task, *r, payload.phase.value_or(store::MeasurementPhase::design), payload.round);
      after_study_latency(*ctx);
    }
  } else if (const auto* r = std::get_if<SearchStepResult>(&result)) {
    apply_search_step(*ctx, *task, *r);
  } else if (const auto* r = std::get_if<ExportResult>(&result)) {
    apply_export(*ctx, *task, *r);
  } else {
    apply_fit_result(*ctx, *task, std::get<FitResult>(result));
  }
  return true;
}

std::optional<store::Task> fail_task(pqxx::transaction_base& tx, int64_t task_id, const std::string& token,
                                     const std::string& error, store::Failure failure,
                                     const store::QueueOptions& queue) {
  auto task = store::task_fail(tx, task_id, token, error, failure, queue);
  if (!task || !task->job_id) return task;
  auto ctx = lock_job(tx, *task->job_id, queue);
  if (!ctx) return task;
  if (task->state == TaskState::available) {
    store::event_append(tx, ctx->id(), "task.retrying",
                        {{"task_id", task->id}, {"kind", task->kind}, {"attempts", task->attempts}, {"error", error}});
  } else if (!store::is_terminal(ctx->job.state)) {
    after_task_ended(*ctx, *task);
  }
  return task;
}

std::vector<store::Task> rescue_expired_tasks(pqxx::transaction_base& tx, const store::QueueOptions& queue) {
  auto tasks = store::task_rescue_expired(tx, queue);
  // Visit tasks in job order, so concurrent callers lock job rows in the same order.
  std::stable_sort(tasks.begin(), tasks.end(),
                   [](const store::Task& a, const store::Task& b) { return a.job_id.value_or(0) < b.job_id.value_or(0); });
  for (const auto& t : tasks) {
    if (!t.job_id) continue;
    auto ctx = lock_job(tx, *t.job_id, queue);
    if (!ctx) continue;
    store::event_append(tx, ctx->id(), t.state == TaskState::dead ? "task.dead" : "task.lease_expired",
                        {{"task_id", t.id}, {"kind", t.kind}, {"attempts", t.attempts},
                         {"error", t.last_error.value_or("")}});
    if (t.state == TaskState::dead && !store::is_terminal(ctx->job.state)) after_task_ended(*ctx, t);
  }
  return tasks;
}

std::optional<CancelResult> cancel_job(pqxx::transaction_base& tx, int64_t project_id, int64_t job_id) {
  const auto job = store::job_get(tx, project_id, job_id);
  if (!job) return std::nullopt;
  if (store::is_terminal(job->state)) return CancelResult{*job, false};
  const auto tasks = store::task_cancel_for_job(tx, job_id);  // tasks first: the lock order
  if (!store::job_finish(tx, job_id, store::JobState::cancelled, std::nullopt)) {
    return CancelResult{*store::job_get(tx, project_id, job_id), false};  // it finished meanwhile
  }
  store::trial_cancel_for_job(tx, job_id);
  store::event_append(tx, job_id, "job.cancelled", {{"tasks_cancelled", tasks.size()}});
  return CancelResult{*store::job_get(tx, project_id, job_id), true};
}

}  // namespace flashnas::app
