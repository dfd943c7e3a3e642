// Problem details rendering and the standard error constructors.
#include "server/problem.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace flashnas::server {

ApiError bad_request(std::string detail) {
  return ApiError(400, "bad request", std::move(detail));
}

ApiError validation_failed(std::vector<FieldError> errors) {
  std::string detail = errors.size() == 1
                           ? fmt::format("{}: {}", errors[0].field, errors[0].message)
                           : fmt::format("{} invalid fields", errors.size());
  return ApiError(400, "validation failed", std::move(detail), std::move(errors));
}

ApiError unauthorized(std::string detail) {
  return ApiError(401, "unauthorized", std::move(detail));
}

ApiError forbidden(std::string detail) { return ApiError(403, "forbidden", std::move(detail)); }

ApiError not_found(std::string detail) { return ApiError(404, "not found", std::move(detail)); }

ApiError conflict(std::string detail) { return ApiError(409, "conflict", std::move(detail)); }

ApiError payload_too_large(int64_t limit_bytes) {
  return ApiError(413, "payload too large",
                  fmt::format("the request body exceeds the limit of {} bytes", limit_bytes));
}

ApiError unsupported_media_type(std::string detail) {
  return ApiError(415, "unsupported media type", std::move(detail));
}

nlohmann::json problem_json(const ApiError& error, const std::string& request_id) {
  nlohmann::json j = {{"type", "about:blank"},
                      {"status", error.status()},
                      {"title", error.title()},
                      {"detail", error.detail()}};
  if (!error.errors().empty()) {
    auto& list = j["errors"] = nlohmann::json::array();
    for (const auto& e : error.errors()) list.push_back({{"field", e.field}, {"message", e.message}});
  }
  if (!request_id.empty()) j["request_id"] = request_id;
  return j;
}

nlohmann::json internal_error_json(const std::string& request_id) {
  return {{"type", "about:blank"},
          {"status", 500},
          {"title", "internal error"},
          {"detail", "internal error; quote request_id " + request_id + " to the operator"},
          {"request_id", request_id}};
}

}  // namespace flashnas::server
