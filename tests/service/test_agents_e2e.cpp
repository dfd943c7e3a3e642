// Device agents end to end, every piece a real process: flashnas-server, one
// flashnas-worker (evaluations, search steps and fits only: it never measures
// latency), and flashnas-agent processes that reach the service over HTTP
// alone. Two agents of kind pin-a (pinned to different CPUs, two registered
// devices) serve a search job's stage 1 and its trials' latencies; an agent of
// kind pin-b serves a latency study of its own. The first pin-a agent is killed
// with SIGKILL while it holds a batch it is measuring: its tasks come back when
// the lease runs out and finish on the other agent. A pin-b agent stopped with
// SIGTERM mid-batch gives the batch back and exits 0. The server is killed and
// restarted mid-job: the agents wait and go on. A revoked device's agent is
// refused and exits. And the cross-built aarch64 agent, bundled with its own
// loader and libraries, serves a latency study under qemu-aarch64.
#include <httplib.h>

#include <chrono>
#include <set>
#include <thread>

#include "engine/runtime/vector_math.hpp"
#include "engine/util/sha256.hpp"
#include "store/store.hpp"
#include "tests/service/worker_process.hpp"
#include "tests/support/test_data.hpp"
#include "tests/support/test_db.hpp"

namespace flashnas::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class AgentsE2E : public DbTest {
 protected:
  void SetUp() override {
    DbTest::SetUp();
    key_ = "fnk_e2e_agents_key";
    store::ConnectionPool pool(db_->url(), {.size = 1});
    pool.transact([&](pqxx::transaction_base& tx) {
      const auto p = store::project_ensure(tx, "alpha");
      store::api_key_create(tx, {p.id, sha256_hex(key_), "fnk_e2e", {"read", "submit", "admin"}, ""});
    });
    storage_ = scratch_dir("agents_storage");
    port_ = free_port();
    start_server();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(30, 0);
    worker_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        std::string(FLASHNAS_BINARY_DIR) + "/workers/flashnas-worker", "--roles", "evaluate,search_step,fit_latency_model",
        "--database", db_->url(), "--storage", storage_.string(), "--poll-seconds", "0.2", "--rescue-seconds", "0.5"});
  }
  void start_server() {
    server_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        std::string(FLASHNAS_BINARY_DIR) + "/server/flashnas-server", "--listen", "127.0.0.1:" + std::to_string(port_),
        "--storage", storage_.string(), "--database", db_->url(), "--threads", "8", "--agent-lease-seconds", "2",
        "--log-level", "warn"});
    ASSERT_TRUE(wait_until_healthy(port_)) << "flashnas-server did not start";
  }
  void TearDown() override {
    agents_.clear();
    worker_.reset();
    server_.reset();
    DbTest::TearDown();
  }

  httplib::Result request(const std::string& method, const std::string& path, const std::string& token,
                          const std::string& body = "", const std::string& type = "application/json") {
    const httplib::Headers headers = {{"Authorization", "Bearer " + token}};
    return method == "GET" ? client_->Get(path.c_str(), headers)
                           : client_->Post(path.c_str(), headers, body, type.c_str());
  }
  json call(const std::string& method, const std::string& path, const json& body = json::object(), int status = 200) {
    auto r = request(method, path, key_, body.dump());
    EXPECT_TRUE(r && r->status == status) << method << " " << path << ": " << (r ? r->body : "no answer");
    return r ? json::parse(r->body) : json();
  }
  int64_t upload(const std::string& path, const std::string& file, const std::string& type) {
    auto r = request("POST", path, key_, read_file(data_path(file)), type);
    EXPECT_EQ(r->status, 201) << r->body;
    return json::parse(r->body).at("id").get<int64_t>();
  }
  // Registers a device; returns {id, token}.
  std::pair<int64_t, std::string> add_device(const std::string& kind, const std::string& name) {
    const json r = call("POST", "/v1/devices", {{"kind", kind}, {"name", name}}, 201);
    return {r.at("device").at("id").get<int64_t>(), r.at("token").get<std::string>()};
  }
  // `program` (this build's agent by default) with the flags every agent here takes.
  ChildProcess& start_agent(const std::string& name, const std::string& token, int cpu,
                            std::vector<std::string> program = {FLASHNAS_BINARY_DIR "/agent/flashnas-agent"}) {
    const std::vector<std::string> flags = {"--server", "http://127.0.0.1:" + std::to_string(port_), "--token", token,
                                            "--pin", std::to_string(cpu), "--name", name, "--idle-seconds", "0.2",
                                            "--batch", "4", "--log-level", "warn"};
    program.insert(program.end(), flags.begin(), flags.end());
    agents_[name] = std::make_unique<ChildProcess>(program);
    return *agents_[name];
  }
  // A search space of stories260K's pruned candidates.
  static json stories_space() {
    return {{"n_layers", {{"min", 2}, {"max", 5}, {"step", 1}}},
            {"d_model", {{"min", 32}, {"max", 64}, {"step", 16}}},
            {"d_ffn", {{"min", 64}, {"max", 172}, {"step", 36}}},
            {"layer_kinds", {"full", "swa", "skip"}},
            {"sliding_windows", {16, 32}}};
  }
  json wait_for_job(int64_t id, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    json job;
    while (std::chrono::steady_clock::now() < deadline) {
      job = call("GET", "/v1/jobs/" + std::to_string(id));
      const std::string state = job.at("state");
      if (state == "succeeded" || state == "failed" || state == "cancelled") return job;
      std::this_thread::sleep_for(200ms);
    }
    ADD_FAILURE() << "job " << id << " did not finish in " << timeout.count() << " s: " << job.dump();
    return job;
  }
  std::vector<int64_t> ids(const std::string& sql) {
    auto conn = store::connect(db_->url());
    pqxx::nontransaction tx(*conn);
    std::vector<int64_t> out;
    for (const auto& row : tx.exec(sql)) out.push_back(row[0].as<int64_t>());
    return out;
  }
  int64_t scalar(const std::string& sql) { return ids(sql).at(0); }
  // The ids of the tasks agent `name` of device `device` is running, once it
  // runs any (polled for up to 5 s; empty if it never does).
  std::vector<int64_t> held_by(int64_t device, const std::string& name) {
    const std::string sql = "SELECT id FROM tasks WHERE state = 'running' AND worker_id = 'device-" +
                            std::to_string(device) + "/" + name + "' ORDER BY id";
    std::vector<int64_t> held;
    for (int i = 0; i < 500 && held.empty(); ++i) {
      held = ids(sql);
      if (held.empty()) std::this_thread::sleep_for(10ms);
    }
    return held;
  }

  std::string key_;
  std::filesystem::path storage_;
  int port_ = 0;
  std::unique_ptr<ChildProcess> server_, worker_;
  std::map<std::string, std::unique_ptr<ChildProcess>> agents_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(AgentsE2E, AgentsOfTwoKindsServeJobsThroughTheServerAndSurviveAKilledPeer) {
  const int64_t model = upload("/v1/models?name=stories260K&format=gguf", "stories260K.gguf", "application/octet-stream");
  const int64_t calib = upload("/v1/datasets?name=train", "tinystories-train-sample.txt", "text/plain");
  const int64_t eval = upload("/v1/datasets?name=valid", "tinystories-valid-sample.txt", "text/plain");
  const auto [a1, a1_token] = add_device("pin-a", "a1");
  const auto [a2, a2_token] = add_device("pin-a", "a2");
  const auto [b, b_token] = add_device("pin-b", "b1");
  const auto [c, c_token] = add_device("pin-a", "revoked");
  const json space = stories_space();
  // Many repeats per stage-1 point: a batch takes long enough to be caught mid-measurement.
  const json search = {{"kind", "search"}, {"name", "on pin-a"}, {"backbone", model}, {"calibration", calib},
                       {"eval", eval}, {"calib_tokens", 4096}, {"eval_tokens", 4096}, {"space", space},
                       {"latency", {{"device_kind", "pin-a"}, {"prompt_len", 64}, {"decode_tokens", 8}, {"repeats", 3}}},
                       {"stage1", {{"samples", 12}, {"holdout", 4}, {"repeats", 60}, {"batch", 4}}},
                       {"stage2", {{"budget", 4}, {"batch", 2}, {"initial", 2}}},
                       {"seed", 3}};
  const int64_t search_job = call("POST", "/v1/jobs", search, 201).at("id");
  const json study = {{"kind", "latency_study"}, {"name", "on pin-b"}, {"backbone", model}, {"space", space},
                      {"latency", {{"device_kind", "pin-b"}, {"prompt_len", 32}, {"decode_tokens", 4}}},
                      {"stage1", {{"samples", 8}, {"holdout", 4}, {"repeats", 300}, {"batch", 4}}}};
  const int64_t study_job = call("POST", "/v1/jobs", study, 201).at("id");
  EXPECT_FALSE(call("GET", "/v1/jobs/" + std::to_string(search_job)).at("waiting").is_null())
      << "no agent yet: the job says what it waits for";

  // A revoked device's agent is refused at once and exits with its own code.
  call("POST", "/v1/devices/" + std::to_string(c) + "/revoke");
  const int refused = start_agent("revoked", c_token, 0).wait_exit(10s);
  ASSERT_TRUE(WIFEXITED(refused));
  EXPECT_EQ(WEXITSTATUS(refused), 6);
  // A device token reads nothing.
  EXPECT_EQ(request("GET", "/v1/jobs/" + std::to_string(search_job), a1_token)->status, 403);

  // The first pin-a agent alone: killed while it measures its first batch.
  start_agent("a1", a1_token, 0);
  const std::vector<int64_t> held = held_by(a1, "a1");
  ASSERT_FALSE(held.empty()) << "agent a1 never claimed a task";
  agents_["a1"]->stop(SIGKILL);
  EXPECT_EQ(scalar("SELECT count(*) FROM latency_measurements WHERE device_id = " + std::to_string(a1)), 0)
      << "a1 was killed mid-measurement, before posting anything";

  // The pin-b agent stopped with SIGTERM while it measures: it gives its batch
  // back (available at once, the attempt not counted) and exits 0.
  start_agent("b0", b_token, 0);
  const std::vector<int64_t> b0_held = held_by(b, "b0");
  ASSERT_FALSE(b0_held.empty()) << "agent b0 never claimed a task";
  const int terminated = agents_["b0"]->stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(terminated) && WEXITSTATUS(terminated) == 0) << terminated;
  for (int64_t task : b0_held) {
    const std::string where = " FROM tasks WHERE id = " + std::to_string(task);
    EXPECT_EQ(scalar("SELECT (state = 'available')::int" + where), 1) << task;
    EXPECT_EQ(scalar("SELECT attempts" + where), 0) << task;
  }

  start_agent("a2", a2_token, 1);
  start_agent("b1", b_token, 0);
  // The server goes away mid-job and comes back: the agents back off and go on.
  for (int i = 0; i < 500 && scalar("SELECT count(*) FROM latency_measurements WHERE device_id = " +
                                    std::to_string(a2)) == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  server_->stop(SIGKILL);
  std::this_thread::sleep_for(1500ms);
  start_server();
  const json s = wait_for_job(search_job, 240s);
  const json l = wait_for_job(study_job, 240s);
  ASSERT_EQ(s.at("state"), "succeeded") << s.dump();
  ASSERT_EQ(l.at("state"), "succeeded") << l.dump();

  // What a1 held finished on a2, on the lease's second attempt.
  for (int64_t task : held) {
    const std::string where = " FROM tasks WHERE id = " + std::to_string(task);
    EXPECT_EQ(scalar("SELECT (state = 'succeeded')::int" + where), 1) << task;
    EXPECT_EQ(scalar("SELECT attempts" + where), 2) << task;
    EXPECT_EQ(scalar("SELECT (worker_id = 'device-" + std::to_string(a2) + "/a2')::int" + where), 1) << task;
  }
  // Every latency of the search came from a2, once per task; the study's from b1.
  const std::string search_m = " FROM latency_measurements WHERE job_id = " + std::to_string(search_job);
  EXPECT_EQ(scalar("SELECT count(*)" + search_m + " AND device_id IS DISTINCT FROM " + std::to_string(a2)), 0);
  EXPECT_EQ(scalar("SELECT count(*)" + search_m),
            scalar("SELECT count(*) FROM tasks WHERE kind = 'latency' AND job_id = " + std::to_string(search_job)));
  EXPECT_EQ(scalar("SELECT count(*)" + search_m + " AND trial_id IS NOT NULL"), 4) << "the 4 trials' latencies too";
  EXPECT_EQ(scalar("SELECT count(*) FROM latency_measurements WHERE job_id = " + std::to_string(study_job) +
                   " AND device_id IS DISTINCT FROM " + std::to_string(b)),
            0);
  EXPECT_EQ(scalar("SELECT count(*) FROM latency_measurements WHERE job_id = " + std::to_string(study_job)), 12);
  EXPECT_EQ(scalar("SELECT count(*) FROM latency_measurements WHERE environment->'device'->>'agent' = 'a2'"
                   " AND environment->'device'->'pinned_cpus' = '[1]'"),
            scalar("SELECT count(*)" + search_m))
      << "each measurement carries the agent's environment";
  EXPECT_EQ(scalar("SELECT count(*)" + search_m + " AND environment->'device'->'build'->>'simd' = '" +
                   simd::kKernelIsa + "'"),
            scalar("SELECT count(*)" + search_m))
      << "and the instruction set of the kernels that measured it";
  EXPECT_EQ(s.at("summary").at("evaluations"), 4);

  // SIGTERM: a clean exit.
  const int stopped = agents_["a2"]->stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0) << stopped;
}

// The aarch64 agent as a phone would run it: the bundle scripts/bundle-agent-aarch64
// makes (its own glibc loader and libraries, started as its launcher starts
// them), under qemu-aarch64, serves a latency study over HTTP with its NEON
// kernels. Its timings are qemu's, not a phone's: what this checks is that the
// cross-built agent measures and posts every task through the protocol.
// scripts/test cross-builds the bundle first and sets FLASHNAS_REQUIRE_AARCH64_BUNDLE,
// so there a missing bundle fails; elsewhere it skips.
TEST_F(AgentsE2E, TheAarch64BundleServesALatencyStudyUnderQemu) {
  const std::filesystem::path bundle =
      std::filesystem::path(FLASHNAS_SOURCE_DIR) / "build-aarch64" / "flashnas-agent-aarch64";
  if (!std::filesystem::exists(bundle / "bin" / "flashnas-agent")) {
    if (std::getenv("FLASHNAS_REQUIRE_AARCH64_BUNDLE")) FAIL() << "no agent bundle in " << bundle;
    GTEST_SKIP() << "no aarch64 agent bundle: run scripts/cross-build-aarch64";
  }
  const int64_t model = upload("/v1/models?name=stories260K&format=gguf", "stories260K.gguf", "application/octet-stream");
  const auto [phone, phone_token] = add_device("arm-phone", "phone");
  const json space = stories_space();
  const json study = {{"kind", "latency_study"}, {"name", "on the phone"}, {"backbone", model}, {"space", space},
                      {"latency", {{"device_kind", "arm-phone"}, {"prompt_len", 32}, {"decode_tokens", 4}}},
                      {"stage1", {{"samples", 6}, {"holdout", 2}, {"repeats", 3}, {"batch", 4}}}};
  const int64_t job = call("POST", "/v1/jobs", study, 201).at("id");
  const std::string lib = (bundle / "lib").string();
  start_agent("phone", phone_token, 0,
              {"qemu-aarch64", lib + "/ld-linux-aarch64.so.1", "--library-path", lib,
               (bundle / "bin" / "flashnas-agent").string()});
  const json done = wait_for_job(job, 300s);
  ASSERT_EQ(done.at("state"), "succeeded") << done.dump();

  const std::string measured = " FROM latency_measurements WHERE job_id = " + std::to_string(job);
  EXPECT_EQ(scalar("SELECT count(*)" + measured), 8) << "6 samples and 2 held out";
  EXPECT_EQ(scalar("SELECT count(*)" + measured + " AND device_id = " + std::to_string(phone) +
                   " AND environment->'device'->'build'->>'simd' LIKE 'neon%'" +
                   " AND environment->'device'->'build'->>'march' LIKE 'armv8%'"),
            8)
      << "every measurement is the aarch64 agent's, with its NEON kernels";
  const int stopped = agents_["phone"]->stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0) << stopped;
}

}  // namespace
}  // namespace flashnas::test
