// Strict JSON parsing and field-by-field object reading (see json_reader.hpp).
#include "engine/util/json_reader.hpp"

#include <fmt/format.h>

#include <cmath>

namespace flashnas {
namespace {

constexpr int kMaxDepth = 32;

// A key repeated inside one object is ambiguous (parsers disagree on which wins),
// so it is refused rather than silently taking the last value.
struct DuplicateKey {
  std::string key;
};
struct TooDeep {};

}  // namespace

nlohmann::json parse_json_object(std::string_view text) {
  std::vector<std::set<std::string>> open_objects;  // keys seen, per open object
  auto callback = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (depth > kMaxDepth) throw TooDeep{};
    if (event == E::object_start) {
      open_objects.emplace_back();
    } else if (event == E::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == E::key && !open_objects.empty()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second) throw DuplicateKey{key};
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte locates the problem; nlohmann's own text is not repeated verbatim.
    throw JsonSyntaxError(fmt::format("not valid JSON (error near byte {})", e.byte));
  } catch (const DuplicateKey& d) {
    throw JsonSyntaxError(fmt::format("duplicate key \"{}\" in an object", d.key));
  } catch (const TooDeep&) {
    throw JsonSyntaxError(fmt::format("JSON nested deeper than {} levels", kMaxDepth));
  }
  if (!j.is_object()) {
    throw JsonSyntaxError("must be a JSON object, got " + std::string(j.type_name()));
  }
  return j;
}

std::string type_mismatch(std::string_view expected, const nlohmann::json& got) {
  const std::string_view name = got.is_number_float()      ? "a number with a fraction"
                                : got.is_number()          ? "a number"
                                : got.is_string()          ? "a string"
                                : got.is_boolean()         ? "a boolean"
                                : got.is_null()            ? "null"
                                : got.is_array()           ? "an array"
                                                           : "an object";
  return fmt::format("expected {}, got {}", expected, name);
}

JsonObjectReader::JsonObjectReader(const nlohmann::json& object, std::string prefix,
                                   FieldErrors& errors)
    : prefix_(std::move(prefix)), errors_(errors) {
  if (object.is_object()) {
    object_ = &object;
  } else {
    errors_.add(prefix_.empty() ? "body" : prefix_, type_mismatch("an object", object));
  }
}

std::string join_field(std::string_view prefix, std::string_view key) {
  return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
}

void FieldErrors::add(const InvalidInput& e, const std::string& prefix) {
  for (const FieldError& f : e.errors()) {
    const bool prefixed = prefix.empty() || f.field == prefix || f.field.rfind(prefix + ".", 0) == 0 ||
                          f.field.rfind(prefix + "[", 0) == 0;
    add(prefixed ? f.field : (f.field.empty() ? prefix : join_field(prefix, f.field)), f.message);
  }
}

void FieldErrors::throw_if_any() const {
  if (!errors_.empty()) throw InvalidInput(errors_);
}

const nlohmann::json* JsonObjectReader::find(std::string_view key, bool required) {
  if (!object_) return nullptr;
  known_.emplace(key);
  auto it = object_->find(key);
  if (it == object_->end()) {
    if (required) errors_.add(field_name(key), "required");
    return nullptr;
  }
  return &*it;
}

const std::string* JsonObjectReader::string_value(std::string_view key, bool required) {
  const auto* v = find(key, required);
  if (!v) return nullptr;
  if (!v->is_string()) {
    errors_.add(field_name(key), type_mismatch("a string", *v));
    return nullptr;
  }
  return &v->get_ref<const std::string&>();
}

std::optional<std::string> JsonObjectReader::string(std::string_view key, bool required,
                                                    size_t max_length) {
  const std::string* value = string_value(key, required);
  if (!value) return std::nullopt;
  const std::string& s = *value;
  if (s.empty()) {
    errors_.add(field_name(key), "must not be empty");
    return std::nullopt;
  }
  if (s.size() > max_length) {
    errors_.add(field_name(key), fmt::format("longer than {} bytes", max_length));
    return std::nullopt;
  }
  return s;
}

std::optional<int64_t> JsonObjectReader::integer(std::string_view key, bool required,
                                                 int64_t min, int64_t max) {
  const auto* v = find(key, required);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) {
    errors_.add(field_name(key), type_mismatch("an integer", *v));
    return std::nullopt;
  }
  const bool too_big = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(max);
  const int64_t x = too_big ? max : v->get<int64_t>();
  if (too_big || x < min || x > max) {
    errors_.add(field_name(key), fmt::format("must be between {} and {}", min, max));
    return std::nullopt;
  }
  return x;
}

std::optional<std::string> JsonObjectReader::choice(std::string_view key, bool required,
                                                    const std::vector<std::string>& allowed) {
  const std::string* value = string_value(key, required);
  if (!value) return std::nullopt;
  const std::string& s = *value;
  for (const auto& a : allowed) {
    if (s == a) return s;
  }
  errors_.add(field_name(key), fmt::format("must be one of {}, got \"{}\"", fmt::join(allowed, ", "), s));
  return std::nullopt;
}

std::optional<double> JsonObjectReader::number(std::string_view key, bool required, double min, double max) {
  const auto* v = find(key, required);
  if (!v) return std::nullopt;
  if (!v->is_number()) {
    errors_.add(field_name(key), type_mismatch("a number", *v));
    return std::nullopt;
  }
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < min || x > max) {
    errors_.add(field_name(key), fmt::format("must be between {} and {}", min, max));
    return std::nullopt;
  }
  return x;
}

std::optional<bool> JsonObjectReader::boolean(std::string_view key, bool required) {
  const auto* v = find(key, required);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) {
    errors_.add(field_name(key), type_mismatch("true or false", *v));
    return std::nullopt;
  }
  return v->get<bool>();
}

const nlohmann::json* JsonObjectReader::value(std::string_view key, bool required) {
  return find(key, required);
}

const nlohmann::json* JsonObjectReader::array(std::string_view key, bool required) {
  const auto* v = find(key, required);
  if (v && !v->is_array()) {
    errors_.add(field_name(key), type_mismatch("an array", *v));
    return nullptr;
  }
  return v;
}

const nlohmann::json* JsonObjectReader::object(std::string_view key, bool required) {
  const auto* v = find(key, required);
  if (v && !v->is_object()) {
    errors_.add(field_name(key), type_mismatch("an object", *v));
    return nullptr;
  }
  return v;
}

void JsonObjectReader::finish() {
  if (!object_) return;
  for (const auto& [key, _] : object_->items()) {
    if (!known_.count(key)) errors_.add(field_name(key), "unknown field");
  }
}

}  // namespace flashnas
