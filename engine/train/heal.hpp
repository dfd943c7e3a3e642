// heal_model: continued pretraining of a pruned model ("healing"), the library
// call behind `flashnas heal` and, later, the service's evaluate tasks with a
// heal budget. Cross-entropy on the training text, distillation from the
// backbone (its forward runs in the same process) or a mix; AdamW with
// warm-up + cosine, global gradient-norm clipping, gradient accumulation, F32
// master weights. The memory it will hold is reported before anything large is
// allocated and refused over a stated limit. For a given seed and thread count
// a run is deterministic (the kernels even give the same result at any thread
// count). Not pruning, not evaluation, not export.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/runtime/runtime_context.hpp"
#include "engine/train/train_data.hpp"
#include "engine/util/json_reader_fwd.hpp"

namespace flashnas {

struct HealOptions {
  int64_t steps = 100;          // optimiser steps
  int64_t batch = 8;            // sequences per step
  int64_t ctx = 256;            // tokens per sequence; tokens per step = batch * ctx
  int64_t accumulation = 1;     // micro-batches per step (batch / accumulation sequences each)
  double lr = 1e-3;             // peak learning rate
  double min_lr_ratio = 0.1;    // the cosine ends at min_lr_ratio * lr
  // Linear warm-up steps (capped at steps); unset: steps / 20, at least 1, the
  // heal study's schedule (a fixed default would be half of a 20-step heal).
  std::optional<int64_t> warmup_steps;
  double weight_decay = 0.0;    // AdamW's decoupled decay, on matrices only
  double beta1 = 0.9;
  double beta2 = 0.95;
  double grad_clip = 1.0;       // global L2 norm cap; 0 = no clipping
  double distill = 0.0;         // loss = (1 - distill) CE + distill KD
  double temperature = 1.0;     // of distillation
  uint64_t seed = 0;            // the order training windows are drawn in
  // Activations, gradients, optimiser state and teacher logits together must
  // stay under this; over it heal_model throws before allocating them.
  int64_t memory_limit_bytes = int64_t{4} << 30;
  // Keep the teacher's logits of every window (computed once) when they fit
  // under the limit; else compute them step by step.
  bool cache_teacher_logits = true;

  int64_t tokens_per_step() const { return batch * ctx; }
  int64_t warmup() const {
    return std::min(warmup_steps.value_or(std::max<int64_t>(1, steps / 20)), steps);
  }
  // Throws InvalidInput listing every bad field.
  void validate() const;
};

// Missing fields keep their defaults; unknown fields, wrong types and values
// out of range are all collected as {field, message} (under `prefix`) and
// thrown together as one InvalidInput. Also accepts "tokens_per_step" instead
// of "batch" (it must then be a multiple of ctx).
HealOptions heal_options_from_json(const nlohmann::json& j, const std::string& prefix = "");
// The same from `r`'s object, errors recorded in r.errors() (for a caller whose
// object holds more fields, e.g. a job's "heal"); the caller reports unknown
// fields with finish().
HealOptions read_heal_options(JsonObjectReader& r);
nlohmann::json heal_options_to_json(const HealOptions& options);

// What a heal holds while it runs, in bytes.
struct HealMemory {
  int64_t weights = 0;      // the student's F32 master weights (already held by the caller)
  int64_t activations = 0;  // TrainRun: saved activations, their gradients, kernel scratch
  int64_t gradients = 0;    // one weight-shaped block
  int64_t optimizer = 0;    // AdamW's two moments
  int64_t teacher = 0;      // cached logits, or one window's logits and the teacher's KV caches
  bool teacher_cached = false;
  int64_t total() const { return weights + activations + gradients + optimizer + teacher; }
};
nlohmann::json heal_memory_to_json(const HealMemory& memory);

// The memory of healing `student` on `windows` training windows, caching the
// teacher's logits if options allow and they fit. Throws InvalidInput (field
// "memory_limit_bytes") with the breakdown when even the uncached total is over.
HealMemory plan_heal_memory(const ArchConfig& teacher, const ArchConfig& student,
                            int64_t windows, const HealOptions& options);

struct HealStep {
  int64_t step = 0;        // 0-based
  double loss = 0.0;       // mean training loss of the step (the objective)
  double ce = 0.0;         // mean cross-entropy (0 when not computed)
  double kd = 0.0;         // mean distillation term (0 when not computed)
  double grad_norm = 0.0;  // before clipping
  double lr = 0.0;
  double seconds = 0.0;    // wall time of the step
};

struct HealResult {
  std::vector<HealStep> history;  // one entry per step
  int64_t tokens = 0;             // tokens trained on (steps * tokens_per_step)
  int64_t windows = 0;            // distinct training windows
  double epochs = 0.0;            // tokens / training tokens available
  double seconds = 0.0;           // wall time of the training loop
  double tokens_per_second = 0.0;
  double setup_seconds = 0.0;     // teacher logits cache and allocation
  HealMemory memory;
};
// {"steps", "tokens", "windows", "epochs", "seconds", "tokens_per_second",
//  "setup_seconds", "first_loss", "final_loss", "memory", "history": [...]}
nlohmann::json heal_result_to_json(const HealResult& result, bool with_history = true);

// Called after every step (progress bars, logs).
using HealProgress = std::function<void(const HealStep& step, const HealOptions& options)>;

// Heals `student` in place on `train_tokens` (cut into windows of ctx + 1
// tokens every ctx), distilling from `teacher` when options.distill > 0 (the
// teacher's vocabulary must be the student's). `context` null: a one-thread
// context is made.
HealResult heal_model(const Model& teacher, Model& student, const std::vector<int32_t>& train_tokens,
                      const HealOptions& options, RuntimeContext* context = nullptr,
                      const HealProgress& progress = {});

// The same on windows and teacher logits built once by the caller and shared
// by every candidate of a job (teacher may be null when options.distill == 0;
// its windows must be `windows`). The memory plan counts the teacher's bytes
// as they are.
HealResult heal_model(TeacherLogits* teacher, Model& student, const TokenWindows& windows,
                      const HealOptions& options, RuntimeContext& context,
                      const HealProgress& progress = {});

}  // namespace flashnas
