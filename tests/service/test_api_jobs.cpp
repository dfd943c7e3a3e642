// The API's happy paths through HTTP: uploads, job submission (idempotent),
// reads, filters and pagination, trial and event feeds, cancellation, project
// isolation, and the system routes (/healthz, /readyz, /metrics, /openapi.json).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/model/gguf_reader.hpp"
#include "engine/model/model_io.hpp"
#include "tests/service/worker_process.hpp"
#include "server/openapi_document.hpp"
#include "tests/service/api_fixture.hpp"

namespace flashnas::test {
namespace {

class ApiJobs : public ApiTest {};

TEST_F(ApiJobs, UploadsAreStoredContentAddressedWithTheirArchitecture) {
  const std::string key = make_key("alpha", {"read", "submit"});
  const auto ids = upload_assets(key);
  const auto model = get("/v1/models/" + std::to_string(ids[0]), key);
  ASSERT_EQ(model.status, 200);
  const auto m = model.json();
  const std::string gguf = read_file(data_path("stories260K.gguf"));
  EXPECT_EQ(m.at("sha256"), sha256_hex(gguf));
  EXPECT_EQ(m.at("size_bytes"), static_cast<int64_t>(gguf.size()));
  EXPECT_EQ(m.at("format"), "gguf");
  // The recorded architecture is what the engine's loader reads from the file itself.
  EXPECT_EQ(m.at("metadata").at("arch"), arch_config_to_json(load_gguf(data_path("stories260K.gguf")).config));
  EXPECT_TRUE(std::filesystem::exists(storage_ / "models" / (sha256_hex(gguf) + ".gguf")));

  const auto text = read_file(data_path("tinystories-valid-sample.txt"));
  const auto d = get("/v1/datasets/" + std::to_string(ids[2]), key).json();
  EXPECT_EQ(d.at("sha256"), sha256_hex(text));
  EXPECT_EQ(read_file((storage_ / "datasets" / (sha256_hex(text) + ".txt")).string()), text);

  // The same bytes again: a second row, one file.
  const auto again = send("POST", "/v1/models?name=copy&format=gguf", key, gguf, "application/octet-stream");
  EXPECT_EQ(again.status, 201);
  EXPECT_NE(again.json().at("id"), m.at("id"));
  const auto list = get("/v1/models", key).json();
  ASSERT_EQ(list.at("items").size(), 2u);
  EXPECT_EQ(list.at("items")[0].at("name"), "copy");  // newest first
}

TEST_F(ApiJobs, SafetensorsUploadIsATarLoadedByTheEngine) {
  const std::string key = make_key("alpha", {"read", "submit"});
  // stories260K written by the engine as a Hugging Face folder, tarred by GNU tar.
  const auto dir = scratch_dir("api_safetensors");
  const Model model = load_gguf(data_path("stories260K.gguf"));
  save_model(model, (dir / "hf").string(), ModelFormat::safetensors);
  run_command("tar --format=ustar -C " + (dir / "hf").string() + " -cf " + (dir / "m.tar").string() +
              " config.json model.safetensors");
  const std::string tar = read_file((dir / "m.tar").string());
  const auto r = send("POST", "/v1/models?name=hf&format=safetensors", key, tar, "application/octet-stream");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json().at("metadata").at("arch").at("d_model"), 64);
  EXPECT_EQ(r.json().at("sha256"), sha256_hex(tar));
  const auto stored = storage_ / "models" / sha256_hex(tar);
  EXPECT_TRUE(std::filesystem::exists(stored / "config.json"));
  EXPECT_TRUE(std::filesystem::exists(stored / "model.safetensors"));
  EXPECT_EQ(load_model(stored.string()).config.n_layers(), 5);
  // A tar with a corrupt safetensors file is refused, and nothing is left behind.
  std::filesystem::create_directories(dir / "bad");
  std::filesystem::copy_file(dir / "hf" / "config.json", dir / "bad" / "config.json");
  std::ofstream(dir / "bad" / "model.safetensors") << std::string(5000, '\x7f');
  run_command("tar -C " + (dir / "bad").string() + " -cf " + (dir / "bad.tar").string() +
              " config.json model.safetensors");
  const std::string bad = read_file((dir / "bad.tar").string());
  const auto before = table_contents();
  const auto refused = send("POST", "/v1/models?name=bad&format=safetensors", key, bad, "application/octet-stream");
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(refused.body.find(storage_.string()), std::string::npos);  // no host path in the answer
  EXPECT_EQ(table_contents(), before);
  EXPECT_TRUE(std::filesystem::is_empty(storage_ / "tmp"));
}

TEST_F(ApiJobs, SubmitReadTrialsAndEvents) {
  const std::string key = make_key("alpha", {"read", "submit"});
  const auto ids = upload_assets(key);
  auto body = sweep_body(ids, 4);
  body["candidates"].push_back(body["candidates"][0]);  // a duplicate becomes one trial
  const auto created = post_json("/v1/jobs", key, body);
  ASSERT_EQ(created.status, 201) << created.body;
  const auto job = created.json();
  const std::string path = "/v1/jobs/" + std::to_string(job.at("id").get<int64_t>());
  EXPECT_EQ(created.headers.find("Location")->second, path);
  EXPECT_EQ(job.at("state"), "queued");
  EXPECT_EQ(job.at("kind"), "sweep");
  EXPECT_EQ(job.at("progress").at("total"), 4);
  EXPECT_EQ(job.at("progress").at("pending"), 4);
  EXPECT_EQ(job.at("spec").at("backbone"), ids[0]);
  // d_ffn given as one integer comes back as the canonical per-layer list.
  EXPECT_EQ(job.at("spec").at("candidates")[0].at("d_ffn"), nlohmann::json::array({172, 172, 172, 172, 172}));

  const auto read = get(path, key);
  ASSERT_EQ(read.status, 200);
  EXPECT_EQ(read.json(), job);

  const auto trials = get(path + "/trials", key).json();
  ASSERT_EQ(trials.at("items").size(), 4u);
  int64_t last = 0;
  for (const auto& t : trials.at("items")) {
    EXPECT_EQ(t.at("state"), "pending");
    EXPECT_GT(t.at("seq").get<int64_t>(), last);  // seq order
    last = t.at("seq");
  }
  EXPECT_EQ(trials.at("last_seq"), last);
  const auto none = get(path + "/trials?after=" + std::to_string(last), key).json();
  EXPECT_TRUE(none.at("items").empty());
  EXPECT_EQ(none.at("last_seq"), last);  // a poller keeps its place
  const auto tail = get(path + "/trials?after=" + std::to_string(last - 1), key).json();
  EXPECT_EQ(tail.at("items").size(), 1u);

  const auto events = get(path + "/events", key).json();
  ASSERT_FALSE(events.at("items").empty());
  EXPECT_EQ(events.at("items")[0].at("kind"), "job.created");
  EXPECT_EQ(events.at("items")[0].at("seq"), 1);

  // Tasks were queued: two per trial (evaluate, latency).
  EXPECT_EQ(row_counts()["tasks"], 8);
}

TEST_F(ApiJobs, IdempotentSubmission) {
  const std::string key = make_key("alpha", {"read", "submit"});
  const auto ids = upload_assets(key);
  const auto body = sweep_body(ids);
  const httplib::Headers idem = {{"Idempotency-Key", "retry-1"}};
  const auto first = post_json("/v1/jobs", key, body, idem);
  ASSERT_EQ(first.status, 201) << first.body;
  const auto counts = table_contents();
  const auto second = post_json("/v1/jobs", key, body, idem);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.json().at("id"), first.json().at("id"));
  EXPECT_EQ(table_contents(), counts);  // nothing created by the retry

  auto other = body;
  other["name"] = "another";
  const auto reused = post_json("/v1/jobs", key, other, idem);
  EXPECT_EQ(reused.status, 409) << reused.body;
  EXPECT_EQ(table_contents(), counts);

  // The same key in another project is another job; no key means a new job each time.
  const std::string beta = make_key("beta", {"read", "submit"});
  EXPECT_EQ(post_json("/v1/jobs", beta, sweep_body(upload_assets(beta)), idem).status, 201);
  EXPECT_EQ(post_json("/v1/jobs", key, body).status, 201);
  EXPECT_EQ(post_json("/v1/jobs", key, body).status, 201);
  EXPECT_EQ(get("/v1/jobs", key).json().at("items").size(), 3u);
}

TEST_F(ApiJobs, ListFiltersAndPaginates) {
  const std::string key = make_key("alpha", {"read", "submit"});
  const auto ids = upload_assets(key);
  std::vector<int64_t> created;
  for (int i = 0; i < 7; ++i) {
    auto body = sweep_body(ids, 1);
    body["name"] = "job " + std::to_string(i);
    created.push_back(post_json("/v1/jobs", key, body).json().at("id").get<int64_t>());
  }
  ASSERT_EQ(post_json("/v1/jobs/" + std::to_string(created[2]) + "/cancel", key, nlohmann::json::object()).status, 200);

  std::vector<int64_t> seen;
  std::string cursor;
  int pages = 0;
  do {
    const auto page = get("/v1/jobs?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor), key).json();
    for (const auto& j : page.at("items")) seen.push_back(j.at("id"));
    cursor = page.at("next_cursor").is_null() ? "" : page.at("next_cursor").get<std::string>();
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  std::vector<int64_t> expected(created.rbegin(), created.rend());  // newest first
  EXPECT_EQ(seen, expected);

  const auto cancelled = get("/v1/jobs?state=cancelled", key).json().at("items");
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0].at("id"), created[2]);
  EXPECT_EQ(get("/v1/jobs?state=queued&kind=sweep", key).json().at("items").size(), 6u);
  EXPECT_TRUE(get("/v1/jobs?kind=search", key).json().at("items").empty());
}

TEST_F(ApiJobs, CancelStopsPendingWork) {
  const std::string key = make_key("alpha", {"read", "submit"});
  const auto ids = upload_assets(key);
  const auto job = post_json("/v1/jobs", key, sweep_body(ids, 3)).json();
  const std::string path = "/v1/jobs/" + std::to_string(job.at("id").get<int64_t>());
  const auto reader = make_key("alpha", {"read"});
  EXPECT_EQ(send("POST", path + "/cancel", reader).status, 403);
  const auto cancelled = send("POST", path + "/cancel", key);
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(cancelled.json().at("state"), "cancelled");
  EXPECT_EQ(cancelled.json().at("progress").at("cancelled"), 3);
  EXPECT_FALSE(cancelled.json().at("finished_at").is_null());
  const nlohmann::json trials = get(path + "/trials", key).json();  // outlives the loop
  for (const auto& t : trials.at("items")) EXPECT_EQ(t.at("state"), "cancelled");
  pool_->transact([&](pqxx::transaction_base& tx) {
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM tasks WHERE state <> 'cancelled'")[0].as<int64_t>(), 0);
  });
  // Cancelling again changes nothing.
  const auto again = send("POST", path + "/cancel", key);
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.json().at("finished_at"), cancelled.json().at("finished_at"));
}

// curl -X POST without a body sends neither Content-Length nor a body: the cancel
// must answer 200 (it answered 400 after cancelling, and /metrics counted a 400).
TEST_F(ApiJobs, CancelWithoutABodyAnswers200) {
  const std::string key = make_key("alpha", {"read", "submit"});
  const auto ids = upload_assets(key);
  const int64_t id = post_json("/v1/jobs", key, sweep_body(ids, 2)).json().at("id");
  // A request line and headers only, as `curl -X POST URL` sends them.
  const std::string request = "POST /v1/jobs/" + std::to_string(id) + "/cancel HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Authorization: Bearer " + key + "\r\nConnection: close\r\n\r\n";
  std::string answer;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) answer.append(buf, static_cast<size_t>(n));
  ::close(fd);
  EXPECT_EQ(answer.substr(0, 15), "HTTP/1.1 200 OK") << answer;
  EXPECT_EQ(get("/v1/jobs/" + std::to_string(id), key).json().at("state"), "cancelled");
  const std::string metrics = get("/metrics", "").body;
  EXPECT_EQ(metrics.find("route=\"/v1/jobs/{id}/cancel\",status=\"400\""), std::string::npos) << metrics;
}

// A text too short for the job's token budgets is refused at submission, naming
// the field and the sizes (it used to "succeed" with an NLL over two tokens).
TEST_F(ApiJobs, ADatasetTooSmallForTheJobIsRefused) {
  const std::string key = make_key("alpha", {"read", "submit"});
  auto ids = upload_assets(key);
  const auto tiny = send("POST", "/v1/datasets?name=tiny", key, "hi", "text/plain");
  ASSERT_EQ(tiny.status, 201) << tiny.body;
  ids[2] = tiny.json().at("id").get<int64_t>();
  const auto refused = post_json("/v1/jobs", key, sweep_body(ids, 2));
  ASSERT_EQ(refused.status, 400) << refused.body;
  const auto errors = refused.json().at("errors");
  ASSERT_EQ(errors.size(), 1u) << refused.body;
  EXPECT_EQ(errors[0].at("field"), "eval");
  const std::string message = errors[0].at("message");
  EXPECT_NE(message.find("holds 2 bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("at least 2049 tokens"), std::string::npos) << message;
}

TEST_F(ApiJobs, ProjectsCannotSeeEachOther) {
  const std::string alpha = make_key("alpha", {"read", "submit"});
  const std::string beta = make_key("beta", {"read", "submit", "admin"});
  const auto a = upload_assets(alpha);
  const auto job = post_json("/v1/jobs", alpha, sweep_body(a)).json();
  const std::string job_path = "/v1/jobs/" + std::to_string(job.at("id").get<int64_t>());
  const auto before = table_contents();

  EXPECT_TRUE(get("/v1/jobs", beta).json().at("items").empty());
  EXPECT_TRUE(get("/v1/models", beta).json().at("items").empty());
  EXPECT_TRUE(get("/v1/datasets", beta).json().at("items").empty());
  for (const auto& path : {job_path, job_path + "/trials", job_path + "/events",
                                 "/v1/models/" + std::to_string(a[0]), "/v1/datasets/" + std::to_string(a[1])}) {
    const auto r = get(path, beta);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.body.find("alpha"), std::string::npos);
  }
  EXPECT_EQ(send("POST", job_path + "/cancel", beta).status, 404);
  // Beta cannot build on alpha's files either.
  const auto r = post_json("/v1/jobs", beta, sweep_body(a));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(table_contents(), before);
  EXPECT_EQ(get(job_path, alpha).json().at("state"), "queued");
}

TEST_F(ApiJobs, SystemRoutes) {
  EXPECT_EQ(get("/healthz", "").status, 200);
  const auto ready = get("/readyz", "");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.json().at("schema_version"), ready.json().at("expected_schema_version"));

  const std::string key = make_key("alpha", {"read", "submit"});
  const auto ids = upload_assets(key);
  const auto job = post_json("/v1/jobs", key, sweep_body(ids)).json();
  get("/v1/jobs/" + std::to_string(job.at("id").get<int64_t>()), key);
  get("/v1/jobs/999999", key);
  const auto metrics = get("/metrics", "");
  ASSERT_EQ(metrics.status, 200);
  for (const std::string needle :
       {"flashnas_http_requests_total{method=\"GET\",route=\"/v1/jobs/{id}\",status=\"200\"} 1",
        "flashnas_http_requests_total{method=\"GET\",route=\"/v1/jobs/{id}\",status=\"404\"} 1",
        "flashnas_http_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/jobs\",status=\"201\",le=\"+Inf\"} 1",
        "flashnas_tasks{kind=\"evaluate\",state=\"available\"} 3",
        "flashnas_tasks{kind=\"latency\",state=\"available\"} 3"}) {
    EXPECT_NE(metrics.body.find(needle), std::string::npos) << needle << "\n" << metrics.body;
  }

  // The OpenAPI document is valid JSON and describes every registered route, and no other.
  const auto doc = get("/openapi.json", "");
  ASSERT_EQ(doc.status, 200);
  const auto paths = doc.json().at("paths");
  size_t operations = 0;
  for (const auto& [path, ops] : paths.items()) operations += ops.size();
  EXPECT_EQ(operations, server_->routes().size());
  for (const auto& route : server_->routes()) {
    std::string method = route.method;
    std::transform(method.begin(), method.end(), method.begin(), ::tolower);
    EXPECT_TRUE(paths.contains(route.pattern) && paths.at(route.pattern).contains(method))
        << route.method << " " << route.pattern << " is not in openapi.json";
  }
}

}  // namespace
}  // namespace flashnas::test
