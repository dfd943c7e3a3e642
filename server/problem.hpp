// Problem details (RFC 9457, application/problem+json): the one shape every API
// error takes. Handlers and services throw ApiError; the route wrapper renders it.
// Not for internal failures: those are logged and answered with a generic 500.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "engine/util/error.hpp"

namespace flashnas::server {

// An error meant for the client: its status, title and detail are shown verbatim,
// so they must never carry database or exception text.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string title, std::string detail,
           std::vector<FieldError> errors = {})
      : std::runtime_error(detail), status_(status), title_(std::move(title)),
        detail_(std::move(detail)), errors_(std::move(errors)) {}

  int status() const noexcept { return status_; }
  const std::string& title() const noexcept { return title_; }
  const std::string& detail() const noexcept { return detail_; }
  const std::vector<FieldError>& errors() const noexcept { return errors_; }

 private:
  int status_;
  std::string title_;
  std::string detail_;
  std::vector<FieldError> errors_;
};

// The common cases, so titles stay uniform across routes.
ApiError bad_request(std::string detail);
ApiError validation_failed(std::vector<FieldError> errors);  // 400 with `errors`
ApiError unauthorized(std::string detail);                  // 401
ApiError forbidden(std::string detail);                     // 403
ApiError not_found(std::string detail);                     // 404
ApiError conflict(std::string detail);                      // 409
ApiError payload_too_large(int64_t limit_bytes);            // 413
ApiError unsupported_media_type(std::string detail);        // 415

// {"type": "about:blank", "status", "title", "detail", ["errors"], ["request_id"]}.
nlohmann::json problem_json(const ApiError& error, const std::string& request_id);

// The body of every unexpected failure: no internals, only the id to find the log line.
nlohmann::json internal_error_json(const std::string& request_id);

}  // namespace flashnas::server
