// The request wrapper: ids, auth, limits, error mapping, metrics and access logs.
#include "server/router.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <random>
#include <regex>

#include "common/public_error.hpp"
#include "engine/util/error.hpp"
#include "engine/util/json_reader.hpp"
#include "server/problem.hpp"

namespace flashnas::server {
namespace {

constexpr const char* kProblemType = "application/problem+json";

// "/v1/jobs/{id}" -> "/v1/jobs/([^/]+)"; the pattern text is otherwise literal.
std::string pattern_to_regex(const std::string& pattern) {
  static const std::regex param(R"(\{[a-z_]+\})");
  std::string escaped;
  for (char c : pattern) {
    if (std::string_view(".+*?^$()[]|\\").find(c) != std::string_view::npos) escaped.push_back('\\');
    escaped.push_back(c);
  }
  // The braces were escaped above only if listed; they are not, so they survive.
  return std::regex_replace(escaped, param, "([^/]+)");
}

void send_problem(httplib::Response& res, const ApiError& error, const std::string& request_id) {
  res.status = error.status();
  res.set_content(problem_json(error, request_id).dump(), kProblemType);
}

bool parse_positive_id(const std::string& text, int64_t& id) {
  if (text.empty() || text.size() > 19) return false;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
    if (v < 0) return false;
  }
  if (v <= 0 || text[0] == '0') return false;
  id = v;
  return true;
}

}  // namespace

std::string new_request_id() { return new_error_id(); }

// ------------------------------------------------------------------ RequestContext

RequestContext::RequestContext(const httplib::Request& req, httplib::Response& res,
                               std::string request_id, const httplib::ContentReader* reader,
                               int64_t body_limit)
    : req_(req), res_(res), request_id_(std::move(request_id)), reader_(reader),
      body_limit_(body_limit) {}

const Principal& RequestContext::principal() const {
  FLASHNAS_CHECK(principal_.has_value(), "route used principal() without requiring a scope");
  return *principal_;
}

std::string RequestContext::path_param(size_t i) const {
  FLASHNAS_CHECK(i + 1 < req_.matches.size(), "path parameter {} not in the pattern", i);
  return req_.matches[i + 1].str();
}

int64_t RequestContext::path_id(size_t i, const std::string& name) const {
  int64_t id = 0;
  if (!parse_positive_id(path_param(i), id)) {
    throw validation_failed({{name, "must be a positive integer id"}});
  }
  return id;
}

std::optional<std::string> RequestContext::query(const std::string& name) const {
  if (!req_.has_param(name)) return std::nullopt;
  return req_.get_param_value(name);
}

int64_t RequestContext::query_integer(const std::string& name, int64_t fallback, int64_t min,
                                      int64_t max) const {
  const auto text = query(name);
  if (!text) return fallback;
  int64_t v = 0;
  const bool negative = !text->empty() && (*text)[0] == '-';
  const std::string digits = negative ? text->substr(1) : *text;
  bool ok = !digits.empty() && digits.size() <= 18;
  for (char c : digits) ok = ok && c >= '0' && c <= '9';
  if (ok) {
    v = std::stoll(digits);
    if (negative) v = -v;
  }
  if (!ok || v < min || v > max) {
    throw validation_failed({{name, fmt::format("must be an integer between {} and {}", min, max)}});
  }
  return v;
}

namespace {
// How much of a refused body is still read (and discarded) before answering.
constexpr uint64_t kDrainBytes = 16 << 20;
}  // namespace

// RFC 9112 6.3: a request with neither Content-Length nor Transfer-Encoding has
// no body. (cpp-httplib's reader would wait for the connection to close instead
// and then answer 400, turning a body-less POST such as /cancel into an error.)
bool RequestContext::has_body() const {
  return req_.has_header("Content-Length") || req_.has_header("Transfer-Encoding");
}

bool RequestContext::close_if_too_large_to_drain() {
  if (!req_.has_header("Content-Length") ||
      req_.get_header_value<uint64_t>("Content-Length") <= static_cast<uint64_t>(body_limit_) + kDrainBytes) {
    return false;
  }
  res_.set_header("Connection", "close");
  return true;
}

void RequestContext::discard_unread_body() {
  if (body_ || !reader_ || reader_used_ || !has_body()) return;
  reader_used_ = true;
  if (close_if_too_large_to_drain()) return;
  uint64_t discarded = 0;
  const bool ok = (*reader_)([&](const char*, size_t n) {
    discarded += n;
    return discarded <= static_cast<uint64_t>(body_limit_) + kDrainBytes;
  });
  if (!ok) res_.set_header("Connection", "close");
}

const std::string& RequestContext::body() {
  if (body_) return *body_;
  if (!reader_ || !has_body()) {
    body_ = reader_ ? std::string() : req_.body;
    return *body_;
  }
  if (reader_used_) throw bad_request("the request body could not be read completely");
  // A body over the limit is refused with 413, but a moderately oversized one is
  // still read (and discarded) first: closing a socket that has unread data makes
  // the kernel send a reset, which can destroy the 413 before the client reads it
  // (cpp-httplib's client, for one, writes the whole body before reading). Past
  // kDrainBytes the connection is closed instead of paying for the transfer.
  if (close_if_too_large_to_drain()) throw payload_too_large(body_limit_);
  reader_used_ = true;
  std::string data;
  bool too_large = false;
  uint64_t discarded = 0;
  const bool ok = (*reader_)([&](const char* chunk, size_t n) {
    if (too_large || static_cast<int64_t>(data.size() + n) > body_limit_) {
      too_large = true;
      data.clear();
      discarded += n;
      return discarded <= kDrainBytes;
    }
    data.append(chunk, n);
    return true;
  });
  if (too_large) {
    if (!ok) res_.set_header("Connection", "close");  // stopped draining: the rest is unread
    throw payload_too_large(body_limit_);
  }
  if (!ok) throw bad_request("the request body could not be read completely");
  body_ = std::move(data);
  return *body_;
}

nlohmann::json RequestContext::json_body() {
  const std::string type = req_.get_header_value("Content-Type");
  const std::string base = type.substr(0, type.find(';'));
  if (base != "application/json") {
    throw unsupported_media_type("send the body as Content-Type: application/json");
  }
  return parse_json_object(body());
}

void RequestContext::send_json(int status, const nlohmann::json& body) {
  res_.status = status;
  res_.set_content(body.dump(), "application/json");
}

// ------------------------------------------------------------------ Router

Router::Router(httplib::Server& http, HttpMetrics& metrics, Authenticator authenticate)
    : http_(http), metrics_(metrics), authenticate_(std::move(authenticate)) {}

void Router::add(RouteSpec spec, RouteHandler handler) {
  Registered route{std::move(spec), ""};
  route.regex = pattern_to_regex(route.spec.pattern);
  routes_.push_back(route);
  if (route.spec.method == "GET") {
    http_.Get(route.regex, [this, route, handler](const httplib::Request& req, httplib::Response& res) {
      handle(route, handler, req, res, nullptr);
    });
  } else if (route.spec.method == "POST") {
    http_.Post(route.regex, [this, route, handler](const httplib::Request& req, httplib::Response& res,
                                                   const httplib::ContentReader& reader) {
      handle(route, handler, req, res, &reader);
    });
  } else {
    FLASHNAS_CHECK(false, "unsupported method {}", route.spec.method);
  }
}

Principal Router::authenticate(const httplib::Request& req, Scope scope) const {
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.empty()) throw unauthorized("send an API key as Authorization: Bearer <key>");
  if (header.size() <= kBearer.size() || header.compare(0, kBearer.size(), kBearer) != 0) {
    throw unauthorized("the Authorization header must be Bearer <key>");
  }
  const auto principal = authenticate_(header.substr(kBearer.size()));
  if (!principal) throw unauthorized("unknown or revoked API key or device token");
  if (!principal->has(scope)) {
    const char* name = scope == Scope::read     ? "read"
                       : scope == Scope::submit ? "submit"
                       : scope == Scope::admin  ? "admin"
                                                : "device";
    throw forbidden(fmt::format("this key lacks the '{}' scope", name));
  }
  return *principal;
}

void Router::handle(const Registered& route, const RouteHandler& handler,
                    const httplib::Request& req, httplib::Response& res,
                    const httplib::ContentReader* reader) {
  const auto start = std::chrono::steady_clock::now();
  RequestContext ctx(req, res, new_request_id(), reader, route.spec.body_limit);
  res.set_header("X-Request-Id", ctx.request_id());
  try {
    if (route.spec.scope != Scope::none) ctx.set_principal(authenticate(req, route.spec.scope));
    for (const auto& [name, _] : req.params) {
      if (std::find(route.spec.query.begin(), route.spec.query.end(), name) == route.spec.query.end()) {
        throw validation_failed({{name, "unknown query parameter"}});
      }
    }
    handler(ctx);
  } catch (const ApiError& e) {
    send_problem(res, e, ctx.request_id());
  } catch (const JsonSyntaxError& e) {
    send_problem(res, ApiError(400, "malformed JSON", e.what()), ctx.request_id());
  } catch (const InvalidInput& e) {
    // Validation of client input (a job spec, an architecture, a model file): its
    // messages describe the input, never internals, so they are shown.
    std::vector<FieldError> errors = e.errors();
    for (FieldError& f : errors) {
      if (f.field.empty()) f.field = "body";
    }
    send_problem(res, validation_failed(std::move(errors)), ctx.request_id());
  } catch (const std::exception& e) {
    // Logged under the request id, which the generic body quotes.
    public_message(e, fmt::format("request {} {}", req.method, req.path), ctx.request_id());
    res.status = 500;
    res.set_content(internal_error_json(ctx.request_id()).dump(), kProblemType);
  }
  ctx.discard_unread_body();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics_.observe(req.method, route.spec.pattern, res.status, seconds);
  spdlog::debug("{} {} {} {:.3f}ms route={} id={}", req.method, req.path, res.status,
                seconds * 1e3, route.spec.pattern, ctx.request_id());
}

void Router::install_fallbacks() {
  // Called for every response with status >= 400; responses that already carry a
  // problem body (from handle()) are left alone.
  const httplib::Server::HandlerWithResponse fallback = [this](const httplib::Request& req,
                                                              httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const std::string id = new_request_id();
    res.set_header("X-Request-Id", id);
    std::string route = "unmatched";
    if (res.status == 404) {
      std::vector<std::string> allowed;
      for (const auto& r : routes_) {
        if (std::regex_match(req.path, std::regex(r.regex))) allowed.push_back(r.spec.method);
      }
      if (!allowed.empty()) {
        res.set_header("Allow", fmt::format("{}", fmt::join(allowed, ", ")));
        send_problem(res, ApiError(405, "method not allowed",
                                   fmt::format("{} is not allowed here", req.method)), id);
      } else {
        send_problem(res, not_found("no such route"), id);
      }
    } else if (res.status == 413) {
      send_problem(res, ApiError(413, "payload too large", "the request body is too large"), id);
    } else {
      send_problem(res, ApiError(res.status, "bad request", "the request could not be parsed"), id);
    }
    metrics_.observe(req.method, route, res.status, 0.0);
    return httplib::Server::HandlerResponse::Handled;
  };
  http_.set_error_handler(fallback);
}

}  // namespace flashnas::server
