// `flashnas bench-latency`: measures one architecture on this machine (time to
// first token and decode ms/token, with warm-up, repeats and the environment).
// A thin wrapper over measure_latency (engine/latency/measure_latency.hpp); the
// model has random weights of the architecture's shape, which times like the
// real pruned model.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "common/flags.hpp"
#include "cli/latency_flags.hpp"
#include "engine/latency/json_file.hpp"
#include "engine/latency/measure_latency.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/model/bound_arch.hpp"
#include "engine/model/candidate_arch.hpp"
#include "engine/model/model_io.hpp"
#include "engine/runtime/synthetic_model.hpp"
#include "engine/util/error.hpp"

namespace flashnas::cli {

namespace {

std::vector<FlagSpec> bench_latency_flags() {
  std::vector<FlagSpec> spec = {
      {"arch", true, "ARCH.json: {n_layers, d_model, d_ffn, layer_types, sliding_window}"},
      {"model", true, "backbone (.gguf or HF directory) giving heads, head size and vocabulary (pruned shape)"},
      {"shape", true, "SHAPE.json: {n_heads, n_kv_heads, head_dim, vocab_size} instead of --model"},
  };
  for (FlagSpec& f : latency_measurement_flags()) spec.push_back(std::move(f));
  spec.insert(spec.end(), {
      {"seed", true, "seed of the random weights (default 1234)"},
      {"json", false, "print the measurement as JSON"},
      {"help", false, "show this help"},
  });
  return spec;
}

}  // namespace

int run_bench_latency(const Args& args) {
  const std::vector<FlagSpec> spec = bench_latency_flags();
  const Flags flags(args, spec);
  if (print_help_if_asked(flags, spec, "flashnas bench-latency --arch ARCH.json (--model M | --shape SHAPE.json) [flags]")) return 0;
  if (flags.has("model") == flags.has("shape")) {
    throw InvalidInput("give exactly one of --model and --shape", "--shape");
  }
  const latency::LatencyOptions options = latency_options_from_flags(flags);
  const CandidateArch arch =
      candidate_arch_from_json(latency::read_json_file(flags.require("arch"), "--arch"), "--arch");
  ArchConfig config;
  if (flags.has("model")) {
    const ArchConfig backbone = load_model(flags.require("model")).config;
    config = bind_arch(arch, backbone, "--arch").config();
  } else {
    const latency::ModelShape shape = latency::model_shape_from_json(
        latency::read_json_file(flags.require("shape"), "--shape"), "--shape");
    config = latency::shape_to_config(shape, arch);
  }
  const uint64_t seed = static_cast<uint64_t>(flags.integer("seed", 1234, 0, INT64_MAX));
  const Model model = make_synthetic_model(config, seed);
  const latency::LatencyMeasurement m = latency::measure_latency(model, options);

  if (flags.has("json")) {
    nlohmann::json out = latency::latency_measurement_to_json(m);
    out["arch"] = candidate_arch_to_json(arch);
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("params            %lld\n", static_cast<long long>(m.params));
    std::printf("ttft              %.3f ms (MAD %.3f, CV %.3f)\n", m.ttft_ms.median, m.ttft_ms.mad,
                m.ttft_ms.cv);
    std::printf("decode            %.3f ms/token (MAD %.3f, CV %.3f)\n", m.decode_ms_per_token.median,
                m.decode_ms_per_token.mad, m.decode_ms_per_token.cv);
    std::printf("runs              %lld in %lld round(s)%s\n",
                static_cast<long long>(m.ttft_ms.samples.size()), static_cast<long long>(m.rounds),
                m.noisy ? ", NOISY" : "");
    std::printf("environment       %s, %d thread(s)%s, %s build, rev %s\n",
                m.environment.cpu_model.c_str(), m.environment.threads,
                m.environment.pinned ? " pinned" : "", m.environment.build_type.c_str(),
                m.environment.git_revision.c_str());
  }
  return 0;
}

}  // namespace flashnas::cli
