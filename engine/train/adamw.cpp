// AdamW, the learning-rate schedule and the gradient norm (see adamw.hpp).
#include "engine/train/adamw.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "engine/runtime/thread_pool.hpp"
#include "engine/runtime/vector_math.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

namespace {

constexpr int64_t kNormChunk = int64_t{1} << 14;  // floats per partial sum of the norm

}  // namespace

double LrSchedule::at(int64_t step) const {
  if (step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const int64_t decay_steps = total - warmup - 1;
  if (decay_steps <= 0) return lr;
  const double p = std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(decay_steps));
  const double lr_min = min_lr_ratio * lr;
  return lr_min + (lr - lr_min) * 0.5 * (1.0 + std::cos(std::numbers::pi * p));
}

double gradient_norm(const ModelWeights& grads, ThreadPool* pool) {
  const int64_t n = grads.n_floats;
  const int64_t chunks = (n + kNormChunk - 1) / kNormChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  const float* g = grads.storage.get();
  const int n_threads = pool && chunks > 1 ? pool->size() : 1;
  auto work = [&](int r) {
    for (int64_t c = r; c < chunks; c += n_threads) {
      const int64_t end = std::min(n, (c + 1) * kNormChunk);
      double s = 0.0;
      for (int64_t i = c * kNormChunk; i < end; ++i) s += static_cast<double>(g[i]) * g[i];
      partial[static_cast<size_t>(c)] = s;
    }
  };
  if (n_threads == 1) {
    work(0);
  } else {
    pool->run(work);
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return std::sqrt(total);
}

AdamW::AdamW(const ArchConfig& config, AdamWOptions options)
    : config_(config), options_(options), m_(allocate_weights(config)), v_(allocate_weights(config)) {
  FLASHNAS_CHECK(options_.beta1 >= 0.0 && options_.beta1 < 1.0 && options_.beta2 >= 0.0 &&
                     options_.beta2 < 1.0 && options_.eps > 0.0 && options_.weight_decay >= 0.0,
                 "bad AdamW options (beta1 {}, beta2 {}, eps {}, weight_decay {})",
                 options_.beta1, options_.beta2, options_.eps, options_.weight_decay);
}

int64_t AdamW::bytes() const {
  return (m_.n_floats + v_.n_floats) * static_cast<int64_t>(sizeof(float));
}

int64_t AdamW::bytes_for(const ArchConfig& config) {
  return 2 * count_weight_floats(config) * static_cast<int64_t>(sizeof(float));
}

void AdamW::step(ModelWeights& weights, const ModelWeights& grads, double lr, float grad_scale,
                 ThreadPool* pool) {
  FLASHNAS_CHECK(weights.n_floats == m_.n_floats && grads.n_floats == m_.n_floats,
                 "weights or gradients do not match the optimiser state");
  ++t_;
  const double b1 = options_.beta1, b2 = options_.beta2;
  const float c1 = static_cast<float>(1.0 / (1.0 - std::pow(b1, static_cast<double>(t_))));
  const float c2 = static_cast<float>(1.0 / (1.0 - std::pow(b2, static_cast<double>(t_))));
  const float fb1 = static_cast<float>(b1), fb2 = static_cast<float>(b2);
  const float eps = static_cast<float>(options_.eps), flr = static_cast<float>(lr);
  const std::vector<TensorView> views = list_tensors(config_, weights);
  const float* base = weights.storage.get();
  const int n_threads = pool ? pool->size() : 1;
  // Thread r updates its share of every tensor: elementwise, so any split gives
  // the same result.
  auto work = [&](int r) {
    for (const TensorView& view : views) {
      const int64_t offset = view.data - base, n = view.numel();
      const int64_t per = (n + n_threads - 1) / n_threads;
      const int64_t i0 = std::min(n, r * per), i1 = std::min(n, i0 + per);
      const float wd = view.rows > 1 ? static_cast<float>(options_.weight_decay) : 0.0f;
      float* w = weights.storage.get() + offset;
      const float* g = grads.storage.get() + offset;
      float* m = m_.storage.get() + offset;
      float* v = v_.storage.get() + offset;
      int64_t i = i0;
#ifdef FLASHNAS_AVX2
      // The same arithmetic eight at a time (the scalar loop's std::sqrt keeps
      // GCC from vectorising it without -fno-math-errno).
      const __m256 vb1 = _mm256_set1_ps(fb1), vb2 = _mm256_set1_ps(fb2);
      const __m256 va1 = _mm256_set1_ps(1.0f - fb1), va2 = _mm256_set1_ps(1.0f - fb2);
      const __m256 vc1 = _mm256_set1_ps(c1), vc2 = _mm256_set1_ps(c2), veps = _mm256_set1_ps(eps);
      const __m256 vscale = _mm256_set1_ps(grad_scale), vlr = _mm256_set1_ps(flr), vwd = _mm256_set1_ps(wd);
      for (; i + 8 <= i1; i += 8) {
        const __m256 gi = _mm256_mul_ps(_mm256_loadu_ps(g + i), vscale);
        const __m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(va1, gi));
        const __m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)),
                                        _mm256_mul_ps(_mm256_mul_ps(va2, gi), gi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        const __m256 update = _mm256_div_ps(_mm256_mul_ps(mi, vc1),
                                            _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(vi, vc2)), veps));
        const __m256 wi = _mm256_loadu_ps(w + i);
        _mm256_storeu_ps(w + i, _mm256_sub_ps(wi, _mm256_mul_ps(vlr, _mm256_add_ps(update, _mm256_mul_ps(vwd, wi)))));
      }
#endif
      for (; i < i1; ++i) {
        const float gi = g[i] * grad_scale;
        m[i] = fb1 * m[i] + (1.0f - fb1) * gi;
        v[i] = fb2 * v[i] + (1.0f - fb2) * gi * gi;
        const float update = (m[i] * c1) / (std::sqrt(v[i] * c2) + eps);
        w[i] -= flr * (update + wd * w[i]);
      }
    }
  };
  if (n_threads == 1) {
    work(0);
  } else {
    pool->run(work);
  }
}

}  // namespace flashnas
