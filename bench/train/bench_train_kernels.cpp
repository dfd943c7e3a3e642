// The training step's kernels on realistic shapes (d_model 512-2048, head
// size 64-128), not just the tiny test model: GFLOP/s of matmul_forward and
// matmul_backward (dinp and dweight together, as the backward calls it) on
// 2048 rows, and of attention_forward + attention_backward on 8 sequences of
// 256 tokens. Best of --repeats; single-threaded runs are timed in the
// thread's CPU time (a shared machine's other jobs then cost the product only
// their cache traffic, not their time slices), multi-threaded ones in wall
// time. Prints one JSON object; bench/train/torch_train_kernels.py times the
// same products in PyTorch the same way.
//
// Legend: T rows, K input width, N output width; B sequences, NH heads, KVH kv
// heads, HS head size.
#include <nlohmann/json.hpp>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "common/flags.hpp"
#include "engine/runtime/attention.hpp"
#include "engine/runtime/matmul.hpp"
#include "engine/runtime/thread_pool.hpp"

namespace {

bool g_cpu_clock = false;  // thread CPU time instead of wall time

double now_seconds() {
  if (!g_cpu_clock) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

template <class F>
double best_seconds(int repeats, F&& f) {
  f();  // warm-up: page faults, caches
  double best = 1e30;
  for (int i = 0; i < repeats; ++i) {
    const double t0 = now_seconds();
    f();
    best = std::min(best, now_seconds() - t0);
  }
  return best;
}

std::vector<float> random_floats(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace flashnas;
  const std::vector<FlagSpec> spec = {
      {"threads", true, "threads (default 1)"},
      {"repeats", true, "timed runs per kernel, the best counts (default 3)"},
      {"help", false, "show this help"},
  };
  try {
    const Flags flags(std::vector<std::string>(argv + 1, argv + argc), spec);
    if (print_help_if_asked(flags, spec, "bench_train_kernels [--threads N] [--repeats R]")) return 0;
    const int threads = static_cast<int>(flags.integer("threads", 1, 1, 256));
    const int repeats = static_cast<int>(flags.integer("repeats", 3, 1, 1000));
    g_cpu_clock = threads == 1;
    ThreadPool pool({threads, true});
    pin_calling_thread();
    nlohmann::json gemms = nlohmann::json::array(), attention = nlohmann::json::array();

    struct Gemm { int64_t T, K, N; const char* what; };
    for (const Gemm g : {Gemm{2048, 512, 512, "d512 wq"}, Gemm{2048, 512, 1408, "d512 w_up"},
                         Gemm{2048, 1024, 1024, "d1024 wq"}, Gemm{2048, 1024, 2816, "d1024 w_up"},
                         Gemm{2048, 2816, 1024, "d1024 w_down"}, Gemm{2048, 2048, 2048, "d2048 wq"},
                         Gemm{2048, 2048, 5632, "d2048 w_up"}, Gemm{256, 1024, 32000, "head, one sequence"}}) {
      const auto x = random_floats(g.T * g.K, 1), w = random_floats(g.N * g.K, 2);
      const auto dy = random_floats(g.T * g.N, 3);
      std::vector<float> y(static_cast<size_t>(g.T * g.N)), dx(static_cast<size_t>(g.T * g.K));
      std::vector<float> dw(static_cast<size_t>(g.N * g.K));
      const double flops = 2.0 * static_cast<double>(g.T * g.K) * static_cast<double>(g.N);
      const double fwd = best_seconds(repeats, [&] {
        matmul_forward(y.data(), x.data(), w.data(), g.T, g.K, g.N, &pool);
      });
      const double bwd = best_seconds(repeats, [&] {
        matmul_backward(dx.data(), dw.data(), dy.data(), x.data(), w.data(), g.T, g.K, g.N, &pool);
      });
      gemms.push_back({{"what", g.what}, {"T", g.T}, {"K", g.K}, {"N", g.N},
                       {"forward_gflops", flops / fwd * 1e-9}, {"backward_gflops", 2 * flops / bwd * 1e-9}});
      std::fprintf(stderr, "gemm %5ld x %5ld x %5ld: forward %.1f, backward %.1f GFLOP/s\n",
                   static_cast<long>(g.T), static_cast<long>(g.K), static_cast<long>(g.N),
                   flops / fwd * 1e-9, 2 * flops / bwd * 1e-9);
    }

    struct Attn { int64_t NH, KVH, HS; };
    const int64_t B = 8, T = 256;
    for (const Attn a : {Attn{8, 8, 64}, Attn{16, 16, 64}, Attn{16, 8, 128}, Attn{8, 4, 8}}) {
      const int64_t QD = a.NH * a.HS, KVD = a.KVH * a.HS;
      const auto q = random_floats(B * T * QD, 4), k = random_floats(B * T * KVD, 5);
      const auto v = random_floats(B * T * KVD, 6), dout = random_floats(B * T * QD, 7);
      std::vector<float> out(static_cast<size_t>(B * T * QD)), dq(out.size());
      std::vector<float> dk(static_cast<size_t>(B * T * KVD)), dv(dk.size());
      const AttentionShape shape{a.NH, a.KVH, a.HS, 0};
      AttentionScratch scratch;
      const double fwd = best_seconds(repeats, [&] {
        for (int64_t b = 0; b < B; ++b) {
          const KvSpan kv{k.data() + b * T * KVD, v.data() + b * T * KVD, 0, T, KVD, a.HS};
          attention_forward(out.data() + b * T * QD, q.data() + b * T * QD, kv, 0, T, shape,
                            scratch, &pool);
        }
      });
      const double bwd = best_seconds(repeats, [&] {
        attention_backward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(),
                           out.data(), B, T, shape, scratch, &pool);
      });
      // Causal: T(T+1)/2 query-key pairs per head; 2 products forward, 5 backward.
      const double pairs = static_cast<double>(B * a.NH) * static_cast<double>(T * (T + 1) / 2);
      const double f_fwd = 2 * 2 * pairs * static_cast<double>(a.HS), f_bwd = 2.5 * f_fwd;
      attention.push_back({{"B", B}, {"T", T}, {"NH", a.NH}, {"KVH", a.KVH}, {"HS", a.HS},
                           {"forward_ms", 1e3 * fwd}, {"backward_ms", 1e3 * bwd},
                           {"forward_gflops", f_fwd / fwd * 1e-9}, {"backward_gflops", f_bwd / bwd * 1e-9}});
      std::fprintf(stderr, "attention NH %ld KVH %ld HS %ld: forward %.2f ms, backward %.2f ms\n",
                   static_cast<long>(a.NH), static_cast<long>(a.KVH), static_cast<long>(a.HS),
                   1e3 * fwd, 1e3 * bwd);
    }
    const nlohmann::json result = {{"engine", "flashnas"}, {"threads", threads}, {"repeats", repeats},
                                   {"clock", g_cpu_clock ? "thread_cpu" : "wall"},
                                   {"gemm", gemms}, {"attention", attention}};
    std::printf("%s\n", result.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train_kernels: %s\n", e.what());
    return 2;
  }
}
