// The engine's task handlers (see engine_handlers.hpp).
#include "workers/engine_handlers.hpp"

#include <filesystem>

#include "engine/latency/measure_latency.hpp"
#include "engine/model/candidate_arch.hpp"
#include "engine/prune/evaluate_candidate.hpp"
#include "engine/runtime/synthetic_model.hpp"
#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"
#include "store/file_repository.hpp"
#include "store/job_repository.hpp"
#include "workers/engine_cache.hpp"

namespace flashnas::worker {
namespace {

using nlohmann::json;

// What a sweep task needs from its job: the spec and the rows it names.
struct SweepInputs {
  json spec;
  store::StoredFile backbone, calibration, eval;
};

int64_t spec_id(const json& spec, const char* key) {
  const auto it = spec.find(key);
  if (it == spec.end() || !it->is_number_integer()) throw InvalidInput("the job spec lacks an id", std::string("spec.") + key);
  return it->get<int64_t>();
}

int64_t spec_int(const json& spec, const char* key, int64_t fallback) {
  const auto it = spec.find(key);
  if (it == spec.end() || it->is_null()) return fallback;
  if (!it->is_number_integer() || it->get<int64_t>() < 1) throw InvalidInput("must be a positive integer", std::string("spec.") + key);
  return it->get<int64_t>();
}

SweepInputs load_inputs(TaskContext& ctx) {
  if (!ctx.task.job_id) throw InvalidInput("the task belongs to no job", "job_id");
  pqxx::read_transaction tx(ctx.db);
  const auto job = store::job_get_any_project(tx, *ctx.task.job_id);
  if (!job) throw InvalidInput("the task's job is gone", "job_id");
  SweepInputs in;
  in.spec = job->spec;
  auto file = [&](store::FileKind kind, const char* key) {
    const auto row = store::file_get(tx, kind, job->project_id, spec_id(in.spec, key));
    if (!row) throw InvalidInput("no such " + std::string(kind == store::FileKind::model ? "model" : "dataset") +
                                 " in the job's project", std::string("spec.") + key);
    return *row;
  };
  in.backbone = file(store::FileKind::model, "backbone");
  if (ctx.task.kind == "evaluate") {
    in.calibration = file(store::FileKind::dataset, "calibration");
    in.eval = file(store::FileKind::dataset, "eval");
  }
  return in;
}

json run_evaluate(TaskContext& ctx, EngineCache& cache, int threads) {
  const SweepInputs in = load_inputs(ctx);
  const CandidateArch arch = candidate_arch_from_json(ctx.task.payload.at("arch"), "arch");
  const auto backbone = cache.backbone(in.backbone);
  validate_against_backbone(arch, backbone->config, "arch");  // before calibrating
  RuntimeContext runtime(RuntimeOptions{threads, false});
  const auto stats = cache.calibration(in.backbone, *backbone, in.calibration,
                                       spec_int(in.spec, "calib_tokens", 8192), runtime);
  const auto tokens = cache.tokens(in.backbone, *backbone, in.eval, spec_int(in.spec, "eval_tokens", 16384));
  CandidateEvalOptions options;
  options.ctx = spec_int(in.spec, "ctx", 256);
  options.threads = threads;
  return candidate_result_to_json(evaluate_candidate(*backbone, *stats, arch, *tokens, options, &runtime));
}

json run_latency(TaskContext& ctx, EngineCache& cache) {
  const SweepInputs in = load_inputs(ctx);
  json latency_spec = in.spec.value("latency", json::object());
  if (!latency_spec.is_object()) throw InvalidInput("must be a JSON object", "spec.latency");
  const std::string device_kind = latency_spec.value("device_kind", "local-cpu");
  if (device_kind != "local-cpu") {
    throw InvalidInput("this worker measures device kind local-cpu, not " + device_kind, "spec.latency.device_kind");
  }
  latency_spec.erase("device_kind");
  const latency::LatencyOptions options = latency::latency_options_from_json(latency_spec);
  const CandidateArch arch = candidate_arch_from_json(ctx.task.payload.at("arch"), "arch");
  const auto backbone = cache.backbone(in.backbone);
  validate_against_backbone(arch, backbone->config, "arch");
  // Only the shape matters for latency: random weights of the candidate's shape
  // time the same as the pruned weights and need no calibration.
  const ArchConfig config = candidate_to_config(backbone->config, arch);
  const Model model = make_synthetic_model(config, /*seed=*/1);
  const latency::LatencyMeasurement m = latency::measure_latency(model, options);
  const json full_arch = arch_config_to_json(config);
  auto relative = [](const latency::SampleStats& s) { return s.median > 0 ? s.mad / s.median : 0.0; };
  return {{"prefill_ms", m.ttft_ms.median},
          {"decode_ms_per_token", m.decode_ms_per_token.median},
          {"device_kind", device_kind},
          {"prompt_len", options.prompt_len},
          {"decode_tokens", options.decode_tokens},
          {"prefill_spread", relative(m.ttft_ms)},  // MAD / median
          {"decode_spread", relative(m.decode_ms_per_token)},
          {"samples", latency::latency_measurement_to_json(m)},
          {"environment", latency::latency_environment_to_json(m.environment)},
          {"arch", full_arch},
          {"arch_hash", sha256_hex(full_arch.dump())}};
}

}  // namespace

void register_engine_handlers(HandlerRegistry& registry, const EngineHandlerOptions& options) {
  const std::string cache_dir = options.calibration_cache_dir.empty()
                                    ? (std::filesystem::path(options.storage_dir) / "cache" / "calibration").string()
                                    : options.calibration_cache_dir;
  std::filesystem::create_directories(cache_dir);
  auto cache = std::make_shared<EngineCache>(options.storage_dir, cache_dir);
  const int threads = options.threads;
  registry.add("evaluate", [cache, threads](TaskContext& ctx) { return run_evaluate(ctx, *cache, threads); });
  registry.add("latency", [cache](TaskContext& ctx) { return run_latency(ctx, *cache); });
}

}  // namespace flashnas::worker
