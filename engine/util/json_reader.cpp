// Strict JSON parsing and field-by-field object reading (see json_reader.hpp).
#include "engine/util/json_reader.hpp"

#include <fmt/format.h>

#include <cmath>
#include <limits>

namespace flashnas {
namespace {

constexpr int kMaxDepth = 32;

// A key repeated inside one object is ambiguous (parsers disagree on which wins),
// so it is refused rather than silently taking the last value.
struct DuplicateKey {
  std::string key;
};
struct TooDeep {};

// `field` is `outer` or a field inside it ("d_model.max", "d_ffn[2]").
bool is_within(std::string_view field, std::string_view outer) {
  if (field.substr(0, outer.size()) != outer) return false;
  return field.size() == outer.size() || field[outer.size()] == '.' || field[outer.size()] == '[';
}

template <typename T>
std::string range_message(T min, T max, const nlohmann::json& got) {
  return fmt::format("must be between {} and {}, got {}", min, max, got.dump());
}

std::optional<double> number_value(const nlohmann::json& v, const std::string& field, double min, double max,
                                   FieldErrors& errors) {
  if (!v.is_number()) {
    errors.add(field, type_mismatch("a number", v));
    return std::nullopt;
  }
  const double x = v.get<double>();
  if (!std::isfinite(x)) {
    errors.add(field, "must be a finite number");
    return std::nullopt;
  }
  if (x < min || x > max) {
    errors.add(field, range_message(min, max, v));
    return std::nullopt;
  }
  return x;
}

// The entries of `array`, entry i read by `one(entry, "field[i]")`; a bad one
// (already recorded by `one`) reads as T{} so the indices stay the document's.
template <typename T, typename One>
std::vector<T> elements(const nlohmann::json& array, const std::string& field, One&& one) {
  std::vector<T> out;
  out.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) out.push_back(one(array[i], fmt::format("{}[{}]", field, i)).value_or(T{}));
  return out;
}

}  // namespace

std::optional<int64_t> integer_value(const nlohmann::json& v, const std::string& field, int64_t min,
                                     int64_t max, FieldErrors& errors) {
  if (!v.is_number_integer()) {
    errors.add(field, type_mismatch("an integer", v));
    return std::nullopt;
  }
  // A value above INT64_MAX arrives unsigned; it must not wrap to a negative.
  const bool too_big = v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(max);
  if (too_big || v.get<int64_t>() < min || v.get<int64_t>() > max) {
    errors.add(field, range_message(min, max, v));
    return std::nullopt;
  }
  return v.get<int64_t>();
}

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
    const bool prefixed = prefix.empty() || is_within(f.field, prefix);
    add(prefixed ? f.field : (f.field.empty() ? prefix : join_field(prefix, f.field)), f.message);
  }
}

bool FieldErrors::has(std::string_view field) const {
  for (const FieldError& f : errors_) {
    if (is_within(f.field, field) || is_within(field, f.field)) return true;
  }
  return false;
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

const nlohmann::json* JsonObjectReader::typed(std::string_view key, bool required, TypeTest is,
                                              std::string_view expected) {
  const auto* v = find(key, required);
  if (v && !(v->*is)()) {
    errors_.add(field_name(key), type_mismatch(expected, *v));
    return nullptr;
  }
  return v;
}

std::optional<std::string> JsonObjectReader::string(std::string_view key, bool required,
                                                    size_t max_length) {
  const auto* v = typed(key, required, &nlohmann::json::is_string, "a string");
  if (!v) return std::nullopt;
  const auto& s = v->get_ref<const std::string&>();
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
  return v ? integer_value(*v, field_name(key), min, max, errors_) : std::nullopt;
}

std::optional<int64_t> JsonObjectReader::integer(std::string_view key, bool required) {
  return integer(key, required, INT64_MIN, INT64_MAX);
}

std::optional<uint64_t> JsonObjectReader::unsigned_integer(std::string_view key, bool required) {
  const auto* v = typed(key, required, &nlohmann::json::is_number_integer, "an integer");
  if (!v) return std::nullopt;
  if (!v->is_number_unsigned()) {  // nlohmann keeps non-negative integers unsigned
    errors_.add(field_name(key), range_message(uint64_t{0}, UINT64_MAX, *v));
    return std::nullopt;
  }
  return v->get<uint64_t>();
}

std::optional<std::string> JsonObjectReader::choice(std::string_view key, bool required,
                                                    const std::vector<std::string>& allowed) {
  const auto* v = typed(key, required, &nlohmann::json::is_string, "a string");
  if (!v) return std::nullopt;
  const auto& s = v->get_ref<const std::string&>();
  for (const auto& a : allowed) {
    if (s == a) return s;
  }
  errors_.add(field_name(key), fmt::format("must be one of {}, got \"{}\"", fmt::join(allowed, ", "), s));
  return std::nullopt;
}

std::optional<double> JsonObjectReader::number(std::string_view key, bool required, double min, double max) {
  const auto* v = find(key, required);
  return v ? number_value(*v, field_name(key), min, max, errors_) : std::nullopt;
}

std::optional<double> JsonObjectReader::number(std::string_view key, bool required) {
  return number(key, required, -std::numeric_limits<double>::max(), std::numeric_limits<double>::max());
}

std::optional<bool> JsonObjectReader::boolean(std::string_view key, bool required) {
  const auto* v = typed(key, required, &nlohmann::json::is_boolean, "true or false");
  if (!v) return std::nullopt;
  return v->get<bool>();
}

const nlohmann::json* JsonObjectReader::array(std::string_view key, bool required, size_t max_items) {
  const auto* v = array(key, required);
  if (v && v->size() > max_items) {
    errors_.add(field_name(key), fmt::format("at most {} entries, got {}", max_items, v->size()));
    return nullptr;
  }
  return v;
}

std::optional<std::vector<int64_t>> JsonObjectReader::integers(std::string_view key, bool required,
                                                                size_t max_items) {
  const auto* v = array(key, required, max_items);
  if (!v) return std::nullopt;
  return elements<int64_t>(*v, field_name(key), [&](const nlohmann::json& e, const std::string& field) {
    return integer_value(e, field, INT64_MIN, INT64_MAX, errors_);
  });
}

std::optional<std::vector<double>> JsonObjectReader::numbers(std::string_view key, bool required,
                                                             size_t max_items) {
  const auto* v = array(key, required, max_items);
  if (!v) return std::nullopt;
  constexpr double kMax = std::numeric_limits<double>::max();
  return elements<double>(*v, field_name(key), [&](const nlohmann::json& e, const std::string& field) {
    return number_value(e, field, -kMax, kMax, errors_);
  });
}

const nlohmann::json* JsonObjectReader::value(std::string_view key, bool required) {
  return find(key, required);
}

const nlohmann::json* JsonObjectReader::array(std::string_view key, bool required) {
  return typed(key, required, &nlohmann::json::is_array, "an array");
}

const nlohmann::json* JsonObjectReader::object(std::string_view key, bool required) {
  return typed(key, required, &nlohmann::json::is_object, "an object");
}

void JsonObjectReader::finish() {
  if (!object_) return;
  for (const auto& [key, _] : object_->items()) {
    if (known_.count(key)) continue;
    // The fields this object has, so a misspelt or misplaced one is easy to fix.
    const std::vector<std::string_view> fields(known_.begin(), known_.end());
    errors_.add(field_name(key), fields.empty() ? std::string("unknown field")
                                                : fmt::format("unknown field (expected one of {})",
                                                              fmt::join(fields, ", ")));
  }
}

bool FieldChecks::require(bool ok, std::string_view key, std::string_view message,
                          std::initializer_list<std::string_view> inputs) {
  if (ok || !fine(key)) return ok;
  for (std::string_view input : inputs) {
    if (!fine(input)) return ok;
  }
  errors_.add(field_name(key), std::string(message));
  return ok;
}

bool FieldChecks::range(std::string_view key, int64_t value, int64_t min, int64_t max) {
  const bool ok = value >= min && value <= max;
  if (!ok && fine(key)) errors_.add(field_name(key), range_message(min, max, nlohmann::json(value)));
  return ok;
}

bool FieldChecks::at_least(std::string_view key, int64_t value, int64_t min) {
  return require(value >= min, key, fmt::format("must be >= {}, got {}", min, value));
}

}  // namespace flashnas
