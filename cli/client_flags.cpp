#include "cli/client_flags.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "engine/util/error.hpp"

namespace flashnas::cli {
namespace {

std::string flag_or_env(const Flags& flags, const std::string& flag, const char* env) {
  if (auto value = flags.get(flag)) return *value;
  const char* v = std::getenv(env);
  if (v && *v) return v;
  throw InvalidInput(fmt::format("--{} is required (or set {})", flag, env), "--" + flag);
}

}  // namespace

std::vector<FlagSpec> with_client_flags(std::vector<FlagSpec> specific) {
  specific.push_back({"server", true, "the flashnas server, http(s)://host[:port] (default: $FLASHNAS_SERVER)"});
  specific.push_back({"key", true, "API key (default: $FLASHNAS_API_KEY; prefer the variable: flags show in ps)"});
  specific.push_back({"ca-cert", true,
                      "PEM file of the CA that signs an https server's certificate (default: $FLASHNAS_CA_CERT, "
                      "else the system's)"});
  specific.push_back({"retry-seconds", true,
                      "how long to retry a server that does not answer (default $FLASHNAS_RETRY_SECONDS or 30)"});
  specific.push_back({"help", false, "show this help"});
  return specific;
}

client::ClientOptions client_options(const Flags& flags) {
  client::ClientOptions options;
  options.server = flag_or_env(flags, "server", "FLASHNAS_SERVER");
  options.key = flag_or_env(flags, "key", "FLASHNAS_API_KEY");
  if (auto ca = flags.get("ca-cert")) {
    options.ca_cert = *ca;
  } else if (const char* env = std::getenv("FLASHNAS_CA_CERT"); env && *env) {
    options.ca_cert = env;
  }
  const char* retry = std::getenv("FLASHNAS_RETRY_SECONDS");
  const double fallback = retry && *retry ? std::atof(retry) : 30.0;
  options.retry_seconds = flags.number("retry-seconds", std::clamp(fallback, 0.0, 86400.0), 0.0, 86400.0);
  return options;
}

int64_t parse_id_operand(const std::string& text, const std::string& name) {
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || end != text.c_str() + text.size() || v <= 0) {
    throw InvalidInput(fmt::format("{} must be a positive integer, got '{}'", name, text), name);
  }
  return v;
}

}  // namespace flashnas::cli
