// Process logging for the service binaries: spdlog to stderr, either human text or
// one JSON object per line ({"ts","level","logger","msg"}) for log shippers.
#pragma once

#include <string>

namespace flashnas::server {

// format: "text" | "json"; level: spdlog level name ("info", "debug", ...).
// Throws InvalidInput (field "--log-format" / "--log-level") for unknown values.
void setup_logging(const std::string& format, const std::string& level);

}  // namespace flashnas::server
