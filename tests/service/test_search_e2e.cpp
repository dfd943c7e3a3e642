// End to end, with every piece a real process: a private PostgreSQL cluster
// (scripts/pg-start with its own data directory, so it can be restarted without
// disturbing other tests), flashnas-server and two flashnas-worker processes run
// search jobs over stories260K through HTTP alone.
//  - A small search finishes: every frontier trial's NLL equals what `flashnas
//    evaluate-candidate` prints for it, the frontier is exactly the non-dominated
//    set of the job's trials, the hypervolume history never decreases, no two
//    trials share an architecture; the latency model is served with its report
//    and predicts.
//  - A search with fidelities (zero-shot, then 10 heal steps on the rung's own
//    schedule and 30 on heal's) promotes only some trials, heals each promoted
//    one once per rung, and ends with a frontier of top-fidelity trials, quality
//    their healed NLL.
//  - Faults: a worker SIGKILLed in the middle of a search step and another in the
//    middle of an evaluation, the server restarted and PostgreSQL restarted, all
//    mid-job: the job still finishes with exactly `budget` stage-2 evaluations,
//    no step twice, no trial twice, one result per task.
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "engine/util/sha256.hpp"
#include "store/store.hpp"
#include "tests/service/worker_process.hpp"
#include "tests/support/test_data.hpp"

namespace flashnas::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class SearchE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    pgdata_ = std::filesystem::path("/tmp") / ("flashnas-e2e-pg-" + std::to_string(::getpid()) + "-" +
                                                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    pg("pg-start");
    url_ = read_file((pgdata_ / "url").string());
    url_.erase(url_.find_last_not_of("\n") + 1);
    store::migrate(url_, std::string(FLASHNAS_SOURCE_DIR) + "/migrations");
    key_ = "fnk_e2e_search_key";
    auto conn = store::open_connection(url_);
    store::in_transaction(*conn, [&](pqxx::transaction_base& tx) {
      const auto p = store::project_ensure(tx, "alpha");
      store::api_key_create(tx, {p.id, sha256_hex(key_), "fnk_e2e", {"read", "submit"}, ""});
    });
    storage_ = scratch_dir("storage");
    port_ = free_port();
    start_server();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(30, 0);
    for (int i = 0; i < 2; ++i) start_worker();
  }

  void TearDown() override {
    workers_.clear();
    server_.reset();
    pg("pg-stop --remove");
  }

  // Runs a cluster script on this test's own data directory (its messages show when it fails).
  void pg(const std::string& script) {
    run_command("FLASHNAS_PGDATA=" + pgdata_.string() + " " + FLASHNAS_SOURCE_DIR + "/scripts/" + script + " 2>&1");
  }

  void start_server() {
    server_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        std::string(FLASHNAS_BINARY_DIR) + "/server/flashnas-server", "--listen",
        "127.0.0.1:" + std::to_string(port_), "--storage", storage_.string(), "--database", url_, "--threads", "4",
        "--log-level", "warn"});
    if (!wait_until_healthy(port_)) FAIL() << "flashnas-server did not start";
  }

  // A worker of every role; ids w0, w1, ... in start order.
  void start_worker() {
    std::string id = "w";
    id += std::to_string(next_worker_++);
    workers_[id] = std::make_unique<ChildProcess>(std::vector<std::string>{
        std::string(FLASHNAS_BINARY_DIR) + "/workers/flashnas-worker", "--roles",
        "evaluate,latency,search_step,fit_latency_model", "--concurrency", "1", "--database", url_, "--storage",
        storage_.string(), "--worker-id", id, "--lease-seconds", "3", "--heartbeat-seconds", "0.5",
        "--rescue-seconds", "0.5", "--poll-seconds", "0.2", "--grace-seconds", "2"});
  }

  // Retries while the server restarts.
  httplib::Result request(const std::string& method, const std::string& path, const std::string& body = "",
                          const std::string& type = "application/json") {
    const httplib::Headers headers = {{"Authorization", "Bearer " + key_}};
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto r = method == "GET" ? client_->Get(path.c_str(), headers)
                               : client_->Post(path.c_str(), headers, body, type.c_str());
      if (r) return r;
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << method << " " << path << ": no answer";
    return client_->Get(path.c_str(), headers);
  }
  json get(const std::string& path) {
    auto r = request("GET", path);
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
    return json::parse(r->body);
  }

  int64_t upload(const std::string& path, const std::string& file, const std::string& type) {
    auto r = request("POST", path, read_file(data_path(file)), type);
    EXPECT_EQ(r->status, 201) << r->body;
    return json::parse(r->body).at("id").get<int64_t>();
  }

  json search_body() {
    const int64_t model = upload("/v1/models?name=stories260K&format=gguf", "stories260K.gguf", "application/octet-stream");
    const int64_t calib = upload("/v1/datasets?name=train", "tinystories-train-sample.txt", "text/plain");
    const int64_t eval = upload("/v1/datasets?name=valid", "tinystories-valid-sample.txt", "text/plain");
    return {{"kind", "search"},
            {"name", "e2e search"},
            {"backbone", model},
            {"calibration", calib},
            {"eval", eval},
            {"calib_tokens", 4096},
            {"eval_tokens", 4096},
            {"space",
             {{"n_layers", {{"min", 2}, {"max", 5}, {"step", 1}}},
              {"d_model", {{"min", 32}, {"max", 64}, {"step", 16}}},
              {"d_ffn", {{"min", 64}, {"max", 172}, {"step", 36}}},
              {"layer_kinds", {"full", "swa", "skip"}},
              {"sliding_windows", {16, 32}}}},
            {"latency", {{"device_kind", "local-cpu"}, {"prompt_len", 64}, {"decode_tokens", 8}, {"repeats", 3}}},
            {"stage1", {{"samples", 12}, {"holdout", 4}, {"repeats", 3}, {"batch", 4}}},
            {"stage2", {{"budget", kBudget}, {"batch", 4}, {"initial", 4}}},
            {"seed", 1}};
  }

  int64_t submit(const json& body) {
    auto r = request("POST", "/v1/jobs", body.dump());
    EXPECT_EQ(r->status, 201) << r->body;
    return json::parse(r->body).at("id").get<int64_t>();
  }

  json wait_for_job(int64_t id, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    json job;
    while (std::chrono::steady_clock::now() < deadline) {
      job = get("/v1/jobs/" + std::to_string(id));
      const std::string state = job.at("state");
      if (state == "succeeded" || state == "failed" || state == "cancelled") return job;
      std::this_thread::sleep_for(200ms);
    }
    ADD_FAILURE() << "job " << id << " did not finish in " << timeout.count() << " s: " << job.dump();
    return job;
  }

  // A query on this test's database (a fresh connection: PostgreSQL may have restarted).
  int64_t scalar(const std::string& sql) {
    for (int attempt = 0;; ++attempt) {
      try {
        auto conn = store::connect(url_);
        pqxx::nontransaction tx(*conn);
        return tx.exec1(sql)[0].as<int64_t>();
      } catch (const pqxx::broken_connection&) {
        if (attempt > 50) throw;
        std::this_thread::sleep_for(100ms);
      }
    }
  }

  // Waits until a task of `kind` runs, then SIGKILLs the worker holding it and
  // starts a replacement, until a kill leaves such a task unfinished. Returns
  // whether it did within `timeout`.
  bool kill_worker_during(const std::string& kind, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      for (auto& [id, worker] : workers_) {
        if (!worker) continue;
        const std::string held = "SELECT coalesce(min(id), 0) FROM tasks WHERE state = 'running' AND kind = '" +
                                 kind + "' AND worker_id LIKE '" + id + "/%'";
        const int64_t task = scalar(held);
        if (task > 0) {
          worker->stop(SIGKILL);
          worker.reset();
          start_worker();
          // A short task (a search step) may have committed between the read and
          // the kill: then nothing was cut off, and the kill must come again.
          std::this_thread::sleep_for(50ms);  // a commit already sent lands
          if (scalar("SELECT count(*) FROM tasks WHERE state = 'running' AND id = " + std::to_string(task)) > 0) {
            return true;
          }
        }
      }
      std::this_thread::sleep_for(2ms);
    }
    return false;
  }

  static constexpr int kBudget = 12;
  std::filesystem::path pgdata_, storage_;
  std::string url_, key_;
  int port_ = 0;
  int next_worker_ = 0;
  std::unique_ptr<ChildProcess> server_;
  std::map<std::string, std::unique_ptr<ChildProcess>> workers_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(SearchE2E, ASearchFinishesWithTheFrontierOfItsTrials) {
  const int64_t id = submit(search_body());
  const json job = wait_for_job(id, 600s);
  ASSERT_EQ(job.at("state"), "succeeded") << job.dump();
  EXPECT_EQ(job.at("stage"), "done");
  EXPECT_EQ(job.at("progress").at("evaluated"), kBudget);
  EXPECT_EQ(job.at("progress").at("stage1_measured"), 16);

  const json trials = get("/v1/jobs/" + std::to_string(id) + "/trials").at("items");
  ASSERT_EQ(trials.size(), static_cast<size_t>(kBudget));
  std::set<std::string> hashes;
  for (const auto& t : trials) {
    EXPECT_TRUE(hashes.insert(t.at("arch_hash").get<std::string>()).second) << "an architecture twice";
    ASSERT_EQ(t.at("state"), "succeeded") << t.dump();
  }
  // The frontier is exactly the non-dominated set (eval NLL, measured prefill ms).
  std::set<int64_t> expected, got;
  for (const auto& a : trials) {
    bool dominated = false;
    for (const auto& b : trials) {
      const double an = a["metrics"]["eval_nll"], al = a["metrics"]["prefill_ms"];
      const double bn = b["metrics"]["eval_nll"], bl = b["metrics"]["prefill_ms"];
      dominated = dominated || (bn <= an && bl <= al && (bn < an || bl < al));
    }
    if (!dominated) expected.insert(a.at("id").get<int64_t>());
  }
  const json frontier = get("/v1/jobs/" + std::to_string(id) + "/frontier");
  for (const auto& p : frontier.at("points")) got.insert(p.at("trial_id").get<int64_t>());
  EXPECT_EQ(got, expected);
  EXPECT_EQ(frontier.at("version"), job.at("frontier_version"));

  const json history = get("/v1/jobs/" + std::to_string(id) + "/hypervolume").at("items");
  ASSERT_EQ(history.size(), static_cast<size_t>(kBudget));
  for (size_t i = 1; i < history.size(); ++i) {
    EXPECT_GE(history[i].at("hypervolume").get<double>(), history[i - 1].at("hypervolume").get<double>());
  }

  // Every frontier trial's NLL equals the command line's on the same files.
  const std::string flashnas = std::string(FLASHNAS_BINARY_DIR) + "/cli/flashnas";
  const auto dir = scratch_dir("archs");
  for (const auto& p : frontier.at("points")) {
    const auto arch_file = dir / ("arch" + std::to_string(p.at("ordinal").get<int>()) + ".json");
    std::ofstream(arch_file) << p.at("arch").dump();
    const std::string out = run_command(flashnas + " evaluate-candidate --model " + data_path("stories260K.gguf") +
                                        " --arch " + arch_file.string() + " --calib " +
                                        data_path("tinystories-train-sample.txt") + " --eval " +
                                        data_path("tinystories-valid-sample.txt") +
                                        " --calib-tokens 4096 --eval-tokens 4096 --ctx 256 --threads 1 --json");
    const json cli = json::parse(out.substr(out.find('{')));
    EXPECT_DOUBLE_EQ(p.at("eval_nll").get<double>(), cli.at("eval_nll").get<double>()) << p.at("arch").dump();
  }

  // The latency model the search used: its report, and predictions.
  const int64_t model_id = job.at("latency_model_id");
  const json model = get("/v1/latency-models/" + std::to_string(model_id));
  EXPECT_EQ(model.at("holdout_points").size(), 4u);
  EXPECT_TRUE(model.at("accuracy").at("prefill").contains("r2"));
  auto r = request("POST", "/v1/latency-models/" + std::to_string(model_id) + "/predict",
                   json{{"archs", {trials[0].at("arch")}}}.dump());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_GT(json::parse(r->body).at("predictions")[0].at("prefill_ms").get<double>(), 0.0);
}

TEST_F(SearchE2E, CrashesAndRestartsMidJobLoseAndDuplicateNothing) {
  const int64_t id = submit(search_body());
  const std::string job = std::to_string(id);
  // 1. A worker dies in the middle of a search step.
  ASSERT_TRUE(kill_worker_during("search_step", 300s)) << "no search step was ever seen running";
  // 2. A worker dies in the middle of an evaluation.
  ASSERT_TRUE(kill_worker_during("evaluate", 120s)) << "no evaluation was ever seen running";
  // 3. The server restarts.
  server_->stop(SIGTERM);
  start_server();
  // 4. PostgreSQL restarts while trials are still in flight.
  const int64_t before = scalar("SELECT count(*) FROM trials WHERE state IN ('succeeded', 'failed')");
  pg("pg-stop");
  std::this_thread::sleep_for(1s);
  pg("pg-start");
  const json done = wait_for_job(id, 600s);
  ASSERT_EQ(done.at("state"), "succeeded") << done.dump();
  EXPECT_LT(before, kBudget) << "the restart came after the last evaluation";

  // Exactly the budget; no trial twice; no step twice; one result per task.
  EXPECT_EQ(scalar("SELECT count(*) FROM trials WHERE job_id = " + job), kBudget);
  EXPECT_EQ(scalar("SELECT count(DISTINCT arch_hash) FROM trials WHERE job_id = " + job), kBudget);
  EXPECT_EQ(scalar("SELECT count(*) FROM trials WHERE job_id = " + job + " AND state <> 'succeeded'"), 0);
  EXPECT_EQ(scalar("SELECT count(*) - count(DISTINCT step) FROM tasks WHERE kind = 'search_step' AND job_id = " + job), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM (SELECT trial_id, kind FROM tasks WHERE trial_id IS NOT NULL AND job_id = " +
                   job + " AND kind <> 'export' GROUP BY 1, 2"
                   " HAVING count(*) <> 1 OR count(*) FILTER (WHERE state = 'succeeded') <> 1) d"),
            0);
  // The job's end queued one export per frontier trial (no worker here takes exports).
  const json frontier = get("/v1/jobs/" + job + "/frontier");
  EXPECT_EQ(scalar("SELECT count(*) FROM tasks WHERE kind = 'export' AND job_id = " + job),
            static_cast<int64_t>(frontier.at("points").size()));
  EXPECT_EQ(scalar("SELECT count(*) FROM latency_measurements WHERE phase = 'trial' AND job_id = " + job), kBudget);
  EXPECT_GE(scalar("SELECT count(*) FROM tasks WHERE attempts > 1 AND job_id = " + job), 2)
      << "the killed workers' tasks ran again";
  const json history = get("/v1/jobs/" + job + "/hypervolume").at("items");
  EXPECT_EQ(history.size(), static_cast<size_t>(kBudget));
}

TEST_F(SearchE2E, ASearchWithFidelitiesHealsOnlyThePromotedTrials) {
  json body = search_body();
  body["heal"] = {{"train", body.at("calibration")}, {"train_tokens", 8193}, {"tokens_per_step", 512}, {"ctx", 64},
                  {"lr", 1e-3}, {"warmup_steps", 2}, {"distill", 1.0}};
  // The middle rung heals on its own schedule; the top one on heal's.
  body["fidelities"] = json::array({0, {{"steps", 10}, {"lr", 5e-4}, {"warmup_steps", 1}}, 30});
  const int64_t id = submit(body);
  const json job = wait_for_job(id, 600s);
  ASSERT_EQ(job.at("state"), "succeeded") << job.dump();
  EXPECT_EQ(job.at("spec").at("fidelities"), body.at("fidelities")) << "the job shows its rungs as submitted";

  const json trials = get("/v1/jobs/" + std::to_string(id) + "/trials").at("items");
  ASSERT_EQ(trials.size(), static_cast<size_t>(kBudget)) << "promotions are not new trials";
  std::map<int64_t, json> by_id;
  int at_rung[3] = {0, 0, 0};
  for (const auto& t : trials) {
    ASSERT_EQ(t.at("state"), "succeeded") << t.dump();
    by_id[t.at("id").get<int64_t>()] = t;
    ++at_rung[t.at("rung").get<int>()];
    EXPECT_EQ(t.at("fidelity"), std::vector<int>({0, 10, 30}).at(t.at("rung").get<size_t>()));
  }
  const int promoted = at_rung[1] + at_rung[2];
  EXPECT_GE(promoted, kBudget / 3);
  EXPECT_LT(promoted, kBudget) << "only some trials go on";
  EXPECT_GE(at_rung[2], 1);
  // One evaluation per rung result: every promotion ran once, healed for its rung's steps.
  const std::string job_id = std::to_string(id);
  EXPECT_EQ(scalar("SELECT count(*) FROM tasks WHERE kind = 'evaluate' AND job_id = " + job_id),
            scalar("SELECT count(*) FROM trial_rungs r JOIN trials t ON t.id = r.trial_id WHERE t.job_id = " + job_id));
  EXPECT_EQ(scalar("SELECT count(*) FROM tasks WHERE kind = 'evaluate' AND job_id = " + job_id), kBudget + promoted +
                                                                                                   at_rung[2]);
  EXPECT_EQ(scalar("SELECT count(*) FROM tasks WHERE kind = 'evaluate' AND job_id = " + job_id +
                   " AND payload->'heal'->>'steps' = '30' AND (payload->'heal'->>'lr')::float8 = 1e-3"), at_rung[2]);
  EXPECT_EQ(scalar("SELECT count(*) FROM tasks WHERE kind = 'evaluate' AND job_id = " + job_id +
                   " AND payload->'heal'->>'steps' = '10' AND (payload->'heal'->>'lr')::float8 = 5e-4" +
                   " AND payload->'heal'->>'warmup_steps' = '1'"), promoted);

  const json frontier = get("/v1/jobs/" + std::to_string(id) + "/frontier");
  ASSERT_FALSE(frontier.at("points").empty());
  for (const auto& p : frontier.at("points")) {
    const json& t = by_id.at(p.at("trial_id").get<int64_t>());
    EXPECT_EQ(t.at("rung"), 2) << "the frontier holds top-fidelity trials only";
    const json& m = t.at("metrics");
    EXPECT_DOUBLE_EQ(p.at("eval_nll").get<double>(), m.at("healed_nll").get<double>());
    EXPECT_EQ(m.at("heal").at("steps"), 30);
  }
  // Healing helps the promoted trials on the whole (a candidate close to the
  // backbone may lose a little: it already matches the distillation target).
  double zero_shot = 0, healed = 0;
  for (const auto& [tid, t] : by_id) {
    if (t.at("rung") == 0) continue;
    zero_shot += t.at("metrics").at("zero_shot_nll").get<double>();
    healed += t.at("metrics").at("healed_nll").get<double>();
  }
  EXPECT_LT(healed, zero_shot);
  std::printf("fidelities [0, 10, 30], eta 3, budget %d: %d trials at rung 0, %d at 1, %d at 2; %zu frontier points\n",
              kBudget, at_rung[0], at_rung[1], at_rung[2], frontier.at("points").size());
}

}  // namespace
}  // namespace flashnas::test
