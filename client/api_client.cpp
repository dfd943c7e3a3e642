#include "client/api_client.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <thread>

#include "engine/util/error.hpp"

namespace flashnas::client {
namespace {

bool is_unanswered(int status) { return status == 502 || status == 503 || status == 504; }

// An https server whose certificate this client does not trust is no network
// failure that a retry could outlast: it fails at once, saying what to give.
void check_trusted(const httplib::Result& res, const std::string& server) {
  if (!res && res.error() == httplib::Error::SSLServerVerification) {
    throw ClientError(ClientErrorKind::refused, 0,
                      fmt::format("{}: the server's TLS certificate is not trusted here (give the certificate of the "
                                  "CA that signed it with --ca-cert)",
                                  server));
  }
}

std::chrono::microseconds to_micros(double seconds) {
  return std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
}

// Waits between attempts of a request that got no answer: 0.25 s, doubling up to
// 4 s, while the next attempt still starts within the retry window.
class Backoff {
 public:
  explicit Backoff(double seconds) : deadline_(std::chrono::steady_clock::now() + to_micros(seconds)) {}
  // False (without waiting) when the window is over.
  bool wait() {
    if (std::chrono::steady_clock::now() + pause_ > deadline_) return false;
    std::this_thread::sleep_for(pause_);
    pause_ = std::min(pause_ * 2, std::chrono::milliseconds(4000));
    return true;
  }

 private:
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::milliseconds pause_{250};
};

// The error of an answered request that failed: 4xx refused, 5xx the server's.
ClientError answer_error(const std::string& method, const std::string& path, int status, const std::string& body) {
  const nlohmann::json problem = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  return ClientError(status < 500 ? ClientErrorKind::refused : ClientErrorKind::server_error, status,
                     fmt::format("{} {}: {}", method, path,
                                 describe_problem(status, problem.is_discarded() ? nlohmann::json() : problem)));
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
  if (!options_.ca_cert.empty()) {
    if (!std::ifstream(options_.ca_cert)) {
      throw InvalidInput(fmt::format("--ca-cert: cannot read '{}'", options_.ca_cert), "--ca-cert");
    }
    http_->set_ca_cert_path(options_.ca_cert);
  }
}

ApiClient::~ApiClient() = default;

nlohmann::json ApiClient::get(const std::string& path) {
  return send("GET", path, nullptr, "", /*retry=*/true).body;
}

Response ApiClient::post(const std::string& path, const nlohmann::json& body, const PostOptions& post_options) {
  return send("POST", path, &body, post_options.idempotency_key,
              /*retry=*/post_options.idempotent || !post_options.idempotency_key.empty());
}

ApiClient::Download ApiClient::download(const std::string& path, const std::string& file) {
  Backoff backoff(options_.retry_seconds);
  for (;;) {
    Download d;
    std::string text;
    std::ofstream out;
    bool write_failed = false;
    const httplib::Result res = http_->Get(
        path, httplib::Headers{{"Accept", "application/json, application/octet-stream, application/x-tar"}},
        [&](const httplib::Response& r) {
          d.status = r.status;
          if (r.status == 200) out.open(file, std::ios::binary | std::ios::trunc);
          return true;
        },
        [&](const char* data, size_t n) {
          if (d.status != 200) {
            text.append(data, n);
            return true;
          }
          out.write(data, static_cast<std::streamsize>(n));
          d.bytes += static_cast<int64_t>(n);
          write_failed = !out;
          return !write_failed;
        });
    if (write_failed) throw std::runtime_error("cannot write " + file);
    check_trusted(res, options_.server);
    if (res && !is_unanswered(res->status)) {
      if (res->status >= 300) throw answer_error("GET", path, res->status, text);
      if (res->status == 200) {
        d.etag = res->get_header_value("ETag");
        if (d.etag.size() >= 2 && d.etag.front() == '"') d.etag = d.etag.substr(1, d.etag.size() - 2);
      } else {
        d.body = nlohmann::json::parse(text, nullptr, false);
        if (d.body.is_discarded()) d.body = nullptr;
        d.retry_after = std::atof(res->get_header_value("Retry-After").c_str());
      }
      return d;
    }
    if (!backoff.wait()) {
      throw ClientError(ClientErrorKind::unreachable, res ? res->status : 0,
                        res ? fmt::format("{} answered {} to GET {}", options_.server, res->status, path)
                            : fmt::format("no answer from {} ({})", options_.server, httplib::to_string(res.error())));
    }
  }
}

Response ApiClient::send(const std::string& method, const std::string& path, const nlohmann::json* body,
                         const std::string& idempotency_key, bool retry) {
  httplib::Headers headers = {{"Accept", "application/json"}};
  if (!idempotency_key.empty()) headers.emplace("Idempotency-Key", idempotency_key);
  const std::string payload = body ? body->dump() : std::string();
  Backoff backoff(options_.retry_seconds);
  for (;;) {
    const httplib::Result res = method == "GET" ? http_->Get(path, headers)
                                                : http_->Post(path, headers, payload, "application/json");
    check_trusted(res, options_.server);
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
      throw answer_error(method, path, res->status, res->body);
    }
    if (!retry || !backoff.wait()) throw ClientError(ClientErrorKind::unreachable, res ? res->status : 0, failure);
  }
}

}  // namespace flashnas::client
