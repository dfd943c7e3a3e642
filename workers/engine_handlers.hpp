// The engine's task handlers, reading what they need from the task's job:
//  - evaluate: prunes the backbone to the trial's architecture with calibrated
//    importance and evaluates it (engine/prune/evaluate_candidate.hpp), with the
//    job's texts and token budgets; the defaults are `flashnas
//    evaluate-candidate`'s, so a trial's NLL equals what that command prints.
//  - latency (batched): measures a batch of one job's architectures on this CPU
//    as device kind `local-cpu`, interleaved (engine/latency/study.hpp's local
//    measurer; weights are synthetic since only the shape matters).
//  - search_step: reads the job's trials and latency model and calls the
//    stateless search policy (app/search_policy.hpp).
//  - fit_latency_model: fits stage 1's model for an adaptive round or the final
//    report, or refits it with the search's trial measurements (app/study_policy.hpp).
#pragma once

#include <string>

#include "workers/task_handler.hpp"

namespace flashnas::worker {

struct EngineHandlerOptions {
  std::string storage_dir;            // where uploaded models and datasets are stored
  std::string calibration_cache_dir;  // default <storage>/cache/calibration
  int threads = 1;                    // engine threads per task
  int latency_batch = 8;              // latency tasks of one job measured together
};

// Registers every kind above, sharing one engine cache.
void register_engine_handlers(HandlerRegistry& registry, const EngineHandlerOptions& options);

}  // namespace flashnas::worker
