// The error policy at every boundary a client sees (HTTP answers, trial errors
// shown by the API): a client gets a stable public message; the raw text of an
// unexpected failure (database messages, file:line checks) goes to the log only,
// under an error id that the public message quotes, so an operator finds it.
// InvalidInput is public by design: its message describes the input, not internals.
#pragma once

#include <exception>
#include <string>
#include <string_view>

namespace flashnas {

// Whether the text of `e` may be shown to a client as is.
bool is_public_error(const std::exception& e);

// A fresh random id, 16 hex digits.
std::string new_error_id();

// The public text for `e`: its own message when it is public, else
// "internal error (id ID)" after logging `context: what()` with the id at error level.
std::string public_message(const std::exception& e, std::string_view context,
                           const std::string& id = new_error_id());

}  // namespace flashnas
