// The stages of search and latency-study jobs (see search_job.hpp).
#include "app/search_job.hpp"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "app/fidelity_policy.hpp"
#include "app/frontier.hpp"
#include "app/imported_study.hpp"
#include "app/search_policy.hpp"
#include "app/study_policy.hpp"
#include "engine/latency/latency_model.hpp"
#include "engine/util/error.hpp"
#include "store/event_repository.hpp"
#include "store/frontier_repository.hpp"
#include "store/job_repository.hpp"
#include "store/latency_repository.hpp"
#include "store/trial_repository.hpp"

namespace flashnas::app {
namespace {

using nlohmann::json;
using store::JobStage;
using store::TaskKind;
using store::TaskState;

// Refits are numbered after every stage-1 round (rounds stay far below this).
constexpr int32_t kFirstRefitStep = 100000;

// Only called in stage 1, which a job without one never enters.
const Stage1Spec& stage1_of(const JobContext& ctx) { return *stage1_spec_of(ctx.spec); }

int64_t unfinished(const std::vector<store::TaskTally>& tally, TaskKind kind, std::optional<bool> has_trial = {}) {
  int64_t n = 0;
  for (const auto& t : tally) {
    if (t.kind == kind && !store::is_terminal(t.state) && (!has_trial || t.has_trial == *has_trial)) n += t.count;
  }
  return n;
}

int32_t max_step(const std::vector<store::TaskTally>& tally, TaskKind kind, int32_t below = INT32_MAX) {
  int32_t m = 0;
  for (const auto& t : tally) {
    if (t.kind == kind && t.max_step && *t.max_step < below) m = std::max(m, *t.max_step);
  }
  return m;
}

void set_stage(JobContext& ctx, JobStage stage) {
  if (ctx.job.stage == stage) return;
  if (store::job_set_stage(ctx.tx, ctx.id(), stage)) {
    store::event_append(ctx.tx, ctx.id(), "stage." + std::string(store::name_of(stage)), json::object());
    ctx.job.stage = stage;
  }
}

void set_reference_point(JobContext& ctx, const ReferencePoint& r, const char* source) {
  const json j = {{"eval_nll", r.eval_nll}, {"latency", r.latency}, {"source", source}};
  store::job_set_reference_point(ctx.tx, ctx.id(), j);
  ctx.job.reference_point = j;
}

// The stage-2 reference point: the one given, else the NLL of a uniform
// prediction over the vocabulary (no model should be worse) and 1.1 x the
// predicted latency of the costliest architecture of the space.
void start_searching(JobContext& ctx, int64_t vocab_size, double reference_latency) {
  const auto& spec = std::get<SearchSpec>(ctx.spec);
  if (spec.reference_point) {
    set_reference_point(ctx, *spec.reference_point, "given");
  } else {
    set_reference_point(ctx, {std::log(static_cast<double>(vocab_size)), reference_latency}, "inferred");
  }
  set_stage(ctx, JobStage::searching);
  enqueue(ctx, TaskKind::search_step, json::object(), std::nullopt, 1);
}

store::LatencyModelRecord model_record(const JobContext& ctx, const FitResult& r) {
  store::LatencyModelRecord m;
  m.project_id = ctx.job.project_id;
  m.device_kind = latency_spec_of(ctx.spec).device_kind;
  m.job_id = ctx.id();
  m.prompt_len = static_cast<int32_t>(latency_spec_of(ctx.spec).options.prompt_len);
  m.shape = r.model.at("metadata").value("shape", json::object());
  m.n_points = r.n_points;
  m.base_model_id = r.base_model_id;
  m.model = r.model;
  m.accuracy = r.accuracy;
  return m;
}

void finish_search(JobContext& ctx) {
  const auto& spec = std::get<SearchSpec>(ctx.spec);
  const std::vector<store::Trial> trials = store::trial_list_all(ctx.tx, ctx.id());
  const std::vector<FrontierPoint> all =
      frontier_candidates(trials, spec.latency.objective, spec.constraints, spec.rungs() - 1);
  const std::vector<FrontierPoint> front = pareto_frontier(all);
  const auto latest = store::frontier_latest(ctx.tx, ctx.id());
  const auto hv = store::hypervolume_latest(ctx.tx, ctx.id());
  const store::JobProgress& p = ctx.job.progress;
  const json summary = {{"evaluations", p.succeeded + p.failed},
                        {"succeeded", p.succeeded},
                        {"failed", p.failed},
                        {"frontier_version", latest ? json(latest->version) : json(nullptr)},
                        {"frontier_points", front.size()},
                        {"hypervolume", hv ? json(hv->hypervolume) : json(nullptr)},
                        {"reference_point", ctx.job.reference_point.value_or(json(nullptr))},
                        {"latency_objective", spec.latency.objective.name()},
                        {"latency_model_id", ctx.job.latency_model_id ? json(*ctx.job.latency_model_id) : json(nullptr)},
                        {"design_principles", design_principles(front, all)}};
  store::job_set_summary(ctx.tx, ctx.id(), summary);
  finish_by_trials(ctx, {{"evaluations", p.succeeded + p.failed}, {"frontier_points", front.size()}});
}

// Fails the job and stops what it still has queued or running.
void fail_job(JobContext& ctx, const std::string& error) {
  store::task_cancel_for_job(ctx.tx, ctx.id());
  if (store::job_finish(ctx.tx, ctx.id(), store::JobState::failed, error)) {
    store::trial_cancel_for_job(ctx.tx, ctx.id());
    store::event_append(ctx.tx, ctx.id(), "job.failed", {{"error", error}});
  }
}

// What an evaluation of `arch` at `rung` does: heal for the rung's steps (none
// at fidelity 0), on the rung's schedule where it gives one. Without
// fidelities: the job's heal, if any.
EvaluatePayload rung_payload(const SearchSpec& spec, const CandidateArch& arch, int32_t rung) {
  if (spec.fidelities.empty()) return {arch, spec.evaluation.heal, std::nullopt};
  std::optional<HealSpec> heal;
  const Fidelity& fidelity = spec.fidelities.at(static_cast<size_t>(rung));
  if (fidelity.steps > 0) {
    heal = *spec.evaluation.heal;
    heal->options.steps = fidelity.steps;
    heal->options.lr = fidelity.lr.value_or(heal->options.lr);
    if (fidelity.warmup_steps) heal->options.warmup_steps = fidelity.warmup_steps;
  }
  return {arch, heal, rung};
}

// Asynchronous successive halving (fidelity_policy.hpp): after a trial settled,
// every trial in the top 1/eta of some rung's results that is still at that rung
// goes on to the next, healed again from scratch for the next rung's steps.
// Runs inside the completion's transaction with the job row locked, and a
// promotion only moves a succeeded trial from rung r to r + 1, so each happens once.
void promote_trials(JobContext& ctx) {
  const auto& spec = std::get<SearchSpec>(ctx.spec);
  if (spec.fidelities.empty() || store::is_terminal(ctx.job.state)) return;
  const std::vector<store::Trial> trials = store::trial_list_all(ctx.tx, ctx.id());
  std::map<int64_t, const store::Trial*> by_id;
  for (const auto& t : trials) by_id[t.id] = &t;
  std::vector<std::vector<RungResult>> rungs(static_cast<size_t>(spec.rungs()));
  for (const store::TrialRung& r : store::trial_rung_list(ctx.tx, ctx.id())) {
    const store::Trial& t = *by_id.at(r.trial_id);
    const store::TrialMetrics& m = t.metrics;
    if (!m.prefill_ms || (spec.latency.objective.decode_weight > 0 && !m.decode_ms_per_token)) continue;
    rungs.at(static_cast<size_t>(r.rung))
        .push_back({t.id, r.eval_nll, spec.latency.objective.of(*m.prefill_ms, m.decode_ms_per_token.value_or(0.0))});
  }
  for (int32_t r = 0; r + 1 < spec.rungs(); ++r) {
    for (const int64_t id : asha_top(rungs[static_cast<size_t>(r)], spec.stage2.eta)) {
      const store::Trial& t = *by_id.at(id);
      if (t.state != store::TrialState::succeeded || t.rung != r) continue;
      const auto fidelity = static_cast<int32_t>(spec.fidelities.at(static_cast<size_t>(r) + 1).steps);
      if (!store::trial_promote(ctx.tx, id, r + 1, fidelity)) continue;
      enqueue(ctx, TaskKind::evaluate,
              evaluate_payload_to_json(rung_payload(spec, candidate_arch_from_json(t.arch), r + 1)), id);
      store::event_append(ctx.tx, ctx.id(), "trial.promoted", {{"trial_id", id}, {"rung", r + 1}, {"fidelity", fidelity}});
    }
  }
}

// Stage 2's next move: another step while under budget with room in flight, or
// the end once everything proposed has settled.
void advance_search(JobContext& ctx) {
  ctx.refresh();
  if (store::is_terminal(ctx.job.state)) return;
  const auto& spec = std::get<SearchSpec>(ctx.spec);
  const auto tally = store::task_tally(ctx.tx, ctx.id());
  const store::JobProgress& p = ctx.job.progress;
  const int64_t in_flight = p.pending + p.running;
  const bool stepping = unfinished(tally, TaskKind::search_step) > 0;
  // Every trial of the initial design failed: the inputs are at fault (a text too
  // short, a backbone that cannot be pruned), so more trials would fail alike.
  if (p.succeeded == 0 && p.failed >= std::min(spec.stage2.initial, spec.stage2.budget)) {
    const auto trials = store::trial_list_all(ctx.tx, ctx.id());
    std::string first;
    for (const auto& t : trials) {
      if (t.error) {
        first = *t.error;
        break;
      }
    }
    fail_job(ctx, fmt::format("the first {} trials all failed, the first with: {}", p.failed, first));
    return;
  }
  if (ctx.job.stage == JobStage::searching) {
    if (p.total >= spec.stage2.budget) {
      set_stage(ctx, JobStage::done);
    } else if (!stepping && in_flight < spec.stage2.batch) {
      enqueue(ctx, TaskKind::search_step, json::object(), std::nullopt, max_step(tally, TaskKind::search_step) + 1);
    }
  }
  if (ctx.job.stage == JobStage::done && in_flight == 0 && !stepping &&
      unfinished(tally, TaskKind::fit_latency_model) == 0) {
    finish_search(ctx);
  }
}

}  // namespace

void start_staged_job(JobContext& ctx, const BoundJob& job) {
  const LatencySpec& latency = latency_spec_of(ctx.spec);
  const auto* search = std::get_if<SearchSpec>(&ctx.spec);
  if (search && search->latency_model) {
    const auto record = store::latency_model_get(ctx.tx, ctx.job.project_id, *search->latency_model);
    FLASHNAS_CHECK(record.has_value(), "latency model {} vanished since binding", *search->latency_model);
    const auto model = latency::LatencyModel::from_json(record->model);
    store::job_set_latency_model(ctx.tx, ctx.id(), record->id);
    ctx.job.latency_model_id = record->id;
    store::event_append(ctx.tx, ctx.id(), "job.created",
                        {{"kind", "search"}, {"stage", "searching"}, {"latency_model_id", record->id}});
    start_searching(ctx, job.shape.vocab_size,
                    default_reference_latency(search::ArchSpace(search->space), job.shape, model,
                                              latency.options.prompt_len, latency.objective));
    return;
  }
  if (stage1_of(ctx).source == Stage1Source::imported) {
    start_imported_stage1(ctx, job.shape);
    return;
  }
  const search::ArchSpaceOptions& space =
      search ? search->space : std::get<LatencyStudySpec>(ctx.spec).space;
  const uint64_t seed = search ? search->seed : std::get<LatencyStudySpec>(ctx.spec).seed;
  const StudyProblem problem = make_study_problem(stage1_of(ctx), space, job.shape, latency, seed);
  const std::vector<LatencyPayload> tasks = study_initial_tasks(problem);
  for (const LatencyPayload& payload : tasks) enqueue(ctx, TaskKind::latency, latency_payload_to_json(payload));
  store::event_append(ctx.tx, ctx.id(), "job.created",
                      {{"kind", store::name_of(ctx.job.kind)}, {"stage", "measuring"}, {"latency_tasks", tasks.size()}});
}

void after_study_latency(JobContext& ctx) {
  if (store::is_terminal(ctx.job.state) || ctx.job.stage != JobStage::measuring) return;
  const auto tally = store::task_tally(ctx.tx, ctx.id());
  if (unfinished(tally, TaskKind::latency, false) > 0 || unfinished(tally, TaskKind::fit_latency_model) > 0) return;
  const Stage1Spec& stage1 = stage1_of(ctx);
  const int32_t round = max_step(tally, TaskKind::fit_latency_model, kFirstRefitStep) + 1;
  const int64_t training = store::measurement_count_for_job(ctx.tx, ctx.id(), store::MeasurementPhase::design) +
                           store::measurement_count_for_job(ctx.tx, ctx.id(), store::MeasurementPhase::adaptive);
  // Rounds that add nothing (every pick failed) must not loop for ever.
  const int64_t rounds_needed = (stage1.samples - stage1.design_size() + stage1.batch - 1) / stage1.batch;
  const bool more = training < stage1.samples && round <= rounds_needed + 2;
  enqueue(ctx, TaskKind::fit_latency_model,
          fit_payload_to_json({more ? FitPurpose::adaptive : FitPurpose::final, std::nullopt}), std::nullopt, round);
}

void apply_fit_result(JobContext& ctx, const store::Task& task, const FitResult& r) {
  if (store::is_terminal(ctx.job.state)) return;
  const int32_t step = task.step.value_or(0);
  if (r.purpose == FitPurpose::adaptive) {
    if (r.picks.empty()) {
      enqueue(ctx, TaskKind::fit_latency_model, fit_payload_to_json({FitPurpose::final, std::nullopt}), std::nullopt,
              step + 1);
      return;
    }
    for (const auto& [arch, sd] : r.picks) {
      enqueue(ctx, TaskKind::latency, latency_payload_to_json({arch, store::MeasurementPhase::adaptive, step}));
    }
    store::event_append(ctx.tx, ctx.id(), "study.round", {{"round", step}, {"points", r.picks.size()}});
    return;
  }
  const store::LatencyModelRecord record = store::latency_model_insert(ctx.tx, model_record(ctx, r));
  store::job_set_latency_model(ctx.tx, ctx.id(), record.id);
  ctx.job.latency_model_id = record.id;
  store::event_append(ctx.tx, ctx.id(), "latency_model.fitted",
                      {{"latency_model_id", record.id}, {"purpose", fit_purpose_name(r.purpose)},
                       {"n_points", r.n_points}, {"accuracy", r.accuracy}});
  if (r.purpose == FitPurpose::refit) {
    advance_search(ctx);  // the job may have been waiting for this refit to end
    return;
  }
  if (ctx.job.kind == store::JobKind::latency_study) {
    store::job_set_summary(ctx.tx, ctx.id(),
                           {{"latency_model_id", record.id}, {"n_points", r.n_points}, {"accuracy", r.accuracy}});
    set_stage(ctx, JobStage::done);
    if (store::job_finish(ctx.tx, ctx.id(), store::JobState::succeeded, std::nullopt)) {
      store::event_append(ctx.tx, ctx.id(), "job.succeeded", {{"latency_model_id", record.id}});
    }
    return;
  }
  start_searching(ctx, record.shape.value("vocab_size", int64_t{2}), r.reference_latency);
}

void apply_search_step(JobContext& ctx, const store::Task& task, const SearchStepResult& r) {
  if (store::is_terminal(ctx.job.state) || ctx.job.stage != JobStage::searching) return;
  const auto& spec = std::get<SearchSpec>(ctx.spec);
  int32_t ordinal = store::trial_count(ctx.tx, ctx.id());
  int64_t added = 0;
  for (const Proposal& p : r.proposals) {
    if (ordinal >= spec.stage2.budget) break;
    store::NewTrial t{candidate_arch_to_json(p.arch), candidate_arch_hash(p.arch), p.source, task.step,
                      json{{"predicted_latency", p.predicted_latency}, {"predicted_latency_sd", p.predicted_latency_sd}},
                      std::nullopt, std::nullopt};
    if (!spec.fidelities.empty()) {  // every new trial starts at the lowest rung
      t.rung = 0;
      t.fidelity = static_cast<int32_t>(spec.fidelities.front().steps);
    }
    const auto trial = store::trial_insert(ctx.tx, ctx.id(), ordinal, t);
    if (!trial) continue;  // already a trial of this job
    ++ordinal;
    ++added;
    enqueue(ctx, TaskKind::evaluate, evaluate_payload_to_json(rung_payload(spec, p.arch, 0)), trial->id);
    enqueue(ctx, TaskKind::latency, latency_payload_to_json({p.arch, std::nullopt, 0}), trial->id);
  }
  store::event_append(ctx.tx, ctx.id(), "search.step",
                      {{"step", task.step.value_or(0)}, {"requested", r.requested}, {"proposed", added},
                       {"exhausted", r.exhausted}, {"seconds", r.total_seconds}});
  if (r.exhausted || ordinal >= spec.stage2.budget) set_stage(ctx, JobStage::done);
  advance_search(ctx);
}

void after_trial_latency(JobContext& ctx) {
  if (store::is_terminal(ctx.job.state) || ctx.job.stage == JobStage::measuring || !ctx.job.latency_model_id) return;
  const auto& spec = std::get<SearchSpec>(ctx.spec);
  const int64_t measured = store::measurement_count_for_job(ctx.tx, ctx.id(), store::MeasurementPhase::trial);
  if (measured % spec.stage2.batch != 0) return;
  // Every refit extends the stage-1 model (the root), never a refit, so no
  // measurement is counted twice.
  const auto current = store::latency_model_get_any_project(ctx.tx, *ctx.job.latency_model_id);
  const int64_t root = current && current->base_model_id ? *current->base_model_id : *ctx.job.latency_model_id;
  enqueue(ctx, TaskKind::fit_latency_model, fit_payload_to_json({FitPurpose::refit, root}), std::nullopt,
          kFirstRefitStep + static_cast<int32_t>(measured / spec.stage2.batch));
}

void after_search_trial(JobContext& ctx) {
  promote_trials(ctx);
  advance_search(ctx);
}

void fail_staged_job(JobContext& ctx, const store::Task& task, const std::string& error) {
  const std::string what =
      task.kind == TaskKind::search_step
          ? fmt::format("search step {} failed: {}", task.step.value_or(0), error)
          : fmt::format("latency model fit (step {}) failed: {}", task.step.value_or(0), error);
  // A failed refit leaves the search on its current latency model.
  if (task.kind == TaskKind::fit_latency_model && task.payload.value("purpose", "") == "refit") {
    store::event_append(ctx.tx, ctx.id(), "latency_model.refit_failed", {{"error", error}});
    advance_search(ctx);
    return;
  }
  fail_job(ctx, what);
}

}  // namespace flashnas::app
