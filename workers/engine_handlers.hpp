// The engine's task handlers for sweep jobs:
//  - evaluate: prunes the backbone to the task's candidate with calibrated
//    importance and evaluates it (engine/prune/evaluate_candidate.hpp), reporting
//    eval_nll, params, non_embedding_params, flops_per_token, kv_cache_bytes_per_token.
//  - latency: measures the candidate's shape on this CPU as device kind
//    `local-cpu` (engine/latency/measure_latency.hpp; weights are synthetic since
//    only the shape matters), reporting prefill_ms, decode_ms_per_token and the
//    measurement (samples, spread, environment).
// Inputs come from the task's job spec: {"backbone": MODEL_ID, "calibration":
// DATASET_ID, "eval": DATASET_ID, optional "calib_tokens" (8192), "eval_tokens"
// (16384), "ctx" (256), and "latency": {"device_kind", "prompt_len",
// "decode_tokens", ... LatencyOptions fields}}; defaults as `flashnas
// evaluate-candidate`, so a trial's NLL equals what that command prints.
#pragma once

#include <memory>
#include <string>

#include "workers/task_handler.hpp"

namespace flashnas::worker {

struct EngineHandlerOptions {
  std::string storage_dir = ".";
  std::string calibration_cache_dir;  // default <storage>/cache/calibration
  int threads = 1;                    // engine threads per task
};

// Registers `evaluate` and `latency`, sharing one engine cache.
void register_engine_handlers(HandlerRegistry& registry, const EngineHandlerOptions& options);

}  // namespace flashnas::worker
