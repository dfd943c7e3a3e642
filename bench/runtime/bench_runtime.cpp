// Runtime throughput benchmark: prefill tokens/s (prompt 256) and decode
// tokens/s (at context 256) for stories260K and for random-weight models of
// the 15M and 110M Llama shapes, at each requested thread count; the median of
// several repeats after a warm-up. Also measures this machine's single-core
// SGEMM peak (1024^3 Eigen GEMM, and the runtime's packed kernel on the 110M
// FFN shape) so prefill GFLOP/s can be read against it, and the streaming
// read bandwidth, the ceiling of decode (reported as GB per CPU second).
// Prints one JSON document (and writes it to --output when given).
//
//   bench_runtime [--model stories260K.gguf] [--threads 1,2] [--repeats 7] [--output FILE]
//                 [--cases stories260K,synthetic-15M,synthetic-110M] [--skip-peaks]
#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/support/data_file.hpp"
#include "engine/model/arch_cost.hpp"
#include "engine/model/gguf_reader.hpp"
#include "engine/runtime/inference_session.hpp"
#include "engine/runtime/matmul.hpp"
#include "engine/runtime/vector_math.hpp"
#include "engine/runtime/synthetic_model.hpp"

namespace {

using namespace flashnas;
using Clock = std::chrono::steady_clock;

constexpr int64_t kPrompt = 256;

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// CPU time of the calling thread: on a loaded machine wall time measures the
// scheduler; for 1-thread runs thread CPU time is the better estimate of the cost.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median absolute deviation relative to the median: the spread we report.
double relative_mad(const std::vector<double>& v) {
  const double m = median(v);
  std::vector<double> dev;
  for (double x : v) dev.push_back(std::abs(x - m));
  return m > 0 ? median(dev) / m : 0.0;
}

// Best of 5 runs of fn() in the calling thread's CPU time (the peaks are
// single-threaded, and CPU time does not count the time other processes hold
// the core, so they compare with the "per CPU s" figures).
template <class F>
double best_seconds(F&& fn) {
  fn();  // warm-up
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const double t0 = thread_cpu_seconds();
    fn();
    best = std::min(best, thread_cpu_seconds() - t0);
  }
  return best;
}

// The core's FMA peak: twelve independent 8-wide FMA chains in registers (two
// FMA pipes x 4 cycles latency need at least eight), no memory traffic. No
// SGEMM can exceed this.
double fma_peak_gflops() {
  const int64_t steps = 50'000'000;
  std::vector<float> out(8);
  const double s = best_seconds([&] {
#ifdef FLASHNAS_AVX2
    __m256 acc[12];
    for (int k = 0; k < 12; ++k) acc[k] = _mm256_set1_ps(0.001f * static_cast<float>(k));
    const __m256 b = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(0.0001f);
    for (int64_t i = 0; i < steps; ++i) {
#pragma GCC unroll 12
      for (int k = 0; k < 12; ++k) acc[k] = _mm256_fmadd_ps(acc[k], b, c);
    }
    __m256 t = acc[0];
    for (int k = 1; k < 12; ++k) t = _mm256_add_ps(t, acc[k]);
    _mm256_storeu_ps(out.data(), t);
#endif
  });
#ifdef FLASHNAS_AVX2
  return static_cast<double>(steps) * 12 * 16 / s / 1e9;
#else
  return 0.0;
#endif
}

double sgemm_peak_gflops() {
  const int n = 1024;
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(n, n), b = Eigen::MatrixXf::Random(n, n), c(n, n);
  return 2.0 * n * n * n / best_seconds([&] { c.noalias() = a * b; }) / 1e9;
}

// The runtime's own packed SGEMM on the 110M FFN shape (256 tokens x 768 ->
// 2048), single thread: what prefill's matrix products can reach here.
double packed_sgemm_gflops() {
  const int64_t M = 256, K = 768, N = 2048;
  std::vector<float> a(static_cast<size_t>(M * K), 0.5f), w(static_cast<size_t>(N * K), 0.25f),
      c(static_cast<size_t>(M * N));
  return 2.0 * M * K * N /
         best_seconds([&] { matmul_forward(c.data(), a.data(), w.data(), M, K, N, nullptr); }) / 1e9;
}

// Single-thread streaming read bandwidth: a sum over 256 MiB (far past the
// 32 MiB L3), eight 8-wide accumulators. The ceiling for decode, which must
// read every weight once per token.
double stream_read_gb_s() {
  const size_t n = size_t{64} << 20;  // floats
  std::vector<float> data(n, 1.0f);
  volatile float sink = 0.0f;
  const double s = best_seconds([&] {
    float lanes[64] = {};
    for (size_t i = 0; i + 64 <= n; i += 64) {
      for (int k = 0; k < 64; ++k) lanes[k] += data[i + static_cast<size_t>(k)];
    }
    float total = 0.0f;
    for (float l : lanes) total += l;
    sink = total;
  });
  (void)sink;
  return static_cast<double>(n * sizeof(float)) / s / 1e9;
}

struct Measurement {
  double prefill_tok_s, prefill_spread, decode_tok_s, decode_spread;
  double prefill_cpu_tok_s, decode_cpu_tok_s;  // per second of the main thread's CPU time
  bool pinned;                                 // every worker thread pinned to its own CPU
};

Measurement measure(const Model& model, int threads, int repeats, int64_t decode_steps) {
  RuntimeContext context({threads, true});
  InferenceSession session(model, context, {kPrompt + decode_steps + 1, kPrompt});
  std::mt19937_64 rng(1);
  std::vector<int32_t> prompt(kPrompt);
  for (auto& t : prompt) t = static_cast<int32_t>(rng() % static_cast<uint64_t>(model.config.vocab_size));
  std::vector<int32_t> next(static_cast<size_t>(decode_steps));
  for (auto& t : next) t = static_cast<int32_t>(rng() % static_cast<uint64_t>(model.config.vocab_size));

  std::vector<double> prefill, decode, prefill_cpu, decode_cpu;
  for (int r = -1; r < repeats; ++r) {  // r = -1 is the warm-up
    session.reset();
    const double c0 = thread_cpu_seconds();
    const auto t0 = Clock::now();
    session.prefill(prompt, PrefillOptions{.all_logits = false});  // time to first token
    const auto t1 = Clock::now();
    const double c1 = thread_cpu_seconds();
    for (int32_t t : next) session.decode(t);
    const auto t2 = Clock::now();
    const double c2 = thread_cpu_seconds();
    if (r < 0) continue;
    prefill.push_back(static_cast<double>(kPrompt) / seconds(t0, t1));
    decode.push_back(static_cast<double>(decode_steps) / seconds(t1, t2));
    prefill_cpu.push_back(static_cast<double>(kPrompt) / std::max(c1 - c0, 1e-9));
    decode_cpu.push_back(static_cast<double>(decode_steps) / std::max(c2 - c1, 1e-9));
  }
  return {median(prefill), relative_mad(prefill), median(decode), relative_mad(decode),
          median(prefill_cpu), median(decode_cpu), threads == 1 || context.pinned()};
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, output;  // the model: the bundled stories260K unless --model
  std::vector<int> thread_counts = {1, 2};
  std::string only_cases;  // comma list of case names; empty = all
  bool skip_peaks = false;  // no SGEMM / bandwidth measurements (quick A/B runs of the models)
  int repeats = 7;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--model" && has_value) {
      model_path = argv[++i];
    } else if (arg == "--skip-peaks") {
      skip_peaks = true;
    } else if (arg == "--cases" && has_value) {
      only_cases = "," + std::string(argv[++i]) + ",";
    } else if (arg == "--output" && has_value) {
      output = argv[++i];
    } else if (arg == "--repeats" && has_value) {
      repeats = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--threads" && has_value) {
      thread_counts.clear();
      std::string list = argv[++i];
      for (size_t p = 0; p < list.size();) {
        const size_t q = std::min(list.find(',', p), list.size());
        thread_counts.push_back(std::max(1, std::atoi(list.substr(p, q - p).c_str())));
        p = q + 1;
      }
    } else {
      std::fprintf(stderr,
                   "usage: bench_runtime [--model stories260K.gguf] [--threads 1,2] "
                   "[--repeats N] [--output FILE] [--cases a,b] [--skip-peaks]\n");
      return 2;
    }
  }

  try {
    const bool pinned_main = pin_calling_thread();
    const double fma_peak = skip_peaks ? 0.0 : fma_peak_gflops();
    const double peak = skip_peaks ? 0.0 : sgemm_peak_gflops();
    const double packed = skip_peaks ? 0.0 : packed_sgemm_gflops();
    const double stream = skip_peaks ? 0.0 : stream_read_gb_s();
    std::fprintf(stderr,
                 "single core: FMA peak %.1f GFLOP/s; SGEMM Eigen 1024^3 %.1f, runtime packed "
                 "256x768x2048 %.1f GFLOP/s; streaming read %.1f GB/s\n",
                 fma_peak, peak, packed, stream);
    struct Case {
      std::string name;
      Model model;
      int64_t decode_steps;
    };
    auto wanted = [&](const std::string& name) {
      return only_cases.empty() || only_cases.find("," + name + ",") != std::string::npos;
    };
    std::vector<Case> cases;
    if (wanted("stories260K")) {
      if (model_path.empty()) model_path = bench::data_file("stories260K.gguf");
      cases.push_back({"stories260K", load_gguf(model_path), 256});
    }
    if (wanted("synthetic-15M")) {
      cases.push_back({"synthetic-15M", make_synthetic_model(llama_shape(6, 288, 6, 6, 768, 32000), 1), 64});
    }
    if (wanted("synthetic-110M")) {
      cases.push_back({"synthetic-110M", make_synthetic_model(llama_shape(12, 768, 12, 12, 2048, 32000), 2), 16});
    }

    nlohmann::json results = nlohmann::json::array();
    for (const Case& c : cases) {
      const double flops = prefill_flops(c.model.config, kPrompt);
      for (int threads : thread_counts) {
        const Measurement m = measure(c.model, threads, repeats, c.decode_steps);
        const double gflops = flops * m.prefill_tok_s / static_cast<double>(kPrompt) / 1e9;
        // Bytes one decode step must read: every weight once plus the KV cache
        // at the middle of the measured context.
        const double decode_bytes =
            weight_bytes_per_decode_token(c.model.config) +
            kv_bytes_read_per_decode(c.model.config, kPrompt + c.decode_steps / 2);
        const double decode_gb_s = decode_bytes * m.decode_cpu_tok_s / 1e9;
        results.push_back({{"model", c.name},
                           {"parameters", cost_parameters(c.model.config)},
                           {"threads", threads},
                           {"prefill_tokens", kPrompt},
                           {"prefill_tok_s", m.prefill_tok_s},
                           {"prefill_rel_mad", m.prefill_spread},
                           {"prefill_gflop_s", gflops},
                           {"prefill_gflop_per_cpu_s",
                            flops * m.prefill_cpu_tok_s / static_cast<double>(kPrompt) / 1e9},
                           {"decode_context", kPrompt},
                           {"decode_steps", c.decode_steps},
                           {"decode_tok_s", m.decode_tok_s},
                           {"decode_rel_mad", m.decode_spread},
                           {"prefill_tok_per_cpu_s", m.prefill_cpu_tok_s},
                           {"decode_tok_per_cpu_s", m.decode_cpu_tok_s},
                           {"decode_bytes_per_token", decode_bytes},
                           {"decode_gb_per_cpu_s", decode_gb_s},
                           {"workers_pinned", m.pinned}});
        std::fprintf(stderr,
                     "%-15s %d thread(s): prefill %9.0f tok/s (%5.1f GFLOP/s, %9.0f per CPU s)  "
                     "decode %8.0f tok/s (%8.0f per CPU s, %5.1f GB/CPU s)\n",
                     c.name.c_str(), threads, m.prefill_tok_s, gflops, m.prefill_cpu_tok_s,
                     m.decode_tok_s, m.decode_cpu_tok_s, decode_gb_s);
      }
    }
    const nlohmann::json doc = {
        {"benchmark", "runtime"},
        {"environment",
         {{"cpu", cpu_name()},
          {"hardware_threads", std::thread::hardware_concurrency()},
          {"main_thread_pinned", pinned_main},
          {"build", FLASHNAS_BENCH_BUILD},
          {"repeats", repeats},
          {"statistic", "median after one warm-up; spread = MAD / median"}}},
        {"fma_peak_gflop_s_1thread", fma_peak},
        {"sgemm_peak_gflop_s_1thread", peak},
        {"packed_sgemm_gflop_s_1thread", packed},
        {"stream_read_gb_s_1thread", stream},
        {"results", results}};
    const std::string text = doc.dump(2);
    std::printf("%s\n", text.c_str());
    if (!output.empty()) std::ofstream(output) << text << "\n";
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_runtime: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
