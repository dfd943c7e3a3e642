// The optimiser side of training: AdamW with decoupled weight decay and
// bias-corrected moments (Loshchilov & Hutter 2019), the learning-rate
// schedule (linear warm-up, then cosine decay) and the global gradient norm
// for clipping. Float32 master weights: the update writes the model's F32
// weights in place. Not the gradients (train_model.hpp).
#pragma once

#include <cstdint>

#include "engine/model/arch_config.hpp"
#include "engine/model/model_weights.hpp"

namespace flashnas {

class ThreadPool;

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.0;  // applied to matrices (embeddings included), not to norm weights
};

// lr(step) for 0-based steps of `total`: warm-up from lr/warmup to lr over the
// first `warmup` steps, then cosine from lr down to min_lr_ratio * lr at the
// last step:  lr_min + (lr - lr_min) (1 + cos(pi p)) / 2,
// p = (step - warmup) / (total - warmup - 1).
struct LrSchedule {
  double lr = 1e-3;
  int64_t warmup = 0;
  int64_t total = 1;
  double min_lr_ratio = 0.1;
  double at(int64_t step) const;
};

// sqrt(sum of squares) over the whole gradient block, in double. Chunks of a
// fixed size are summed in order, so the norm does not depend on the thread count.
double gradient_norm(const ModelWeights& grads, ThreadPool* pool);

// The optimiser state: first and second moments laid out like the weights.
class AdamW {
 public:
  AdamW(const ArchConfig& config, AdamWOptions options);

  // One step t (counted from 1) on every tensor of `config`, with g = grad_scale * grads:
  //   m = b1 m + (1 - b1) g            v = b2 v + (1 - b2) g^2
  //   w -= lr (m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + wd w)
  // (wd 0 for norm weights). grad_scale carries clipping and any averaging.
  void step(ModelWeights& weights, const ModelWeights& grads, double lr, float grad_scale,
            ThreadPool* pool);

  int64_t steps() const { return t_; }
  int64_t bytes() const;  // the two moment blocks

  // Bytes the state of `config` takes, before allocating it.
  static int64_t bytes_for(const ArchConfig& config);

 private:
  ArchConfig config_;
  AdamWOptions options_;
  ModelWeights m_, v_;
  int64_t t_ = 0;
};

}  // namespace flashnas
