// Jobs for the db tests that need no uploaded files: a small backbone config and
// sweeps over candidates of it, bound as the API binds them, and typed results
// as the engine's handlers report them.
#pragma once

#include <string>
#include <vector>

#include "app/job_binding.hpp"
#include "app/task_contract.hpp"
#include "engine/util/sha256.hpp"
#include "tests/model/model_fixtures.hpp"

namespace flashnas::test {

// stories260K's heads and vocabulary with 12 layers of FFN 128.
inline ArchConfig small_backbone() {
  ArchConfig c = stories260k_config();
  c.layers.assign(12, LayerConfig{LayerKind::full, 0, 128});
  return c;
}

// `layers` full-attention layers of the small backbone's widths.
inline CandidateArch candidate(int layers) {
  CandidateArch a;
  a.n_layers = layers;
  a.d_model = 64;
  a.d_ffn.assign(static_cast<size_t>(layers), 128);
  a.layer_types.assign(static_cast<size_t>(layers), LayerKind::full);
  return a;
}

// A sweep of candidate(n) for each n (repeats kept: the job service merges them),
// naming model 1 and datasets 2 and 3 (not checked: the job is not bound to files).
inline app::BoundJob sweep_job(const std::vector<int>& layer_counts, const std::string& name = "sweep") {
  app::SweepSpec spec;
  spec.evaluation.backbone = 1;
  spec.evaluation.calibration = 2;
  spec.evaluation.eval = 3;
  spec.latency.options.prompt_len = 32;
  app::BoundJob job;
  job.backbone = small_backbone();
  job.shape = latency::shape_of(job.backbone);
  for (int n : layer_counts) {
    spec.candidates.push_back(candidate(n));
    job.candidates.push_back(bind_arch(candidate(n), job.backbone));
  }
  job.request = {name, spec};
  return job;
}

inline app::EvaluateResult eval_result(double nll = 2.5) {
  return app::EvaluateResult{nll, 4096, 1000, 800, 2000.0, 64, 0.1, nll, std::nullopt};
}

inline app::LatencyResult latency_result(double prefill_ms = 3.0, double decode_ms = 0.5) {
  app::LatencyResult r;
  r.device_kind = "local-cpu";
  r.prompt_len = 32;
  r.decode_tokens = 16;
  r.prefill_ms = prefill_ms;
  r.decode_ms_per_token = decode_ms;
  r.arch = {{"d_model", 64}};
  r.arch_hash = sha256_hex(r.arch.dump());
  r.environment = {{"threads", 1}};
  return r;
}

}  // namespace flashnas::test
