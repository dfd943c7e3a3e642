// The client commands (flashnas submit, jobs, frontier) against a real server and
// PostgreSQL: each exit code a CI step can see, driven by what really happens to
// the job (its tasks claimed and completed or failed through the job service, as
// workers do), and the frontier gate on a finished job's stored frontier.
#include <gtest/gtest.h>

#include <fstream>
#include <future>

#include "app/engine_cache.hpp"
#include "app/job_service.hpp"
#include "app/task_runners.hpp"
#include "cli/commands.hpp"
#include "cli/exit_code.hpp"
#include "engine/model/model_io.hpp"
#include "engine/model/tokenizer.hpp"
#include "engine/runtime/evaluate.hpp"
#include "store/store.hpp"
#include "tests/service/api_fixture.hpp"
#include "tests/support/job_fixtures.hpp"

namespace flashnas {
namespace {

using cli::Args;
using nlohmann::json;

struct CommandRun {
  int code = -1;
  std::string out, err;
};

class ClientCommands : public test::ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    key_ = make_key("alpha", {"read", "submit"});
    assets_ = upload_assets(key_);
  }

  std::string server() const { return "http://127.0.0.1:" + std::to_string(port_); }
  Args with_server(Args args) const {
    for (const std::string& a : {std::string("--server"), server(), std::string("--key"), key_,
                                 std::string("--retry-seconds"), std::string("1")}) {
      args.push_back(a);
    }
    return args;
  }
  // Runs a command in-process, capturing what it prints.
  CommandRun run(const std::string& command, const Args& args) {
    ::testing::internal::CaptureStdout();
    ::testing::internal::CaptureStderr();
    CommandRun r;
    r.code = cli::run_command(command, args);
    r.out = ::testing::internal::GetCapturedStdout();
    r.err = ::testing::internal::GetCapturedStderr();
    return r;
  }
  std::string write_job(const json& body, const std::string& name = "job.json") {
    const std::string path = (std::filesystem::path(storage_) / name).string();
    std::ofstream(path) << body.dump();
    return path;
  }
  int64_t submit(const json& body) {
    const CommandRun r = run("submit", with_server({write_job(body)}));
    EXPECT_EQ(r.code, 0) << r.err;
    return std::stoll(r.out);
  }
  // Runs `submit --wait` while `act` does something to the job, then returns the run
  // (the timeout keeps a broken test from hanging).
  template <class Act>
  CommandRun submit_and_wait(const json& body, Act&& act, const std::string& timeout = "60") {
    const Args args = with_server({write_job(body), "--wait", "--poll", "0.05", "--timeout", timeout});
    auto waiting = std::async(std::launch::async, [&] { return run("submit", args); });
    for (int i = 0; i < 200 && job_count() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    try {
      act();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "acting on the job: " << e.what();
      pool_->transact([](pqxx::transaction_base& tx) { tx.exec("UPDATE jobs SET state = 'cancelled'"); });
    }
    return waiting.get();
  }
  int64_t job_count() { return row_counts().at("jobs"); }

  std::string key_;
  std::array<int64_t, 3> assets_{};
};

TEST_F(ClientCommands, SubmitPrintsTheJobIdAndARetriedSubmitStartsNoSecondJob) {
  const std::string file = write_job(sweep_body(assets_, 3));
  const CommandRun first = run("submit", with_server({file}));
  ASSERT_EQ(first.code, cli::exit_ok) << first.err;
  const CommandRun again = run("submit", with_server({file}));
  ASSERT_EQ(again.code, cli::exit_ok) << again.err;
  EXPECT_EQ(first.out, again.out);
  EXPECT_NE(again.err.find("already submitted"), std::string::npos) << again.err;
  EXPECT_EQ(job_count(), 1);
  // A new key starts a new job from the same file.
  const CommandRun fresh = run("submit", with_server({file, "--idempotency-key", "ci-run-2"}));
  ASSERT_EQ(fresh.code, cli::exit_ok) << fresh.err;
  EXPECT_NE(fresh.out, first.out);
  EXPECT_EQ(job_count(), 2);
}

TEST_F(ClientCommands, WaitExitsZeroWhenTheJobSucceeds) {
  const CommandRun r = submit_and_wait(sweep_body(assets_, 3), [&] { settle({2.0, 2.5, 3.0}, {3.0, 2.0, 1.0}); });
  EXPECT_EQ(r.code, cli::exit_ok) << r.err;
  EXPECT_NE(r.err.find("3/3 trials done"), std::string::npos) << r.err;
}

TEST_F(ClientCommands, WaitExitsThreeWhenTheJobFails) {
  const CommandRun r = submit_and_wait(sweep_body(assets_, 2), [&] { settle({}, {}, /*fail=*/true); });
  EXPECT_EQ(r.code, cli::exit_job_failed) << r.err;
  EXPECT_NE(r.err.find("all 2 trials failed"), std::string::npos) << r.err;
}

TEST_F(ClientCommands, WaitExitsFourWhenTheJobIsCancelled) {
  // Cancelled over HTTP (output capture is one at a time, and `submit --wait` holds it).
  const CommandRun r = submit_and_wait(sweep_body(assets_, 2), [&] {
    EXPECT_EQ(post_json("/v1/jobs/1/cancel", key_, json::object()).status, 200);
  });
  EXPECT_EQ(r.code, cli::exit_job_cancelled) << r.err;
  // Cancelling with the client answers with the job, also when it is already cancelled.
  const CommandRun again = run("jobs", with_server({"cancel", "1"}));
  EXPECT_EQ(again.code, cli::exit_ok) << again.err;
  EXPECT_NE(again.err.find("job 1 cancelled"), std::string::npos) << again.err;
}

TEST_F(ClientCommands, WaitExitsFiveAtTheTimeoutAndLeavesTheJobRunning) {
  const auto start = std::chrono::steady_clock::now();
  const CommandRun r = submit_and_wait(sweep_body(assets_, 2), [] {}, "0.5");
  EXPECT_EQ(r.code, cli::exit_timed_out) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  const CommandRun show = run("jobs", with_server({"show", "1", "--json"}));
  ASSERT_EQ(show.code, cli::exit_ok);
  EXPECT_EQ(json::parse(show.out).at("state"), "queued");
}

TEST_F(ClientCommands, ARefusedJobExitsSixNamingTheField) {
  json body = sweep_body(assets_, 2);
  body.erase("backbone");
  const CommandRun r = run("submit", with_server({write_job(body)}));
  EXPECT_EQ(r.code, cli::exit_refused);
  EXPECT_NE(r.err.find("backbone"), std::string::npos) << r.err;
  EXPECT_EQ(job_count(), 0);
  // A wrong key is refused the same way.
  const CommandRun wrong = run("jobs", {"list", "--server", server(), "--key", "fnk_wrong"});
  EXPECT_EQ(wrong.code, cli::exit_refused);
  EXPECT_NE(wrong.err.find("401"), std::string::npos) << wrong.err;
}

TEST_F(ClientCommands, AServerThatDoesNotAnswerExitsSeven) {
  const CommandRun r = run("jobs", {"list", "--server", "http://127.0.0.1:1", "--key", key_, "--retry-seconds", "0.3"});
  EXPECT_EQ(r.code, cli::exit_unreachable);
  EXPECT_NE(r.err.find("no answer"), std::string::npos) << r.err;
}

TEST_F(ClientCommands, BadLocalInputExitsTwoBeforeAnyRequest) {
  EXPECT_EQ(run("submit", with_server({"/nonexistent/job.json"})).code, cli::exit_bad_input);
  EXPECT_EQ(run("submit", with_server({write_job(json::array())})).code, cli::exit_bad_input);
  EXPECT_EQ(run("submit", {write_job(sweep_body(assets_)), "--server", "ftp://x", "--key", "k"}).code,
            cli::exit_bad_input);
  EXPECT_EQ(run("jobs", with_server({"show", "x"})).code, cli::exit_bad_input);
  EXPECT_EQ(run("jobs", with_server({"list", "--state", "done"})).code, cli::exit_bad_input);
  EXPECT_EQ(run("frontier", with_server({"1", "--require", "prefill_ms=3"})).code, cli::exit_bad_input);
  EXPECT_EQ(job_count(), 0);
}

TEST_F(ClientCommands, TheFrontierGatePassesFailsAndPrintsTheClosestPoint) {
  const int64_t id = submit(sweep_body(assets_, 3));
  settle({2.0, 2.5, 3.0}, {3.0, 2.0, 1.0});
  const std::string job = std::to_string(id);

  const CommandRun csv = run("frontier", with_server({job, "--csv"}));
  ASSERT_EQ(csv.code, cli::exit_ok) << csv.err;
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 4) << csv.out;  // header + 3 points
  EXPECT_EQ(csv.out.rfind("trial_id,ordinal,n_layers,d_model,d_ffn,layer_types,sliding_window,latency,eval_nll", 0), 0u);

  const CommandRun met = run("frontier", with_server({job, "--require", "prefill_ms<=2.0,eval_nll<=2.5"}));
  EXPECT_EQ(met.code, cli::exit_ok) << met.err;
  EXPECT_NE(met.err.find("gate met: trial 1"), std::string::npos) << met.err;

  const CommandRun unmet = run("frontier", with_server({job, "--require", "prefill_ms<=1.5,eval_nll<=2.2"}));
  EXPECT_EQ(unmet.code, cli::exit_gate_unmet);
  EXPECT_NE(unmet.err.find("closest: trial 2"), std::string::npos) << unmet.err;

  EXPECT_EQ(run("frontier", with_server({job, "--require", "prefil_ms<=2"})).code, cli::exit_bad_input);
  EXPECT_EQ(run("frontier", with_server({"999"})).code, cli::exit_refused);
}

TEST_F(ClientCommands, JobsListShowsOnlyTheKeysProject) {
  submit(sweep_body(assets_, 2));
  const std::string other = make_key("beta", {"read", "submit"});
  const CommandRun mine = run("jobs", with_server({"list"}));
  ASSERT_EQ(mine.code, cli::exit_ok) << mine.err;
  EXPECT_NE(mine.out.find("test sweep"), std::string::npos) << mine.out;
  const CommandRun theirs = run("jobs", {"list", "--server", server(), "--key", other});
  ASSERT_EQ(theirs.code, cli::exit_ok) << theirs.err;
  EXPECT_EQ(theirs.out.find("test sweep"), std::string::npos) << theirs.out;
  EXPECT_EQ(run("jobs", {"show", "1", "--server", server(), "--key", other}).code, cli::exit_refused);
}

}  // namespace
}  // namespace flashnas

// ------------------------------------------------------------------ checkpoints


namespace flashnas {
namespace {

using nlohmann::json;

// A sweep of two stories260K candidates evaluated for real (the service's
// evaluate runner), so the downloaded models can be checked against the NLL
// their trials recorded.
class ClientDownloads : public ClientCommands {
 protected:
  void SetUp() override {
    ClientCommands::SetUp();
    conn_ = db_->connect();
    cache_ = std::make_unique<app::EngineCache>(storage_.string(), "");
    json body = sweep_body(assets_, 2);
    body["candidates"][1]["layer_types"] = {"full", "skip", "swa", "full"};
    body["candidates"][1]["sliding_window"] = 16;
    body["candidates"][1]["d_ffn"] = {172, 96, 64, 128};
    body["eval_tokens"] = 4096;
    job_ = submit(body);
    run_tasks(store::TaskKind::evaluate);
    store::QueueOptions opts;
    for (const auto& t : claim(store::TaskKind::latency)) {
      pool_->transact([&](pqxx::transaction_base& tx) {
        // The full five-layer candidate (ordinal 0) is the slower one: both are on the frontier.
        app::complete_task(tx, t, *t.lease_token, test::latency_result(ordinal_of(*t.trial_id) == 0 ? 2.0 : 1.0),
                           opts);
      });
    }
  }
  std::vector<store::Task> claim(store::TaskKind kind) {
    return pool_->transact([&](pqxx::transaction_base& tx) {
      return app::claim_tasks(tx, {{kind}, "test", 60, 100, std::nullopt});
    });
  }
  // Runs every available task of `kind` with the service's runner, as a worker would.
  int run_tasks(store::TaskKind kind) {
    int n = 0;
    for (const auto& t : claim(kind)) {
      const app::TaskResult r = kind == store::TaskKind::evaluate ? app::run_evaluate(*conn_, t, *cache_, 1)
                                                                  : app::run_export(*conn_, t, *cache_, 1);
      pool_->transact([&](pqxx::transaction_base& tx) {
        EXPECT_TRUE(app::complete_task(tx, t, *t.lease_token, r, store::QueueOptions{}));
      });
      ++n;
    }
    return n;
  }
  json trials() { return get("/v1/jobs/" + std::to_string(job_) + "/trials", key_).json().at("items"); }
  // The NLL of the model in `path` on the job's evaluation text, as the evaluate task computes it.
  double nll_of(const std::string& path) {
    const Model backbone = load_model(test::data_path("stories260K.gguf"));
    const auto tokens = tokenize_eval_text(*backbone.tokenizer, test::read_file(test::data_path("tinystories-valid-sample.txt")), 4096);
    return evaluate_nll(load_model(path), tokens, EvalOptions{}).nll;
  }

  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<app::EngineCache> cache_;
  int64_t job_ = 0;
};

TEST_F(ClientDownloads, FrontierModelsAreExportedWhenTheJobEndsAndLoadWithTheTrialsNll) {
  ASSERT_EQ(get("/v1/jobs/" + std::to_string(job_), key_).json().at("state"), "succeeded");
  // Both trials are on the frontier (the smaller one is faster): one export each is waiting.
  EXPECT_EQ(run_tasks(store::TaskKind::export_checkpoint), 2);
  for (const auto& trial : trials()) {
    const std::string id = std::to_string(trial.at("id").get<int64_t>());
    const std::filesystem::path out = storage_ / ("download-" + id);
    const CommandRun r = run("download", with_server({std::to_string(job_), "--trial", id, "--out", out.string()}));
    ASSERT_EQ(r.code, cli::exit_ok) << r.err;
    EXPECT_TRUE(std::filesystem::exists(out / "config.json"));
    EXPECT_NEAR(nll_of(out.string()), trial.at("metrics").at("eval_nll").get<double>(), 1e-6) << "trial " << id;
  }
}

TEST_F(ClientDownloads, AGgufIsExportedOnRequestAndServedWithRangeAndETag) {
  const json trial = trials().at(1);  // the mixed full / skip / swa candidate
  const std::string id = std::to_string(trial.at("id").get<int64_t>());
  const std::string path = "/v1/jobs/" + std::to_string(job_) + "/trials/" + id + "/checkpoint?format=gguf";
  const std::filesystem::path out = storage_ / "download-gguf";
  // Not exported yet: the client waits (here: not long enough), the server starts the export.
  const CommandRun early = run("download", with_server({std::to_string(job_), "--trial", id, "--format", "gguf",
                                                        "--out", out.string(), "--timeout", "0"}));
  EXPECT_EQ(early.code, cli::exit_timed_out) << early.err;
  EXPECT_EQ(get(path, key_).status, 202);
  EXPECT_EQ(run_tasks(store::TaskKind::export_checkpoint), 3);  // the GGUF and the two frontier exports

  const CommandRun r = run("download", with_server({std::to_string(job_), "--trial", id, "--format", "gguf",
                                                    "--out", out.string()}));
  ASSERT_EQ(r.code, cli::exit_ok) << r.err;
  EXPECT_NEAR(nll_of((out / "model.gguf").string()), trial.at("metrics").at("eval_nll").get<double>(), 1e-6);

  const test::Reply whole = get(path, key_);
  ASSERT_EQ(whole.status, 200);
  const std::string etag = whole.headers.find("ETag")->second;
  EXPECT_EQ(etag, "\"" + sha256_hex(whole.body) + "\"");
  const test::Reply part = send("GET", path, key_, "", "", {{"Range", "bytes=4-11"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, whole.body.substr(4, 8));
  EXPECT_EQ(send("GET", path, key_, "", "", {{"If-None-Match", etag}}).status, 304);
}

TEST_F(ClientDownloads, AHealedTrialsCheckpointIsItsHealedModel) {
  json body = sweep_body(assets_, 1);
  body["name"] = "healed";
  body["eval_tokens"] = 4096;
  body["candidates"][0]["n_layers"] = 3;
  body["candidates"][0]["layer_types"] = {"full", "swa", "full"};
  body["candidates"][0]["sliding_window"] = 16;
  body["candidates"][0]["d_ffn"] = {96, 96, 96};
  body["heal"] = {{"train", assets_[1]}, {"steps", 6}, {"batch", 2}, {"ctx", 64}, {"distill", 1.0}};
  const int64_t job = submit(body);
  run_tasks(store::TaskKind::evaluate);
  for (const auto& t : claim(store::TaskKind::latency)) {
    pool_->transact([&](pqxx::transaction_base& tx) {
      app::complete_task(tx, t, *t.lease_token, test::latency_result(1.0), store::QueueOptions{});
    });
  }
  run_tasks(store::TaskKind::export_checkpoint);
  const json trial = get("/v1/jobs/" + std::to_string(job) + "/trials", key_).json().at("items").at(0);
  ASSERT_EQ(trial.at("state"), "succeeded") << trial.dump();
  const double healed = trial.at("metrics").at("eval_nll").get<double>();
  ASSERT_LT(healed, trial.at("metrics").at("zero_shot_nll").get<double>() - 0.01) << trial.dump();
  const std::filesystem::path out = storage_ / "download-healed";
  const CommandRun r = run("download", with_server({std::to_string(job), "--trial",
                                                    std::to_string(trial.at("id").get<int64_t>()), "--out", out.string()}));
  ASSERT_EQ(r.code, cli::exit_ok) << r.err;
  EXPECT_NEAR(nll_of(out.string()), healed, 1e-5);
}

TEST_F(ClientDownloads, OnlyTheProjectsSucceededTrialsHaveCheckpoints) {
  const std::string id = std::to_string(trials().at(0).at("id").get<int64_t>());
  const std::string other = make_key("beta", {"read"});
  EXPECT_EQ(get("/v1/jobs/" + std::to_string(job_) + "/trials/" + id + "/checkpoint", other).status, 404);
  EXPECT_EQ(get("/v1/jobs/" + std::to_string(job_) + "/trials/999/checkpoint", key_).status, 404);
  EXPECT_EQ(get("/v1/jobs/" + std::to_string(job_) + "/trials/" + id + "/checkpoint?format=onnx", key_).status, 400);
  // A trial that failed has no model.
  const int64_t failing = submit(sweep_body(assets_, 1));
  settle({}, {}, /*fail=*/true);
  const json t = get("/v1/jobs/" + std::to_string(failing) + "/trials", key_).json().at("items").at(0);
  EXPECT_EQ(get("/v1/jobs/" + std::to_string(failing) + "/trials/" + std::to_string(t.at("id").get<int64_t>()) +
                    "/checkpoint", key_).status, 409);
}

}  // namespace
}  // namespace flashnas

namespace flashnas {
namespace {

// scripts/ci-gate as a CI step runs it: a process with the server and key in its
// environment, while this test plays the workers. One case per exit code.
class CiGateScript : public ClientDownloads {
 protected:
  struct ScriptRun {
    int code = -1;
    std::string output;
  };
  // Starts the script; `act` runs meanwhile (after the script's job exists, when wait_for_job).
  template <class Act>
  ScriptRun gate(const std::vector<std::string>& args, Act&& act, bool wait_for_job = true,
                 const std::string& server = "") {
    const int64_t jobs_before = job_count();
    std::string command = "FLASHNAS_SERVER=" + (server.empty() ? this->server() : server) + " FLASHNAS_API_KEY=" + key_ +
                          " FLASHNAS_RETRY_SECONDS=0.5 FLASHNAS_CLI=" FLASHNAS_BINARY_DIR "/cli/flashnas " FLASHNAS_SOURCE_DIR
                          "/scripts/ci-gate";
    for (const auto& a : args) command += " '" + a + "'";
    command += " 2>&1";
    auto running = std::async(std::launch::async, [command] {
      ScriptRun r;
      FILE* pipe = popen(command.c_str(), "r");
      char buffer[4096];
      while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) r.output.append(buffer, n);
      const int status = pclose(pipe);
      r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return r;
    });
    if (wait_for_job) {
      for (int i = 0; i < 300 && job_count() == jobs_before; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    act();
    return running.get();
  }
  std::string job_file(const std::string& name, bool valid = true) {
    json body = sweep_body(assets_, 2);
    body["name"] = name;
    body["eval_tokens"] = 4096;
    if (!valid) body.erase("backbone");
    return write_job(body, name + ".json");
  }
  // Plays the workers until the script's export is done: evaluations, latencies, then exports.
  void work_until_exported() {
    run_tasks(store::TaskKind::evaluate);
    for (const auto& t : claim(store::TaskKind::latency)) {
      pool_->transact([&](pqxx::transaction_base& tx) {
        app::complete_task(tx, t, *t.lease_token, test::latency_result(ordinal_of(*t.trial_id) == 0 ? 2.0 : 1.0),
                           store::QueueOptions{});
      });
    }
    for (int i = 0; i < 200 && run_tasks(store::TaskKind::export_checkpoint) < 1; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    run_tasks(store::TaskKind::export_checkpoint);  // the one the download asked for, if separate
  }
};

TEST_F(CiGateScript, PassesAndDownloadsTheBestModelThatMeetsTheGate) {
  const std::string out = (storage_ / "gate-out").string();
  const auto r = gate({job_file("pass"), "prefill_ms<=5,eval_nll<=8", out, "60"}, [&] { work_until_exported(); });
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(out) / "model.safetensors")) << r.output;
  // The best point meeting the gate is the full five-layer candidate (lowest NLL): its model was downloaded.
  EXPECT_NE(r.output.find("meets prefill_ms<=5,eval_nll<=8"), std::string::npos) << r.output;
}

TEST_F(CiGateScript, ExitsEightWhenNoFrontierPointMeetsTheGate) {
  const auto r = gate({job_file("unmet"), "eval_nll<=0.1", (storage_ / "none").string(), "60"},
                      [&] { work_until_exported(); });
  EXPECT_EQ(r.code, cli::exit_gate_unmet) << r.output;
  EXPECT_NE(r.output.find("closest"), std::string::npos) << r.output;
}

TEST_F(CiGateScript, ExitsThreeFourAndFiveForAFailedCancelledOrSlowJob) {
  EXPECT_EQ(gate({job_file("fails"), "eval_nll<=8", "/tmp/x", "60"}, [&] { settle({}, {}, true); }).code,
            cli::exit_job_failed);
  EXPECT_EQ(gate({job_file("cancelled"), "eval_nll<=8", "/tmp/x", "60"}, [&] {
              EXPECT_EQ(post_json("/v1/jobs/" + std::to_string(job_count()) + "/cancel", key_, json::object()).status, 200);
            }).code,
            cli::exit_job_cancelled);
  EXPECT_EQ(gate({job_file("slow"), "eval_nll<=8", "/tmp/x", "1"}, [] {}).code, cli::exit_timed_out);
}

TEST_F(CiGateScript, ExitsTwoSixAndSevenForBadArgumentsARefusedJobOrNoServer) {
  EXPECT_EQ(gate({"only-one-argument"}, [] {}, false).code, cli::exit_bad_input);
  EXPECT_EQ(gate({job_file("refused", false), "eval_nll<=8", "/tmp/x", "60"}, [] {}, false).code, cli::exit_refused);
  EXPECT_EQ(gate({job_file("nowhere"), "eval_nll<=8", "/tmp/x", "60"}, [] {}, false, "http://127.0.0.1:1").code,
            cli::exit_unreachable);
}

}  // namespace
}  // namespace flashnas
