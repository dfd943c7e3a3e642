// Strict JSON input, read once at the edge: parsing a document (depth limit,
// duplicate keys refused) and reading one object field by field, so that wrong
// types, missing fields, out-of-range values and unknown fields are all
// collected as {field, message} and reported together; and the checks with
// which a struct states the rules of its values once, for JSON and for values
// from flags or code alike. The one reader behind the engine's option structs
// (spaces, latency options, architectures, GP and search options) and the API's
// request bodies. Not the meaning of any field (each struct's read_*/validate).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
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

class FieldErrors;

// One integer value (an object field or an array element) named `field`: nullopt,
// with the error recorded, unless it is a JSON integer in [min, max].
std::optional<int64_t> integer_value(const nlohmann::json& v, const std::string& field, int64_t min, int64_t max,
                                     FieldErrors& errors);

// Collects field errors while input is read, so one report lists all of them.
class FieldErrors {
 public:
  void add(std::string field, std::string message) { errors_.push_back({std::move(field), std::move(message)}); }
  // Adds the errors of `e` (from a nested parser), each field prefixed by `prefix`
  // unless it already starts with it.
  void add(const InvalidInput& e, const std::string& prefix = {});
  bool empty() const { return errors_.empty(); }
  const std::vector<FieldError>& list() const { return errors_; }
  // True when an error names `field`, a field inside it, or one that holds it:
  // "d_model" is touched by errors of "d_model.max" and of "d_model" itself,
  // "d_ffn[2]" by one of "d_ffn".
  bool has(std::string_view field) const;
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
// (always an error). Types are strict: an integer must be a JSON integer (not
// 3.0, not "3"), a boolean true or false; non-finite numbers are refused.
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
  // Any int64, for a field whose range a struct's checks state (see FieldChecks).
  std::optional<int64_t> integer(std::string_view key, bool required);
  // Any uint64 (seeds); negative integers are refused.
  std::optional<uint64_t> unsigned_integer(std::string_view key, bool required);
  std::optional<double> number(std::string_view key, bool required, double min, double max);
  // Any finite number.
  std::optional<double> number(std::string_view key, bool required);
  std::optional<bool> boolean(std::string_view key, bool required);
  // An array of at most `max_items` integers (numbers), element i named "key[i]".
  // A bad element is recorded and read as 0, so the indices stay the document's
  // (and checks of "key[i]" record nothing more, see FieldChecks).
  std::optional<std::vector<int64_t>> integers(std::string_view key, bool required, size_t max_items);
  std::optional<std::vector<double>> numbers(std::string_view key, bool required, size_t max_items);
  // Any JSON value, for fields validated elsewhere (e.g. a candidate architecture).
  const nlohmann::json* value(std::string_view key, bool required);
  const nlohmann::json* array(std::string_view key, bool required);
  // An array of at most `max_items` entries (so that a long bad list cannot
  // produce an error per entry).
  const nlohmann::json* array(std::string_view key, bool required, size_t max_items);
  const nlohmann::json* object(std::string_view key, bool required);

  // A string field turned into a value by `parse(text, field)`, which throws
  // InvalidInput for text it does not know (parse_weight_format, ...).
  template <typename Parse>
  auto parsed(std::string_view key, bool required, Parse&& parse)
      -> std::optional<std::invoke_result_t<Parse&, const std::string&, const std::string&>>;

  // Reads the object in field `key` with `read(JsonObjectReader&)`, its fields
  // named "prefix.key.field", then reports its unknown fields. nullopt when the
  // field is absent or not an object.
  template <typename Read>
  auto nested(std::string_view key, bool required, Read&& read)
      -> std::optional<std::invoke_result_t<Read&, JsonObjectReader&>>;

  // Adds "unknown field (expected one of ...)" for every key not read through
  // an accessor.
  void finish();

 private:
  const nlohmann::json* find(std::string_view key, bool required);
  // The field when present and of the type `is` accepts (nullptr otherwise,
  // with "expected <expected>, got ..." recorded when it is of another type).
  using TypeTest = bool (nlohmann::json::*)() const noexcept;
  const nlohmann::json* typed(std::string_view key, bool required, TypeTest is, std::string_view expected);

  const nlohmann::json* object_ = nullptr;
  std::string prefix_;
  FieldErrors& errors_;
  std::set<std::string, std::less<>> known_;
};

template <typename Read>
auto JsonObjectReader::nested(std::string_view key, bool required, Read&& read)
    -> std::optional<std::invoke_result_t<Read&, JsonObjectReader&>> {
  const nlohmann::json* v = object(key, required);
  if (!v) return std::nullopt;
  JsonObjectReader inner(*v, field_name(key), errors_);
  auto value = read(inner);
  inner.finish();
  return value;
}

template <typename Parse>
auto JsonObjectReader::parsed(std::string_view key, bool required, Parse&& parse)
    -> std::optional<std::invoke_result_t<Parse&, const std::string&, const std::string&>> {
  const std::optional<std::string> text = string(key, required, 256);
  if (!text) return std::nullopt;
  try {
    return parse(*text, field_name(key));
  } catch (const InvalidInput& e) {
    errors_.add(e);
    return std::nullopt;
  }
}

// Reads `j` as one whole object with `read(JsonObjectReader&)`, reports its
// unknown fields, and throws one InvalidInput listing every error. Fields are
// named under `prefix`; when `j` is not an object the error names `prefix`, or
// `name` when the prefix is empty ("space", "shape").
template <typename Read>
auto read_object(const nlohmann::json& j, const std::string& prefix, std::string_view name, Read&& read) {
  if (!j.is_object()) {
    throw InvalidInput(type_mismatch("an object", j), prefix.empty() ? std::string(name) : prefix);
  }
  FieldErrors errors;
  JsonObjectReader r(j, prefix, errors);
  auto value = read(r);
  r.finish();
  errors.throw_if_any();
  return value;
}

// The rules of a struct's values, stated once and shared by its JSON reader and
// its validate() (for values from flags or code): each check records
// {prefix + field, message} in `errors`. A field that already has an error
// holds a placeholder (a wrong type leaves the default in place), so a check of
// that field, or of a rule that depends on it, records nothing more: one
// problem, one report.
class FieldChecks {
 public:
  FieldChecks(FieldErrors& errors, std::string prefix) : errors_(errors), prefix_(std::move(prefix)) {}

  std::string field_name(std::string_view key) const { return join_field(prefix_, key); }
  // No error so far for `key`, a field inside it, or one that holds it.
  bool fine(std::string_view key) const { return !errors_.has(field_name(key)); }
  // Records `message` for `key` unless `ok`, or `key` or one of `inputs` already
  // has an error. Returns ok.
  bool require(bool ok, std::string_view key, std::string_view message,
               std::initializer_list<std::string_view> inputs = {});
  // min <= value <= max ("must be between min and max, got value").
  bool range(std::string_view key, int64_t value, int64_t min, int64_t max);
  // value >= min ("must be >= min, got value"), for counts without a ceiling.
  bool at_least(std::string_view key, int64_t value, int64_t min);

 private:
  FieldErrors& errors_;
  std::string prefix_;
};

}  // namespace flashnas
