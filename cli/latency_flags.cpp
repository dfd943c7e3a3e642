// Shared latency measurement flags (see latency_flags.hpp).
#include "cli/latency_flags.hpp"

#include "cli/run_model_flags.hpp"

namespace flashnas::cli {

std::vector<FlagSpec> latency_measurement_flags() {
  return {
      {"prompt-len", true, "P: prompt tokens prefilled; decode is timed at context P (default 256)"},
      {"decode-tokens", true, "K: decode steps timed after each prefill (default 16)"},
      {"threads", true, "threads (default 1)"},
      {"repeats", true, "R: timed runs per round (default 5)"},
      {"warmup", true, "W: untimed runs first (default 1)"},
      weights_flag_spec(),
      {"cv-threshold", true, "re-measure while the coefficient of variation is above (default 0.05)"},
      {"max-extra-rounds", true, "re-measure at most this many extra rounds (default 2)"},
      {"no-pin", false, "do not pin threads to CPUs"},
      {"clock", true, "wall | thread_cpu (CPU time of the one thread; for shared machines)"},
  };
}

latency::LatencyOptions latency_options_from_flags(const Flags& flags) {
  latency::LatencyOptions o;
  o.prompt_len = flags.integer("prompt-len", o.prompt_len, 1, 1 << 20);
  o.decode_tokens = flags.integer("decode-tokens", o.decode_tokens, 1, 1 << 16);
  o.threads = static_cast<int>(flags.integer("threads", o.threads, 1, 256));
  if (flags.has("repeats")) o.repeats = flags.integer("repeats", o.repeats, 1, 10000);
  if (flags.has("warmup")) o.warmup = flags.integer("warmup", o.warmup, 0, 10000);
  o.weights = weights_flag(flags);
  if (flags.has("cv-threshold")) o.cv_threshold = flags.number("cv-threshold", o.cv_threshold, 1e-9, 1e9);
  if (flags.has("max-extra-rounds")) {
    o.max_extra_rounds = flags.integer("max-extra-rounds", o.max_extra_rounds, 0, 100);
  }
  o.pin_threads = !flags.has("no-pin");
  if (flags.has("clock")) o.clock = latency::parse_latency_clock(flags.require("clock"), "--clock");
  o.validate();
  return o;
}

}  // namespace flashnas::cli
