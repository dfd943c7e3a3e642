// The evaluate runner with a heal, against a real database and the bundled
// stories260K files (no worker process): a sweep's task prunes, measures the
// zero-shot NLL, heals by distillation from the backbone and measures again,
// and the job service records both NLLs with the heal's cost; a heal whose
// task is told to stop (lease lost, worker stopping) stops with a retryable
// error, not a result.
#include <gtest/gtest.h>

#include <filesystem>

#include "app/engine_cache.hpp"
#include "app/job_binding.hpp"
#include "app/job_service.hpp"
#include "app/task_runners.hpp"
#include "engine/model/model_io.hpp"
#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"
#include "store/store.hpp"
#include "tests/support/test_data.hpp"
#include "tests/support/test_db.hpp"

namespace flashnas {
namespace {

using nlohmann::json;
using store::TaskKind;

class HealTask : public test::DbConnectionTest {
 protected:
  void SetUp() override {
    DbConnectionTest::SetUp();
    const auto size = [](const std::string& name) {
      return static_cast<int64_t>(std::filesystem::file_size(test::data_path(name)));
    };
    const json metadata = {{"arch", arch_config_to_json(load_model(test::data_path("stories260K.gguf")).config)}};
    in_tx([&](pqxx::work& tx) {
      project_ = store::project_ensure(tx, "alpha").id;
      model_ = store::file_insert(tx, store::FileKind::model,
                                  {project_, "stories260K", "gguf", sha256_hex("model"), size("stories260K.gguf"),
                                   "stories260K.gguf", metadata}).id;
      train_ = store::file_insert(tx, store::FileKind::dataset,
                                  {project_, "train", "text", sha256_hex("train"), size("tinystories-train-sample.txt"),
                                   "tinystories-train-sample.txt", json::object()}).id;
      valid_ = store::file_insert(tx, store::FileKind::dataset,
                                  {project_, "valid", "text", sha256_hex("valid"), size("tinystories-valid-sample.txt"),
                                   "tinystories-valid-sample.txt", json::object()}).id;
    });
  }

  // A one-candidate sweep (4 full layers of stories260K's 5) healed for 20 steps; its evaluate task.
  // Small token budgets: the suite also runs under the sanitizers.
  store::Task submit_and_claim() {
    const json body = {
        {"kind", "sweep"}, {"name", "heal"}, {"backbone", model_}, {"calibration", train_}, {"eval", valid_},
        {"calib_tokens", 2048}, {"eval_tokens", 2049},
        {"candidates", {{{"n_layers", 4}, {"d_model", 64}, {"d_ffn", 172}, {"layer_types", {"full", "full", "full", "full"}}}}},
        {"latency", {{"device_kind", "local-cpu"}, {"prompt_len", 32}, {"decode_tokens", 8}}},
        {"heal", {{"train", train_}, {"train_tokens", 4097}, {"steps", 20}, {"tokens_per_step", 512}, {"ctx", 64},
                  {"lr", 1e-3}, {"warmup_steps", 2}, {"distill", 1.0}}}};
    return in_tx([&](pqxx::work& tx) {
      const app::BoundJob bound = app::bind_job_request(tx, project_, app::parse_job_request(body));
      app::submit_job(tx, project_, bound, {}, opts_);
      return app::claim_tasks(tx, {{TaskKind::evaluate}, "test", opts_.lease_seconds, 1, std::nullopt}).at(0);
    });
  }

  int64_t project_ = 0, model_ = 0, train_ = 0, valid_ = 0;
  store::QueueOptions opts_;
  app::EngineCache cache_{test::data_dir().string(), ""};
};

TEST_F(HealTask, AnEvaluateTaskHealsAndTheTrialRecordsBothNllsAndTheCost) {
  const store::Task task = submit_and_claim();
  const app::TaskResult result = app::run_evaluate(*conn_, task, cache_, 1);
  const auto& r = std::get<app::EvaluateResult>(result);
  ASSERT_TRUE(r.heal.has_value());
  EXPECT_LT(r.heal->healed_nll, r.zero_shot_nll - 0.1) << r.zero_shot_nll << " -> " << r.heal->healed_nll;
  EXPECT_DOUBLE_EQ(r.eval_nll, r.heal->healed_nll);
  EXPECT_EQ(r.heal->steps, 20);
  EXPECT_EQ(r.heal->tokens, 20 * 512);
  EXPECT_TRUE(r.heal->teacher_cached);
  EXPECT_LT(r.heal->final_loss, r.heal->first_loss);

  ASSERT_TRUE(in_tx([&](pqxx::work& tx) { return app::complete_task(tx, task, *task.lease_token, result, opts_); }));
  const store::Trial trial = *in_tx([&](pqxx::work& tx) { return store::trial_get(tx, *task.trial_id); });
  EXPECT_DOUBLE_EQ(*trial.metrics.zero_shot_nll, r.zero_shot_nll);
  EXPECT_DOUBLE_EQ(*trial.metrics.healed_nll, r.heal->healed_nll);
  EXPECT_DOUBLE_EQ(*trial.metrics.eval_nll, r.heal->healed_nll);
  ASSERT_TRUE(trial.metrics.heal.has_value());
  EXPECT_EQ(trial.metrics.heal->at("steps"), 20);
  EXPECT_GT(trial.metrics.heal->at("seconds").get<double>(), 0.0);
}

TEST_F(HealTask, AHealToldToStopStopsWithARetryableError) {
  const store::Task task = submit_and_claim();
  int asked = 0;
  try {
    app::run_evaluate(*conn_, task, cache_, 1, [&] { return ++asked >= 3; });
    FAIL() << "the heal ran to the end";
  } catch (const InvalidInput& e) {
    FAIL() << "a stop is not the input's fault: " << e.what();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("healing stopped"), std::string::npos) << e.what();
  }
  EXPECT_EQ(asked, 3) << "checked after every step, stopped at the first yes";
}

}  // namespace
}  // namespace flashnas
