// TrainRun: the run state of training one model config on micro-batches of B
// sequences of T tokens: the activations the forward saves for the backward
// (one block with named views, llm.c's ActivationTensors), the backward's
// scratch, and forward_backward, which runs forward, loss and backward and adds
// the parameter gradients into a gradient block laid out exactly like the
// weights (allocate_weights of the same config: Gradients mirror ModelWeights,
// a tied head's gradient lands on the token embedding). Config and weights are
// separate types the caller owns; not the optimiser (adamw.hpp), not the data.
//
// The forward calls the runtime's kernels (rmsnorm_forward, matmul_forward,
// rope_forward, attention_forward, swiglu_forward) on all B*T rows at once;
// each backward sits next to its forward in engine/runtime/. The head runs one
// sequence at a time (logits, loss, gradient and head backward), so the logits
// take T*V floats whatever B is.
//
// Legend: B sequences, T tokens per sequence, BT = B*T rows, C d_model,
// NH heads, KVH kv heads, HS head size, FF FFN width of the layer, V vocab.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/model/arch_config.hpp"
#include "engine/model/model_weights.hpp"
#include "engine/runtime/attention.hpp"
#include "engine/runtime/kernels.hpp"
#include "engine/runtime/matmul.hpp"
#include "engine/train/loss.hpp"

namespace flashnas {

class ThreadPool;

struct TrainShape {
  int64_t batch = 1;  // B sequences per micro-batch
  int64_t ctx = 256;  // T tokens per sequence (each starts at position 0)
};

// Saved by the forward for the backward. Views of skip layers' attention are null.
struct LayerActivations {
  float* x_in = nullptr;    // (BT, C) residual stream entering the layer
  float* n1 = nullptr;      // (BT, C) rmsnorm(x_in) * attn_norm
  float* rstd1 = nullptr;   // (BT)
  float* q = nullptr;       // (BT, NH*HS) rotated
  float* k = nullptr;       // (BT, KVH*HS) rotated
  float* v = nullptr;       // (BT, KVH*HS)
  float* att = nullptr;     // (BT, NH*HS) attention output, before wo
  float* x_mid = nullptr;   // (BT, C) residual after attention (== x_in in a skip layer)
  float* n2 = nullptr;      // (BT, C) rmsnorm(x_mid) * ffn_norm
  float* rstd2 = nullptr;   // (BT)
  float* gate = nullptr;    // (BT, FF) w_gate n2, before the activation
  float* up = nullptr;      // (BT, FF) w_up n2
  float* hidden = nullptr;  // (BT, FF) silu(gate) * up
};

struct TrainActivations {
  AlignedFloats storage;
  int64_t n_floats = 0;
  std::vector<LayerActivations> layers;  // L
  float* x_out = nullptr;   // (BT, C) residual after the last layer
  float* nf = nullptr;      // (BT, C) final norm
  float* rstdf = nullptr;   // (BT)
};

// Gradients of activations, reused layer after layer.
struct ActivationGrads {
  AlignedFloats storage;
  int64_t n_floats = 0;
  float* dx = nullptr;       // (BT, C) residual stream
  float* dn = nullptr;       // (BT, C) a norm's output
  float* dq = nullptr;       // (BT, NH*HS)
  float* dk = nullptr;       // (BT, KVH*HS)
  float* dv = nullptr;       // (BT, KVH*HS)
  float* datt = nullptr;     // (BT, NH*HS)
  float* dgate = nullptr;    // (BT, FF max)
  float* dup = nullptr;      // (BT, FF max)
  float* dhidden = nullptr;  // (BT, FF max)
  float* logits = nullptr;   // (T, V) one sequence's logits, then their gradient
};

// One micro-batch. Row b*T + t of tokens is the input at position t of
// sequence b and targets the token to predict there.
struct TrainBatch {
  const int32_t* tokens = nullptr;   // (B, T)
  const int32_t* targets = nullptr;  // (B, T); may be null for pure distillation
  // Teacher logits (T, V) of sequence b, valid until the next call; needed when
  // the loss distils, else may be empty.
  std::function<const float*(int64_t b)> teacher_logits;
};

// Bytes a TrainRun of this config and shape holds (activations, their
// gradients, scratch), without allocating: what the trainer reports and checks
// against its limit.
int64_t train_run_bytes(const ArchConfig& config, TrainShape shape);

class TrainRun {
 public:
  // Throws InvalidInput for an invalid config or shape (batch, ctx < 1).
  TrainRun(const ArchConfig& config, TrainShape shape);

  // Forward over batch.tokens, the loss per `loss`, and the backward: adds
  // grad_scale * d(sum of row losses)/d(parameter) into `grads` (a block of
  // allocate_weights(config)). Returns the unscaled sums over the B*T rows.
  // The pool may be null (one thread).
  LossSums forward_backward(const ModelWeights& weights, ModelWeights& grads,
                            const TrainBatch& batch, const LossWeights& loss, float grad_scale,
                            ThreadPool* pool);

  const ArchConfig& config() const { return config_; }
  TrainShape shape() const { return shape_; }
  const TrainActivations& activations() const { return acts_; }

 private:
  void forward(const ModelWeights& w, const int32_t* tokens, ThreadPool* pool);
  LossSums head(const ModelWeights& w, ModelWeights& grads, const TrainBatch& batch,
                const LossWeights& loss, float grad_scale, ThreadPool* pool);
  void backward(const ModelWeights& w, ModelWeights& grads, const int32_t* tokens,
                ThreadPool* pool);

  ArchConfig config_;
  TrainShape shape_;
  TrainActivations acts_;
  ActivationGrads grads_;
  RopeTable rope_;
  AttentionScratch attention_scratch_;
  std::vector<AttentionScratch> sequence_scratch_;  // one per thread when threads take whole sequences
};

}  // namespace flashnas
