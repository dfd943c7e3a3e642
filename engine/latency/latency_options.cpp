// Validation and JSON of LatencyOptions.
#include "engine/latency/latency_options.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <type_traits>

#include "engine/util/error.hpp"

namespace flashnas::latency {

namespace {

void require_range(int64_t value, int64_t min, int64_t max, const char* field) {
  if (value < min || value > max) {
    throw InvalidInput(fmt::format("{} must be in [{}, {}], got {}", field, min, max, value), field);
  }
}

template <typename T>
T read_field(const nlohmann::json& j, const char* name, T fallback) {
  if (!j.contains(name)) return fallback;
  const auto& v = j.at(name);
  const bool ok = std::is_same_v<T, bool>       ? v.is_boolean()
                  : std::is_unsigned_v<T>      ? v.is_number_unsigned()
                  : std::is_integral_v<T>      ? v.is_number_integer()
                                               : v.is_number();
  if (!ok) throw InvalidInput(fmt::format("{} has the wrong type", name), name);
  return v.get<T>();
}

}  // namespace

std::string_view latency_clock_name(LatencyClock clock) {
  return clock == LatencyClock::wall ? "wall" : "thread_cpu";
}

LatencyClock parse_latency_clock(std::string_view text, const std::string& field) {
  if (text == "wall") return LatencyClock::wall;
  if (text == "thread_cpu") return LatencyClock::thread_cpu;
  throw InvalidInput(fmt::format("{} must be wall or thread_cpu, got '{}'", field, text), field);
}

void LatencyOptions::validate() const {
  require_range(prompt_len, 1, 1 << 20, "prompt_len");
  require_range(decode_tokens, 1, 1 << 16, "decode_tokens");
  require_range(threads, 1, 1024, "threads");
  require_range(repeats, 1, 10000, "repeats");
  require_range(warmup, 0, 10000, "warmup");
  require_range(max_extra_rounds, 0, 100, "max_extra_rounds");
  if (clock == LatencyClock::thread_cpu && threads != 1) {
    throw InvalidInput("clock thread_cpu measures one thread: use threads 1 or clock wall", "clock");
  }
  if (!(cv_threshold > 0.0) || !std::isfinite(cv_threshold)) {
    throw InvalidInput(fmt::format("cv_threshold must be positive, got {}", cv_threshold),
                       "cv_threshold");
  }
}

nlohmann::json latency_options_to_json(const LatencyOptions& o) {
  return {{"prompt_len", o.prompt_len},
          {"decode_tokens", o.decode_tokens},
          {"threads", o.threads},
          {"pin_threads", o.pin_threads},
          {"repeats", o.repeats},
          {"warmup", o.warmup},
          {"weights", weight_format_name(o.weights)},
          {"cv_threshold", o.cv_threshold},
          {"max_extra_rounds", o.max_extra_rounds},
          {"token_seed", o.token_seed},
          {"clock", latency_clock_name(o.clock)}};
}

LatencyOptions latency_options_from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw InvalidInput("latency options must be a JSON object", "options");
  static constexpr const char* kFields[] = {"prompt_len", "decode_tokens", "threads",
                                            "pin_threads", "repeats", "warmup", "weights",
                                            "cv_threshold", "max_extra_rounds", "token_seed",
                                            "clock"};
  for (const auto& item : j.items()) {
    bool known = false;
    for (const char* f : kFields) known = known || item.key() == f;
    if (!known) throw InvalidInput(fmt::format("unknown field {}", item.key()), item.key());
  }
  LatencyOptions o;
  o.prompt_len = read_field<int64_t>(j, "prompt_len", o.prompt_len);
  o.decode_tokens = read_field<int64_t>(j, "decode_tokens", o.decode_tokens);
  const int64_t threads = read_field<int64_t>(j, "threads", o.threads);
  require_range(threads, 1, 1024, "threads");  // before narrowing to int
  o.threads = static_cast<int>(threads);
  o.pin_threads = read_field<bool>(j, "pin_threads", o.pin_threads);
  o.repeats = read_field<int64_t>(j, "repeats", o.repeats);
  o.warmup = read_field<int64_t>(j, "warmup", o.warmup);
  if (j.contains("weights")) {
    if (!j.at("weights").is_string()) throw InvalidInput("weights must be a string", "weights");
    o.weights = parse_weight_format(j.at("weights").get<std::string>(), "weights");
  }
  o.cv_threshold = read_field<double>(j, "cv_threshold", o.cv_threshold);
  o.max_extra_rounds = read_field<int64_t>(j, "max_extra_rounds", o.max_extra_rounds);
  o.token_seed = read_field<uint64_t>(j, "token_seed", o.token_seed);
  if (j.contains("clock")) {
    if (!j.at("clock").is_string()) throw InvalidInput("clock must be a string", "clock");
    o.clock = parse_latency_clock(j.at("clock").get<std::string>(), "clock");
  }
  o.validate();
  return o;
}

}  // namespace flashnas::latency
