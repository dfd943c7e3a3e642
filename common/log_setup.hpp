// Process logging for the service binaries (flashnas-server, flashnas-worker): spdlog
// to stderr, either human text or one JSON object per line ({"ts","level","logger",
// "thread","msg"}) for log shippers. Part of the common library (flashnas_common).
#pragma once

#include <string>

namespace flashnas {

// format: "text" | "json"; level: spdlog level name ("info", "debug", ...); the
// default logger becomes `logger_name` (the "logger" field of each JSON line).
// Throws InvalidInput (field "--log-format" / "--log-level") for unknown values.
void setup_logging(const std::string& format, const std::string& level,
                   const std::string& logger_name = "flashnas");

}  // namespace flashnas
