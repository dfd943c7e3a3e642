// Search and latency-study jobs against a real database, driven in-process: the
// job service, the stage transitions, and the real search-step and fit runners
// (app/task_runners.hpp); evaluate and latency tasks report deterministic
// stand-in figures computed from the architecture, so no model file is loaded.
// Checks what the issue asks of a search: exactly `budget` trials, none twice,
// the frontier is exactly the non-dominated set, the hypervolume history never
// decreases, a retried step makes no second batch, cancel keeps what was
// evaluated, a failed step fails the job.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <thread>

#include "app/engine_cache.hpp"
#include "app/fidelity_policy.hpp"
#include "app/frontier.hpp"
#include "app/job_binding.hpp"
#include "app/job_service.hpp"
#include "app/latency_model_view.hpp"
#include "app/task_runners.hpp"
#include "engine/model/arch_cost.hpp"
#include "engine/util/error.hpp"
#include "store/store.hpp"
#include "tests/support/field_errors.hpp"
#include "tests/support/job_fixtures.hpp"
#include "tests/support/test_db.hpp"

namespace flashnas {
namespace {

using nlohmann::json;
using store::JobStage;
using store::JobState;
using store::TaskKind;

// Stand-ins for the engine: quality improves with capacity, latency grows with
// FLOPs plus a per-layer cost, and skipped attention is cheaper.
double fake_nll(const CandidateArch& a) {
  double capacity = 0;
  for (int64_t i = 0; i < a.n_layers; ++i) {
    capacity += static_cast<double>(a.d_model * a.d_ffn[static_cast<size_t>(i)]) *
                (a.layer_types[static_cast<size_t>(i)] == LayerKind::skip ? 0.6 : 1.0);
  }
  return 1.0 + 40.0 / std::sqrt(capacity);
}

std::pair<double, double> fake_latency(const ArchConfig& c) {
  const double prefill = 1e-7 * prefill_flops(c, 64) + 0.02 * static_cast<double>(c.n_layers());
  const double decode = 1e-6 * decode_flops_per_token(c, 64) + 0.005 * static_cast<double>(c.n_layers());
  return {prefill, decode};
}

class SearchJobTest : public test::DbConnectionTest {
 protected:
  void SetUp() override {
    DbConnectionTest::SetUp();
    project_ = in_tx([](pqxx::work& tx) { return store::project_ensure(tx, "alpha").id; });
    // A backbone row with its recorded architecture (the runners here never open the file).
    const json metadata = {{"arch", arch_config_to_json(test::small_backbone())}};
    in_tx([&](pqxx::work& tx) {
      model_ = store::file_insert(tx, store::FileKind::model,
                                  {project_, "small", "gguf", sha256_hex("m"), 1, "models/m.gguf", metadata}).id;
      text_ = store::file_insert(tx, store::FileKind::dataset,
                                 {project_, "text", "text", sha256_hex("t"), 100000, "datasets/t.txt", json::object()}).id;
    });
  }

  json search_body(int budget, int batch, int initial) const {
    return {{"kind", "search"},
            {"name", "search"},
            {"backbone", model_},
            {"calibration", text_},
            {"eval", text_},
            {"space",
             {{"n_layers", {{"min", 2}, {"max", 6}, {"step", 1}}},
              {"d_model", {{"min", 32}, {"max", 64}, {"step", 16}}},
              {"d_ffn", {{"min", 64}, {"max", 128}, {"step", 32}}},
              {"layer_kinds", {"full", "swa", "skip"}},
              {"sliding_windows", {16}}}},
            {"latency", {{"device_kind", "local-cpu"}, {"prompt_len", 64}, {"decode_tokens", 8}}},
            {"stage1", {{"samples", 12}, {"holdout", 4}, {"batch", 4}}},
            {"stage2", {{"budget", budget}, {"batch", batch}, {"initial", initial}}},
            {"seed", 3}};
  }

  int64_t submit(const json& body) {
    return in_tx([&](pqxx::work& tx) {
      const app::BoundJob bound = app::bind_job_request(tx, project_, app::parse_job_request(body));
      return app::submit_job(tx, project_, bound, {}, opts_).job.id;
    });
  }

  store::Job job(int64_t id) {
    return *in_tx([&](pqxx::work& tx) { return store::job_get(tx, project_, id); });
  }

  std::optional<store::Task> claim(std::vector<TaskKind> kinds = {TaskKind::evaluate, TaskKind::latency,
                                                                 TaskKind::search_step, TaskKind::fit_latency_model}) {
    auto tasks = in_tx([&](pqxx::work& tx) {
      return app::claim_tasks(tx, {std::move(kinds), "test", opts_.lease_seconds, 1, std::nullopt});
    });
    if (tasks.empty()) return std::nullopt;
    return tasks.front();
  }

  app::TaskResult run(const store::Task& t) {
    switch (t.kind) {
      case TaskKind::evaluate: {
        const app::EvaluatePayload p = app::evaluate_payload_from_json(t.payload);
        app::EvaluateResult r = test::eval_result(fake_nll(p.arch));
        r.params = cost_parameters(candidate_to_config(test::small_backbone(), p.arch));
        // Healing (or a multi-fidelity search's rungs) start from a zero-shot NLL 0.5
        // nats worse, and a heal of 20 steps or more takes all of it off.
        if (p.heal || p.rung) {
          r.zero_shot_nll = r.eval_nll + 0.5;
          r.eval_nll = r.zero_shot_nll;
        }
        if (p.heal) {
          const int64_t steps = p.heal->options.steps;
          r.eval_nll -= p.rung ? 0.5 * std::min(1.0, static_cast<double>(steps) / 20.0) : 0.5;
          r.heal = app::HealOutcome{r.eval_nll, steps, steps * 1024, 1.5, 0.1, 50000.0, 6.0, 3.0, 1 << 20, true};
        }
        return r;
      }
      case TaskKind::latency: {
        const ArchConfig c = candidate_to_config(test::small_backbone(), app::latency_payload_from_json(t.payload).arch);
        const auto [prefill, decode] = fake_latency(c);
        app::LatencyResult r = test::latency_result(prefill, decode);
        r.prompt_len = 64;
        r.arch = arch_config_to_json(c);
        r.arch_hash = sha256_hex(r.arch.dump());
        return r;
      }
      case TaskKind::search_step: return app::run_search_step(*conn_, t, cache_);
      default: return app::run_fit(*conn_, t, cache_);
    }
  }

  bool complete(const store::Task& t, const app::TaskResult& r) {
    return in_tx([&](pqxx::work& tx) { return app::complete_task(tx, t, *t.lease_token, r, opts_); });
  }

  // Runs tasks one at a time until the job ends (or nothing is left to claim).
  void drive(int64_t id, int max_tasks = 2000) {
    for (int i = 0; i < max_tasks && !store::is_terminal(job(id).state); ++i) {
      const auto t = claim();
      if (!t) break;
      ASSERT_TRUE(complete(*t, run(*t))) << "task " << t->id;
    }
  }

  std::vector<store::Trial> trials(int64_t id) {
    return in_tx([&](pqxx::work& tx) { return store::trial_list_all(tx, id); });
  }

  int64_t project_ = 0, model_ = 0, text_ = 0;
  store::QueueOptions opts_;
  app::EngineCache cache_{"/nonexistent", ""};
};

TEST_F(SearchJobTest, ASearchRunsBothStagesToExactlyItsBudget) {
  const int64_t id = submit(search_body(14, 3, 5));
  EXPECT_EQ(job(id).stage, JobStage::measuring);
  drive(id);
  const store::Job done = job(id);
  ASSERT_EQ(done.state, JobState::succeeded) << done.error.value_or("");
  EXPECT_EQ(done.stage, JobStage::done);

  // Exactly the budget, no architecture twice, the initial design first.
  const auto ts = trials(id);
  ASSERT_EQ(ts.size(), 14u);
  std::set<std::string> hashes;
  for (const auto& t : ts) {
    EXPECT_TRUE(hashes.insert(t.arch_hash).second) << "architecture evaluated twice";
    EXPECT_EQ(t.state, store::TrialState::succeeded);
    EXPECT_EQ(t.source, t.ordinal < 5 ? store::TrialSource::design : store::TrialSource::search) << t.ordinal;
    ASSERT_TRUE(t.proposal.has_value());
    EXPECT_GT(t.proposal->at("predicted_latency").get<double>(), 0.0);
  }

  // The latest frontier is exactly the non-dominated set of the trials (brute force).
  const auto frontier = in_tx([&](pqxx::work& tx) { return store::frontier_latest(tx, id); });
  ASSERT_TRUE(frontier.has_value());
  std::set<int64_t> expected, got;
  for (const auto& a : ts) {
    bool dominated = false;
    for (const auto& b : ts) {
      const bool no_worse = *b.metrics.eval_nll <= *a.metrics.eval_nll && *b.metrics.prefill_ms <= *a.metrics.prefill_ms;
      const bool better = *b.metrics.eval_nll < *a.metrics.eval_nll || *b.metrics.prefill_ms < *a.metrics.prefill_ms;
      dominated = dominated || (no_worse && better);
    }
    if (!dominated) expected.insert(a.id);
  }
  for (const auto& p : frontier->points) got.insert(p.at("trial_id").get<int64_t>());
  EXPECT_EQ(got, expected);

  // One hypervolume entry per evaluation, never decreasing, ending at the summary's.
  const auto history = in_tx([&](pqxx::work& tx) { return store::hypervolume_list(tx, id); });
  ASSERT_EQ(history.size(), 14u);
  for (size_t i = 0; i < history.size(); ++i) {
    EXPECT_EQ(history[i].evaluations, static_cast<int32_t>(i + 1));
    if (i > 0) {
      EXPECT_GE(history[i].hypervolume, history[i - 1].hypervolume);
    }
  }
  ASSERT_TRUE(done.summary.has_value());
  EXPECT_DOUBLE_EQ(done.summary->at("hypervolume").get<double>(), history.back().hypervolume);
  EXPECT_EQ(done.summary->at("frontier_points").get<size_t>(), expected.size());
  EXPECT_TRUE(done.summary->at("design_principles").contains("bands"));
  EXPECT_EQ(done.reference_point->at("source"), "inferred");
  EXPECT_NEAR(done.reference_point->at("eval_nll").get<double>(), std::log(512.0), 1e-12);

  // Stage 1 measured its plan; the latency model was refitted with the trials.
  const auto measurements = in_tx([&](pqxx::work& tx) { return store::measurement_list_for_job(tx, id); });
  int stage1 = 0, trial = 0;
  for (const auto& m : measurements) (m.phase == store::MeasurementPhase::trial ? trial : stage1)++;
  EXPECT_EQ(stage1, 16);
  EXPECT_EQ(trial, 14);
  const auto models = in_tx([&](pqxx::work& tx) {
    return store::latency_model_list(tx, {project_, std::nullopt, std::nullopt, 100});
  });
  ASSERT_EQ(models.size(), 1u + 14 / 3);  // the stage-1 model and a refit every `batch` trial measurements
  EXPECT_EQ(*done.latency_model_id, models.front().id);
  EXPECT_EQ(models.front().base_model_id, models.back().id);
}

// A heal names a text of the project that holds one training window, and every
// candidate (for a search: the space's largest) must fit its memory limit; each
// problem is refused at submission, by field.
TEST_F(SearchJobTest, AHealIsBoundToTheProjectsTextAndItsMemoryLimit) {
  const int64_t tiny = in_tx([&](pqxx::work& tx) {
    return store::file_insert(tx, store::FileKind::dataset,
                              {project_, "tiny", "text", sha256_hex("tiny"), 100, "datasets/tiny.txt", json::object()})
        .id;
  });
  auto errors_of = [&](const json& heal) {
    json body = search_body(8, 2, 4);
    body["heal"] = heal;
    return test::field_error_map_of([&] { submit(body); });
  };
  auto errors = errors_of({{"train", text_ + 1000}});
  EXPECT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors["heal.train"], fmt::format("no dataset {} in this project", text_ + 1000));

  errors = errors_of({{"train", tiny}});
  EXPECT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors["heal.train"], fmt::format("dataset {} holds 100 bytes (at most 102 tokens); healing needs at least "
                                              "one training window of heal.ctx + 1 = 257 tokens", tiny));
  EXPECT_TRUE(errors_of({{"train", tiny}, {"ctx", 64}}).empty()) << "a window of 65 tokens fits";

  errors = errors_of({{"train", text_}, {"memory_limit_bytes", 1 << 20}});
  EXPECT_EQ(errors.size(), 1u);
  const std::string& m = errors["heal.memory_limit_bytes"];
  EXPECT_NE(m.find("over the limit of 1.0 MiB"), std::string::npos) << m;
  EXPECT_NE(m.find("(for the space's largest architecture)"), std::string::npos) << m;

  EXPECT_TRUE(errors_of({{"train", text_}, {"steps", 5}}).empty());
}

// With a heal, every evaluate task carries it; a trial records its zero-shot
// and healed NLL and the heal's cost, and its quality (what the search models
// and the frontier ranks) is the healed NLL.
TEST_F(SearchJobTest, AHealedSearchRanksTrialsByTheirHealedNll) {
  json body = search_body(8, 2, 4);
  body["heal"] = {{"train", text_}, {"steps", 7}};
  const int64_t id = submit(body);
  drive(id);
  const store::Job done = job(id);
  ASSERT_EQ(done.state, JobState::succeeded) << done.error.value_or("");
  const auto ts = trials(id);
  ASSERT_EQ(ts.size(), 8u);
  for (const auto& t : ts) {
    const auto& m = t.metrics;
    ASSERT_TRUE(m.healed_nll && m.zero_shot_nll && m.heal) << t.id;
    EXPECT_DOUBLE_EQ(*m.eval_nll, *m.healed_nll);
    EXPECT_DOUBLE_EQ(*m.zero_shot_nll, *m.healed_nll + 0.5);
    EXPECT_EQ(m.heal->at("steps"), 7);
    EXPECT_EQ(m.heal->at("tokens"), 7 * 1024);
    EXPECT_DOUBLE_EQ(m.heal->at("seconds").get<double>(), 1.5);
    EXPECT_FALSE(m.heal->contains("healed_nll")) << "a column of its own";
  }
  const auto frontier = in_tx([&](pqxx::work& tx) { return store::frontier_latest(tx, id); });
  ASSERT_TRUE(frontier.has_value());
  ASSERT_FALSE(frontier->points.empty());
  for (const auto& p : frontier->points) {
    EXPECT_DOUBLE_EQ(p.at("eval_nll").get<double>(), p.at("metrics").at("healed_nll").get<double>());
  }
  // The trials as a client reads them.
  const json first = ts.front();
  EXPECT_TRUE(first.at("metrics").at("heal").is_object());
  EXPECT_TRUE(first.at("metrics").at("zero_shot_nll").is_number());
}

// Fidelities [0, 5, 20] heal steps, eta 3: every trial is evaluated zero-shot
// first; only the top third of a rung (by non-dominated rank on latency and
// quality) is healed for the next rung's steps (the 5-step rung on its own
// schedule), each promotion once; the frontier holds top-fidelity trials only.
TEST_F(SearchJobTest, AMultiFidelitySearchPromotesOnlySomeTrialsAndKeepsATopFidelityFrontier) {
  json body = search_body(15, 3, 6);
  body["heal"] = {{"train", text_}, {"lr", 3e-3}, {"warmup_steps", 4}};
  body["fidelities"] = {0, {{"steps", 5}, {"lr", 5e-4}, {"warmup_steps", 1}}, 20};
  const int64_t id = submit(body);
  EXPECT_EQ(std::get<app::SearchSpec>(app::job_spec_from_json(store::JobKind::search, job(id).spec))
                .evaluation.heal->options.steps, 20) << "the heal's steps are the top rung's";
  // Every evaluate task heals for its rung's steps (none at fidelity 0).
  std::map<int32_t, int> evaluations_by_rung;
  for (int i = 0; i < 2000 && !store::is_terminal(job(id).state); ++i) {
    const auto t = claim();
    if (!t) break;
    if (t->kind == TaskKind::evaluate) {
      const app::EvaluatePayload p = app::evaluate_payload_from_json(t->payload);
      ASSERT_TRUE(p.rung.has_value());
      ++evaluations_by_rung[*p.rung];
      EXPECT_EQ(p.heal ? p.heal->options.steps : 0, std::vector<int64_t>({0, 5, 20}).at(static_cast<size_t>(*p.rung)));
      if (*p.rung > 0) {
        EXPECT_EQ(p.heal->options.lr, *p.rung == 1 ? 5e-4 : 3e-3) << "rung " << *p.rung;
        EXPECT_EQ(p.heal->options.warmup_steps, *p.rung == 1 ? 1 : 4) << "rung " << *p.rung;
      }
    }
    ASSERT_TRUE(complete(*t, run(*t))) << "task " << t->id;
  }
  const store::Job done = job(id);
  ASSERT_EQ(done.state, JobState::succeeded) << done.error.value_or("");

  const auto ts = trials(id);
  ASSERT_EQ(ts.size(), 15u) << "promotions are not new trials";
  const auto rungs = in_tx([&](pqxx::work& tx) { return store::trial_rung_list(tx, id); });
  std::map<int32_t, std::vector<app::RungResult>> results;
  std::map<int64_t, const store::Trial*> by_id;
  for (const auto& t : ts) by_id[t.id] = &t;
  for (const auto& r : rungs) {
    const store::Trial& t = *by_id.at(r.trial_id);
    results[r.rung].push_back({t.id, r.eval_nll, *t.metrics.prefill_ms});
    EXPECT_EQ(r.fidelity, std::vector<int>({0, 5, 20}).at(static_cast<size_t>(r.rung)));
  }
  EXPECT_EQ(results[0].size(), 15u);
  EXPECT_EQ(evaluations_by_rung, (std::map<int32_t, int>{{0, 15},
                                                         {1, static_cast<int>(results[1].size())},
                                                         {2, static_cast<int>(results[2].size())}}))
      << "one evaluation per rung result: each promotion ran once";
  // Only some go on; and at the end every trial in a rung's top third went on.
  EXPECT_GE(results[1].size(), 15u / 3);
  EXPECT_LT(results[1].size(), 15u);
  EXPECT_GE(results[2].size(), results[1].size() / 3);
  EXPECT_GE(results[2].size(), 1u);
  EXPECT_LT(results[2].size(), results[1].size());
  for (int32_t r = 0; r < 2; ++r) {
    std::set<int64_t> next;
    for (const auto& x : results[r + 1]) next.insert(x.trial_id);
    for (const int64_t top : app::asha_top(results[r], 3)) EXPECT_TRUE(next.count(top)) << "rung " << r << " trial " << top;
  }
  // Each trial's metrics are its highest rung's.
  for (const auto& t : ts) {
    ASSERT_TRUE(t.rung.has_value());
    EXPECT_EQ(t.state, store::TrialState::succeeded);
    EXPECT_EQ(*t.fidelity, std::vector<int>({0, 5, 20}).at(static_cast<size_t>(*t.rung)));
    EXPECT_EQ(t.metrics.healed_nll.has_value(), *t.rung > 0);
  }
  // The frontier: top-fidelity trials only.
  const auto frontier = in_tx([&](pqxx::work& tx) { return store::frontier_latest(tx, id); });
  ASSERT_TRUE(frontier.has_value());
  ASSERT_FALSE(frontier->points.empty());
  for (const auto& p : frontier->points) EXPECT_EQ(by_id.at(p.at("trial_id").get<int64_t>())->rung, 2);
  // One hypervolume row per settled evaluation.
  const auto history = in_tx([&](pqxx::work& tx) { return store::hypervolume_list(tx, id); });
  EXPECT_EQ(history.size(), rungs.size());
}

TEST_F(SearchJobTest, ALatencyStudyStoresAModelThatASearchCanStartFrom) {
  json study = search_body(1, 1, 1);
  study["kind"] = "latency_study";
  for (const char* f : {"calibration", "eval", "stage2"}) study.erase(f);
  const int64_t study_id = submit(study);
  drive(study_id);
  const store::Job done = job(study_id);
  ASSERT_EQ(done.state, JobState::succeeded) << done.error.value_or("");
  const int64_t model_id = done.summary->at("latency_model_id").get<int64_t>();
  const auto record = in_tx([&](pqxx::work& tx) { return store::latency_model_get(tx, project_, model_id); });
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->n_points, 12);
  EXPECT_EQ(record->prompt_len, 64);
  const json detail = app::latency_model_detail_json(*record);
  EXPECT_EQ(detail.at("holdout_points").size(), 4u);
  EXPECT_EQ(detail.at("train_points").size(), 12u);
  EXPECT_TRUE(detail.at("accuracy").at("prefill").contains("within_10"));
  // The stand-in latency is smooth in the features: the model predicts it well.
  for (const auto& p : detail.at("holdout_points")) {
    EXPECT_NEAR(p.at("predicted_ttft_ms").get<double>() / p.at("ttft_ms").get<double>(), 1.0, 0.25);
  }

  // A search naming that model skips stage 1.
  json search = search_body(6, 2, 3);
  search.erase("stage1");
  search["latency_model"] = model_id;
  const int64_t search_id = submit(search);
  EXPECT_EQ(job(search_id).stage, JobStage::searching);
  drive(search_id);
  EXPECT_EQ(job(search_id).state, JobState::succeeded);
  EXPECT_EQ(trials(search_id).size(), 6u);
  const auto measured = in_tx([&](pqxx::work& tx) { return store::measurement_list_for_job(tx, search_id); });
  for (const auto& m : measured) EXPECT_EQ(m.phase, store::MeasurementPhase::trial);

  // A model of another prompt length does not fit the job.
  search["latency"]["prompt_len"] = 128;
  try {
    submit(search);
    ADD_FAILURE() << "a model fitted at prompt_len 64 was accepted for 128";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.errors().front().field, "latency_model");
  }
}

// A worker that claimed a search step dies; the step is rescued and finished by
// another; the dead worker's late result lands nowhere: one batch, not two.
TEST_F(SearchJobTest, ARetriedStepMakesNoSecondBatch) {
  const int64_t id = submit(search_body(8, 4, 4));
  // Run stage 1 until the first search step is queued.
  std::optional<store::Task> step;
  for (int i = 0; i < 500 && !step; ++i) {
    const auto t = claim();
    ASSERT_TRUE(t.has_value());
    if (t->kind == TaskKind::search_step) {
      step = t;
    } else {
      ASSERT_TRUE(complete(*t, run(*t)));
    }
  }
  ASSERT_TRUE(step.has_value());
  const app::TaskResult late = run(*step);
  // Its lease runs out; the rescuer gives the step back and another worker takes it.
  in_tx([&](pqxx::work& tx) { tx.exec_params0("UPDATE tasks SET lease_expires_at = now() - interval '1 second' WHERE id = $1", step->id); });
  ASSERT_EQ(in_tx([&](pqxx::work& tx) { return app::rescue_expired_tasks(tx, opts_); }).size(), 1u);
  in_tx([&](pqxx::work& tx) { tx.exec_params0("UPDATE tasks SET run_after = now() WHERE id = $1", step->id); });
  const auto again = claim({TaskKind::search_step});
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->id, step->id);
  ASSERT_TRUE(complete(*again, run(*again)));
  EXPECT_FALSE(complete(*step, late)) << "the dead worker's step landed";
  EXPECT_EQ(trials(id).size(), 4u);
  drive(id);
  EXPECT_EQ(job(id).state, JobState::succeeded);
  EXPECT_EQ(trials(id).size(), 8u);
}

TEST_F(SearchJobTest, CancellingStopsBetweenStepsAndKeepsWhatWasEvaluated) {
  const int64_t id = submit(search_body(12, 3, 3));
  int evaluated = 0;
  for (int i = 0; i < 500 && evaluated < 4; ++i) {
    const auto t = claim();
    ASSERT_TRUE(t.has_value());
    ASSERT_TRUE(complete(*t, run(*t)));
    if (t->kind == TaskKind::latency && t->trial_id) ++evaluated;
  }
  const auto result = in_tx([&](pqxx::work& tx) { return app::cancel_job(tx, project_, id); });
  ASSERT_TRUE(result && result->changed);
  EXPECT_FALSE(claim().has_value()) << "work of a cancelled job was handed out";
  int succeeded = 0;
  for (const auto& t : trials(id)) {
    succeeded += t.state == store::TrialState::succeeded;
    if (t.state == store::TrialState::succeeded) {
      EXPECT_TRUE(t.metrics.eval_nll.has_value());
    }
  }
  EXPECT_GE(succeeded, 1);
  EXPECT_EQ(job(id).state, JobState::cancelled);
}

TEST_F(SearchJobTest, AStepThatFailsForGoodFailsTheJob) {
  const int64_t id = submit(search_body(8, 4, 4));
  for (int i = 0; i < 500; ++i) {
    const auto t = claim();
    ASSERT_TRUE(t.has_value());
    if (t->kind == TaskKind::search_step) {
      in_tx([&](pqxx::work& tx) {
        app::fail_task(tx, t->id, *t->lease_token, "the space has no architecture left", store::Failure::permanent, opts_);
      });
      break;
    }
    ASSERT_TRUE(complete(*t, run(*t)));
  }
  const store::Job failed = job(id);
  EXPECT_EQ(failed.state, JobState::failed);
  EXPECT_EQ(failed.error, "search step 1 failed: the space has no architecture left");
  EXPECT_FALSE(claim().has_value());
}

// When every trial of the initial design fails, the inputs are at fault: the job
// fails then, with the first reason, instead of spending its whole budget.
TEST_F(SearchJobTest, AnInitialDesignThatAllFailsEndsTheJob) {
  const int64_t id = submit(search_body(12, 2, 3));
  for (int i = 0; i < 500 && !store::is_terminal(job(id).state); ++i) {
    const auto t = claim();
    ASSERT_TRUE(t.has_value());
    if (t->kind == TaskKind::evaluate) {
      in_tx([&](pqxx::work& tx) {
        app::fail_task(tx, t->id, *t->lease_token, "eval: dataset 3 holds 40 tokens; the job needs at least 2049",
                       store::Failure::permanent, opts_);
      });
    } else {
      ASSERT_TRUE(complete(*t, run(*t)));
    }
  }
  const store::Job failed = job(id);
  ASSERT_EQ(failed.state, JobState::failed);
  EXPECT_NE(failed.error->find("the first 3 trials all failed"), std::string::npos) << *failed.error;
  EXPECT_NE(failed.error->find("dataset 3 holds 40 tokens"), std::string::npos) << *failed.error;
  EXPECT_EQ(trials(id).size(), 3u);
}

// With an outcome constraint, the initial design only proposes architectures the
// latency model predicts feasible, and the frontier holds only measured-feasible trials.
TEST_F(SearchJobTest, ConstraintsShapeTheDesignAndTheFrontier) {
  json body = search_body(8, 4, 6);
  // About the middle of the space's decode latencies under the stand-in.
  const double limit = fake_latency(candidate_to_config(test::small_backbone(), test::candidate(4))).second * 0.8;
  body["constraints"] = {{{"metric", "decode_ms_per_token"}, {"max", limit}}};
  const int64_t id = submit(body);
  drive(id);
  ASSERT_EQ(job(id).state, JobState::succeeded);
  const auto ts = trials(id);
  int design_feasible = 0, design = 0;
  for (const auto& t : ts) {
    if (t.source != store::TrialSource::design) continue;
    ++design;
    design_feasible += *t.metrics.decode_ms_per_token <= limit * 1.05;  // the model's error allowed
  }
  EXPECT_EQ(design, 6);
  EXPECT_GE(design_feasible, 5);
  const auto frontier = in_tx([&](pqxx::work& tx) { return store::frontier_latest(tx, id); });
  ASSERT_TRUE(frontier.has_value());
  for (const auto& p : frontier->points) {
    EXPECT_LE(p.at("metrics").at("decode_ms_per_token").get<double>(), limit);
  }
}

}  // namespace
}  // namespace flashnas
