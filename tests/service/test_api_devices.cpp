// Devices through HTTP against a real PostgreSQL: registration (admin only, the
// token shown once), what a device token may do (the device protocol for its
// own kind and project, nothing else), the protocol's lease rules, imported
// measurements (flashnas JSON and llama-bench's -o json rows) and a latency
// study fitted from imported measurements alone.
#include "app/task_runners.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/model/candidate_arch.hpp"
#include "tests/service/api_fixture.hpp"

namespace flashnas::test {
namespace {

using nlohmann::json;

class DevicesApi : public ApiTest {
 protected:
  // Registers a device of `kind` with `admin_key`; returns {id, token}.
  std::pair<int64_t, std::string> add_device(const std::string& admin_key, const std::string& kind,
                                             const std::string& name) {
    const Reply r = post_json("/v1/devices", admin_key,
                              {{"kind", kind}, {"name", name}, {"description", {{"cpu", "test"}, {"threads", 1}}}});
    EXPECT_EQ(r.status, 201) << r.body;
    return {r.json().at("device").at("id").get<int64_t>(), r.json().at("token").get<std::string>()};
  }

  json claim(const std::string& token, int limit = 64) {
    const Reply r = post_json("/v1/agent/claim", token, {{"agent", "test-agent"}, {"limit", limit}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json().at("tasks");
  }

  // stories260K's shape with the candidate's sizes: what a device measured.
  static json config_json(int n_layers, int d_model, int d_ffn) {
    const latency::ModelShape shape{8, 4, 8, 512, true};
    CandidateArch a;
    a.n_layers = n_layers;
    a.d_model = d_model;
    a.d_ffn.assign(static_cast<size_t>(n_layers), d_ffn);
    a.layer_types.assign(static_cast<size_t>(n_layers), LayerKind::full);
    return arch_config_to_json(latency::shape_to_config(shape, a));
  }

  // A llama-bench row as its JSON output writes one (figures chosen here).
  static json bench_row(const std::string& model, int n_prompt, int n_gen, double avg_ms) {
    return {{"build_commit", "3f545bec"}, {"build_number", 7000},  {"cpu_info", "Cortex-A76"},
            {"gpu_info", ""},             {"backends", "CPU"},     {"model_filename", model},
            {"model_type", "llama ?B F32"}, {"model_size", 1048576}, {"model_n_params", 262144},
            {"n_batch", 2048},            {"n_ubatch", 512},       {"n_threads", 4},
            {"type_k", "f16"},            {"type_v", "f16"},       {"n_gpu_layers", 0},
            {"flash_attn", false},        {"n_prompt", n_prompt},  {"n_gen", n_gen},
            {"test_time", "2026-12-06T10:00:00Z"},
            {"avg_ns", static_cast<int64_t>(avg_ms * 1e6)},        {"stddev_ns", static_cast<int64_t>(avg_ms * 2e4)},
            {"avg_ts", 1000.0 * (n_prompt + n_gen) / avg_ms},      {"stddev_ts", 1.0},
            {"samples_ns", json::array()},  {"samples_ts", json::array()}};
  }
};

TEST_F(DevicesApi, RegistrationNeedsAdminShowsTheTokenOnceAndRefusesBadBodies) {
  const std::string admin = make_key("alpha", {"read", "submit", "admin"});
  const std::string submit = make_key("alpha", {"read", "submit"});
  const json body = {{"kind", "pixel8-cpu4"}, {"name", "pixel-1"},
                     {"description", {{"cpu", "Tensor G3"}, {"threads", 4}, {"runtime", "flashnas-agent"}}}};
  EXPECT_EQ(post_json("/v1/devices", submit, body).status, 403);

  const Reply added = post_json("/v1/devices", admin, body);
  ASSERT_EQ(added.status, 201) << added.body;
  const std::string token = added.json().at("token");
  EXPECT_EQ(token.rfind("fnd_", 0), 0u);
  EXPECT_EQ(token.size(), 44u);
  const int64_t id = added.json().at("device").at("id");
  EXPECT_EQ(added.json().at("device").at("info").at("threads"), 4);

  const Reply shown = get("/v1/devices/" + std::to_string(id), submit);
  ASSERT_EQ(shown.status, 200);
  EXPECT_EQ(shown.body.find(token), std::string::npos) << "the token is shown once, at registration";
  EXPECT_EQ(shown.json().at("token_prefix"), token.substr(0, 12));
  // The database keeps only its hash.
  pool_->transact([&](pqxx::transaction_base& tx) {
    EXPECT_EQ(tx.exec_params1("SELECT token_hash FROM devices WHERE id = $1", id)[0].as<std::string>(),
              sha256_hex(token));
  });
  EXPECT_EQ(post_json("/v1/devices", admin, body).status, 409) << "same kind and name twice";
  EXPECT_EQ(get("/v1/devices/" + std::to_string(id), make_key("beta", {"read"})).status, 404);
  EXPECT_EQ(get("/v1/devices", submit).json().at("items").size(), 1u);

  const auto before = table_contents();
  const std::vector<std::pair<json, std::string>> bad = {
      {{{"kind", "local-cpu"}, {"name", "x"}}, "kind"},
      {{{"kind", "Pixel 8"}, {"name", "x"}}, "kind"},
      {{{"kind", "rpi5"}}, "name"},
      {{{"kind", "rpi5"}, {"name", "x"}, {"colour", "red"}}, "colour"},
      {{{"kind", "rpi5"}, {"name", "x"}, {"description", {{"threads", 0}}}}, "description.threads"},
  };
  for (const auto& [b, field] : bad) {
    const Reply r = post_json("/v1/devices", admin, b);
    EXPECT_EQ(r.status, 400) << b.dump();
    EXPECT_NE(r.body.find("\"" + field + "\""), std::string::npos) << b.dump() << " -> " << r.body;
  }
  EXPECT_EQ(table_contents(), before);
}

TEST_F(DevicesApi, ADeviceTokenMayUseTheDeviceProtocolOnlyUntilRevoked) {
  const std::string admin = make_key("alpha", {"read", "submit", "admin"});
  const auto [id, token] = add_device(admin, "rpi5", "pi-1");
  EXPECT_EQ(get("/v1/jobs", token).status, 403);
  EXPECT_EQ(get("/v1/devices", token).status, 403);
  EXPECT_EQ(post_json("/v1/devices", token, {{"kind", "rpi5"}, {"name", "pi-2"}}).status, 403);
  EXPECT_EQ(post_json("/v1/agent/claim", admin, {{"agent", "a"}}).status, 403) << "an API key is not a device";
  EXPECT_TRUE(claim(token).empty());

  const Reply revoked = post_json("/v1/devices/" + std::to_string(id) + "/revoke", admin, json::object());
  ASSERT_EQ(revoked.status, 200);
  EXPECT_FALSE(revoked.json().at("revoked_at").is_null());
  EXPECT_EQ(post_json("/v1/agent/claim", token, {{"agent", "a"}}).status, 401);
}

TEST_F(DevicesApi, AgentsServeTheirKindInTheirProjectWithWorkerLeaseRules) {
  const std::string admin = make_key("alpha", {"read", "submit", "admin"});
  const auto ids = upload_assets(admin);
  json sweep = sweep_body(ids, 3);
  sweep["latency"]["device_kind"] = "phone";
  const Reply refused = post_json("/v1/jobs", admin, sweep);
  ASSERT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("latency.device_kind"), std::string::npos) << refused.body;

  const auto [phone_id, phone] = add_device(admin, "phone", "p1");
  const std::string other_kind = add_device(admin, "board", "b1").second;
  const std::string beta_admin = make_key("beta", {"read", "submit", "admin"});
  const std::string beta_phone = add_device(beta_admin, "phone", "p1").second;
  const Reply submitted = post_json("/v1/jobs", admin, sweep);
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const int64_t job = submitted.json().at("id");
  const Reply waiting = get("/v1/jobs/" + std::to_string(job), admin);
  EXPECT_NE(waiting.json().at("waiting").get<std::string>().find("kind phone"), std::string::npos) << waiting.body;

  // Workers never take a device's latency tasks; other kinds and projects see none.
  const auto worker_tasks = pool_->transact([&](pqxx::transaction_base& tx) {
    return app::claim_tasks(tx, {{store::TaskKind::latency}, "worker", 60, 100, std::nullopt});
  });
  EXPECT_TRUE(worker_tasks.empty());
  EXPECT_TRUE(claim(other_kind).empty());
  EXPECT_TRUE(claim(beta_phone).empty());

  const json tasks = claim(phone);
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_TRUE(get("/v1/jobs/" + std::to_string(job), admin).json().at("waiting").is_null()) << "an agent called";
  for (const auto& t : tasks) {
    EXPECT_EQ(t.at("job_id"), job);
    EXPECT_EQ(t.at("options").at("prompt_len"), 32);
    EXPECT_EQ(t.at("arch").at("vocab_size"), 512) << "the full shape: the agent knows nothing of the backbone";
  }
  const auto path = [](const json& t, const char* verb) {
    return "/v1/agent/tasks/" + std::to_string(t.at("task_id").get<int64_t>()) + "/" + verb;
  };
  const json& t0 = tasks[0];
  const json lease = {{"lease_token", t0.at("lease_token")}};
  EXPECT_EQ(post_json(path(t0, "heartbeat"), phone, lease).status, 200);
  EXPECT_EQ(post_json(path(t0, "heartbeat"), other_kind, lease).status, 404) << "not that device's task";
  EXPECT_EQ(post_json(path(t0, "heartbeat"), beta_phone, lease).status, 404) << "not that project's task";
  EXPECT_EQ(post_json(path(t0, "heartbeat"), phone, {{"lease_token", "00000000-0000-0000-0000-000000000000"}}).status,
            409);

  const json measurement = {{"ttft_ms", 4.5}, {"decode_ms_per_token", 0.75}, {"prefill_spread", 0.02},
                            {"environment", {{"cpu", "test"}}}};
  const Reply bad = post_json(path(t0, "result"), phone, {{"lease_token", t0.at("lease_token")},
                                                          {"measurement", {{"ttft_ms", -1}, {"decode_ms_per_token", 1}}}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("measurement.ttft_ms"), std::string::npos) << bad.body;
  EXPECT_EQ(post_json(path(t0, "result"), phone, {{"lease_token", t0.at("lease_token")}, {"measurement", measurement}})
                .status,
            200);
  EXPECT_EQ(post_json(path(t0, "result"), phone, {{"lease_token", t0.at("lease_token")}, {"measurement", measurement}})
                .status,
            409)
      << "a result lands once";
  pool_->transact([&](pqxx::transaction_base& tx) {
    const auto r = tx.exec_params1("SELECT device_id, device_kind, prefill_ms FROM latency_measurements WHERE job_id = $1",
                                   job);
    EXPECT_EQ(r[0].as<int64_t>(), phone_id);
    EXPECT_EQ(r[1].as<std::string>(), "phone");
    EXPECT_DOUBLE_EQ(r[2].as<double>(), 4.5);
  });

  // Released: back in the queue at once, the attempt not counted.
  const json& t1 = tasks[1];
  EXPECT_EQ(post_json(path(t1, "release"), phone, {{"lease_token", t1.at("lease_token")}}).status, 200);
  const json again = claim(phone, 1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].at("task_id"), t1.at("task_id"));
  // Failed on the device: retried later (not claimable during its back-off).
  const json& t2 = tasks[2];
  EXPECT_EQ(post_json(path(t2, "fail"), phone, {{"lease_token", t2.at("lease_token")}, {"error", "out of memory"}})
                .status,
            200);
  pool_->transact([&](pqxx::transaction_base& tx) {
    const auto r = tx.exec_params1("SELECT state::text, last_error FROM tasks WHERE id = $1", t2.at("task_id").get<int64_t>());
    EXPECT_EQ(r[0].as<std::string>(), "available");
    EXPECT_NE(r[1].as<std::string>().find("out of memory"), std::string::npos);
  });
}

TEST_F(DevicesApi, ImportsLlamaBenchAndFlashnasMeasurementsAndRefusesBadRowsByField) {
  const std::string admin = make_key("alpha", {"read", "submit", "admin"});
  const auto [id, token] = add_device(admin, "rpi5", "pi-1");
  const std::string path = "/v1/devices/" + std::to_string(id) + "/measurements";
  const json bench = {{"format", "llama-bench"},
                      {"results", {bench_row("a.gguf", 128, 0, 20.0), bench_row("a.gguf", 512, 0, 90.0),
                                   bench_row("a.gguf", 0, 32, 64.0), bench_row("b.gguf", 128, 0, 10.0),
                                   bench_row("b.gguf", 0, 32, 32.0)}},
                      {"models", {{"a.gguf", config_json(5, 64, 172)}, {"b.gguf", config_json(3, 48, 128)}}}};
  const Reply r = post_json(path, admin, bench);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json().at("imported"), 3);  // a at 128 and 512 tokens, b at 128
  pool_->transact([&](pqxx::transaction_base& tx) {
    const auto rows = tx.exec("SELECT prompt_len, prefill_ms, decode_ms_per_token, decode_tokens, prefill_spread,"
                              " source, environment->>'n_threads' FROM latency_measurements ORDER BY id");
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0][0].as<int>(), 128);
    EXPECT_DOUBLE_EQ(rows[0][1].as<double>(), 20.0);
    EXPECT_DOUBLE_EQ(rows[0][2].as<double>(), 2.0);  // 64 ms for 32 tokens
    EXPECT_EQ(rows[0][3].as<int>(), 32);
    EXPECT_NEAR(rows[0][4].as<double>(), 0.02, 1e-9);
    EXPECT_EQ(rows[0][5].as<std::string>(), "imported");
    EXPECT_EQ(rows[0][6].as<std::string>(), "4");
    EXPECT_EQ(rows[1][0].as<int>(), 512);
    EXPECT_DOUBLE_EQ(rows[2][2].as<double>(), 1.0);
  });

  const auto before = table_contents();
  auto with = [&](auto edit) {
    json b = bench;
    edit(b);
    return b;
  };
  const std::vector<std::pair<json, std::string>> bad = {
      {with([](json& b) { b["results"][1]["avg_ns"] = "fast"; }), "results[1].avg_ns"},
      {with([](json& b) { b["results"][2]["model_filename"] = "c.gguf"; }), "results[2].model_filename"},
      {with([](json& b) { b["results"][0]["n_gen"] = 32; }), "results[0]"},
      {with([](json& b) { b["models"]["a.gguf"]["d_model"] = -3; }), "models.a.gguf"},
      {with([](json& b) { b["format"] = "csv"; }), "format"},
      {{{"format", "flashnas"}, {"prompt_len", 64}, {"decode_tokens", 8},
        {"measurements", {{{"arch", config_json(2, 32, 64)}, {"prefill_ms", 0}}}}},
       "measurements[0].prefill_ms"},
  };
  for (const auto& [b, field] : bad) {
    const Reply refused = post_json(path, admin, b);
    EXPECT_EQ(refused.status, 400) << field;
    EXPECT_NE(refused.body.find(field), std::string::npos) << field << " -> " << refused.body;
  }
  EXPECT_EQ(table_contents(), before) << "a refused import stores nothing";
  EXPECT_EQ(post_json(path, token, bench).status, 403) << "imports are a user's, not an agent's";
}

TEST_F(DevicesApi, ALatencyStudyFitsFromImportedMeasurementsAlone) {
  const std::string admin = make_key("alpha", {"read", "submit", "admin"});
  const auto ids = upload_assets(admin);
  const int64_t id = add_device(admin, "rpi5", "pi-1").first;
  // 30 architectures with latencies from a made-up device: linear in the
  // layers' matmul work, which the latency model's features can express.
  json measurements = json::array();
  int n = 0;
  for (int layers = 2; layers <= 5; ++layers) {
    for (int d : {32, 48, 64}) {
      for (int ffn : {64, 112, 172}) {
        if (n++ % 6 == 5) continue;  // leave a few out: 30 of 36
        const double work = layers * (4.0 * d * d + 3.0 * d * ffn) * 1e-4;
        measurements.push_back(
            {{"arch", config_json(layers, d, ffn)}, {"prefill_ms", 1.0 + work}, {"decode_ms_per_token", 0.1 + work / 64}});
      }
    }
  }
  const Reply imported = post_json("/v1/devices/" + std::to_string(id) + "/measurements", admin,
                                   {{"format", "flashnas"}, {"prompt_len", 64}, {"decode_tokens", 8},
                                    {"measurements", measurements}});
  ASSERT_EQ(imported.status, 201) << imported.body;
  ASSERT_EQ(imported.json().at("imported"), 30);

  json study = {{"kind", "latency_study"},
                {"name", "imported"},
                {"backbone", ids[0]},
                {"space", {{"n_layers", {{"min", 2}, {"max", 5}, {"step", 1}}},
                           {"d_model", {{"min", 32}, {"max", 64}, {"step", 16}}},
                           {"d_ffn", {{"min", 64}, {"max", 172}, {"step", 12}}},
                           {"layer_kinds", {"full"}}}},
                {"latency", {{"device_kind", "rpi5"}, {"prompt_len", 64}, {"decode_tokens", 8}}},
                {"stage1", {{"source", "imported"}, {"samples", 24}, {"holdout", 16}}}};
  const Reply too_few = post_json("/v1/jobs", admin, study);
  ASSERT_EQ(too_few.status, 400);
  EXPECT_NE(too_few.body.find("stage1.source"), std::string::npos) << too_few.body;
  study["stage1"]["holdout"] = 6;
  const Reply submitted = post_json("/v1/jobs", admin, study);
  ASSERT_EQ(submitted.status, 201) << submitted.body;
  const int64_t job = submitted.json().at("id");
  EXPECT_TRUE(submitted.json().at("waiting").is_null()) << "nothing to measure: no agent needed";

  // The fit, as a worker runs it.
  app::EngineCache cache{"/nonexistent", ""};
  store::QueueOptions opts;
  auto conn = store::open_connection(db_->url());
  const auto fits = pool_->transact([&](pqxx::transaction_base& tx) {
    return app::claim_tasks(tx, {{store::TaskKind::fit_latency_model}, "test", 60, 10, std::nullopt});
  });
  ASSERT_EQ(fits.size(), 1u);
  const app::TaskResult fit = app::run_fit(*conn, fits[0], cache);
  pool_->transact([&](pqxx::transaction_base& tx) { app::complete_task(tx, fits[0], *fits[0].lease_token, fit, opts); });

  const json done = get("/v1/jobs/" + std::to_string(job), admin).json();
  ASSERT_EQ(done.at("state"), "succeeded") << done.dump();
  const int64_t model = done.at("summary").at("latency_model_id");
  const json view = get("/v1/latency-models/" + std::to_string(model), admin).json();
  EXPECT_EQ(view.at("device_kind"), "rpi5");
  EXPECT_EQ(view.at("n_points"), 24);
  const double within = view.at("accuracy").at("prefill").at("within_10").get<double>();
  EXPECT_GE(within, 0.8) << view.at("accuracy").dump();

  // A second device, 1.7x slower with a different decode balance, with 12
  // measurements only: its model is transferred from the first device's.
  const int64_t id2 = add_device(admin, "rpi4", "pi-2").first;
  json few = json::array();
  for (size_t i = 0; i < measurements.size(); i += 2) {
    json m = measurements[i];
    m["prefill_ms"] = 1.7 * m["prefill_ms"].get<double>();
    m["decode_ms_per_token"] = 2.3 * m["decode_ms_per_token"].get<double>();
    if (few.size() < 12) few.push_back(m);
  }
  ASSERT_EQ(post_json("/v1/devices/" + std::to_string(id2) + "/measurements", admin,
                      {{"format", "flashnas"}, {"prompt_len", 64}, {"decode_tokens", 8}, {"measurements", few}})
                .status,
            201);
  json transfer = study;
  transfer["latency"]["device_kind"] = "rpi4";
  transfer["stage1"] = {{"source", "imported"}, {"samples", 8}, {"holdout", 4}, {"transfer_from", model + 1000}};
  const Reply unknown = post_json("/v1/jobs", admin, transfer);
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("stage1.transfer_from"), std::string::npos) << unknown.body;
  transfer["stage1"]["transfer_from"] = model;
  const Reply second = post_json("/v1/jobs", admin, transfer);
  ASSERT_EQ(second.status, 201) << second.body;
  const auto fits2 = pool_->transact([&](pqxx::transaction_base& tx) {
    return app::claim_tasks(tx, {{store::TaskKind::fit_latency_model}, "test", 60, 10, std::nullopt});
  });
  ASSERT_EQ(fits2.size(), 1u);
  const app::TaskResult fit2 = app::run_fit(*conn, fits2[0], cache);
  pool_->transact([&](pqxx::transaction_base& tx) { app::complete_task(tx, fits2[0], *fits2[0].lease_token, fit2, opts); });
  const json done2 = get("/v1/jobs/" + std::to_string(second.json().at("id").get<int64_t>()), admin).json();
  ASSERT_EQ(done2.at("state"), "succeeded") << done2.dump();
  const json transferred = std::get<app::FitResult>(fit2).model;
  EXPECT_EQ(transferred.at("format"), "flashnas.latency_model.v2");
  EXPECT_TRUE(transferred.contains("transfer"));
  const json view2 = get("/v1/latency-models/" + done2.at("summary").at("latency_model_id").dump(), admin).json();
  EXPECT_EQ(view2.at("n_points"), 8);
  EXPECT_GE(view2.at("accuracy").at("prefill").at("within_10").get<double>(), 0.75) << view2.at("accuracy").dump();
  EXPECT_GE(view2.at("accuracy").at("decode").at("within_10").get<double>(), 0.75) << view2.at("accuracy").dump();
}

}  // namespace
}  // namespace flashnas::test
