// InvalidInput's field errors (see error.hpp).
#include "engine/util/error.hpp"

namespace flashnas {
namespace {

std::string without_prefix(const std::string& message, const std::string& field) {
  const std::string prefix = field + ": ";
  return !field.empty() && message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
}

std::string joined(const std::vector<FieldError>& errors) {
  std::string out;
  for (const FieldError& e : errors) {
    if (!out.empty()) out += "; ";
    out += e.field.empty() ? e.message : e.field + ": " + e.message;
  }
  return out;
}

}  // namespace

InvalidInput::InvalidInput(std::string message, std::string field)
    : Error(message, field), errors_{{field, without_prefix(message, field)}} {}

InvalidInput::InvalidInput(std::vector<FieldError> errors)
    : Error(joined(errors), errors.empty() ? std::string() : errors.front().field),
      errors_(std::move(errors)) {
  if (errors_.empty()) errors_.push_back({"", "invalid input"});
}

}  // namespace flashnas
