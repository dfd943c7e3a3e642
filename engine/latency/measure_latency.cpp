// Timing prefill and decode with warm-up, repeats and a noise gate.
#include "engine/latency/measure_latency.hpp"

#include <nlohmann/json.hpp>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <vector>

#include "engine/runtime/inference_session.hpp"
#include "engine/runtime/runtime_context.hpp"
#include "engine/util/error.hpp"

namespace flashnas::latency {

namespace {

// Milliseconds on the chosen clock (see LatencyClock).
double now_ms(LatencyClock clock) {
  if (clock == LatencyClock::thread_cpu) {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
  }
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Pins the calling thread (thread 0 of the pool) to the first allowed CPU for
// the lifetime of the object and restores its previous affinity afterwards, so
// a worker process that measures is not left pinned.
class ScopedCallerPin {
 public:
  explicit ScopedCallerPin(bool enable) {
    if (!enable) return;
    CPU_ZERO(&saved_);
    if (pthread_getaffinity_np(pthread_self(), sizeof(saved_), &saved_) != 0) return;
    int first = -1;
    for (int c = 0; c < CPU_SETSIZE && first < 0; ++c) {
      if (CPU_ISSET(c, &saved_)) first = c;
    }
    if (first < 0) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    pinned_ = pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
  }
  ~ScopedCallerPin() {
    if (pinned_) pthread_setaffinity_np(pthread_self(), sizeof(saved_), &saved_);
  }
  ScopedCallerPin(const ScopedCallerPin&) = delete;
  ScopedCallerPin& operator=(const ScopedCallerPin&) = delete;
  bool pinned() const { return pinned_; }

 private:
  cpu_set_t saved_{};
  bool pinned_ = false;
};

struct RunTimes {
  double ttft_ms = 0.0;
  double decode_ms_per_token = 0.0;
};

// One run: a fresh sequence, prefill of the prompt, then K decode steps. The
// decode inputs are drawn in advance so only the forward passes are timed.
RunTimes run_once(InferenceSession& session, const std::vector<int32_t>& prompt,
                  const std::vector<int32_t>& decode_inputs, LatencyClock clock, float* sink) {
  session.reset();
  const double t0 = now_ms(clock);
  std::span<const float> logits = session.prefill(prompt);
  const double t1 = now_ms(clock);
  *sink += logits[0];
  for (int32_t token : decode_inputs) {
    logits = session.decode(token);
  }
  const double t2 = now_ms(clock);
  *sink += logits[0];
  return {t1 - t0, (t2 - t1) / static_cast<double>(decode_inputs.size())};
}

}  // namespace

LatencyMeasurement measure_latency(const Model& model, const LatencyOptions& options) {
  options.validate();
  model.config.validate();
  const int64_t P = options.prompt_len;
  const int64_t K = options.decode_tokens;

  std::mt19937_64 rng(options.token_seed);
  std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(model.config.vocab_size - 1));
  std::vector<int32_t> prompt(static_cast<size_t>(P)), decode_inputs(static_cast<size_t>(K));
  for (int32_t& t : prompt) t = token(rng);
  for (int32_t& t : decode_inputs) t = token(rng);

  ScopedCallerPin caller_pin(options.pin_threads);
  RuntimeContext context(RuntimeOptions{options.threads, options.pin_threads});
  SessionOptions session_options;
  session_options.max_positions = P + K;
  session_options.max_batch = std::min<int64_t>(P, 512);  // the whole prompt in one or few batches
  session_options.weights = options.weights;  // q8_0: quantised here, outside the timed runs
  InferenceSession session(model, context, session_options);

  float sink = 0.0f;  // keeps the logits observable
  for (int64_t i = 0; i < options.warmup; ++i) run_once(session, prompt, decode_inputs, options.clock, &sink);

  std::vector<double> ttft, decode;
  LatencyMeasurement m;
  for (;;) {
    for (int64_t i = 0; i < options.repeats; ++i) {
      const RunTimes t = run_once(session, prompt, decode_inputs, options.clock, &sink);
      ttft.push_back(t.ttft_ms);
      decode.push_back(t.decode_ms_per_token);
    }
    ++m.rounds;
    m.ttft_ms = summarize_samples(ttft);
    m.decode_ms_per_token = summarize_samples(decode);
    const bool high = m.ttft_ms.cv > options.cv_threshold ||
                      m.decode_ms_per_token.cv > options.cv_threshold;
    if (!high) break;
    if (m.rounds > options.max_extra_rounds) {
      m.noisy = true;
      break;
    }
  }
  FLASHNAS_CHECK(std::isfinite(sink), "the timed model produced non-finite logits");

  m.params = count_parameters(model.config);
  m.options = options;
  m.environment = capture_environment();
  m.environment.threads = context.threads();
  m.environment.pinned =
      options.pin_threads && caller_pin.pinned() && (context.threads() == 1 || context.pinned());
  m.environment.weights = std::string(weight_format_name(options.weights));
  return m;
}

nlohmann::json latency_measurement_to_json(const LatencyMeasurement& m) {
  return {{"ttft_ms", sample_stats_to_json(m.ttft_ms)},
          {"decode_ms_per_token", sample_stats_to_json(m.decode_ms_per_token)},
          {"rounds", m.rounds},
          {"noisy", m.noisy},
          {"params", m.params},
          {"options", latency_options_to_json(m.options)},
          {"environment", latency_environment_to_json(m.environment)}};
}

}  // namespace flashnas::latency
