// Validation and JSON of LatencyOptions.
#include "engine/latency/latency_options.hpp"

#include <nlohmann/json.hpp>

#include <cmath>

#include "engine/util/json_reader.hpp"

namespace flashnas::latency {

namespace {

// threads narrows to int, so the JSON reader checks its range before narrowing.
constexpr int64_t kMaxThreads = 1024;

}  // namespace

std::string_view latency_clock_name(LatencyClock clock) {
  return clock == LatencyClock::wall ? "wall" : "thread_cpu";
}

LatencyClock parse_latency_clock(std::string_view text, const std::string& field) {
  if (text == "wall") return LatencyClock::wall;
  if (text == "thread_cpu") return LatencyClock::thread_cpu;
  throw InvalidInput(fmt::format("{}: must be wall or thread_cpu, got '{}'", field, text), field);
}

void LatencyOptions::validate(FieldErrors& errors, const std::string& prefix) const {
  FieldChecks c(errors, prefix);
  c.range("prompt_len", prompt_len, 1, 1 << 20);
  c.range("decode_tokens", decode_tokens, 1, 1 << 16);
  c.range("threads", threads, 1, kMaxThreads);
  c.range("repeats", repeats, 1, 10000);
  c.range("warmup", warmup, 0, 10000);
  c.range("max_extra_rounds", max_extra_rounds, 0, 100);
  c.require(clock != LatencyClock::thread_cpu || threads == 1, "clock",
            "thread_cpu measures one thread: use threads 1 or clock wall", {"threads"});
  c.require(cv_threshold > 0.0 && std::isfinite(cv_threshold), "cv_threshold",
            fmt::format("must be positive, got {}", cv_threshold));
}

void LatencyOptions::validate() const {
  FieldErrors errors;
  validate(errors);
  errors.throw_if_any();
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

LatencyOptions read_latency_options(JsonObjectReader& r) {
  LatencyOptions o;
  o.prompt_len = r.integer("prompt_len", false).value_or(o.prompt_len);
  o.decode_tokens = r.integer("decode_tokens", false).value_or(o.decode_tokens);
  o.threads = static_cast<int>(r.integer("threads", false, 1, kMaxThreads).value_or(o.threads));
  o.pin_threads = r.boolean("pin_threads", false).value_or(o.pin_threads);
  o.repeats = r.integer("repeats", false).value_or(o.repeats);
  o.warmup = r.integer("warmup", false).value_or(o.warmup);
  o.weights = r.parsed("weights", false, parse_weight_format).value_or(o.weights);
  o.cv_threshold = r.number("cv_threshold", false).value_or(o.cv_threshold);
  o.max_extra_rounds = r.integer("max_extra_rounds", false).value_or(o.max_extra_rounds);
  o.token_seed = r.unsigned_integer("token_seed", false).value_or(o.token_seed);
  o.clock = r.parsed("clock", false, parse_latency_clock).value_or(o.clock);
  o.validate(r.errors(), r.prefix());
  return o;
}

LatencyOptions latency_options_from_json(const nlohmann::json& j) {
  return read_object(j, "", "options", read_latency_options);
}

}  // namespace flashnas::latency
