// Strict JSON input: parsing a request body (depth limit, duplicate keys refused)
// and reading one object field by field, so wrong types, missing fields and
// unknown fields are all reported by name in one problem response.
// Not the DTOs (dto.hpp) nor business validation (the services).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "server/problem.hpp"

namespace flashnas::server {

// Parses `body` as JSON whose top level is an object. Throws ApiError 400
// ("malformed JSON") with the byte offset on syntax errors, duplicate keys or
// nesting deeper than 32 levels.
nlohmann::json parse_json_object(std::string_view body);

// "expected an integer, got a string": the wording every wrong-type error uses.
std::string type_mismatch(std::string_view expected, const nlohmann::json& got);

// Reads fields of one JSON object, recording problems in `errors` under
// `prefix` + key ("latency.prompt_len"). Every accessor marks its key as known;
// finish() reports the keys nobody asked for. Accessors return nullopt when the
// field is absent (an error only if required) or invalid (always an error).
class JsonObjectReader {
 public:
  JsonObjectReader(const nlohmann::json& object, std::string prefix, FieldErrors& errors);

  bool is_object() const { return object_ != nullptr; }
  std::string field_name(std::string_view key) const;

  std::optional<std::string> string(std::string_view key, bool required, size_t max_length);
  std::optional<int64_t> integer(std::string_view key, bool required, int64_t min, int64_t max);
  // Any JSON value, for fields validated elsewhere (e.g. a candidate architecture).
  const nlohmann::json* value(std::string_view key, bool required);
  const nlohmann::json* array(std::string_view key, bool required);
  const nlohmann::json* object(std::string_view key, bool required);

  // Adds "unknown field" for every key not read through an accessor.
  void finish();

 private:
  const nlohmann::json* find(std::string_view key, bool required);

  const nlohmann::json* object_ = nullptr;
  std::string prefix_;
  FieldErrors& errors_;
  std::set<std::string, std::less<>> known_;
};

}  // namespace flashnas::server
