// ApiClient: a small, direct client of flashnas's REST API. Requests carry the
// API key as a Bearer header; answers are JSON. What goes wrong is told apart
// the way a CI step needs it: the server refused the request (4xx, with the
// problem's detail and field errors), or no answer could be had (connection
// failures and 502/503/504, retried with back-off for `retry_seconds` when the
// request is safe to repeat: reads, and writes that carry an Idempotency-Key).
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <stdexcept>
#include <string>

namespace httplib {
class Client;
}

namespace flashnas::client {

struct ClientOptions {
  std::string server;                   // http(s)://host[:port]
  std::string key;                      // API key, sent as "Authorization: Bearer <key>"
  double request_timeout_seconds = 30;  // one request's connect + read time
  double retry_seconds = 30;            // how long unanswered safe requests are retried
  // PEM file of the CA certificate(s) an https server's certificate is checked
  // against; empty: the system's store (OpenSSL's default paths, which a phone
  // or a minimal image may not have).
  std::string ca_cert;
};

enum class ClientErrorKind : uint8_t {
  refused,       // 4xx: the request itself is wrong (validation, auth, not found, conflict)
  unreachable,   // no answer: connection refused or dropped, timeouts, 502/503/504
  server_error,  // 500: the server failed; its request id says which log line
};

class ClientError : public std::runtime_error {
 public:
  ClientError(ClientErrorKind kind, int status, const std::string& message)
      : std::runtime_error(message), kind_(kind), status_(status) {}
  ClientErrorKind kind() const noexcept { return kind_; }
  int status() const noexcept { return status_; }  // 0 when there was no answer

 private:
  ClientErrorKind kind_;
  int status_;
};

struct Response {
  int status = 0;
  nlohmann::json body;  // null when the answer had no body
};

class ApiClient {
 public:
  // Throws InvalidInput (field "--server") for a URL that is not http(s)://host[:port].
  explicit ApiClient(ClientOptions options);
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // GET path (with its query); retried while unanswered. 2xx -> the body; else throws ClientError.
  nlohmann::json get(const std::string& path);
  // POST a JSON body. Retried while unanswered only when that is safe: the
  // request is idempotent by nature (cancelling), or it carries an
  // Idempotency-Key (the server answers a repeat with the first request's result).
  struct PostOptions {
    std::string idempotency_key = {};
    bool idempotent = false;
  };
  Response post(const std::string& path, const nlohmann::json& body, const PostOptions& post_options);

  // GET a file: a 200 answer's body is streamed into `file` (never held in
  // memory); any other 2xx answer (202: not ready yet) is returned with its JSON
  // body and Retry-After. 4xx/5xx and no answer throw as for get().
  struct Download {
    int status = 0;
    nlohmann::json body;       // non-200 answers
    std::string etag;          // 200: the ETag, unquoted
    int64_t bytes = 0;         // 200: bytes written
    double retry_after = 0.0;  // seconds, from Retry-After
  };
  Download download(const std::string& path, const std::string& file);

  const ClientOptions& options() const { return options_; }

 private:
  Response send(const std::string& method, const std::string& path, const nlohmann::json* body,
                const std::string& idempotency_key, bool retry);

  ClientOptions options_;
  std::unique_ptr<httplib::Client> http_;
};

// "400 Bad Request: <detail> (field: message; ...)" from a problem+json answer.
std::string describe_problem(int status, const nlohmann::json& problem);

}  // namespace flashnas::client
