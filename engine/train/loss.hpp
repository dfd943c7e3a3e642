// The training loss on a model's logits and its gradient, fused per row as
// llm.c's fused_classifier is: cross-entropy on the data, knowledge
// distillation from a teacher's logits at a temperature (Hinton et al. 2015),
// or a weighted mix. Not the model (train_model.hpp), not the optimiser.
//
// Legend: T rows (tokens), V vocab.
#pragma once

#include <cstdint>

namespace flashnas {

class ThreadPool;

struct LossWeights {
  double ce = 1.0;           // weight of cross-entropy on the data
  double kd = 0.0;           // weight of distillation; needs teacher logits when > 0
  double temperature = 1.0;  // tau: both distributions are softened to softmax(z / tau)
};

// Sums over rows (not means), in double.
struct LossSums {
  double ce = 0.0;     // sum of -log softmax(z)[y]
  double kd = 0.0;     // sum of tau^2 KL(p_teacher || q_student) at temperature tau
  double total = 0.0;  // w_ce ce + w_kd kd
  int64_t rows = 0;
  LossSums& operator+=(const LossSums& o) {
    ce += o.ce;
    kd += o.kd;
    total += o.total;
    rows += o.rows;
    return *this;
  }
};

// For every row t of logits z (T, V) with target y_t and teacher logits z' (T, V):
//   ce_t   = logsumexp(z) - z[y]
//   kd_t   = tau^2 sum_i p_i (log p_i - log q_i),  p = softmax(z'/tau), q = softmax(z/tau)
//   loss_t = w_ce ce_t + w_kd kd_t
//   dz_i   = grad_scale (w_ce (softmax(z)_i - [i == y]) + w_kd tau (q_i - p_i))
// (the tau^2 keeps the distillation gradient's size independent of tau).
// Writes dlogits (T, V), which may alias logits. teacher_logits may be null when
// w_kd == 0; targets may be null when w_ce == 0. Rows are split across the
// pool's threads; the sums add the rows in order, so they do not depend on the
// thread count. Throws on a target outside [0, V).
LossSums loss_backward(float* dlogits, const float* logits, const float* teacher_logits,
                       const int32_t* targets, int64_t T, int64_t V, const LossWeights& weights,
                       float grad_scale, ThreadPool* pool);

// The same sums without the gradient (evaluation, tests).
LossSums loss_forward(const float* logits, const float* teacher_logits, const int32_t* targets,
                      int64_t T, int64_t V, const LossWeights& weights);

}  // namespace flashnas
