// Timing prefill and decode with warm-up, repeats and a noise gate.
#include "engine/latency/measure_latency.hpp"

#include <nlohmann/json.hpp>
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
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

std::vector<LatencyMeasurement> measure_latency_interleaved(std::span<const Model* const> models,
                                                            const LatencyOptions& options) {
  options.validate();
  FLASHNAS_CHECK(!models.empty(), "no models to measure");
  for (const Model* model : models) model->config.validate();
  const int64_t P = options.prompt_len;
  const int64_t K = options.decode_tokens;

  ScopedCallerPin caller_pin(options.pin_threads);
  RuntimeContext context(RuntimeOptions{options.threads, options.pin_threads});
  SessionOptions session_options;
  session_options.max_positions = P + K;
  session_options.max_batch = std::min<int64_t>(P, 512);  // the whole prompt in one or few batches
  session_options.weights = options.weights;  // q8_0: quantised here, outside the timed runs

  // One session and one token stream per model (same seed: every model sees
  // the same prompt when the vocabularies agree).
  struct Timed {
    std::unique_ptr<InferenceSession> session;
    std::vector<int32_t> prompt, decode_inputs;
    std::vector<double> ttft, decode;
    LatencyMeasurement result;
  };
  std::vector<Timed> timed(models.size());
  for (size_t i = 0; i < models.size(); ++i) {
    const Model& model = *models[i];
    std::mt19937_64 rng(options.token_seed);
    std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(model.config.vocab_size - 1));
    timed[i].prompt.resize(static_cast<size_t>(P));
    timed[i].decode_inputs.resize(static_cast<size_t>(K));
    for (int32_t& t : timed[i].prompt) t = token(rng);
    for (int32_t& t : timed[i].decode_inputs) t = token(rng);
    timed[i].session = std::make_unique<InferenceSession>(model, context, session_options);
  }

  float sink = 0.0f;  // keeps the logits observable
  // One pass runs each of `active` once. Successive passes start one model
  // further on, so no model always runs right after the same neighbour.
  int64_t pass = 0;
  auto run_pass = [&](const std::vector<size_t>& active, bool record) {
    const size_t n = active.size();
    for (size_t k = 0; k < n; ++k) {
      Timed& t = timed[active[(k + static_cast<size_t>(pass)) % n]];
      const RunTimes r = run_once(*t.session, t.prompt, t.decode_inputs, options.clock, &sink);
      if (!record) continue;
      t.ttft.push_back(r.ttft_ms);
      t.decode.push_back(r.decode_ms_per_token);
    }
    ++pass;
  };

  std::vector<size_t> active(models.size());
  for (size_t i = 0; i < active.size(); ++i) active[i] = i;
  for (int64_t i = 0; i < options.warmup; ++i) run_pass(active, /*record=*/false);
  while (!active.empty()) {
    for (int64_t i = 0; i < options.repeats; ++i) run_pass(active, /*record=*/true);
    std::vector<size_t> still_noisy;
    for (size_t index : active) {
      Timed& t = timed[index];
      LatencyMeasurement& m = t.result;
      ++m.rounds;
      m.ttft_ms = summarize_samples(t.ttft);
      m.decode_ms_per_token = summarize_samples(t.decode);
      const bool high = m.ttft_ms.cv > options.cv_threshold ||
                        m.decode_ms_per_token.cv > options.cv_threshold;
      if (!high) continue;
      if (m.rounds > options.max_extra_rounds) {
        m.noisy = true;
      } else {
        still_noisy.push_back(index);
      }
    }
    active = std::move(still_noisy);
  }
  FLASHNAS_CHECK(std::isfinite(sink), "the timed model produced non-finite logits");

  LatencyEnvironment environment = capture_environment();
  environment.threads = context.threads();
  environment.pinned =
      options.pin_threads && caller_pin.pinned() && (context.threads() == 1 || context.pinned());
  environment.weights = std::string(weight_format_name(options.weights));
  std::vector<LatencyMeasurement> out;
  out.reserve(models.size());
  for (size_t i = 0; i < models.size(); ++i) {
    LatencyMeasurement m = std::move(timed[i].result);
    m.params = count_parameters(models[i]->config);
    m.options = options;
    m.environment = environment;
    m.interleaved_with = static_cast<int64_t>(models.size()) - 1;
    out.push_back(std::move(m));
  }
  return out;
}

LatencyMeasurement measure_latency(const Model& model, const LatencyOptions& options) {
  const Model* one[] = {&model};
  return std::move(measure_latency_interleaved(one, options).front());
}

nlohmann::json latency_measurement_to_json(const LatencyMeasurement& m) {
  return {{"ttft_ms", sample_stats_to_json(m.ttft_ms)},
          {"decode_ms_per_token", sample_stats_to_json(m.decode_ms_per_token)},
          {"rounds", m.rounds},
          {"noisy", m.noisy},
          {"interleaved_with", m.interleaved_with},
          {"params", m.params},
          {"options", latency_options_to_json(m.options)},
          {"environment", latency_environment_to_json(m.environment)}};
}

}  // namespace flashnas::latency
