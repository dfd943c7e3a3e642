// The {field, message} list an InvalidInput carries, for tests that check that
// every bad field of an input is reported at once.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/util/error.hpp"

namespace flashnas::test {

// Every error of the one InvalidInput `fn` throws, in order; empty when it does not throw.
inline std::vector<FieldError> field_errors_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InvalidInput& e) {
    return e.errors();
  }
  return {};
}

// The same as field -> message, for tests that do not care about the order.
inline std::map<std::string, std::string> field_error_map_of(const std::function<void()>& fn) {
  std::map<std::string, std::string> out;
  for (const FieldError& f : field_errors_of(fn)) out[f.field] = f.message;
  return out;
}

}  // namespace flashnas::test
