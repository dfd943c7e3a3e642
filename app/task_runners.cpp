// The task runners (see task_runners.hpp).
#include "app/task_runners.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>

#include "app/checkpoint_file.hpp"
#include "app/fidelity_policy.hpp"
#include "app/job_binding.hpp"
#include "app/job_spec.hpp"
#include "app/search_policy.hpp"
#include "app/study_policy.hpp"
#include "engine/latency/study.hpp"
#include "engine/model/bound_arch.hpp"
#include "engine/prune/evaluate_candidate.hpp"
#include "engine/prune/prune_to_arch.hpp"
#include "engine/runtime/evaluate.hpp"
#include "engine/train/heal.hpp"
#include "engine/util/error.hpp"
#include "store/file_repository.hpp"
#include "store/job_repository.hpp"
#include "store/latency_repository.hpp"
#include "store/task_queue.hpp"
#include "store/trial_repository.hpp"

namespace flashnas::app {
namespace {

using nlohmann::json;
using store::MeasurementPhase;

// A task's job and its typed spec, read in one short transaction.
struct JobInputs {
  store::Job job;
  JobSpec spec;
};

JobInputs load_job(pqxx::transaction_base& tx, const store::Task& task) {
  if (!task.job_id) throw InvalidInput("the task belongs to no job", "job_id");
  auto job = store::job_get_any_project(tx, *task.job_id);
  if (!job) throw InvalidInput("the task's job is gone", "job_id");
  JobSpec spec = job_spec_from_json(job->kind, job->spec);
  return {std::move(*job), std::move(spec)};
}

store::StoredFile load_file(pqxx::transaction_base& tx, const store::Job& job, store::FileKind kind, int64_t id,
                            const char* field) {
  auto row = store::file_get(tx, kind, job.project_id, id);
  if (!row) {
    throw InvalidInput(fmt::format("no {} {} in the job's project", kind == store::FileKind::model ? "model" : "dataset", id),
                       std::string("spec.") + field);
  }
  return *row;
}

// The shape the backbone leaves to its candidates, from its recorded architecture.
latency::ModelShape backbone_shape(pqxx::transaction_base& tx, const JobInputs& in) {
  const auto model = load_file(tx, in.job, store::FileKind::model, backbone_of(in.spec), "backbone");
  return latency::shape_of(recorded_backbone(model.metadata, "spec.backbone"));
}

// BOS + encode(text) must give the job at least min_tokens(budget) tokens.
void check_tokens(const std::vector<int32_t>& tokens, const store::StoredFile& text, const char* field,
                  const char* budget_name, int64_t budget, const EvaluationSpec& e) {
  const int64_t needed = e.min_tokens(budget);
  if (static_cast<int64_t>(tokens.size()) < needed) {
    throw InvalidInput(fmt::format("dataset {} holds {} tokens; the job needs at least {} (8 windows of ctx {}, or "
                                   "the {} budget of {} when smaller)",
                                   text.id, tokens.size(), needed, e.ctx, budget_name, budget),
                       field);
  }
}

// A heal stopped because the task's lease is gone (rescued elsewhere, job
// cancelled) or the worker is shutting down: its result would be dropped.
class HealStopped : public Error {
 public:
  HealStopped() : Error("healing stopped: the task's lease was lost or the worker is stopping") {}
};

// Heals `student` in place on the heal's training text (distilling from the
// backbone when heal.options.distill > 0).
HealResult heal_candidate(EngineCache& cache, const store::StoredFile& backbone_row, const Model& backbone,
                          const store::StoredFile& train_row, const HealSpec& heal, Model& student,
                          RuntimeContext& runtime, const StopRequested& stop) {
  const HealOptions& o = heal.options;
  const bool distill = o.distill > 0.0;
  // The memory plan decides whether the teacher's logits are kept; the windows
  // (and the logits when kept) are the worker's, shared by the job's candidates.
  auto data = cache.heal_data(backbone_row, backbone, train_row, heal.train_tokens, o.ctx, false, runtime,
                              "spec.heal.train");
  HealMemory plan;
  try {
    plan = plan_heal_memory(backbone.config, student.config, data->windows.count(), o);
  } catch (const InvalidInput& e) {
    throw InvalidInput(e.errors().front().message, "spec.heal.memory_limit_bytes");
  }
  if (distill && plan.teacher_cached) {
    data = cache.heal_data(backbone_row, backbone, train_row, heal.train_tokens, o.ctx, true, runtime,
                           "spec.heal.train");
  }
  std::optional<TeacherLogits> own;  // step by step, when the logits are not kept
  TeacherLogits* teacher = data->logits.get();
  if (distill && !teacher) teacher = &own.emplace(backbone, data->windows, /*cache=*/false, runtime);
  return heal_model(distill ? teacher : nullptr, student, data->windows, o, runtime,
                    [&](const HealStep&, const HealOptions&) {
                      if (stop && stop()) throw HealStopped();
                    });
}

// What a trial records of its heal: the healed model's eval NLL and the heal's cost.
HealOutcome heal_outcome(const HealResult& h, const Model& healed, const std::vector<int32_t>& eval_tokens,
                         int64_t eval_ctx, RuntimeContext& runtime) {
  EvalOptions eval;
  eval.ctx = eval_ctx;
  HealOutcome out;
  out.healed_nll = evaluate_nll(healed.config, healed.weights, eval_tokens, eval, &runtime).nll;
  out.steps = static_cast<int64_t>(h.history.size());
  out.tokens = h.tokens;
  out.seconds = h.seconds;
  out.setup_seconds = h.setup_seconds;
  out.tokens_per_second = h.tokens_per_second;
  out.first_loss = h.history.front().loss;
  out.final_loss = h.history.back().loss;
  out.memory_bytes = h.memory.total();
  out.teacher_cached = h.memory.teacher_cached;
  return out;
}

// The stored files an evaluation of `payload` reads: the job's backbone and
// calibration text, and the heal's training text when it heals.
struct CandidateFiles {
  store::StoredFile backbone, calibration, train;
};

CandidateFiles load_candidate_files(pqxx::transaction_base& tx, const store::Job& job, const EvaluationSpec& e,
                                    const EvaluatePayload& payload) {
  CandidateFiles files;
  files.backbone = load_file(tx, job, store::FileKind::model, e.backbone, "backbone");
  files.calibration = load_file(tx, job, store::FileKind::dataset, e.calibration, "calibration");
  if (payload.heal) files.train = load_file(tx, job, store::FileKind::dataset, payload.heal->train, "heal.train");
  return files;
}

// What evaluating and exporting a candidate both start from: the backbone, the
// architecture bound to it (it crossed a process boundary as JSON: bound again
// here, once) and the importance statistics of the job's calibration text.
struct CandidateBasis {
  std::shared_ptr<const Model> backbone;
  BoundArch arch;
  std::shared_ptr<const CalibrationStats> stats;
};

CandidateBasis candidate_basis(EngineCache& cache, const CandidateFiles& files, const EvaluationSpec& e,
                               const CandidateArch& arch, RuntimeContext& runtime) {
  auto backbone = cache.backbone(files.backbone);
  BoundArch bound = bind_arch(arch, backbone->config, "arch");
  check_tokens(*cache.tokens(files.backbone, *backbone, files.calibration, e.calib_tokens), files.calibration,
               "calibration", "calib_tokens", e.calib_tokens, e);
  auto stats = cache.calibration(files.backbone, *backbone, files.calibration, e.calib_tokens, runtime);
  return {std::move(backbone), std::move(bound), std::move(stats)};
}

}  // namespace

TaskResult run_evaluate(pqxx::connection& db, const store::Task& task, EngineCache& cache, int threads,
                        const StopRequested& stop) {
  JobInputs in;
  CandidateFiles files;
  store::StoredFile eval_row;
  const EvaluatePayload payload = evaluate_payload_from_json(task.payload);
  {
    pqxx::read_transaction tx(db);
    in = load_job(tx, task);
    const EvaluationSpec* e = evaluation_spec_of(in.spec);
    if (!e) throw InvalidInput("a latency study has no evaluate tasks", "kind");
    files = load_candidate_files(tx, in.job, *e, payload);
    eval_row = load_file(tx, in.job, store::FileKind::dataset, e->eval, "eval");
  }
  const EvaluationSpec& e = *evaluation_spec_of(in.spec);
  RuntimeContext runtime(RuntimeOptions{threads, false});
  const CandidateBasis basis = candidate_basis(cache, files, e, payload.arch, runtime);
  const Model& backbone = *basis.backbone;
  const auto tokens = cache.tokens(files.backbone, backbone, eval_row, e.eval_tokens);
  check_tokens(*tokens, eval_row, "eval", "eval_tokens", e.eval_tokens, e);
  CandidateEvalOptions options;
  options.ctx = e.ctx;
  options.threads = threads;
  if (!payload.heal) {
    const CandidateResult r = evaluate_candidate(backbone, *basis.stats, basis.arch, *tokens, options, &runtime);
    return EvaluateResult{r.eval_nll,       r.eval_tokens,     r.params, r.non_embedding_params,
                          r.flops_per_token, static_cast<int64_t>(r.kv_cache_bytes_per_token), r.seconds,
                          r.eval_nll,       std::nullopt};
  }
  // Prune once, evaluate zero-shot, heal in place, evaluate again.
  const auto start = std::chrono::steady_clock::now();
  Model student = prune_to_arch(backbone, *basis.stats, basis.arch);
  const CandidateResult zero_shot = evaluate_pruned(student, *tokens, options, &runtime);
  const HealResult heal = heal_candidate(cache, files.backbone, backbone, files.train, *payload.heal, student, runtime, stop);
  const HealOutcome healed = heal_outcome(heal, student, *tokens, e.ctx, runtime);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return EvaluateResult{healed.healed_nll,        zero_shot.eval_tokens,
                        zero_shot.params,          zero_shot.non_embedding_params,
                        zero_shot.flops_per_token, static_cast<int64_t>(zero_shot.kv_cache_bytes_per_token),
                        seconds,                   zero_shot.eval_nll,
                        healed};
}

LatencyBatch latency_batch(pqxx::transaction_base& tx, std::span<const store::Task> tasks) {
  FLASHNAS_CHECK(!tasks.empty(), "an empty latency batch");
  const JobInputs in = load_job(tx, tasks.front());
  const latency::ModelShape shape = backbone_shape(tx, in);
  LatencyBatch batch;
  batch.device_kind = latency_spec_of(in.spec).device_kind;
  batch.options = latency_spec_of(in.spec).options;
  for (const store::Task& t : tasks) {
    FLASHNAS_CHECK(t.job_id == tasks.front().job_id, "a latency batch mixes jobs");
    const LatencyPayload payload = latency_payload_from_json(t.payload);
    // Stage-1 measurements take the study's repeats; every task of a batch is of one job and phase kind.
    if (payload.phase) batch.options.repeats = stage1_spec_of(in.spec)->repeats;
    batch.configs.push_back(latency::shape_to_config(shape, payload.arch));
  }
  return batch;
}

LatencyResult latency_result(const LatencyBatch& batch, const ArchConfig& config,
                             const protocol::DeviceMeasurement& m) {
  const json arch = arch_config_to_json(config);
  return LatencyResult{batch.device_kind,   batch.options.prompt_len, batch.options.decode_tokens,
                       m.ttft_ms,           m.decode_ms_per_token,    m.prefill_spread,
                       m.decode_spread,     arch,                     measured_arch_hash(arch),
                       m.samples,           m.environment,            std::nullopt};
}

std::vector<TaskResult> run_latency(pqxx::connection& db, std::span<const store::Task> tasks) {
  LatencyBatch batch;
  {
    pqxx::read_transaction tx(db);
    batch = latency_batch(tx, tasks);
  }
  if (batch.device_kind != kLocalDeviceKind) {
    throw InvalidInput("this worker measures device kind local-cpu, not " + batch.device_kind,
                       "spec.latency.device_kind");
  }
  // Only the shape matters for latency: random weights of each candidate's shape
  // time the same as pruned ones and need no calibration. The batch's runs are
  // interleaved, so the machine's drift affects every architecture alike.
  const auto measured = latency::local_measurer(batch.options)(batch.configs);
  std::vector<TaskResult> out;
  for (size_t i = 0; i < batch.configs.size(); ++i) {
    out.push_back(latency_result(batch, batch.configs[i], protocol::measurement_of(measured.at(i))));
  }
  return out;
}

TaskResult run_search_step(pqxx::connection& db, const store::Task& task, EngineCache& cache) {
  JobInputs in;
  std::vector<store::Trial> trials;
  std::vector<store::TrialRung> rungs;
  store::LatencyModelRecord model;
  {
    pqxx::read_transaction tx(db);
    in = load_job(tx, task);
    if (!in.job.latency_model_id || !in.job.reference_point) {
      throw InvalidInput("the job has no latency model or reference point yet", "latency_model");
    }
    auto record = store::latency_model_get_any_project(tx, *in.job.latency_model_id);
    if (!record) throw InvalidInput("the job's latency model is gone", "latency_model");
    model = std::move(*record);
    trials = store::trial_list_all(tx, in.job.id);
    rungs = store::trial_rung_list(tx, in.job.id);
  }
  const auto& spec = std::get<SearchSpec>(in.spec);
  const ReferencePoint reference{in.job.reference_point->at("eval_nll").get<double>(),
                                      in.job.reference_point->at("latency").get<double>()};
  const SearchProblem problem =
      make_search_problem(spec, latency::model_shape_from_json(model.shape), cache.latency_model(model), reference);
  SearchState state;
  // Completion order: the trust region is replayed from it.
  std::vector<const store::Trial*> by_completion;
  for (const store::Trial& t : trials) by_completion.push_back(&t);
  std::stable_sort(by_completion.begin(), by_completion.end(), [](const store::Trial* a, const store::Trial* b) {
    return a->finished_at.value_or("~") < b->finished_at.value_or("~");  // ISO-8601 UTC: text order is time order
  });
  // A multi-fidelity search models each trial at its highest rung so far,
  // shifted to the top fidelity (fidelity_offsets), so the acquisition judges
  // candidates at the top fidelity.
  std::map<int64_t, RungHistory> history;
  for (const store::TrialRung& r : rungs) history[r.trial_id][r.rung] = r.eval_nll;
  std::vector<RungHistory> histories;
  for (const auto& [id, h] : history) histories.push_back(h);
  const std::vector<double> offsets = fidelity_offsets(histories, spec.rungs());
  for (const store::Trial* tp : by_completion) {
    const store::Trial& t = *tp;
    const CandidateArch arch = candidate_arch_from_json(t.arch);
    const auto h = history.find(t.id);
    if (h != history.end()) {
      const auto& [rung, nll] = *h->second.rbegin();
      state.completed.push_back({arch, nll + offsets.at(static_cast<size_t>(rung))});
    } else if (t.state == store::TrialState::succeeded && t.metrics.eval_nll) {
      state.completed.push_back({arch, *t.metrics.eval_nll});
    } else if (t.state == store::TrialState::pending || t.state == store::TrialState::running) {
      state.pending.push_back(arch);
    } else {
      state.failed.push_back(arch);
    }
  }
  // Keep `batch` evaluations in flight, within the budget.
  // (Promoted trials, modelled at their last rung, are in flight too.)
  const auto in_flight = static_cast<int64_t>(std::count_if(trials.begin(), trials.end(), [](const store::Trial& t) {
    return t.state == store::TrialState::pending || t.state == store::TrialState::running;
  }));
  const int64_t total = static_cast<int64_t>(trials.size());
  const int64_t step = task.step.value_or(1);
  const int64_t q = step == 1 ? std::min(spec.stage2.initial, spec.stage2.budget)
                              : std::min(spec.stage2.batch - in_flight, spec.stage2.budget - total);
  return propose_search_step(problem, state, step, q);
}

TaskResult run_fit(pqxx::connection& db, const store::Task& task, EngineCache& cache) {
  JobInputs in;
  latency::ModelShape shape;
  std::vector<store::LatencyMeasurement> measurements;
  std::optional<store::LatencyModelRecord> base;
  const FitPayload payload = fit_payload_from_json(task.payload);
  {
    pqxx::read_transaction tx(db);
    in = load_job(tx, task);
    shape = backbone_shape(tx, in);
    measurements = store::measurement_list_for_job(tx, in.job.id);
    if (payload.base_model_id) {
      base = store::latency_model_get_any_project(tx, *payload.base_model_id);
      if (!base) throw InvalidInput("the latency model to refit is gone", "payload.base_model_id");
    }
  }
  const LatencySpec& latency_spec = latency_spec_of(in.spec);
  const auto* search = std::get_if<SearchSpec>(&in.spec);
  const search::ArchSpaceOptions& space = search ? search->space : std::get<LatencyStudySpec>(in.spec).space;
  if (payload.purpose == FitPurpose::refit) {
    std::vector<TrialMeasurement> trials;
    for (const auto& m : measurements) {
      if (m.phase != MeasurementPhase::trial || !m.decode_ms_per_token) continue;
      trials.push_back({arch_config_from_json(m.arch), m.prefill_ms, *m.decode_ms_per_token});
    }
    FitResult r = refit_latency_model(*cache.latency_model(*base), shape, latency_spec.options.prompt_len,
                                                trials, search::ArchSpace(space), latency_spec.objective);
    r.base_model_id = base->id;
    return r;
  }
  const Stage1Spec& stage1 = *stage1_spec_of(in.spec);
  const uint64_t seed = search ? search->seed : std::get<LatencyStudySpec>(in.spec).seed;
  StudyProblem problem = make_study_problem(stage1, space, shape, latency_spec, seed);
  if (stage1.transfer_from) {
    std::optional<store::LatencyModelRecord> source;
    {
      pqxx::read_transaction tx(db);
      source = store::latency_model_get_any_project(tx, *stage1.transfer_from);
    }
    if (!source) throw InvalidInput("the latency model to transfer from is gone", "spec.stage1.transfer_from");
    problem.options.model.transfer_source = cache.latency_model(*source);
  }
  std::vector<StudyMeasurement> measured;
  for (const auto& m : measurements) {
    if (!m.phase || *m.phase == MeasurementPhase::trial || !m.decode_ms_per_token) continue;
    measured.push_back({backbone_as_candidate(arch_config_from_json(m.arch)), *m.phase, m.round.value_or(0),
                        m.prefill_ms, *m.decode_ms_per_token});
  }
  if (payload.purpose == FitPurpose::adaptive) {
    return study_adaptive_round(problem, measured, task.step.value_or(1));
  }
  return study_final_fit(problem, measured);
}

TaskResult run_export(pqxx::connection& db, const store::Task& task, EngineCache& cache, int threads) {
  const auto start = std::chrono::steady_clock::now();
  JobInputs in;
  CandidateFiles files;
  std::optional<EvaluatePayload> evaluated;  // the trial's last evaluation: its heal is the model's
  {
    pqxx::read_transaction tx(db);
    in = load_job(tx, task);
    const EvaluationSpec* e = evaluation_spec_of(in.spec);
    if (!e || !task.trial_id) throw InvalidInput("only a trial of a sweep or search has a model to export", "trial_id");
    const auto trial = store::trial_get(tx, *task.trial_id);
    if (!trial) throw InvalidInput("the task's trial is gone", "trial_id");
    int64_t last = 0;
    for (const store::Task& t : store::task_list_for_trial(tx, trial->id)) {
      if (t.kind == store::TaskKind::evaluate && t.state == store::TaskState::succeeded && t.id > last) {
        last = t.id;
        evaluated = evaluate_payload_from_json(t.payload);
      }
    }
    if (!evaluated) throw InvalidInput("the trial has no finished evaluation", "trial_id");
    files = load_candidate_files(tx, in.job, *e, *evaluated);
  }
  const EvaluationSpec& e = *evaluation_spec_of(in.spec);
  const ExportPayload payload = export_payload_from_json(task.payload);
  RuntimeContext runtime(RuntimeOptions{threads, false});
  // The same calibration and heal as the trial's evaluation (both deterministic),
  // so the file holds the model that was scored.
  const CandidateBasis basis = candidate_basis(cache, files, e, evaluated->arch, runtime);
  Model model = prune_to_arch(*basis.backbone, *basis.stats, basis.arch);
  if (evaluated->heal) heal_candidate(cache, files.backbone, *basis.backbone, files.train, *evaluated->heal, model, runtime, {});
  const CheckpointFile file = write_checkpoint_file(model, payload.format, cache.storage_dir());
  return ExportResult{payload.format, file.sha256, file.bytes, file.path,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
}

}  // namespace flashnas::app
