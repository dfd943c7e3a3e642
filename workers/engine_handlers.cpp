// The engine's task handlers (see engine_handlers.hpp): the app layer's task
// runners behind the worker's handler registry.
#include "workers/engine_handlers.hpp"

#include <filesystem>

#include "app/task_runners.hpp"

namespace flashnas::worker {

void register_engine_handlers(HandlerRegistry& registry, const EngineHandlerOptions& options) {
  const std::string cache_dir = options.calibration_cache_dir.empty()
                                    ? (std::filesystem::path(options.storage_dir) / "cache" / "calibration").string()
                                    : options.calibration_cache_dir;
  std::filesystem::create_directories(cache_dir);
  auto cache = std::make_shared<app::EngineCache>(options.storage_dir, cache_dir, options.heal_cache_bytes);
  const int threads = options.threads;
  using store::TaskKind;
  auto one = [](app::TaskResult r) { return std::vector<app::TaskResult>{std::move(r)}; };
  registry.add(TaskKind::evaluate,
               [=](TaskContext& ctx) {
                 return one(app::run_evaluate(ctx.db, ctx.task(), *cache, threads, [&ctx] { return ctx.should_stop(); }));
               });
  registry.add(TaskKind::latency, [](TaskContext& ctx) { return app::run_latency(ctx.db, ctx.tasks); },
               options.latency_batch);
  registry.add(TaskKind::search_step,
               [=](TaskContext& ctx) { return one(app::run_search_step(ctx.db, ctx.task(), *cache)); });
  registry.add(TaskKind::fit_latency_model,
               [=](TaskContext& ctx) { return one(app::run_fit(ctx.db, ctx.task(), *cache)); });
  registry.add(TaskKind::export_checkpoint,
               [=](TaskContext& ctx) { return one(app::run_export(ctx.db, ctx.task(), *cache, threads)); });
}

}  // namespace flashnas::worker
