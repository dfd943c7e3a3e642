// The task runners: the work of each task kind, reading what it needs from the
// task's job in short read transactions on `db` and calling the engine and the
// policies; they write nothing (the job service lands the result). Worker
// processes register them as handlers (workers/engine_handlers.cpp); benchmarks
// call them directly.
//  - evaluate: prunes the backbone to the trial's architecture with calibrated
//    importance and evaluates it (engine/prune/evaluate_candidate.hpp) with the
//    job's texts and token budgets; the defaults are `flashnas
//    evaluate-candidate`'s, so a zero-shot NLL equals what that command prints.
//    With a heal in the payload it then heals the pruned model (engine/train/
//    heal.hpp; distillation from the cached backbone, on windows and teacher
//    logits the worker keeps per backbone, text and ctx) and evaluates again:
//    the trial's quality is the healed NLL. A long heal stops when `stop` says
//    the task's lease is gone.
//  - latency: measures a batch of one job's architectures on this CPU as device
//    kind `local-cpu`, interleaved (engine/latency/study.hpp's local measurer;
//    weights are synthetic since only the shape matters).
//  - search_step: the job's trials and latency model into the stateless search
//    policy (search_policy.hpp).
//  - fit_latency_model: stage 1's model for an adaptive round or the final
//    report, or a refit with the search's trial measurements (study_policy.hpp).
//  - export: prunes the backbone to the trial's architecture as its evaluation
//    did and writes the checkpoint file (checkpoint_file.hpp).
#pragma once

#include <pqxx/pqxx>

#include <functional>
#include <span>
#include <vector>

#include "app/engine_cache.hpp"
#include "app/task_contract.hpp"
#include "protocol/device_protocol.hpp"
#include "store/records.hpp"

namespace flashnas::app {

// True when the task should stop early (its result would be dropped).
using StopRequested = std::function<bool()>;

TaskResult run_evaluate(pqxx::connection& db, const store::Task& task, EngineCache& cache, int threads,
                        const StopRequested& stop = {});
// What a batch of one job's latency tasks asks to measure: the full shape of
// each task's architecture (the backbone's heads and vocabulary with the
// candidate's sizes) and the job's options (stage-1 tasks take its repeats).
// Workers measure it here; device agents get it over HTTP (device_tasks.hpp).
struct LatencyBatch {
  std::string device_kind;
  latency::LatencyOptions options;
  std::vector<ArchConfig> configs;  // one per task, in order
};
LatencyBatch latency_batch(pqxx::transaction_base& tx, std::span<const store::Task> tasks);
// The result of one architecture of `batch`, measured as `m` (here or by an agent).
LatencyResult latency_result(const LatencyBatch& batch, const ArchConfig& config,
                             const protocol::DeviceMeasurement& m);

// One result per task; the tasks are of one job.
std::vector<TaskResult> run_latency(pqxx::connection& db, std::span<const store::Task> tasks);
TaskResult run_search_step(pqxx::connection& db, const store::Task& task, EngineCache& cache);
TaskResult run_fit(pqxx::connection& db, const store::Task& task, EngineCache& cache);
TaskResult run_export(pqxx::connection& db, const store::Task& task, EngineCache& cache, int threads);

}  // namespace flashnas::app
