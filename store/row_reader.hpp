// Reading result rows into records: null-aware field accessors shared by the
// repositories. Internal to the store.
#pragma once

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <optional>
#include <string>

#include "store/states.hpp"

namespace flashnas::store::row {

inline std::string str(const pqxx::row& r, const char* col) { return r[col].as<std::string>(); }

template <class T>
std::optional<T> opt(const pqxx::row& r, const char* col) {
  const auto f = r[col];
  if (f.is_null()) return std::nullopt;
  return f.as<T>();
}

// A jsonb column selected as text (col::text AS col).
inline nlohmann::json json(const pqxx::row& r, const char* col) {
  return nlohmann::json::parse(r[col].c_str());
}

inline std::optional<nlohmann::json> opt_json(const pqxx::row& r, const char* col) {
  if (r[col].is_null()) return std::nullopt;
  return json(r, col);
}

// A database enum selected as text (col::text AS col).
template <class E>
E enumeration(const pqxx::row& r, const char* col) {
  return parse_enum_or_throw<E>(r[col].c_str(), col);
}

template <class E>
std::optional<E> opt_enumeration(const pqxx::row& r, const char* col) {
  if (r[col].is_null()) return std::nullopt;
  return enumeration<E>(r, col);
}

// Text for a postgres text[] literal: {"a","b"} with quotes and backslashes escaped.
std::string text_array(const std::vector<std::string>& items);

// Parses the text form of a postgres text[] whose items need no quoting (scopes, kinds).
std::vector<std::string> simple_text_array(const std::string& literal);

}  // namespace flashnas::store::row
