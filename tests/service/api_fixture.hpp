// ApiTest: a fresh migrated database, a flashnas API server on an ephemeral
// loopback port in this process, an HTTP client, and helpers to make projects,
// keys and uploads, and to count rows (so refused requests can be shown to
// change nothing).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "app/job_service.hpp"
#include "engine/util/sha256.hpp"
#include "server/api_server.hpp"
#include "store/database.hpp"
#include "store/project_repository.hpp"
#include "store/store.hpp"
#include "tests/support/job_fixtures.hpp"
#include "tests/support/test_data.hpp"
#include "tests/support/test_db.hpp"

namespace flashnas::test {

struct Reply {
  int status = 0;
  std::string body;
  std::string content_type;
  httplib::Headers headers;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

class ApiTest : public DbTest {
 protected:
  void SetUp() override {
    DbTest::SetUp();
    pool_ = std::make_unique<store::ConnectionPool>(db_->url(), store::PoolOptions{.size = 4});
    server::ServerOptions options;
    options.port = 0;
    options.threads = 4;
    options.storage_dir = scratch_dir(std::string("api_") +
                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
    options.upload_body_limit = upload_limit_;
    options.auth_cache_seconds = 0;  // tests revoke keys and expect it at once
    storage_ = options.storage_dir;
    server_ = std::make_unique<server::ApiServer>(options, *pool_);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->serve(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(60);
  }
  void TearDown() override {
    if (server_) server_->stop();  // null when SetUp threw (no database)
    if (thread_.joinable()) thread_.join();
    client_.reset();
    server_.reset();
    pool_.reset();
    DbTest::TearDown();
  }

  // Creates (or reuses) project `project` and a key with `scopes`; returns the key.
  std::string make_key(const std::string& project, std::vector<std::string> scopes) {
    static int n = 0;
    const std::string key = "fnk_test_" + project + "_" + std::to_string(++n);
    pool_->transact([&](pqxx::transaction_base& tx) {
      const auto p = store::project_ensure(tx, project);
      store::api_key_create(tx, {p.id, sha256_hex(key), key.substr(0, 12), scopes, ""});
    });
    return key;
  }

  Reply send(const std::string& method, const std::string& path, const std::string& key,
             const std::string& body = "", const std::string& content_type = "application/json",
             httplib::Headers headers = {}) {
    if (!key.empty()) headers.emplace("Authorization", "Bearer " + key);
    httplib::Result r = method == "GET" ? client_->Get(path.c_str(), headers)
                                        : client_->Post(path.c_str(), headers, body, content_type.c_str());
    if (!r) {
      ADD_FAILURE() << method << " " << path << ": no response (" << httplib::to_string(r.error()) << ")";
      return {};
    }
    return {r->status, r->body, r->get_header_value("Content-Type"), r->headers};
  }
  Reply get(const std::string& path, const std::string& key) { return send("GET", path, key); }
  Reply post_json(const std::string& path, const std::string& key, const nlohmann::json& body,
                  httplib::Headers headers = {}) {
    return send("POST", path, key, body.dump(), "application/json", std::move(headers));
  }

  // Uploads the bundled stories260K model and the two TinyStories texts for `key`'s
  // project; returns {model id, calibration dataset id, eval dataset id}.
  std::array<int64_t, 3> upload_assets(const std::string& key) {
    const auto model = send("POST", "/v1/models?name=stories260K&format=gguf", key,
                            read_file(data_path("stories260K.gguf")), "application/octet-stream");
    EXPECT_EQ(model.status, 201) << model.body;
    const auto calib = send("POST", "/v1/datasets?name=train", key,
                            read_file(data_path("tinystories-train-sample.txt")), "text/plain");
    EXPECT_EQ(calib.status, 201) << calib.body;
    const auto eval = send("POST", "/v1/datasets?name=valid", key,
                           read_file(data_path("tinystories-valid-sample.txt")), "text/plain");
    EXPECT_EQ(eval.status, 201) << eval.body;
    return {model.json().at("id").get<int64_t>(), calib.json().at("id").get<int64_t>(),
            eval.json().at("id").get<int64_t>()};
  }

  // A valid sweep body over stories260K (5 layers, d_model 64, FFN 172) with `n` candidates.
  static nlohmann::json sweep_body(const std::array<int64_t, 3>& ids, int n = 3) {
    nlohmann::json candidates = nlohmann::json::array();
    for (int i = 0; i < n; ++i) {
      candidates.push_back({{"n_layers", 5 - i % 3},
                            {"d_model", 64},
                            {"d_ffn", 172 - 16 * (i / 3)},
                            {"layer_types", nlohmann::json::array()}});
      for (int l = 0; l < 5 - i % 3; ++l) candidates.back()["layer_types"].push_back("full");
    }
    return {{"kind", "sweep"},
            {"name", "test sweep"},
            {"backbone", ids[0]},
            {"calibration", ids[1]},
            {"eval", ids[2]},
            {"candidates", candidates},
            {"latency", {{"device_kind", "local-cpu"}, {"prompt_len", 32}, {"decode_tokens", 8}}}};
  }

  // Settles every open task as workers would: the trial of ordinal i gets eval
  // NLL nll[i] and TTFT prefill[i]; with fail, every task fails for good.
  void settle(const std::vector<double>& nll, const std::vector<double>& prefill, bool fail = false) {
    store::QueueOptions opts;
    for (store::TaskKind kind : {store::TaskKind::evaluate, store::TaskKind::latency}) {
      const auto tasks = pool_->transact([&](pqxx::transaction_base& tx) {
        return app::claim_tasks(tx, {{kind}, "test", opts.lease_seconds, 1000, std::nullopt});
      });
      for (const store::Task& t : tasks) {
        const size_t i = static_cast<size_t>(ordinal_of(*t.trial_id));
        pool_->transact([&](pqxx::transaction_base& tx) {
          if (fail) {
            app::fail_task(tx, t.id, *t.lease_token, "unsupported", store::Failure::permanent, opts);
          } else if (kind == store::TaskKind::evaluate) {
            app::complete_task(tx, t, *t.lease_token, eval_result(nll.at(i)), opts);
          } else {
            app::complete_task(tx, t, *t.lease_token, latency_result(prefill.at(i)), opts);
          }
        });
      }
    }
  }
  int64_t ordinal_of(int64_t trial_id) {
    return pool_->transact([&](pqxx::transaction_base& tx) {
      return tx.exec_params1("SELECT ordinal FROM trials WHERE id = $1", trial_id)[0].as<int64_t>();
    });
  }

  // Row counts of every table a request could change.
  std::map<std::string, int64_t> row_counts() {
    std::map<std::string, int64_t> out;
    pool_->transact([&](pqxx::transaction_base& tx) {
      for (const char* t : {"projects", "api_keys", "models", "datasets", "jobs", "trials", "tasks",
                            "job_events", "frontiers"}) {
        out[t] = tx.exec1(std::string("SELECT count(*) FROM ") + t)[0].as<int64_t>();
      }
    });
    return out;
  }

  // Every table's row count and a digest of its contents, so a refused request
  // can be shown to have changed nothing at all (not just added no rows). The
  // one column a read legitimately writes, api_keys.last_used_at (refreshed by
  // authentication), is left out.
  std::map<std::string, std::string> table_contents() {
    std::map<std::string, std::string> out;
    pool_->transact([&](pqxx::transaction_base& tx) {
      for (const char* t : {"projects", "api_keys", "models", "datasets", "jobs", "trials", "tasks", "devices",
                            "latency_measurements", "latency_models", "frontiers", "job_events"}) {
        const auto r = tx.exec1(std::string("SELECT count(*), coalesce(md5(string_agg(j, '|' ORDER BY j)), '') "
                                            "FROM (SELECT (to_jsonb(x) - 'last_used_at')::text AS j FROM ") +
                                t + " x) rows");
        out[t] = r[0].as<std::string>() + " rows, md5 " + r[1].as<std::string>();
      }
    });
    return out;
  }

  int64_t upload_limit_ = 64 << 20;
  std::unique_ptr<store::ConnectionPool> pool_;
  std::unique_ptr<server::ApiServer> server_;
  std::unique_ptr<httplib::Client> client_;
  std::thread thread_;
  std::filesystem::path storage_;
  int port_ = 0;
};

}  // namespace flashnas::test
