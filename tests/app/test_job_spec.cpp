// The job contract without a database: request bodies parse into typed specs,
// the stored canonical JSON reads back to the same spec, every bad field is
// named, the space is refused exactly as the engine (and so the CLI) refuses
// it; and the frontier functions against brute force.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "app/frontier.hpp"
#include "app/job_spec.hpp"
#include "app/study_policy.hpp"
#include "app/task_contract.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/search/pareto.hpp"
#include "engine/util/error.hpp"
#include "tests/support/field_errors.hpp"
#include "tests/support/job_fixtures.hpp"

namespace flashnas {
namespace {

using nlohmann::json;

json space_json() {
  return {{"n_layers", {{"min", 2}, {"max", 5}, {"step", 1}}},
          {"d_model", {{"min", 32}, {"max", 64}, {"step", 16}}},
          {"d_ffn", {{"min", 64}, {"max", 172}, {"step", 4}}},
          {"layer_kinds", {"full", "swa", "skip"}},
          {"sliding_windows", {16, 32}},
          {"rules", {{"first_layer_full", true}, {"max_consecutive_non_full", 3}}}};
}

json search_body() {
  return {{"kind", "search"}, {"name", "s260 prefill frontier"}, {"backbone", 1}, {"calibration", 2}, {"eval", 3},
          {"space", space_json()},
          {"latency", {{"device_kind", "local-cpu"}, {"prompt_len", 256}, {"decode_tokens", 32}, {"objective", "prefill_ms"}}},
          {"stage1", {{"samples", 100}, {"holdout", 20}, {"repeats", 10}}},
          {"stage2", {{"budget", 64}, {"batch", 8}, {"initial", 8}}},
          {"constraints", {{{"metric", "decode_ms_per_token"}, {"max", 0.5}}}},
          {"seed", 0}};
}

// The fields of every error of parsing `body` (empty when it parses).
std::set<std::string> error_fields(const json& body) {
  try {
    app::parse_job_request(body);
  } catch (const InvalidInput& e) {
    std::set<std::string> out;
    for (const auto& f : e.errors()) out.insert(f.field);
    return out;
  }
  return {};
}

TEST(JobSpec, TheIssuesSearchBodyParsesAndReadsBackFromItsStoredForm) {
  const app::JobRequest r = app::parse_job_request(search_body());
  EXPECT_EQ(r.name, "s260 prefill frontier");
  ASSERT_EQ(app::job_kind_of(r.spec), store::JobKind::search);
  const auto& s = std::get<app::SearchSpec>(r.spec);
  EXPECT_EQ(s.stage1->samples, 100);
  EXPECT_EQ(s.stage1->repeats, 10);
  EXPECT_EQ(s.stage1->design_size(), 50);
  EXPECT_EQ(s.stage2.budget, 64);
  EXPECT_EQ(s.latency.options.prompt_len, 256);
  EXPECT_EQ(s.latency.objective, (app::LatencyObjective{1.0, 0.0}));
  ASSERT_EQ(s.constraints.size(), 1u);
  EXPECT_EQ(s.constraints[0].metric, app::ConstraintMetric::decode_ms_per_token);
  EXPECT_EQ(s.evaluation.eval_tokens, 16384);  // evaluate-candidate's default
  const json stored = app::job_spec_to_json(r.spec);
  const app::JobSpec back = app::job_spec_from_json(store::JobKind::search, stored);
  EXPECT_EQ(app::job_spec_to_json(back), stored);
}

TEST(JobSpec, SweepsAndStudiesRoundTripToo) {
  json sweep = {{"kind", "sweep"}, {"name", "s"}, {"backbone", 1}, {"calibration", 2}, {"eval", 3},
                {"latency", {{"device_kind", "local-cpu"}, {"prompt_len", 64}, {"decode_tokens", 8}, {"repeats", 3}}},
                {"candidates", {candidate_arch_to_json(test::candidate(2)), candidate_arch_to_json(test::candidate(3)),
                                candidate_arch_to_json(test::candidate(2))}}};
  const app::JobRequest r = app::parse_job_request(sweep);
  EXPECT_EQ(std::get<app::SweepSpec>(r.spec).candidates.size(), 2u) << "a repeated candidate is one";
  EXPECT_EQ(app::job_spec_to_json(app::job_spec_from_json(store::JobKind::sweep, app::job_spec_to_json(r.spec))),
            app::job_spec_to_json(r.spec));
  json study = {{"kind", "latency_study"}, {"name", "st"}, {"backbone", 1}, {"space", space_json()},
                {"latency", {{"device_kind", "local-cpu"}, {"prompt_len", 64}, {"decode_tokens", 8},
                             {"objective", {{"prefill_ms", 1.0}, {"decode_ms_per_token", 32.0}}}}},
                {"stage1", {{"samples", 10}, {"holdout", 4}, {"initial", 6}}}};
  const app::JobRequest s = app::parse_job_request(study);
  const auto& l = std::get<app::LatencyStudySpec>(s.spec);
  EXPECT_EQ(l.stage1.design_size(), 6);
  EXPECT_EQ(l.latency.objective.name(), "weighted");
  EXPECT_DOUBLE_EQ(l.latency.objective.of(2.0, 0.5), 18.0);
  EXPECT_EQ(app::job_spec_to_json(app::job_spec_from_json(store::JobKind::latency_study, app::job_spec_to_json(s.spec))),
            app::job_spec_to_json(s.spec));
}

TEST(JobSpec, EveryBadFieldIsNamed) {
  auto with = [](const std::function<void(json&)>& edit) {
    json j = search_body();
    edit(j);
    return j;
  };
  EXPECT_EQ(error_fields(with([](json& j) { j["latency_model"] = 4; })), std::set<std::string>{"latency_model"});
  EXPECT_EQ(error_fields(with([](json& j) { j.erase("stage1"); })), std::set<std::string>{"stage1"});
  EXPECT_EQ(error_fields(with([](json& j) { j["stage2"]["budget"] = 0; })), std::set<std::string>{"stage2.budget"});
  EXPECT_EQ(error_fields(with([](json& j) { j["stage2"]["initial"] = 100; })), std::set<std::string>{"stage2.initial"});
  EXPECT_EQ(error_fields(with([](json& j) { j["stage1"]["speed"] = 1; })), std::set<std::string>{"stage1.speed"});
  EXPECT_EQ(error_fields(with([](json& j) { j["constraints"][0]["metric"] = "energy"; })),
            std::set<std::string>{"constraints[0].metric"});
  EXPECT_EQ(error_fields(with([](json& j) { j["constraints"].push_back(j["constraints"][0]); })),
            std::set<std::string>{"constraints[1].metric"});
  EXPECT_EQ(error_fields(with([](json& j) { j["latency"]["objective"] = {{"prefill_ms", 0}}; })),
            std::set<std::string>{"latency.objective"});
  EXPECT_EQ(error_fields(with([](json& j) { j["reference_point"] = {{"eval_nll", 3}}; })),
            std::set<std::string>{"reference_point.latency"});
  EXPECT_EQ(error_fields(with([](json& j) {
              j["seed"] = -1;
              j["name"] = "";
              j["latency"]["repeats"] = 0;
            })),
            (std::set<std::string>{"seed", "name", "latency.repeats"}));
}

// The latency object and the space are read by the engine's own readers from
// the job's reader: every bad field of both, the job's own fields and an
// unknown one inside "latency" are reported together, each under its path.
TEST(JobSpec, BadLatencyAndSpaceFieldsAreAllReportedWithTheJobs) {
  json body = search_body();
  body["latency"]["repeats"] = 0;
  body["latency"]["threads"] = "2";
  body["latency"]["clock"] = "cycles";
  body["latency"]["warmup_runs"] = 1;  // a misspelt option
  body["latency"].erase("decode_tokens");
  body["space"]["d_model"]["step"] = 20;
  body["space"]["layer_kinds"] = {"full", "mamba"};
  body["space"]["rules"]["min_full_layers"] = -1;
  body["stage2"]["batch"] = 0;
  auto errors = test::field_error_map_of([&] { app::parse_job_request(body); });
  EXPECT_EQ(errors.size(), 9u);
  EXPECT_EQ(errors["latency.repeats"], "must be between 1 and 10000, got 0");
  EXPECT_EQ(errors["latency.threads"], "expected an integer, got a string");
  EXPECT_EQ(errors["latency.clock"], "must be wall or thread_cpu, got 'cycles'");
  EXPECT_EQ(errors["latency.decode_tokens"], "required");
  EXPECT_EQ(errors["latency.warmup_runs"].rfind("unknown field (expected one of clock, cv_threshold, decode_tokens, "
                                                "device_kind, ", 0), 0u)
      << errors["latency.warmup_runs"];
  EXPECT_EQ(errors["space.d_model.step"], "max - min (32) is not a multiple of step 20");
  EXPECT_EQ(errors["space.layer_kinds[1]"], "unknown layer kind 'mamba' (expected full, swa or skip)");
  EXPECT_EQ(errors["space.rules.min_full_layers"], "must be >= 0, got -1");
  EXPECT_TRUE(errors.count("stage2.batch"));
}

// "heal" is read by the engine's HealOptions reader under "heal." (so a job
// accepts exactly what `flashnas heal` accepts), with the training text and the
// service's own limits; the stored form reads back to the same spec.
TEST(JobSpec, AHealIsParsedStoredAndReadBack) {
  json body = search_body();
  body["heal"] = {{"train", 4}, {"steps", 30}, {"tokens_per_step", 1024}, {"ctx", 128}, {"lr", 2e-3}, {"distill", 1.0}};
  const app::JobRequest r = app::parse_job_request(body);
  const auto& e = std::get<app::SearchSpec>(r.spec).evaluation;
  ASSERT_TRUE(e.heal.has_value());
  EXPECT_EQ(e.heal->train, 4);
  EXPECT_EQ(e.heal->options.steps, 30);
  EXPECT_EQ(e.heal->options.batch, 8);  // tokens_per_step / ctx
  EXPECT_EQ(e.heal->options.tokens_per_step(), 1024);
  EXPECT_DOUBLE_EQ(e.heal->options.lr, 2e-3);
  EXPECT_DOUBLE_EQ(e.heal->options.distill, 1.0);
  EXPECT_EQ(e.heal->options.warmup_steps, HealOptions{}.warmup_steps) << "unset fields keep the engine's defaults";
  const json stored = app::job_spec_to_json(r.spec);
  EXPECT_EQ(stored.at("heal").at("train"), 4);
  EXPECT_EQ(app::job_spec_to_json(app::job_spec_from_json(store::JobKind::search, stored)), stored);
  EXPECT_FALSE(std::get<app::SearchSpec>(app::parse_job_request(search_body()).spec).evaluation.heal)
      << "no heal: zero-shot";

  // And in a task's payload, with the architecture.
  const app::EvaluatePayload p{test::candidate(3), e.heal, std::nullopt};
  const app::EvaluatePayload back = app::evaluate_payload_from_json(app::evaluate_payload_to_json(p));
  EXPECT_EQ(back.arch, p.arch);
  ASSERT_TRUE(back.heal.has_value());
  EXPECT_EQ(app::heal_spec_to_json(*back.heal), app::heal_spec_to_json(*e.heal));
  EXPECT_FALSE(app::evaluate_payload_from_json(app::evaluate_payload_to_json({test::candidate(3), std::nullopt, std::nullopt})).heal);
}

TEST(JobSpec, EveryBadHealFieldIsNamed) {
  json body = search_body();
  body["heal"] = {{"steps", 0},
                  {"tokens_per_step", 1000},  // not a multiple of ctx 256
                  {"lr", "fast"},
                  {"distill", 2.0},
                  {"colour", 1},
                  {"memory_limit_bytes", int64_t{1} << 40}};
  auto errors = test::field_error_map_of([&] { app::parse_job_request(body); });
  EXPECT_EQ(errors.size(), 7u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors["heal.train"], "required");
  EXPECT_TRUE(errors.count("heal.steps"));
  EXPECT_EQ(errors["heal.tokens_per_step"], "must be a multiple of ctx (256), got 1000");
  EXPECT_EQ(errors["heal.lr"], "expected a number, got a string");
  EXPECT_TRUE(errors.count("heal.distill"));
  EXPECT_EQ(errors["heal.colour"].rfind("unknown field", 0), 0u) << errors["heal.colour"];
  EXPECT_EQ(errors["heal.memory_limit_bytes"].rfind("at most 17179869184 (16 GiB)", 0), 0u)
      << errors["heal.memory_limit_bytes"];

  body["heal"] = {{"train", 4}, {"steps", 1000000}, {"ctx", 64}, {"train_tokens", 64}};
  errors = test::field_error_map_of([&] { app::parse_job_request(body); });
  EXPECT_EQ(errors.size(), 2u) << ::testing::PrintToString(errors);
  EXPECT_EQ(errors["heal.steps"], "must be between 1 and 100000, got 1000000");
  EXPECT_EQ(errors["heal.train_tokens"], "must hold at least one training window of ctx + 1 = 65 tokens");

  body["heal"] = 3;
  EXPECT_EQ(error_fields(body), std::set<std::string>{"heal"});
}

// "fidelities" are heal steps per rung: increasing, with a heal whose steps
// become the top rung's (a different heal.steps is refused).
TEST(JobSpec, FidelitiesNeedAHealAndIncreaseAndSetItsSteps) {
  json body = search_body();
  body["heal"] = {{"train", 4}};
  body["fidelities"] = {0, 50, 200};
  body["stage2"]["eta"] = 4;
  const app::JobRequest r = app::parse_job_request(body);
  const auto& s = std::get<app::SearchSpec>(r.spec);
  EXPECT_EQ(s.fidelities, (std::vector<app::Fidelity>{{0, {}, {}}, {50, {}, {}}, {200, {}, {}}}));
  EXPECT_EQ(s.rungs(), 3);
  EXPECT_EQ(s.stage2.eta, 4);
  EXPECT_EQ(s.evaluation.heal->options.steps, 200);
  const json stored = app::job_spec_to_json(r.spec);
  EXPECT_EQ(app::job_spec_to_json(app::job_spec_from_json(store::JobKind::search, stored)), stored);

  auto with = [&](const std::function<void(json&)>& edit) {
    json j = body;
    edit(j);
    return test::field_error_map_of([&] { app::parse_job_request(j); });
  };
  EXPECT_EQ(with([](json& j) { j.erase("heal"); }),
            (std::map<std::string, std::string>{{"fidelities", "needs \"heal\": the fidelities are its steps per rung"}}));
  EXPECT_EQ(with([](json& j) { j["fidelities"] = {0, 50, 50, 1000000}; }),
            (std::map<std::string, std::string>{
                {"fidelities[2]", "must exceed the one before (rungs heal longer and longer)"},
                {"fidelities[3]", "must be between 0 and 100000, got 1000000"}}));
  EXPECT_EQ(with([](json& j) { j["fidelities"] = {50}; }).count("fidelities"), 1u);
  EXPECT_EQ(with([](json& j) { j["heal"]["steps"] = 100; }),
            (std::map<std::string, std::string>{{"heal.steps", "with fidelities each rung heals for its own steps: "
                                                               "leave heal.steps out or make it the top fidelity (200)"}}));
  EXPECT_TRUE(with([](json& j) { j["heal"]["steps"] = 200; }).empty());
  EXPECT_EQ(with([](json& j) { j["stage2"]["eta"] = 1; }).count("stage2.eta"), 1u);
}

// A rung may give its own lr and warm-up ({"steps", "lr", "warmup_steps"});
// the others keep heal's. The stored spec writes a plain rung as its steps.
TEST(JobSpec, ARungMayHealOnItsOwnSchedule) {
  json body = search_body();
  body["heal"] = {{"train", 4}, {"lr", 3e-3}};
  body["fidelities"] = json::array({{{"steps", 20}, {"lr", 5e-4}, {"warmup_steps", 1}}, 100, {{"steps", 400}}});
  const app::JobRequest r = app::parse_job_request(body);
  const auto& s = std::get<app::SearchSpec>(r.spec);
  EXPECT_EQ(s.fidelities, (std::vector<app::Fidelity>{{20, 5e-4, 1}, {100, {}, {}}, {400, {}, {}}}));
  EXPECT_EQ(s.evaluation.heal->options.lr, 3e-3);
  EXPECT_EQ(s.evaluation.heal->options.steps, 400);
  const json stored = app::job_spec_to_json(r.spec);
  EXPECT_EQ(stored.at("fidelities"), json::parse(R"([{"steps": 20, "lr": 0.0005, "warmup_steps": 1}, 100, 400])"));
  EXPECT_EQ(app::job_spec_to_json(app::job_spec_from_json(store::JobKind::search, stored)), stored);

  auto with = [&](const json& fidelities) {
    json j = body;
    j["fidelities"] = fidelities;
    return test::field_error_map_of([&] { app::parse_job_request(j); });
  };
  EXPECT_EQ(with(json::parse(R"([{"steps": 0, "lr": 0.001}, 100])")),
            (std::map<std::string, std::string>{
                {"fidelities[0]", "a rung of 0 steps does not heal: give it no lr or warmup_steps"}}));
  EXPECT_EQ(with(json::parse(R"([20, {"steps": 100, "lr": 0, "warmup": 5}, {"lr": 0.001}, "400"])")),
            (std::map<std::string, std::string>{
                {"fidelities[1].lr", "must be between 1e-12 and 10, got 0"},
                {"fidelities[1].warmup", "unknown field (expected one of lr, steps, warmup_steps)"},
                {"fidelities[2].steps", "required"},
                {"fidelities[3]", "expected heal steps (an integer) or an object {\"steps\", \"lr\", \"warmup_steps\"}, got a string"}}));
  EXPECT_EQ(with(json::parse(R"([{"steps": 100}, {"steps": 100, "lr": 0.001}])")),
            (std::map<std::string, std::string>{
                {"fidelities[1]", "must exceed the one before (rungs heal longer and longer)"}}));
}

// One schema, one validator: a bad space is refused with the engine's own
// message (what `flashnas latency-study --space` prints), under "space.".
TEST(JobSpec, TheSpaceIsRefusedExactlyAsTheEngineRefusesIt) {
  json bad = space_json();
  bad["d_model"]["max"] = 40;  // not min + k * step
  std::string engine_field, engine_message;
  try {
    search::arch_space_options_from_json(bad);
    FAIL() << "the engine accepted a bad space";
  } catch (const InvalidInput& e) {
    engine_field = e.errors().front().field;
    engine_message = e.errors().front().message;
  }
  json body = search_body();
  body["space"] = bad;
  try {
    app::parse_job_request(body);
    FAIL() << "the job accepted a bad space";
  } catch (const InvalidInput& e) {
    ASSERT_EQ(e.errors().size(), 1u);
    EXPECT_EQ(e.errors().front().field, "space." + engine_field);
    EXPECT_EQ(e.errors().front().message, engine_message);
  }
}

// Stage 1 at submission: the design and every held-out point, the held-out
// ones spread evenly through the design.
TEST(StudyPolicy, InitialTasksSpreadTheHeldOutPointsThroughTheDesign) {
  app::Stage1Spec stage1;
  stage1.samples = 20;
  stage1.holdout = 5;
  app::LatencySpec latency;
  latency.options.prompt_len = 64;
  const auto problem = app::make_study_problem(stage1, search::arch_space_options_from_json(space_json()),
                                               latency::shape_of(test::small_backbone()), latency, 7);
  const auto tasks = app::study_initial_tasks(problem);
  ASSERT_EQ(tasks.size(), 15u);  // 10 design + 5 held out
  std::set<std::string> hashes;
  int holdout = 0;
  for (size_t i = 0; i < tasks.size(); ++i) {
    EXPECT_TRUE(hashes.insert(candidate_arch_hash(tasks[i].arch)).second);
    if (tasks[i].phase == store::MeasurementPhase::holdout) {
      ++holdout;
      EXPECT_EQ(tasks[i - 1].phase, store::MeasurementPhase::design) << "held-out points come one after each pair";
    }
  }
  EXPECT_EQ(holdout, 5);
  EXPECT_EQ(app::study_initial_tasks(problem).size(), tasks.size()) << "deterministic";
}

store::Trial trial(int64_t id, double nll, double prefill, double decode = 0.1, int64_t params = 100) {
  store::Trial t;
  t.id = id;
  t.ordinal = static_cast<int32_t>(id);
  t.arch = candidate_arch_to_json(test::candidate(2));
  t.state = store::TrialState::succeeded;
  t.metrics.eval_nll = nll;
  t.metrics.prefill_ms = prefill;
  t.metrics.decode_ms_per_token = decode;
  t.metrics.params = params;
  return t;
}

TEST(Frontier, IsTheNonDominatedSetOfFeasibleTrialsAndItsHypervolumeIsExact) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<store::Trial> trials;
  for (int i = 0; i < 60; ++i) trials.push_back(trial(i, 2 + u(rng), 1 + u(rng), u(rng)));
  trials[3].state = store::TrialState::failed;
  trials[4].metrics.prefill_ms.reset();  // not measured
  const std::vector<app::OutcomeConstraintSpec> constraints = {{app::ConstraintMetric::decode_ms_per_token, 0.8}};
  const auto all = app::frontier_candidates(trials, {1.0, 0.0}, constraints);
  const auto front = app::pareto_frontier(all);
  std::set<int64_t> got, expected;
  for (const auto& p : front) got.insert(p.trial->id);
  Eigen::MatrixXd y(static_cast<Eigen::Index>(all.size()), 2);
  for (size_t i = 0; i < all.size(); ++i) {
    const auto& m = all[i].trial->metrics;
    EXPECT_LE(*m.decode_ms_per_token, 0.8);
    EXPECT_NE(all[i].trial->id, 3);
    EXPECT_NE(all[i].trial->id, 4);
    y.row(static_cast<Eigen::Index>(i)) << *m.eval_nll, *m.prefill_ms;
  }
  for (size_t i = 0; i < all.size(); ++i) {
    bool dominated = false;
    for (size_t j = 0; j < all.size(); ++j) {
      dominated = dominated || (y(j, 0) <= y(i, 0) && y(j, 1) <= y(i, 1) && (y(j, 0) < y(i, 0) || y(j, 1) < y(i, 1)));
    }
    if (!dominated) expected.insert(all[i].trial->id);
  }
  EXPECT_EQ(got, expected);
  for (size_t i = 1; i < front.size(); ++i) EXPECT_GE(front[i].latency, front[i - 1].latency);
  const app::ReferencePoint ref{3.5, 2.5};
  EXPECT_DOUBLE_EQ(app::frontier_hypervolume(front, ref), search::hypervolume_2d(y, {3.5, 2.5}));
  // A weighted objective adds the decode term.
  const auto weighted = app::frontier_candidates({trial(1, 2.0, 1.0, 0.5)}, {1.0, 4.0}, {});
  EXPECT_DOUBLE_EQ(weighted.at(0).latency, 3.0);
}

TEST(Frontier, DesignPrinciplesSummariseTheFrontierByLatencyBand) {
  std::vector<store::Trial> trials;
  for (int layers = 2; layers <= 6; ++layers) {
    store::Trial t = trial(layers, 10.0 - layers, layers * 1.0);
    CandidateArch a = test::candidate(layers);
    a.layer_types.back() = LayerKind::skip;
    t.arch = candidate_arch_to_json(a);
    trials.push_back(t);
  }
  const auto all = app::frontier_candidates(trials, {1.0, 0.0}, {});
  const json d = app::design_principles(app::pareto_frontier(all), all);
  EXPECT_EQ(d.at("frontier").at("points"), 5);
  ASSERT_EQ(d.at("bands").size(), 3u);
  EXPECT_EQ(d.at("bands")[0].at("band"), "fast");
  EXPECT_LT(d.at("bands")[0].at("mean_n_layers").get<double>(), d.at("bands")[2].at("mean_n_layers").get<double>());
  EXPECT_DOUBLE_EQ(d.at("kendall_tau_with_latency").at("n_layers").get<double>(), 1.0);
  EXPECT_GT(d.at("frontier").at("skip_share").get<double>(), 0.0);
}

}  // namespace
}  // namespace flashnas
