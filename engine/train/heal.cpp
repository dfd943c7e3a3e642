// The healing loop, its options and its memory plan (see heal.hpp). One step:
//   zero the gradients; for each of `accumulation` micro-batches draw
//   batch/accumulation windows and run forward, loss and backward (the
//   gradients add up, scaled to the mean over the step's tokens); clip by the
//   global norm; one AdamW update at the schedule's learning rate.
#include "engine/train/heal.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>

#include "engine/train/adamw.hpp"
#include "engine/train/train_model.hpp"
#include "engine/util/error.hpp"
#include "engine/util/json_reader.hpp"

namespace flashnas {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

constexpr int64_t kMaxSteps = int64_t{1} << 24;
constexpr int64_t kMaxBatch = int64_t{1} << 16;
constexpr int64_t kMaxCtx = int64_t{1} << 16;

double mib(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

// An uncached teacher holds one window's logits and an InferenceSession of
// max_batch = ctx: its scratch rows and the KV caches (twice over for the
// head-size-8 copies in lanes, counted for every layer as an upper bound).
int64_t uncached_teacher_bytes(const ArchConfig& t, int64_t ctx) {
  int64_t ff = 0;
  for (const LayerConfig& lc : t.layers) ff = std::max(ff, lc.d_ffn);
  const int64_t rows = ctx * (3 * t.d_model + 2 * t.q_dim() + 2 * t.kv_dim() + 2 * ff);
  const int64_t caches = t.n_layers() * 4 * ctx * t.kv_dim();
  return (ctx * t.vocab_size + rows + caches) * static_cast<int64_t>(sizeof(float));
}

void check_memory(const HealMemory& m, const HealOptions& o) {
  if (m.total() <= o.memory_limit_bytes) return;
  throw InvalidInput(
      fmt::format("healing needs {:.1f} MiB (weights {:.1f}, activations {:.1f}, gradients {:.1f}, "
                  "optimizer {:.1f}, teacher {:.1f}), over the limit of {:.1f} MiB: lower batch or "
                  "ctx, raise accumulation, or raise the limit",
                  mib(m.total()), mib(m.weights), mib(m.activations), mib(m.gradients),
                  mib(m.optimizer), mib(m.teacher), mib(o.memory_limit_bytes)),
      "memory_limit_bytes");
}

HealMemory student_memory(const ArchConfig& student, const HealOptions& o) {
  HealMemory m;
  const int64_t block = count_weight_floats(student) * static_cast<int64_t>(sizeof(float));
  m.weights = block;
  m.gradients = block;
  m.optimizer = AdamW::bytes_for(student);
  m.activations = train_run_bytes(student, {o.batch / o.accumulation, o.ctx});
  return m;
}

}  // namespace

void HealOptions::validate() const {
  FieldErrors errors;
  auto range = [&](const char* field, double value, double min, double max) {
    if (!(value >= min && value <= max)) {
      errors.add(field, fmt::format("must be in [{}, {}], got {}", min, max, value));
    }
  };
  range("steps", static_cast<double>(steps), 1, static_cast<double>(kMaxSteps));
  range("batch", static_cast<double>(batch), 1, static_cast<double>(kMaxBatch));
  range("ctx", static_cast<double>(ctx), 1, static_cast<double>(kMaxCtx));
  range("accumulation", static_cast<double>(accumulation), 1, static_cast<double>(kMaxBatch));
  if (accumulation >= 1 && batch >= 1 && batch % accumulation != 0) {
    errors.add("accumulation", fmt::format("must divide batch ({}), got {}", batch, accumulation));
  }
  if (!(lr > 0.0 && lr <= 10.0)) errors.add("lr", fmt::format("must be in (0, 10], got {}", lr));
  range("min_lr_ratio", min_lr_ratio, 0.0, 1.0);
  if (warmup_steps) range("warmup_steps", static_cast<double>(*warmup_steps), 0, static_cast<double>(kMaxSteps));
  range("weight_decay", weight_decay, 0.0, 10.0);
  if (!(beta1 >= 0.0 && beta1 < 1.0)) errors.add("beta1", fmt::format("must be in [0, 1), got {}", beta1));
  if (!(beta2 >= 0.0 && beta2 < 1.0)) errors.add("beta2", fmt::format("must be in [0, 1), got {}", beta2));
  range("grad_clip", grad_clip, 0.0, 1e6);
  range("distill", distill, 0.0, 1.0);
  if (!(temperature > 0.0 && temperature <= 100.0)) {
    errors.add("temperature", fmt::format("must be in (0, 100], got {}", temperature));
  }
  if (memory_limit_bytes < 1) errors.add("memory_limit_bytes", "must be positive");
  errors.throw_if_any();
}

HealOptions read_heal_options(JsonObjectReader& r) {
  HealOptions o;
  FieldErrors& errors = r.errors();
  o.steps = r.integer("steps", false, 1, kMaxSteps).value_or(o.steps);
  o.ctx = r.integer("ctx", false, 1, kMaxCtx).value_or(o.ctx);
  const auto batch = r.integer("batch", false, 1, kMaxBatch);
  const auto tokens = r.integer("tokens_per_step", false, 1, kMaxBatch * kMaxCtx);
  if (batch && tokens) {
    errors.add(r.field_name("tokens_per_step"), "give batch or tokens_per_step, not both");
  } else if (batch) {
    o.batch = *batch;
  } else if (tokens) {
    if (*tokens % o.ctx != 0) {
      errors.add(r.field_name("tokens_per_step"),
                 fmt::format("must be a multiple of ctx ({}), got {}", o.ctx, *tokens));
    } else {
      o.batch = *tokens / o.ctx;
    }
  }
  o.accumulation = r.integer("accumulation", false, 1, kMaxBatch).value_or(o.accumulation);
  o.lr = r.number("lr", false, 1e-12, 10.0).value_or(o.lr);
  o.min_lr_ratio = r.number("min_lr_ratio", false, 0.0, 1.0).value_or(o.min_lr_ratio);
  o.warmup_steps = r.integer("warmup_steps", false, 0, kMaxSteps);
  o.weight_decay = r.number("weight_decay", false, 0.0, 10.0).value_or(o.weight_decay);
  o.beta1 = r.number("beta1", false, 0.0, 0.999999).value_or(o.beta1);
  o.beta2 = r.number("beta2", false, 0.0, 0.999999).value_or(o.beta2);
  o.grad_clip = r.number("grad_clip", false, 0.0, 1e6).value_or(o.grad_clip);
  o.distill = r.number("distill", false, 0.0, 1.0).value_or(o.distill);
  o.temperature = r.number("temperature", false, 1e-3, 100.0).value_or(o.temperature);
  o.seed = static_cast<uint64_t>(r.integer("seed", false, 0, INT64_MAX).value_or(0));
  o.memory_limit_bytes =
      r.integer("memory_limit_bytes", false, 1, INT64_MAX).value_or(o.memory_limit_bytes);
  o.cache_teacher_logits = r.boolean("cache_teacher_logits", false).value_or(o.cache_teacher_logits);
  if (o.batch % o.accumulation != 0) {
    errors.add(r.field_name("accumulation"),
               fmt::format("must divide batch ({}), got {}", o.batch, o.accumulation));
  }
  return o;
}

HealOptions heal_options_from_json(const nlohmann::json& j, const std::string& prefix) {
  return read_object(j, prefix, "options", read_heal_options);
}

nlohmann::json heal_options_to_json(const HealOptions& o) {
  nlohmann::json j = {{"steps", o.steps},
                      {"batch", o.batch},
                      {"ctx", o.ctx},
                      {"accumulation", o.accumulation},
                      {"lr", o.lr},
                      {"min_lr_ratio", o.min_lr_ratio},
                      {"weight_decay", o.weight_decay},
                      {"beta1", o.beta1},
                      {"beta2", o.beta2},
                      {"grad_clip", o.grad_clip},
                      {"distill", o.distill},
                      {"temperature", o.temperature},
                      {"seed", o.seed},
                      {"memory_limit_bytes", o.memory_limit_bytes},
                      {"cache_teacher_logits", o.cache_teacher_logits}};
  if (o.warmup_steps) j["warmup_steps"] = *o.warmup_steps;  // unset: the default for the steps
  return j;
}

nlohmann::json heal_memory_to_json(const HealMemory& m) {
  return {{"weights", m.weights},     {"activations", m.activations},
          {"gradients", m.gradients}, {"optimizer", m.optimizer},
          {"teacher", m.teacher},     {"teacher_cached", m.teacher_cached},
          {"total", m.total()}};
}

HealMemory plan_heal_memory(const ArchConfig& teacher, const ArchConfig& student,
                            int64_t windows, const HealOptions& options) {
  options.validate();
  HealMemory m = student_memory(student, options);
  if (options.distill > 0.0) {
    m.teacher = uncached_teacher_bytes(teacher, options.ctx);
    const int64_t cached = TeacherLogits::cache_bytes(teacher, windows, options.ctx);
    HealMemory with_cache = m;
    with_cache.teacher = cached;
    if (options.cache_teacher_logits && with_cache.total() <= options.memory_limit_bytes) {
      m = with_cache;
      m.teacher_cached = true;
    }
  }
  check_memory(m, options);
  return m;
}

nlohmann::json heal_result_to_json(const HealResult& r, bool with_history) {
  nlohmann::json j = {{"steps", static_cast<int64_t>(r.history.size())},
                      {"tokens", r.tokens},
                      {"windows", r.windows},
                      {"epochs", r.epochs},
                      {"seconds", r.seconds},
                      {"tokens_per_second", r.tokens_per_second},
                      {"setup_seconds", r.setup_seconds},
                      {"first_loss", r.history.empty() ? 0.0 : r.history.front().loss},
                      {"final_loss", r.history.empty() ? 0.0 : r.history.back().loss},
                      {"memory", heal_memory_to_json(r.memory)}};
  if (with_history) {
    nlohmann::json h = nlohmann::json::array();
    for (const HealStep& s : r.history) {
      h.push_back({{"step", s.step}, {"loss", s.loss}, {"ce", s.ce}, {"kd", s.kd},
                   {"grad_norm", s.grad_norm}, {"lr", s.lr}, {"seconds", s.seconds}});
    }
    j["history"] = std::move(h);
  }
  return j;
}

HealResult heal_model(TeacherLogits* teacher, Model& student, const TokenWindows& windows,
                      const HealOptions& o, RuntimeContext& context,
                      const HealProgress& progress) {
  o.validate();
  const Clock::time_point setup = Clock::now();
  const ArchConfig& c = student.config;
  if (windows.ctx() != o.ctx) {
    throw InvalidInput(fmt::format("the windows are {} tokens long, the options' ctx {}",
                                   windows.ctx(), o.ctx),
                       "ctx");
  }
  if (o.distill > 0.0) {
    if (!teacher) throw InvalidInput("distillation needs a teacher", "distill");
    if (teacher->vocab_size() != c.vocab_size) {
      throw InvalidInput(fmt::format("the teacher's vocabulary ({}) is not the student's ({})",
                                     teacher->vocab_size(), c.vocab_size),
                         "teacher");
    }
  }
  HealResult result;
  result.memory = student_memory(c, o);
  if (o.distill > 0.0) {
    result.memory.teacher = teacher->bytes();
    result.memory.teacher_cached = teacher->cached();
  }
  check_memory(result.memory, o);

  const int64_t micro = o.batch / o.accumulation, T = o.ctx;
  TrainRun run(c, {micro, T});
  ModelWeights grads = allocate_weights(c);
  AdamW optimizer(c, {o.beta1, o.beta2, 1e-8, o.weight_decay});
  const LrSchedule schedule{o.lr, o.warmup(), o.steps, o.min_lr_ratio};
  WindowSampler sampler(windows.count(), o.seed);
  const LossWeights loss{1.0 - o.distill, o.distill, o.temperature};
  std::vector<int32_t> tokens(static_cast<size_t>(micro * T)), targets(tokens.size());
  std::vector<int64_t> ids(static_cast<size_t>(micro));
  const TrainBatch batch{tokens.data(), targets.data(),
                         [&](int64_t b) { return teacher->logits(ids[static_cast<size_t>(b)]); }};
  const float grad_scale = static_cast<float>(1.0 / static_cast<double>(o.tokens_per_step()));
  ThreadPool* pool = &context.pool();
  result.setup_seconds = seconds_since(setup);

  const Clock::time_point start = Clock::now();
  for (int64_t step = 0; step < o.steps; ++step) {
    const Clock::time_point t0 = Clock::now();
    std::memset(grads.storage.get(), 0, static_cast<size_t>(grads.n_floats) * sizeof(float));
    LossSums sums;
    for (int64_t a = 0; a < o.accumulation; ++a) {
      for (int64_t b = 0; b < micro; ++b) {
        const int64_t w = sampler.next();
        ids[static_cast<size_t>(b)] = w;
        std::memcpy(tokens.data() + b * T, windows.inputs(w), static_cast<size_t>(T) * sizeof(int32_t));
        std::memcpy(targets.data() + b * T, windows.targets(w), static_cast<size_t>(T) * sizeof(int32_t));
      }
      sums += run.forward_backward(student.weights, grads, batch, loss, grad_scale, pool);
    }
    HealStep s;
    s.step = step;
    const double rows = static_cast<double>(sums.rows);
    s.loss = sums.total / rows;
    s.ce = sums.ce / rows;
    s.kd = sums.kd / rows;
    s.grad_norm = gradient_norm(grads, pool);
    if (!std::isfinite(s.grad_norm)) {
      throw Error(fmt::format("healing diverged at step {}: the gradient norm is {} (lower lr)",
                              step, s.grad_norm));
    }
    const float clip = o.grad_clip > 0.0 && s.grad_norm > o.grad_clip
                           ? static_cast<float>(o.grad_clip / s.grad_norm)
                           : 1.0f;
    s.lr = schedule.at(step);
    optimizer.step(student.weights, grads, s.lr, clip, pool);
    s.seconds = seconds_since(t0);
    result.history.push_back(s);
    if (progress) progress(s, o);
  }
  result.seconds = seconds_since(start);
  result.tokens = o.steps * o.tokens_per_step();
  result.windows = windows.count();
  result.epochs = static_cast<double>(result.tokens) / static_cast<double>(windows.count() * T);
  result.tokens_per_second = static_cast<double>(result.tokens) / std::max(result.seconds, 1e-9);
  return result;
}

HealResult heal_model(const Model& teacher, Model& student, const std::vector<int32_t>& train_tokens,
                      const HealOptions& options, RuntimeContext* context,
                      const HealProgress& progress) {
  options.validate();
  std::optional<RuntimeContext> own;
  if (!context) context = &own.emplace(RuntimeOptions{1, false});
  const Clock::time_point setup = Clock::now();
  const TokenWindows windows(train_tokens, options.ctx);
  const HealMemory plan = plan_heal_memory(teacher.config, student.config, windows.count(), options);
  std::optional<TeacherLogits> logits;
  if (options.distill > 0.0) logits.emplace(teacher, windows, plan.teacher_cached, *context);
  const double teacher_seconds = seconds_since(setup);
  HealResult result =
      heal_model(logits ? &*logits : nullptr, student, windows, options, *context, progress);
  result.setup_seconds += teacher_seconds;
  return result;
}

}  // namespace flashnas
