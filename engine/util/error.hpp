// Engine error policy: invariants and bad inputs throw flashnas::Error with context.
// Library code never exits or aborts: a bad checkpoint fails one job, not the worker.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace flashnas {

// An error with a human-readable message. `field` names the offending input
// (a JSON field, a CLI flag, a tensor name) when there is one, so boundaries
// can report `{field, message}` without parsing the text.
class Error : public std::runtime_error {
 public:
  explicit Error(std::string message, std::string field = {})
      : std::runtime_error(std::move(message)), field_(std::move(field)) {}
  const std::string& field() const noexcept { return field_; }

 private:
  std::string field_;
};

// One invalid input, named the way its author wrote it ("candidates[2].layer_types").
struct FieldError {
  std::string field;
  std::string message;
  bool operator==(const FieldError&) const = default;
};

// A bad value supplied from outside (file contents, JSON, flags). Carries one or
// more field errors; what() reads "field: message" (joined with "; " for several).
class InvalidInput : public Error {
 public:
  // One error. A message that already starts with "<field>: " is not prefixed twice.
  explicit InvalidInput(std::string message, std::string field = {});
  // Several errors at once (a JSON object read field by field); at least one.
  explicit InvalidInput(std::vector<FieldError> errors);

  // Every error, each message without its field prefix.
  const std::vector<FieldError>& errors() const noexcept { return errors_; }

 private:
  std::vector<FieldError> errors_;
};

}  // namespace flashnas

// Throws flashnas::Error("file:line: <formatted message>") when `cond` is false.
// For internal invariants; input validation throws InvalidInput with a field.
#define FLASHNAS_CHECK(cond, ...)                                                   \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      throw ::flashnas::Error(::fmt::format("{}:{}: check `{}` failed: {}", __FILE__, \
                                            __LINE__, #cond, ::fmt::format(__VA_ARGS__))); \
    }                                                                               \
  } while (0)
