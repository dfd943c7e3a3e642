#include "client/api_client.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <regex>
#include <thread>

#include "engine/util/error.hpp"

namespace flashnas::client {
namespace {

bool is_unanswered(int status) { return status == 502 || status == 503 || status == 504; }

std::chrono::microseconds to_micros(double seconds) {
  return std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
}

}  // namespace

std::string describe_problem(int status, const nlohmann::json& problem) {
  std::string text = std::to_string(status);
  if (!problem.is_object()) return text + " (no problem details in the answer)";
  if (problem.contains("title") && problem["title"].is_string()) text += fmt::format(" {}", problem["title"].get<std::string>());
  if (problem.contains("detail") && problem["detail"].is_string()) text += fmt::format(": {}", problem["detail"].get<std::string>());
  if (problem.contains("errors") && problem["errors"].is_array()) {
    std::string fields;
    for (const auto& e : problem["errors"]) {
      if (!e.is_object()) continue;
      if (!fields.empty()) fields += "; ";
      fields += fmt::format("{}: {}", e.value("field", std::string("?")), e.value("message", std::string("?")));
    }
    if (!fields.empty()) text += fmt::format(" ({})", fields);
  }
  if (problem.contains("request_id") && problem["request_id"].is_string()) {
    text += fmt::format(" [request {}]", problem["request_id"].get<std::string>());
  }
  return text;
}

ApiClient::ApiClient(ClientOptions options) : options_(std::move(options)) {
  static const std::regex url(R"(https?://[A-Za-z0-9.\-\[\]:]+(:[0-9]{1,5})?/?)");
  if (!std::regex_match(options_.server, url)) {
    throw InvalidInput(fmt::format("--server must be http(s)://host[:port], got '{}'", options_.server), "--server");
  }
  std::string base = options_.server;
  if (base.back() == '/') base.pop_back();
  http_ = std::make_unique<httplib::Client>(base);
  if (!http_->is_valid()) throw InvalidInput(fmt::format("--server '{}' is not usable", options_.server), "--server");
  http_->set_connection_timeout(to_micros(options_.request_timeout_seconds));
  http_->set_read_timeout(to_micros(options_.request_timeout_seconds));
  http_->set_write_timeout(to_micros(options_.request_timeout_seconds));
  if (!options_.key.empty()) http_->set_bearer_token_auth(options_.key);
}

ApiClient::~ApiClient() = default;

nlohmann::json ApiClient::get(const std::string& path) {
  return send("GET", path, nullptr, "", /*retry=*/true).body;
}

Response ApiClient::post(const std::string& path, const nlohmann::json& body, const PostOptions& post_options) {
  return send("POST", path, &body, post_options.idempotency_key,
              /*retry=*/post_options.idempotent || !post_options.idempotency_key.empty());
}

Response ApiClient::send(const std::string& method, const std::string& path, const nlohmann::json* body,
                         const std::string& idempotency_key, bool retry) {
  httplib::Headers headers = {{"Accept", "application/json"}};
  if (!idempotency_key.empty()) headers.emplace("Idempotency-Key", idempotency_key);
  const std::string payload = body ? body->dump() : std::string();
  const auto deadline = std::chrono::steady_clock::now() + to_micros(options_.retry_seconds);
  auto pause = std::chrono::milliseconds(250);
  for (;;) {
    const httplib::Result res = method == "GET" ? http_->Get(path, headers)
                                                : http_->Post(path, headers, payload, "application/json");
    std::string failure;
    if (!res) {
      failure = fmt::format("no answer from {} ({})", options_.server, httplib::to_string(res.error()));
    } else if (is_unanswered(res->status)) {
      failure = fmt::format("{} answered {} to {} {}", options_.server, res->status, method, path);
    } else {
      nlohmann::json parsed = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
      if (res->body.empty()) parsed = nullptr;
      if (res->status >= 200 && res->status < 300) {
        if (parsed.is_discarded()) {
          throw ClientError(ClientErrorKind::server_error, res->status,
                            fmt::format("{} {} answered {} with a body that is not JSON", method, path, res->status));
        }
        return {res->status, std::move(parsed)};
      }
      const ClientErrorKind kind = res->status < 500 ? ClientErrorKind::refused : ClientErrorKind::server_error;
      throw ClientError(kind, res->status,
                        fmt::format("{} {}: {}", method, path,
                                    describe_problem(res->status, parsed.is_discarded() ? nlohmann::json() : parsed)));
    }
    if (!retry || std::chrono::steady_clock::now() + pause > deadline) {
      throw ClientError(ClientErrorKind::unreachable, res ? res->status : 0, failure);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(4000));
  }
}

}  // namespace flashnas::client
