// measure_latency on tiny random-weight models: sane, positive, ordered figures.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>

#include "engine/latency/measure_latency.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/runtime/synthetic_model.hpp"
#include "engine/util/error.hpp"

using namespace flashnas;
using namespace flashnas::latency;

namespace {

Model model_of(int64_t n_layers, int64_t d_model, int64_t d_ffn) {
  const ModelShape shape{4, 2, 16, 512, false};
  CandidateArch arch;
  arch.n_layers = n_layers;
  arch.d_model = d_model;
  arch.d_ffn.assign(static_cast<size_t>(n_layers), d_ffn);
  arch.layer_types.assign(static_cast<size_t>(n_layers), LayerKind::full);
  return make_synthetic_model(shape_to_config(shape, arch), 1234);
}

LatencyOptions quick_options() {
  LatencyOptions o;
  o.prompt_len = 32;
  o.decode_tokens = 4;
  o.repeats = 3;
  o.warmup = 1;
  o.cv_threshold = 10.0;  // never re-measure here; the gate has its own test
  return o;
}

void expect_sane(const SampleStats& s, int64_t n) {
  EXPECT_EQ(static_cast<int64_t>(s.samples.size()), n);
  for (double x : s.samples) EXPECT_GT(x, 0.0);
  EXPECT_GE(s.median, s.min);
  EXPECT_LE(s.median, s.max);
  EXPECT_GE(s.mad, 0.0);
  EXPECT_GE(s.cv, 0.0);
}

}  // namespace

TEST(MeasureLatency, TinyModelGivesSaneFiguresAndEnvironment) {
  const Model model = model_of(2, 32, 64);
  const LatencyMeasurement m = measure_latency(model, quick_options());
  EXPECT_EQ(m.rounds, 1);
  EXPECT_FALSE(m.noisy);
  expect_sane(m.ttft_ms, 3);
  expect_sane(m.decode_ms_per_token, 3);
  EXPECT_EQ(m.params, count_parameters(model.config));
  EXPECT_FALSE(m.environment.cpu_model.empty());
  EXPECT_EQ(m.environment.threads, 1);
  EXPECT_EQ(m.environment.weights, "f32");
  EXPECT_FALSE(m.environment.build_type.empty());
  EXPECT_FALSE(m.environment.git_revision.empty());
  const nlohmann::json j = latency_measurement_to_json(m);
  EXPECT_EQ(j.at("ttft_ms").at("samples").size(), 3u);
  EXPECT_EQ(j.at("options").at("prompt_len"), 32);
}

TEST(MeasureLatency, Q8_0WeightsRunAndAreRecorded) {
  const Model model = model_of(2, 64, 128);
  LatencyOptions o = quick_options();
  o.weights = WeightFormat::q8_0;
  const LatencyMeasurement m = measure_latency(model, o);
  expect_sane(m.ttft_ms, 3);
  expect_sane(m.decode_ms_per_token, 3);
  EXPECT_EQ(m.environment.weights, "q8_0");
  EXPECT_EQ(latency_measurement_to_json(m).at("options").at("weights"), "q8_0");
}

TEST(MeasureLatency, MuchLargerModelIsNotFaster) {
  const Model small = model_of(1, 32, 64);
  const Model large = model_of(4, 256, 1024);  // about 300x the layer FLOPs
  const LatencyOptions o = quick_options();
  const LatencyMeasurement s = measure_latency(small, o);
  const LatencyMeasurement l = measure_latency(large, o);
  EXPECT_GT(l.ttft_ms.median, s.ttft_ms.median);
  EXPECT_GT(l.decode_ms_per_token.median, s.decode_ms_per_token.median);
}

TEST(MeasureLatency, ThreadCpuClockGivesSaneOrderedFigures) {
  LatencyOptions o = quick_options();
  o.clock = LatencyClock::thread_cpu;
  const LatencyMeasurement s = measure_latency(model_of(1, 32, 64), o);
  const LatencyMeasurement l = measure_latency(model_of(4, 256, 1024), o);
  expect_sane(s.ttft_ms, 3);
  expect_sane(l.decode_ms_per_token, 3);
  EXPECT_GT(l.ttft_ms.median, s.ttft_ms.median);
  EXPECT_GT(l.decode_ms_per_token.median, s.decode_ms_per_token.median);
}

TEST(MeasureLatency, NoiseGateAddsRoundsAndFlags) {
  const Model model = model_of(1, 32, 64);
  LatencyOptions o = quick_options();
  o.repeats = 2;
  o.cv_threshold = 1e-12;  // timing jitter always exceeds this
  o.max_extra_rounds = 2;
  const LatencyMeasurement m = measure_latency(model, o);
  EXPECT_EQ(m.rounds, 3);
  EXPECT_TRUE(m.noisy);
  EXPECT_EQ(m.ttft_ms.samples.size(), 6u);
}

TEST(MeasureLatency, InterleavedGivesOneOrderedMeasurementPerModel) {
  const Model small = model_of(1, 32, 64);
  const Model large = model_of(4, 256, 1024);
  const Model* models[] = {&large, &small, &large};
  const std::vector<LatencyMeasurement> m = measure_latency_interleaved(models, quick_options());
  ASSERT_EQ(m.size(), 3u);
  for (const LatencyMeasurement& x : m) {
    expect_sane(x.ttft_ms, 3);
    expect_sane(x.decode_ms_per_token, 3);
    EXPECT_EQ(x.rounds, 1);
    EXPECT_EQ(x.interleaved_with, 2);
  }
  EXPECT_EQ(m[0].params, count_parameters(large.config));
  EXPECT_EQ(m[1].params, count_parameters(small.config));
  EXPECT_GT(m[0].ttft_ms.median, m[1].ttft_ms.median);
  EXPECT_GT(m[2].decode_ms_per_token.median, m[1].decode_ms_per_token.median);
  EXPECT_EQ(latency_measurement_to_json(m[1]).at("interleaved_with"), 2);
}

TEST(MeasureLatency, InterleavedNoiseGateRemeasuresOnlyTheNoisyModels) {
  const Model a = model_of(1, 32, 64);
  const Model b = model_of(2, 64, 128);
  const Model* models[] = {&a, &b};
  LatencyOptions o = quick_options();
  o.repeats = 2;
  o.max_extra_rounds = 3;
  o.cv_threshold = 1e-12;  // every model stays noisy: all take every extra round
  for (const LatencyMeasurement& m : measure_latency_interleaved(models, o)) {
    EXPECT_EQ(m.rounds, 4);
    EXPECT_TRUE(m.noisy);
    EXPECT_EQ(m.decode_ms_per_token.samples.size(), 8u);
  }
  o.cv_threshold = 10.0;  // none is noisy: one round each
  for (const LatencyMeasurement& m : measure_latency_interleaved(models, o)) {
    EXPECT_EQ(m.rounds, 1);
    EXPECT_FALSE(m.noisy);
    EXPECT_EQ(m.ttft_ms.samples.size(), 2u);
  }
}

TEST(MeasureLatency, InvalidOptionsNameTheField) {
  const Model model = model_of(1, 32, 64);
  LatencyOptions o = quick_options();
  o.repeats = 0;
  try {
    measure_latency(model, o);
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "repeats");
  }
}
