// The public error policy (see public_error.hpp).
#include "common/public_error.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <random>

#include "engine/util/error.hpp"

namespace flashnas {

bool is_public_error(const std::exception& e) { return dynamic_cast<const InvalidInput*>(&e) != nullptr; }

std::string new_error_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

std::string public_message(const std::exception& e, std::string_view context, const std::string& id) {
  if (is_public_error(e)) {
    const auto& input = static_cast<const InvalidInput&>(e);
    const std::string what = e.what();
    // Name the field unless the message already does.
    if (input.field().empty() || what.find(input.field()) != std::string::npos) return what;
    return input.field() + ": " + what;
  }
  spdlog::error("[error {}] {}: {}", id, context, e.what());
  return fmt::format("internal error (id {})", id);
}

}  // namespace flashnas
