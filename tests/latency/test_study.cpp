// The study driver with a synthetic measurer: design, adaptive rounds, held-out
// interleaving, accuracy report.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "engine/latency/study.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/model/arch_cost.hpp"
#include "engine/util/error.hpp"
#include "tests/latency/latency_fixtures.hpp"

using namespace flashnas;
using namespace flashnas::latency;

namespace {


// Deterministic "device": analytic law with a small architecture-dependent wobble.
MeasuredLatency fake_measurement(const ArchConfig& c) {
  const double wobble = 1.0 + 0.01 * std::sin(static_cast<double>(c.d_model + 7 * c.n_layers()));
  MeasuredLatency m;
  m.ttft_ms = (prefill_flops(c, 32) / 2e7 + 0.02 * static_cast<double>(c.n_layers())) * wobble;
  m.decode_ms_per_token = weight_bytes_per_decode_token(c) / 5e6 * wobble;
  return m;
}

const LatencyMeasurer fake_device = per_architecture(fake_measurement);

LatencyStudyOptions quick_options() {
  LatencyStudyOptions o;
  o.samples = 30;
  o.holdout = 10;
  o.batch = 5;
  o.pool = 200;
  o.prompt_len = 32;
  o.seed = 3;
  o.model.gp.random_starts = 1;
  o.model.gp.max_iterations = 30;
  return o;
}

}  // namespace

TEST(LatencyStudy, RunsDesignAdaptiveRoundsAndHoldout) {
  const search::ArchSpace space = test::small_latency_space();
  std::vector<std::string> order;  // phases in measurement order
  const LatencyStudyResult r = run_latency_study(
      space, test::kSmallLatencyShape, quick_options(), fake_device,
      [&](const StudyPoint& p, int64_t done, int64_t total) {
        EXPECT_EQ(total, 40);
        EXPECT_EQ(done, static_cast<int64_t>(order.size()) + 1);
        order.push_back(p.phase);
      });
  ASSERT_EQ(r.train.size(), 30u);
  ASSERT_EQ(r.holdout.size(), 10u);
  EXPECT_EQ(order.size(), 40u);

  std::set<std::string> hashes;
  int64_t sobol = 0, adaptive = 0;
  for (const StudyPoint& p : r.train) {
    EXPECT_TRUE(space.contains(p.arch));
    EXPECT_TRUE(hashes.insert(candidate_arch_hash(p.arch)).second) << "duplicate training point";
    sobol += p.phase == "sobol";
    if (p.phase == "adaptive") {
      ++adaptive;
      EXPECT_GT(p.selection_log_sd, 0.0);
      EXPECT_GE(p.round, 1);
    }
  }
  EXPECT_EQ(sobol, 15);
  EXPECT_EQ(adaptive, 15);
  for (const StudyPoint& p : r.holdout) {
    EXPECT_TRUE(space.contains(p.arch));
    EXPECT_TRUE(hashes.insert(candidate_arch_hash(p.arch)).second) << "held-out point also trained on";
    EXPECT_GT(p.predicted_ttft_ms, 0.0);
  }
  // Held-out measurements are spread through the run, not bunched at the end.
  const auto first_holdout = std::find(order.begin(), order.end(), "holdout") - order.begin();
  EXPECT_LT(first_holdout, 10);

  // A smooth law: the model should be close, and rank better than the proxies.
  EXPECT_GT(r.accuracy.prefill.within_10, 0.9);
  EXPECT_GT(r.accuracy.decode.within_10, 0.9);
  EXPECT_GT(r.accuracy.prefill.r2, 0.9);
  EXPECT_EQ(r.accuracy.prefill.n, 10);
  EXPECT_EQ(r.model.n_points(), 30);
  EXPECT_TRUE(r.model.metadata.contains("accuracy"));
  EXPECT_EQ(r.model.metadata.at("prompt_len"), 32);
}

TEST(LatencyStudy, MeasuresInBatchesWithHeldOutPointsMixedIn) {
  const search::ArchSpace space = test::small_latency_space();
  std::vector<size_t> batch_sizes;
  LatencyMeasurer recording = [&](const std::vector<ArchConfig>& configs) {
    batch_sizes.push_back(configs.size());
    return fake_device(configs);
  };
  const LatencyStudyResult r =
      run_latency_study(space, test::kSmallLatencyShape, quick_options(), recording);
  // 30 training points in batches of 5 (3 Sobol, 3 adaptive), and 10 held-out
  // points spread over them: after k training points, ceil(10 k / 30) held out.
  EXPECT_EQ(batch_sizes, (std::vector<size_t>{7, 7, 6, 7, 7, 6}));
  EXPECT_EQ(r.holdout.size(), 10u);
}

TEST(LatencyStudy, MeasurerMustAnswerEveryArchitecture) {
  const search::ArchSpace space = test::small_latency_space();
  LatencyMeasurer short_answer = [&](const std::vector<ArchConfig>& configs) {
    std::vector<MeasuredLatency> out = fake_device(configs);
    out.pop_back();
    return out;
  };
  EXPECT_THROW(run_latency_study(space, test::kSmallLatencyShape, quick_options(), short_answer),
               Error);
}

TEST(LatencyStudy, LocalMeasurerInterleavesWithinTheMemoryBudget) {
  LatencyOptions o;
  o.prompt_len = 16;
  o.decode_tokens = 2;
  o.repeats = 2;
  o.warmup = 0;
  o.cv_threshold = 10.0;
  std::vector<ArchConfig> configs;
  for (int64_t layers : {1, 2, 3}) {
    CandidateArch a;
    a.n_layers = layers;
    a.d_model = 32;
    a.d_ffn.assign(static_cast<size_t>(layers), 64);
    a.layer_types.assign(static_cast<size_t>(layers), LayerKind::full);
    configs.push_back(shape_to_config(test::kSmallLatencyShape, a));
  }
  auto interleaved_with = [&](int64_t budget) {
    std::vector<int64_t> out;
    for (const MeasuredLatency& m : local_measurer(o, 1234, LatencyStatistic::iqm, budget)(configs)) {
      EXPECT_GT(m.ttft_ms, 0.0);
      EXPECT_DOUBLE_EQ(m.ttft_ms, m.detail.at("ttft_ms").at("iqm").get<double>());
      out.push_back(m.detail.at("interleaved_with").get<int64_t>());
    }
    return out;
  };
  EXPECT_EQ(interleaved_with(int64_t{1} << 30), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(interleaved_with(1), (std::vector<int64_t>{0, 0, 0}));  // one model at a time
}

TEST(LatencyStudy, SameSeedSameDesign) {
  const search::ArchSpace space = test::small_latency_space();
  LatencyStudyOptions o = quick_options();
  o.samples = 12;
  o.holdout = 4;
  o.batch = 3;
  const LatencyStudyResult a = run_latency_study(space, test::kSmallLatencyShape, o, fake_device);
  const LatencyStudyResult b = run_latency_study(space, test::kSmallLatencyShape, o, fake_device);
  for (size_t i = 0; i < a.train.size(); ++i) EXPECT_EQ(a.train[i].arch, b.train[i].arch);
  for (size_t i = 0; i < a.holdout.size(); ++i) EXPECT_EQ(a.holdout[i].arch, b.holdout[i].arch);
}

TEST(LatencyStudy, OptionErrorsNameTheField) {
  auto field_of = [](LatencyStudyOptions o) {
    try {
      o.validate();
    } catch (const InvalidInput& e) {
      return e.field();
    }
    return std::string("<no error>");
  };
  LatencyStudyOptions o = quick_options();
  o.samples = 1;
  EXPECT_EQ(field_of(o), "samples");
  o = quick_options();
  o.holdout = 0;
  EXPECT_EQ(field_of(o), "holdout");
  o = quick_options();
  o.initial = 31;
  EXPECT_EQ(field_of(o), "initial");
  o = quick_options();
  o.batch = 0;
  EXPECT_EQ(field_of(o), "batch");
}

TEST(LatencyStudy, RefusesASpaceTooSmall) {
  search::ArchSpaceOptions tiny;
  tiny.n_layers = {2, 2, 1};
  tiny.d_model = {64, 64, 32};
  tiny.d_ffn = {128, 128, 64};
  tiny.layer_kinds = {LayerKind::full};
  const search::ArchSpace space(tiny);  // exactly one architecture
  LatencyStudyOptions o = quick_options();
  o.samples = 4;
  o.holdout = 2;
  EXPECT_THROW(run_latency_study(space, test::kSmallLatencyShape, o, fake_device), InvalidInput);
}
