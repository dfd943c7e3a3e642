// Cross-entropy and distillation loss rows (see loss.hpp). Each row's softmax
// runs through the runtime's vectorised exp (simd::exp_shifted_sum), sums in
// double.
#include "engine/train/loss.hpp"

#include <cmath>
#include <vector>

#include "engine/runtime/thread_pool.hpp"
#include "engine/runtime/vector_math.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

namespace {

// Below this many logits the rows run on the calling thread.
constexpr int64_t kMinParallelLogits = int64_t{1} << 14;

// buf (V) = softmax(z * inv_tau); returns log-sum-exp of z * inv_tau.
double softmax_into(float* buf, const float* z, int64_t V, float inv_tau) {
  for (int64_t i = 0; i < V; ++i) buf[i] = z[i] * inv_tau;
  const float mx = simd::max_value(buf, V);
  const double sum = simd::exp_shifted_sum(buf, mx, V);
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < V; ++i) buf[i] *= inv;
  return static_cast<double>(mx) + std::log(sum);
}

// One row: the loss terms, and the gradient into grad (V) unless null. buf (3V).
LossSums loss_row(float* grad, const float* z, const float* zt, const int32_t* target, int64_t V,
                  const LossWeights& w, float grad_scale, float* buf) {
  LossSums out;
  out.rows = 1;
  float* p = buf;            // softmax(z)
  float* pt = buf + V;       // softmax(z' / tau)
  float* q = buf + 2 * V;    // softmax(z / tau)
  double lse_z = 0.0;  // log-sum-exp of z
  if (w.ce > 0.0) {
    lse_z = softmax_into(p, z, V, 1.0f);
    out.ce = lse_z - z[*target];
  }
  if (w.kd > 0.0) {
    const double tau = w.temperature;
    const float inv_tau = static_cast<float>(1.0 / tau);
    const double lse_t = softmax_into(pt, zt, V, inv_tau);
    double lse_s;  // log-sum-exp of z / tau
    if (tau == 1.0 && w.ce > 0.0) {
      q = p;  // the same softmax
      lse_s = lse_z;
    } else {
      lse_s = softmax_into(q, z, V, inv_tau);
    }
    // sum_i p_i (log p_i - log q_i) = sum_i p_i (z'_i - z_i) / tau - lse_t + lse_s
    double cross = 0.0;
    for (int64_t i = 0; i < V; ++i) cross += static_cast<double>(pt[i]) * (zt[i] - z[i]);
    out.kd = tau * tau * (cross / tau - lse_t + lse_s);
  }
  out.total = w.ce * out.ce + w.kd * out.kd;
  if (!grad) return out;
  const float a = static_cast<float>(w.ce) * grad_scale;
  const float b = static_cast<float>(w.kd * w.temperature) * grad_scale;
  if (w.ce > 0.0 && w.kd > 0.0) {
    for (int64_t i = 0; i < V; ++i) grad[i] = a * p[i] + b * (q[i] - pt[i]);
  } else if (w.ce > 0.0) {
    for (int64_t i = 0; i < V; ++i) grad[i] = a * p[i];
  } else {
    for (int64_t i = 0; i < V; ++i) grad[i] = b * (q[i] - pt[i]);
  }
  if (w.ce > 0.0) grad[*target] -= a;
  return out;
}

LossSums loss_rows(float* dlogits, const float* logits, const float* teacher_logits,
                   const int32_t* targets, int64_t T, int64_t V, const LossWeights& weights,
                   float grad_scale, ThreadPool* pool) {
  FLASHNAS_CHECK(weights.ce >= 0.0 && weights.kd >= 0.0 && weights.ce + weights.kd > 0.0,
                 "loss weights must be non-negative and not both zero (ce {}, kd {})",
                 weights.ce, weights.kd);
  FLASHNAS_CHECK(weights.kd == 0.0 || (teacher_logits && weights.temperature > 0.0),
                 "distillation needs teacher logits and a positive temperature");
  FLASHNAS_CHECK(weights.ce == 0.0 || targets, "cross-entropy needs targets");
  if (targets && weights.ce > 0.0) {
    for (int64_t t = 0; t < T; ++t) {
      if (targets[t] < 0 || targets[t] >= V) {
        throw InvalidInput(fmt::format("target {} at row {} is outside the vocabulary [0, {})",
                                       targets[t], t, V),
                           "tokens");
      }
    }
  }
  int n_threads = pool ? pool->size() : 1;
  if (T * V < kMinParallelLogits) n_threads = 1;
  std::vector<LossSums> rows(static_cast<size_t>(T));
  auto work = [&](int r) {
    std::vector<float> buf(static_cast<size_t>(3 * V));
    for (int64_t t = r; t < T; t += n_threads) {
      rows[static_cast<size_t>(t)] =
          loss_row(dlogits ? dlogits + t * V : nullptr, logits + t * V,
                   teacher_logits ? teacher_logits + t * V : nullptr,
                   targets ? targets + t : nullptr, V, weights, grad_scale, buf.data());
    }
  };
  if (n_threads == 1) {
    work(0);
  } else {
    pool->run(work);
  }
  LossSums sums;
  for (const LossSums& row : rows) sums += row;
  return sums;
}

}  // namespace

LossSums loss_backward(float* dlogits, const float* logits, const float* teacher_logits,
                       const int32_t* targets, int64_t T, int64_t V, const LossWeights& weights,
                       float grad_scale, ThreadPool* pool) {
  return loss_rows(dlogits, logits, teacher_logits, targets, T, V, weights, grad_scale, pool);
}

LossSums loss_forward(const float* logits, const float* teacher_logits, const int32_t* targets,
                      int64_t T, int64_t V, const LossWeights& weights) {
  return loss_rows(nullptr, logits, teacher_logits, targets, T, V, weights, 0.0f, nullptr);
}

}  // namespace flashnas
