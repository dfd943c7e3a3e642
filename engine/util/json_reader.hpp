// Strict JSON input, read once at the edge: parsing a document (depth limit,
// duplicate keys refused) and reading one object field by field, so that wrong
// types, missing fields, out-of-range values and unknown fields are all
// collected as {field, message} and reported together. The one reader behind
// the engine's option structs (spaces, latency options, architectures) and the
// API's request bodies alike. Not the meaning of any field (each *_from_json).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/util/error.hpp"

namespace flashnas {

// A document that is not well-formed JSON (or not an object, or too deep, or
// with a key repeated in one object). field() is "body".
class JsonSyntaxError : public InvalidInput {
 public:
  explicit JsonSyntaxError(std::string message) : InvalidInput(std::move(message), "body") {}
};

// Parses `text` as JSON whose top level is an object. Throws JsonSyntaxError with
// the byte offset on syntax errors, duplicate keys or nesting deeper than 32.
nlohmann::json parse_json_object(std::string_view text);

// "expected an integer, got a string": the wording every wrong-type error uses.
std::string type_mismatch(std::string_view expected, const nlohmann::json& got);

// Collects field errors while input is read, so one report lists all of them.
class FieldErrors {
 public:
  void add(std::string field, std::string message) { errors_.push_back({std::move(field), std::move(message)}); }
  // Adds the errors of `e` (from a nested parser), each field prefixed by `prefix`
  // unless it already starts with it.
  void add(const InvalidInput& e, const std::string& prefix = {});
  bool empty() const { return errors_.empty(); }
  const std::vector<FieldError>& list() const { return errors_; }
  // Throws InvalidInput(list()) when any error was collected.
  void throw_if_any() const;

 private:
  std::vector<FieldError> errors_;
};

// The value, or JSON null when absent: how optional fields are written.
template <class T>
nlohmann::json json_or_null(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// "prefix.key", or "key" when the prefix is empty.
std::string join_field(std::string_view prefix, std::string_view key);

// Reads the fields of one JSON object, recording problems in `errors` under
// `prefix` + key ("latency.prompt_len"). Every accessor marks its key as known;
// finish() reports the keys nobody asked for. Accessors return nullopt (or
// nullptr) when the field is absent (an error only if required) or invalid
// (always an error).
class JsonObjectReader {
 public:
  JsonObjectReader(const nlohmann::json& object, std::string prefix, FieldErrors& errors);

  bool is_object() const { return object_ != nullptr; }
  std::string field_name(std::string_view key) const { return join_field(prefix_, key); }
  const std::string& prefix() const { return prefix_; }
  FieldErrors& errors() { return errors_; }

  std::optional<std::string> string(std::string_view key, bool required, size_t max_length);
  // One of `allowed` (the message lists them).
  std::optional<std::string> choice(std::string_view key, bool required, const std::vector<std::string>& allowed);
  std::optional<int64_t> integer(std::string_view key, bool required, int64_t min, int64_t max);
  std::optional<double> number(std::string_view key, bool required, double min, double max);
  std::optional<bool> boolean(std::string_view key, bool required);
  // Any JSON value, for fields validated elsewhere (e.g. a candidate architecture).
  const nlohmann::json* value(std::string_view key, bool required);
  const nlohmann::json* array(std::string_view key, bool required);
  const nlohmann::json* object(std::string_view key, bool required);

  // Adds "unknown field" for every key not read through an accessor.
  void finish();

 private:
  const nlohmann::json* find(std::string_view key, bool required);
  const std::string* string_value(std::string_view key, bool required);  // a string of any length

  const nlohmann::json* object_ = nullptr;
  std::string prefix_;
  FieldErrors& errors_;
  std::set<std::string, std::less<>> known_;
};

}  // namespace flashnas
