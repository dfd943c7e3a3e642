// Router: registers routes on cpp-httplib with one wrapper that every request goes
// through: request id, authentication and scope check, strict query parameters,
// body size limits, error mapping to problem+json, metrics by route pattern and an
// access log line. Handlers only parse, call a service and write the answer.
// Not the routes themselves (routes_*.cpp) nor the key lookup (auth.hpp).
#pragma once

#include <httplib.h>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "server/http_metrics.hpp"
#include "store/records.hpp"

namespace flashnas::server {

// device: a device token's only scope, the device protocol (/v1/agent).
enum class Scope : uint8_t { none = 0, read = 1, submit = 2, admin = 4, device = 8 };

// Who is calling: the key's project and scopes (a bit set of Scope values), or
// the registered device a device token belongs to.
struct Principal {
  int64_t project_id = 0;
  int64_t key_id = 0;
  uint8_t scopes = 0;
  std::optional<store::Device> device;
  bool has(Scope s) const { return (scopes & static_cast<uint8_t>(s)) != 0; }
};

// Maps a bearer token to its principal; nullopt for an unknown or revoked key.
using Authenticator = std::function<std::optional<Principal>(const std::string& token)>;

struct RouteSpec {
  std::string method;                // "GET" | "POST"
  std::string pattern;               // "/v1/jobs/{id}": the metrics label and the match rule
  Scope scope = Scope::none;         // none: no authentication
  int64_t body_limit = 0;            // POST: largest accepted body in bytes
  std::vector<std::string> query = {};  // accepted query parameters; others are refused
};

class RequestContext {
 public:
  RequestContext(const httplib::Request& req, httplib::Response& res, std::string request_id,
                 const httplib::ContentReader* reader, int64_t body_limit);

  const httplib::Request& request() const { return req_; }
  httplib::Response& response() { return res_; }
  const std::string& request_id() const { return request_id_; }

  // Set by the router before the handler runs on authenticated routes.
  const Principal& principal() const;
  void set_principal(Principal p) { principal_ = p; }

  // The i-th `{...}` segment of the pattern.
  std::string path_param(size_t i) const;
  // A `{id}` segment as a positive 64-bit id; anything else is 400 (field `name`).
  int64_t path_id(size_t i, const std::string& name) const;

  std::optional<std::string> query(const std::string& name) const;
  // An integer query parameter in [min, max]; absent -> fallback; malformed -> 400.
  int64_t query_integer(const std::string& name, int64_t fallback, int64_t min, int64_t max) const;

  // The request body, read at most once, refused with 413 above the route's limit.
  const std::string& body();
  // body() parsed as a JSON object; requires Content-Type application/json (415).
  nlohmann::json json_body();

  void send_json(int status, const nlohmann::json& body);

  // Reads and drops a body the handler never read (a request refused before its
  // upload was looked at), so the client sees the answer instead of a reset
  // (see body()). A body too large to drain closes the connection instead.
  void discard_unread_body();

 private:
  bool has_body() const;
  // True, with Connection: close set, when the declared Content-Length is past
  // what is worth draining (the limit plus kDrainBytes): the rest stays unread.
  bool close_if_too_large_to_drain();

  const httplib::Request& req_;
  httplib::Response& res_;
  std::string request_id_;
  const httplib::ContentReader* reader_;
  int64_t body_limit_;
  std::optional<std::string> body_;
  bool reader_used_ = false;  // the body stream can be read once, even when body() throws
  std::optional<Principal> principal_;
};

using RouteHandler = std::function<void(RequestContext&)>;

class Router {
 public:
  Router(httplib::Server& http, HttpMetrics& metrics, Authenticator authenticate);

  void add(RouteSpec spec, RouteHandler handler);

  // Problem+json answers for what no route handled: 404 for unknown paths, 405 (with
  // Allow) for a known path with another method, and cpp-httplib's own 400/413.
  void install_fallbacks();

 private:
  struct Registered {
    RouteSpec spec;
    std::string regex;
  };
  void handle(const Registered& route, const RouteHandler& handler, const httplib::Request& req,
              httplib::Response& res, const httplib::ContentReader* reader);
  Principal authenticate(const httplib::Request& req, Scope scope) const;

  httplib::Server& http_;
  HttpMetrics& metrics_;
  Authenticator authenticate_;
  std::vector<Registered> routes_;
};

// A fresh request id: 16 hex digits, unique enough to find one log line.
std::string new_request_id();

}  // namespace flashnas::server
