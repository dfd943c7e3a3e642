// Refused requests through HTTP: malformed bodies, unknown fields, wrong types,
// missing auth, wrong scopes, bad ids, oversized bodies. Each gets the right 4xx
// as problem+json naming the field, and leaves every table unchanged.
#include "tests/service/api_fixture.hpp"

namespace flashnas::test {
namespace {

class ApiValidation : public ApiTest {};

// The `field`s listed in a problem's errors.
std::set<std::string> error_fields(const Reply& r) {
  std::set<std::string> out;
  const auto j = r.json();
  if (j.contains("errors")) {
    for (const auto& e : j.at("errors")) out.insert(e.at("field").get<std::string>());
  }
  return out;
}

void expect_problem(const Reply& r, int status, const std::string& what) {
  EXPECT_EQ(r.status, status) << what << ": " << r.body;
  EXPECT_EQ(r.content_type, "application/problem+json") << what;
  const auto j = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << what;
  EXPECT_EQ(j.value("status", 0), status) << what;
  EXPECT_TRUE(j.contains("title") && j.contains("detail")) << what;
}

TEST_F(ApiValidation, AuthenticationAndScopes) {
  const std::string reader = make_key("alpha", {"read"});
  const std::string submitter = make_key("alpha", {"submit"});
  const auto before = table_contents();

  expect_problem(get("/v1/jobs", ""), 401, "no key");
  expect_problem(send("GET", "/v1/jobs", "", "", "", {{"Authorization", "Basic abc"}}), 401, "not bearer");
  expect_problem(get("/v1/jobs", "fnk_not_a_key"), 401, "unknown key");
  expect_problem(get("/v1/models", submitter), 403, "submit key reading");
  expect_problem(post_json("/v1/jobs", reader, {{"kind", "sweep"}}), 403, "read key submitting");
  expect_problem(send("POST", "/v1/datasets?name=x", reader, "text", "text/plain"), 403, "read key uploading");
  EXPECT_EQ(get("/v1/jobs", reader).status, 200);
  EXPECT_EQ(table_contents(), before);

  // A revoked key stops working (the cache is off in tests).
  pool_->transact([&](pqxx::transaction_base& tx) {
    tx.exec0("UPDATE api_keys SET revoked_at = now() WHERE key_hash = " + tx.quote(sha256_hex(reader)));
  });
  const auto revoked = table_contents();
  expect_problem(get("/v1/jobs", reader), 401, "revoked key");
  EXPECT_EQ(table_contents(), revoked);
}

TEST_F(ApiValidation, MalformedJobBodiesChangeNothing) {
  const std::string key = make_key("alpha", {"read", "submit"});
  const auto ids = upload_assets(key);
  const auto tiny = send("POST", "/v1/datasets?name=tiny", key, "Once upon a time.", "text/plain");
  ASSERT_EQ(tiny.status, 201) << tiny.body;
  const int64_t tiny_id = tiny.json().at("id");
  const nlohmann::json good = sweep_body(ids);
  const auto before = table_contents();

  struct Case {
    std::string what, body;
    int status;
    std::set<std::string> fields;  // expected error fields (empty: not a field error)
  };
  auto with = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json j = good;
    edit(j);
    return j.dump();
  };
  const std::vector<Case> cases = {
      {"truncated JSON", good.dump().substr(0, 40), 400, {}},
      {"not an object", "[1, 2]", 400, {}},
      {"duplicate key", R"({"kind": "sweep", "kind": "sweep"})", 400, {}},
      {"unknown field", with([](auto& j) { j["priority"] = 3; }), 400, {"priority"}},
      {"unknown nested field", with([](auto& j) { j["latency"]["colour"] = 2; }), 400, {"latency.colour"}},
      {"bad latency option", with([](auto& j) { j["latency"]["repeats"] = 0; }), 400, {"latency.repeats"}},
      {"bad objective", with([](auto& j) { j["latency"]["objective"] = "energy"; }), 400, {"latency.objective"}},
      {"wrong type name", with([](auto& j) { j["name"] = 5; }), 400, {"name"}},
      {"wrong type backbone", with([](auto& j) { j["backbone"] = "1"; }), 400, {"backbone"}},
      {"missing candidates", with([](auto& j) { j.erase("candidates"); }), 400, {"candidates"}},
      {"empty candidates", with([](auto& j) { j["candidates"] = nlohmann::json::array(); }), 400, {"candidates"}},
      {"bad layer type", with([](auto& j) { j["candidates"][2]["layer_types"][0] = "conv"; }), 400,
       {"candidates[2].layer_types[0]"}},
      {"layer count mismatch", with([](auto& j) { j["candidates"][1]["layer_types"].push_back("full"); }), 400,
       {"candidates[1].layer_types"}},
      {"wider than backbone", with([](auto& j) { j["candidates"][0]["d_model"] = 4096; }), 400,
       {"candidates[0].d_model"}},
      {"unknown model", with([](auto& j) { j["backbone"] = 987654; }), 400, {"backbone"}},
      {"unknown dataset", with([&](auto& j) { j["eval"] = ids[2] + 100; }), 400, {"eval"}},
      {"bad device", with([](auto& j) { j["latency"]["device_kind"] = "gpu"; }), 400, {"latency.device_kind"}},
      {"negative prompt", with([](auto& j) { j["latency"]["prompt_len"] = -4; }), 400, {"latency.prompt_len"}},
      {"other kind", with([](auto& j) { j["kind"] = "train"; }), 400, {"kind"}},
      {"a search's fields missing", with([](auto& j) { j["kind"] = "search"; }), 400, {"space", "stage1", "candidates"}},
      {"several at once", with([](auto& j) { j["name"] = nullptr; j["eval"] = 1.5; }), 400, {"name", "eval"}},
      {"heal without a text", with([](auto& j) { j["heal"] = {{"steps", 10}}; }), 400, {"heal.train"}},
      {"heal on an unknown dataset", with([&](auto& j) { j["heal"] = {{"train", ids[2] + 100}}; }), 400, {"heal.train"}},
      {"heal on a text shorter than a window", with([&](auto& j) { j["heal"] = {{"train", tiny_id}}; }), 400,
       {"heal.train"}},
      {"heal over its memory limit",
       with([&](auto& j) { j["heal"] = {{"train", ids[1]}, {"memory_limit_bytes", 1 << 20}}; }), 400,
       {"heal.memory_limit_bytes"}},
      {"bad heal options", with([&](auto& j) { j["heal"] = {{"train", ids[1]}, {"steps", 0}, {"distill", "yes"}}; }),
       400, {"heal.steps", "heal.distill"}},
  };
  for (const auto& c : cases) {
    const auto r = send("POST", "/v1/jobs", key, c.body);
    expect_problem(r, c.status, c.what);
    if (!c.fields.empty()) {
      EXPECT_EQ(error_fields(r), c.fields) << c.what << ": " << r.body;
    }
  }
  expect_problem(send("POST", "/v1/jobs", key, good.dump(), "text/plain"), 415, "wrong content type");
  std::string huge = good.dump();
  huge.insert(huge.size() - 1, ",\"pad\":\"" + std::string(1 << 20, 'x') + "\"");
  expect_problem(send("POST", "/v1/jobs", key, huge), 413, "over 1 MiB");
  EXPECT_EQ(table_contents(), before);

  // And the good body is accepted, so the cases above failed for their own reason.
  EXPECT_EQ(post_json("/v1/jobs", key, good).status, 201);
}

TEST_F(ApiValidation, BadIdsAndRoutes) {
  const std::string key = make_key("alpha", {"read", "submit"});
  const auto before = table_contents();
  for (const std::string id : {"abc", "0", "-1", "01", "1.5", "99999999999999999999"}) {
    const auto r = get("/v1/jobs/" + id, key);
    expect_problem(r, 400, "job id " + id);
    EXPECT_EQ(error_fields(r), std::set<std::string>{"id"});
    expect_problem(send("POST", "/v1/jobs/" + id + "/cancel", key), 400, "cancel id " + id);
    expect_problem(get("/v1/models/" + id, key), 400, "model id " + id);
  }
  for (const std::string path : {"/v1/jobs/424242", "/v1/jobs/424242/trials", "/v1/jobs/424242/events",
                                 "/v1/models/424242", "/v1/datasets/424242"}) {
    expect_problem(get(path, key), 404, path);
  }
  expect_problem(send("POST", "/v1/jobs/424242/cancel", key), 404, "cancel unknown");
  expect_problem(get("/v1/nothing", key), 404, "unknown route");
  const auto wrong_method = send("POST", "/v1/models/1", key);
  expect_problem(wrong_method, 405, "POST on a GET route");
  expect_problem(get("/v1/jobs?colour=red", key), 400, "unknown query parameter");
  expect_problem(get("/v1/jobs?state=done", key), 400, "bad state filter");
  expect_problem(get("/v1/jobs?limit=0", key), 400, "limit 0");
  expect_problem(get("/v1/jobs?cursor=zz", key), 400, "bad cursor");
  expect_problem(get("/v1/jobs/1/trials?after=-1", key), 400, "negative after");
  EXPECT_EQ(table_contents(), before);
}

TEST_F(ApiValidation, RefusedUploadsStoreNothing) {
  const std::string key = make_key("alpha", {"read", "submit"});
  const auto before = table_contents();
  const auto bad_model = send("POST", "/v1/models?name=junk&format=gguf", key, std::string(4096, 'j'),
                              "application/octet-stream");
  expect_problem(bad_model, 400, "not a GGUF");
  EXPECT_EQ(error_fields(bad_model), std::set<std::string>{"body"});
  // A real GGUF cut short: the loader must refuse it, not crash.
  const std::string gguf = read_file(data_path("stories260K.gguf"));
  expect_problem(send("POST", "/v1/models?name=cut&format=gguf", key, gguf.substr(0, gguf.size() / 2),
                      "application/octet-stream"), 400, "truncated GGUF");
  expect_problem(send("POST", "/v1/models?name=x&format=onnx", key, gguf, "application/octet-stream"), 400,
                 "unknown format");
  expect_problem(send("POST", "/v1/models?format=gguf", key, gguf, "application/octet-stream"), 400,
                 "missing name");
  expect_problem(send("POST", "/v1/models?name=t&format=safetensors", key, "not a tar",
                      "application/octet-stream"), 400, "safetensors not a tar");
  const auto bad_text = send("POST", "/v1/datasets?name=bin", key, "ok\xC3(bad", "text/plain");
  expect_problem(bad_text, 400, "invalid UTF-8");
  EXPECT_NE(bad_text.json().at("detail").get<std::string>().find("offset 2"), std::string::npos);
  expect_problem(send("POST", "/v1/datasets?name=empty", key, "", "text/plain"), 400, "empty dataset");
  EXPECT_EQ(table_contents(), before);
  EXPECT_FALSE(std::filesystem::exists(storage_ / "models"));
  EXPECT_FALSE(std::filesystem::exists(storage_ / "datasets"));
}

class ApiSmallUploads : public ApiTest {
 protected:
  ApiSmallUploads() { upload_limit_ = 100 << 10; }
};

TEST_F(ApiSmallUploads, UploadsAboveTheLimitAre413) {
  const std::string key = make_key("alpha", {"submit"});
  const auto before = table_contents();
  const auto r = send("POST", "/v1/models?name=big&format=gguf", key, read_file(data_path("stories260K.gguf")),
                      "application/octet-stream");
  expect_problem(r, 413, "model over the limit");
  EXPECT_EQ(table_contents(), before);
  // The server still answers afterwards.
  EXPECT_EQ(get("/healthz", "").status, 200);
}

}  // namespace
}  // namespace flashnas::test
