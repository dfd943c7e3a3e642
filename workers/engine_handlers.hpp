// The engine's task handlers: every task kind of the app layer's task runners
// (app/task_runners.hpp) registered for the worker, sharing one engine cache;
// latency tasks of one job are taken in batches and measured interleaved.
#pragma once

#include <cstdint>
#include <string>

#include "workers/task_handler.hpp"

namespace flashnas::worker {

struct EngineHandlerOptions {
  std::string storage_dir;            // where uploaded models and datasets are stored
  std::string calibration_cache_dir;  // default <storage>/cache/calibration
  int threads = 1;                    // engine threads per task
  int latency_batch = 8;              // latency tasks of one job measured together
  int64_t heal_cache_bytes = int64_t{1} << 30;  // teacher logits kept for heals (EngineCache)
};

// Registers every kind above, sharing one engine cache.
void register_engine_handlers(HandlerRegistry& registry, const EngineHandlerOptions& options);

}  // namespace flashnas::worker
