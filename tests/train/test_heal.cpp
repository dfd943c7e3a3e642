// The optimiser side and the healing loop on tiny synthetic models: AdamW's
// update and schedule, clipping's norm, determinism, accumulation, the memory
// plan and its limit, distillation from oneself, the teacher cache, options JSON.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <optional>

#include "engine/model/tensor_names.hpp"
#include "engine/runtime/synthetic_model.hpp"
#include "engine/runtime/thread_pool.hpp"
#include "engine/train/adamw.hpp"
#include "engine/train/heal.hpp"
#include "engine/util/error.hpp"

namespace flashnas {
namespace {

ArchConfig tiny_config() {
  ArchConfig c;
  c.d_model = 24;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 6;
  c.vocab_size = 19;
  c.tied_embeddings = true;
  c.layers = {{LayerKind::full, 0, 40}, {LayerKind::swa, 4, 20}, {LayerKind::skip, 0, 30}};
  return c;
}

// A learnable stream: a fixed random sequence of period 7 repeated.
std::vector<int32_t> periodic_tokens(int64_t n, int64_t vocab) {
  const int32_t period[] = {3, 11, 5, 5, 17, 0, 8};
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) t[static_cast<size_t>(i)] = period[i % 7] % static_cast<int32_t>(vocab);
  return t;
}

HealOptions small_options() {
  HealOptions o;
  o.steps = 30;
  o.batch = 4;
  o.ctx = 16;
  o.lr = 1e-2;
  o.warmup_steps = 3;
  return o;
}

bool same_weights(const ModelWeights& a, const ModelWeights& b) {
  return a.n_floats == b.n_floats &&
         std::memcmp(a.storage.get(), b.storage.get(), static_cast<size_t>(a.n_floats) * sizeof(float)) == 0;
}

TEST(AdamW, OneStepMatchesTheFormula) {
  ArchConfig c = tiny_config();
  Model m = make_synthetic_model(c, 1);
  ModelWeights before = clone_weights(c, m.weights);
  ModelWeights g = allocate_weights(c);
  for (int64_t i = 0; i < g.n_floats; ++i) g.storage[static_cast<size_t>(i)] = 0.01f * static_cast<float>(i % 13 - 6);
  AdamW opt(c, {0.9, 0.95, 1e-8, 0.1});
  opt.step(m.weights, g, 1e-3, 0.5f, nullptr);
  // Step 1: m = 0.1 g', v = 0.05 g'^2, bias-corrected m/(1-0.9) = g', v/(1-0.95) = g'^2:
  // the update is lr (sign(g') + wd w) for matrices, lr sign(g') for norms.
  for (const TensorView& view : list_tensors(c, m.weights)) {
    const int64_t off = view.data - m.weights.storage.get();
    const double wd = view.rows > 1 ? 0.1 : 0.0;
    for (int64_t i = 0; i < view.numel(); ++i) {
      const double gi = 0.5 * g.storage[static_cast<size_t>(off + i)];
      const double w0 = before.storage[static_cast<size_t>(off + i)];
      const double want = w0 - 1e-3 * ((gi == 0 ? 0.0 : gi / (std::abs(gi) + 1e-8)) + wd * w0);
      ASSERT_NEAR(view.data[i], want, 1e-6) << tensor_id_name(view.id) << " " << i;
    }
  }
  EXPECT_EQ(opt.steps(), 1);
  EXPECT_EQ(opt.bytes(), AdamW::bytes_for(c));
}

TEST(AdamW, ScheduleWarmsUpThenFollowsTheCosine) {
  const LrSchedule s{1.0, 4, 14, 0.1};
  EXPECT_DOUBLE_EQ(s.at(0), 0.25);
  EXPECT_DOUBLE_EQ(s.at(3), 1.0);
  EXPECT_DOUBLE_EQ(s.at(4), 1.0);
  EXPECT_NEAR(s.at(8), 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 4 / 9)), 1e-12);
  EXPECT_DOUBLE_EQ(s.at(13), 0.1);
  for (int64_t i = 5; i < 14; ++i) EXPECT_LT(s.at(i), s.at(i - 1));
}

TEST(AdamW, GradientNormIsTheSameAtAnyThreadCount) {
  ArchConfig c = tiny_config();
  c.layers.assign(12, LayerConfig{LayerKind::full, 0, 300});  // > one chunk of the norm
  Model m = make_synthetic_model(c, 3);
  double want = 0.0;
  for (int64_t i = 0; i < m.weights.n_floats; ++i) want += std::pow(static_cast<double>(m.weights.storage[static_cast<size_t>(i)]), 2);
  ThreadPool pool({2, false});
  const double one = gradient_norm(m.weights, nullptr), two = gradient_norm(m.weights, &pool);
  EXPECT_EQ(one, two);
  EXPECT_NEAR(one, std::sqrt(want), 1e-9 * std::sqrt(want));
}

TEST(Heal, LossFallsOnALearnableStream) {
  const ArchConfig c = tiny_config();
  Model teacher = make_synthetic_model(c, 5);
  Model student = make_synthetic_model(c, 6);
  const HealResult r = heal_model(teacher, student, periodic_tokens(600, c.vocab_size), small_options());
  ASSERT_EQ(r.history.size(), 30u);
  EXPECT_LT(r.history.back().loss, 0.3 * r.history.front().loss);
  EXPECT_EQ(r.tokens, 30 * 64);
  EXPECT_EQ(r.windows, 599 / 16);
  EXPECT_GT(r.tokens_per_second, 0.0);
  EXPECT_FALSE(r.memory.teacher_cached);  // no distillation: no teacher
  EXPECT_EQ(r.memory.teacher, 0);
}

TEST(Heal, DeterministicForASeedAndAnyThreadCount) {
  const ArchConfig c = tiny_config();
  Model teacher = make_synthetic_model(c, 5);
  const auto tokens = periodic_tokens(600, c.vocab_size);
  HealOptions o = small_options();
  o.steps = 6;
  o.distill = 0.5;
  std::vector<Model> runs;
  for (int threads : {1, 1, 2}) {
    Model s = make_synthetic_model(c, 6);
    RuntimeContext ctx({threads, false});
    heal_model(teacher, s, tokens, o, &ctx);
    runs.push_back(std::move(s));
  }
  EXPECT_TRUE(same_weights(runs[0].weights, runs[1].weights));
  EXPECT_TRUE(same_weights(runs[0].weights, runs[2].weights));
  Model other = make_synthetic_model(c, 6);
  o.seed = 1;
  heal_model(teacher, other, tokens, o);
  EXPECT_FALSE(same_weights(runs[0].weights, other.weights));
}

TEST(Heal, AccumulationEqualsTheWholeBatch) {
  const ArchConfig c = tiny_config();
  Model teacher = make_synthetic_model(c, 5);
  const auto tokens = periodic_tokens(600, c.vocab_size);
  HealOptions o = small_options();
  o.steps = 2;
  Model whole = make_synthetic_model(c, 6), split = make_synthetic_model(c, 6);
  const HealResult a = heal_model(teacher, whole, tokens, o);
  o.accumulation = 4;
  const HealResult b = heal_model(teacher, split, tokens, o);
  EXPECT_NEAR(a.history[0].loss, b.history[0].loss, 1e-6);
  EXPECT_NEAR(a.history[0].grad_norm, b.history[0].grad_norm, 1e-5 * a.history[0].grad_norm);
  for (int64_t i = 0; i < whole.weights.n_floats; ++i) {
    ASSERT_NEAR(whole.weights.storage[static_cast<size_t>(i)], split.weights.storage[static_cast<size_t>(i)], 1e-5);
  }
  EXPECT_LT(b.memory.activations, a.memory.activations);
}

TEST(Heal, DistillingFromItselfCostsNothing) {
  const ArchConfig c = tiny_config();
  Model teacher = make_synthetic_model(c, 5);
  Model student = make_synthetic_model(c, 5);
  HealOptions o = small_options();
  o.steps = 1;
  o.distill = 1.0;
  o.temperature = 2.0;
  const HealResult r = heal_model(teacher, student, periodic_tokens(600, c.vocab_size), o);
  EXPECT_NEAR(r.history[0].kd, 0.0, 1e-6);
  EXPECT_LT(r.history[0].grad_norm, 1e-4);
  EXPECT_TRUE(r.memory.teacher_cached);
}

TEST(Heal, CachedTeacherLogitsEqualOnDemandOnes) {
  const ArchConfig c = tiny_config();
  Model teacher = make_synthetic_model(c, 5);
  const TokenWindows windows(periodic_tokens(200, c.vocab_size), 16);
  RuntimeContext ctx;
  TeacherLogits cached(teacher, windows, true, ctx), live(teacher, windows, false, ctx);
  EXPECT_TRUE(cached.cached());
  EXPECT_FALSE(live.cached());
  EXPECT_EQ(cached.bytes(), TeacherLogits::cache_bytes(c, windows.count(), 16));
  for (int64_t i : {0, 5, 11}) {
    const float* a = cached.logits(i);
    const float* b = live.logits(i);
    ASSERT_EQ(std::memcmp(a, b, 16 * c.vocab_size * sizeof(float)), 0) << i;
  }
}

TEST(Heal, MemoryOverTheLimitIsRefusedWithTheBreakdown) {
  const ArchConfig c = tiny_config();
  HealOptions o = small_options();
  o.distill = 1.0;
  const HealMemory full = plan_heal_memory(c, c, 1000, o);
  EXPECT_TRUE(full.teacher_cached);
  EXPECT_EQ(full.teacher, TeacherLogits::cache_bytes(c, 1000, o.ctx));
  // A limit the cache does not fit under: computed on demand instead.
  o.memory_limit_bytes = full.total() - 1;
  const HealMemory lean = plan_heal_memory(c, c, 1000, o);
  EXPECT_FALSE(lean.teacher_cached);
  EXPECT_LT(lean.total(), full.total());
  // Not even that: refused, naming the field and every part.
  o.memory_limit_bytes = lean.total() - 1;
  try {
    plan_heal_memory(c, c, 1000, o);
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "memory_limit_bytes");
    EXPECT_NE(std::string(e.what()).find("activations"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("optimizer"), std::string::npos) << e.what();
  }
  Model teacher = make_synthetic_model(c, 5), student = make_synthetic_model(c, 6);
  EXPECT_THROW(heal_model(teacher, student, periodic_tokens(600, c.vocab_size), o), InvalidInput);
}

// Without warmup_steps the warm-up is steps / 20 (at least 1), the heal study's
// schedule: heal_model trains exactly as with that number given, and the JSON
// form leaves it out, so a stored spec keeps following its steps.
TEST(HealOptions, AnUnsetWarmUpIsATwentiethOfTheSteps) {
  auto warmup = [](int64_t steps, std::optional<int64_t> given) {
    HealOptions o;
    o.steps = steps;
    o.warmup_steps = given;
    return o.warmup();
  };
  EXPECT_EQ(warmup(20, std::nullopt), 1);
  EXPECT_EQ(warmup(10, std::nullopt), 1);
  EXPECT_EQ(warmup(1, std::nullopt), 1);
  EXPECT_EQ(warmup(400, std::nullopt), 20);
  EXPECT_EQ(warmup(100, 50), 50);
  EXPECT_EQ(warmup(100, 0), 0);
  EXPECT_EQ(warmup(100, 500), 100) << "capped at the steps";

  const ArchConfig c = tiny_config();
  Model teacher = make_synthetic_model(c, 5);
  const auto tokens = periodic_tokens(600, c.vocab_size);
  auto healed = [&](std::optional<int64_t> given) {
    HealOptions o = small_options();
    o.steps = 40;
    o.warmup_steps = given;
    Model s = make_synthetic_model(c, 6);
    heal_model(teacher, s, tokens, o);
    return s;
  };
  const Model unset = healed(std::nullopt);
  EXPECT_TRUE(same_weights(unset.weights, healed(2).weights));
  EXPECT_FALSE(same_weights(unset.weights, healed(10).weights));

  HealOptions o;
  EXPECT_FALSE(heal_options_to_json(o).contains("warmup_steps"));
  EXPECT_FALSE(heal_options_from_json(heal_options_to_json(o)).warmup_steps.has_value());
  o.warmup_steps = 0;
  EXPECT_EQ(heal_options_from_json(heal_options_to_json(o)).warmup_steps, 0);
}

TEST(HealOptions, JsonRoundTripsAndCollectsEveryError) {
  HealOptions o;
  o.steps = 400;
  o.batch = 16;
  o.accumulation = 2;
  o.distill = 0.75;
  o.seed = 9;
  o.cache_teacher_logits = false;
  const HealOptions back = heal_options_from_json(heal_options_to_json(o));
  EXPECT_EQ(heal_options_to_json(back), heal_options_to_json(o));

  const HealOptions t = heal_options_from_json({{"tokens_per_step", 2048}, {"ctx", 128}});
  EXPECT_EQ(t.batch, 16);
  EXPECT_EQ(t.tokens_per_step(), 2048);

  try {
    heal_options_from_json({{"steps", 0}, {"lr", "fast"}, {"distill", 2.0}, {"colour", 1},
                            {"batch", 6}, {"accumulation", 4}},
                           "heal");
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    std::vector<std::string> fields;
    for (const FieldError& f : e.errors()) fields.push_back(f.field);
    for (const char* want : {"heal.steps", "heal.lr", "heal.distill", "heal.colour", "heal.accumulation"}) {
      EXPECT_NE(std::find(fields.begin(), fields.end(), want), fields.end()) << want << ": " << e.what();
    }
  }
  EXPECT_THROW(heal_options_from_json({{"tokens_per_step", 100}, {"ctx", 64}}), InvalidInput);
}

}  // namespace
}  // namespace flashnas
