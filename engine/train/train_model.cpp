// The training forward and backward of a Llama-family model with per-layer
// attention kinds (see train_model.hpp). Each layer, on all BT rows:
//   n1 = rmsnorm(x_in)                                   [not in skip layers]
//   x_mid = x_in + wo · attention(rope(wq n1), rope(wk n1), wv n1)
//   n2 = rmsnorm(x_mid)
//   x_out = x_mid + w_down · (silu(w_gate n2) * (w_up n2))
// then per sequence logits = output · rmsnorm(x), loss and its gradient. The
// backward runs the same steps in reverse, the residual gradient dx flowing
// through every layer and each sub-block adding its branch into it. Matrix
// products dominate both directions.
#include "engine/train/train_model.hpp"

#include <algorithm>
#include <cstring>

#include "engine/runtime/thread_pool.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

namespace {

size_t sz(int64_t n) { return static_cast<size_t>(n); }

constexpr int64_t kAlignFloats = 16;  // every view starts on a cache line
int64_t round_up(int64_t n) { return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }

// Hands out consecutive aligned views of a block; with a null base it only counts.
class Carver {
 public:
  explicit Carver(float* base) : base_(base) {}
  float* take(int64_t n) {
    float* p = base_ ? base_ + offset_ : nullptr;
    offset_ += round_up(n);
    return p;
  }
  int64_t floats() const { return offset_; }

 private:
  float* base_;
  int64_t offset_ = 0;
};

// Counts the views point(carver) hands out, allocates one block for them and
// points them into it (llm.c's malloc_and_point).
template <class Point>
AlignedFloats allocate_views(int64_t& n_floats, Point&& point) {
  Carver count(nullptr);
  point(count);
  n_floats = count.floats();
  AlignedFloats storage = allocate_aligned_floats(n_floats);
  Carver carve(storage.get());
  point(carve);
  return storage;
}

int64_t max_ffn(const ArchConfig& c) {
  int64_t ff = 0;
  for (const LayerConfig& lc : c.layers) ff = std::max(ff, lc.d_ffn);
  return ff;
}

void point_activations(const ArchConfig& c, TrainShape shape, TrainActivations& a, Carver& m) {
  const int64_t BT = shape.batch * shape.ctx, C = c.d_model;
  a.layers.assign(c.layers.size(), LayerActivations{});
  float* x = m.take(BT * C);  // the first layer's input: the embedded tokens
  for (size_t l = 0; l < c.layers.size(); ++l) {
    LayerActivations& la = a.layers[l];
    const int64_t FF = c.layers[l].d_ffn;
    la.x_in = x;
    if (c.layers[l].kind != LayerKind::skip) {
      la.n1 = m.take(BT * C);
      la.rstd1 = m.take(BT);
      la.q = m.take(BT * c.q_dim());
      la.k = m.take(BT * c.kv_dim());
      la.v = m.take(BT * c.kv_dim());
      la.att = m.take(BT * c.q_dim());
      la.x_mid = m.take(BT * C);
    } else {
      la.x_mid = la.x_in;
    }
    la.n2 = m.take(BT * C);
    la.rstd2 = m.take(BT);
    la.gate = m.take(BT * FF);
    la.up = m.take(BT * FF);
    la.hidden = m.take(BT * FF);
    x = m.take(BT * C);  // this layer's output, the next one's input
  }
  a.x_out = x;
  a.nf = m.take(BT * C);
  a.rstdf = m.take(BT);
}

void point_activation_grads(const ArchConfig& c, TrainShape shape, ActivationGrads& g,
                            Carver& m) {
  const int64_t BT = shape.batch * shape.ctx, C = c.d_model, FF = max_ffn(c);
  g.dx = m.take(BT * C);
  g.dn = m.take(BT * C);
  g.dq = m.take(BT * c.q_dim());
  g.dk = m.take(BT * c.kv_dim());
  g.dv = m.take(BT * c.kv_dim());
  g.datt = m.take(BT * c.q_dim());
  g.dgate = m.take(BT * FF);
  g.dup = m.take(BT * FF);
  g.dhidden = m.take(BT * FF);
  g.logits = m.take(shape.ctx * c.vocab_size);
}

void check_shape(TrainShape shape) {
  if (shape.batch < 1) {
    throw InvalidInput(fmt::format("batch must be positive, got {}", shape.batch), "batch");
  }
  if (shape.ctx < 1) {
    throw InvalidInput(fmt::format("ctx must be positive, got {}", shape.ctx), "ctx");
  }
}

// Scratch the kernels size on first use: attention_backward's per-thread block
// buffers (2 R*S + 16 (S + 7) + 2 HS*T) and the loss rows' 3 V, for two threads (the usual
// here; small beside the activations either way).
int64_t kernel_scratch_floats(const ArchConfig& c, TrainShape shape) {
  const int64_t R = 32, T = shape.ctx, HS = c.head_dim;
  return 2 * (2 * R * T + 16 * (T + 7) + 2 * HS * T + 3 * c.vocab_size);
}

}  // namespace

int64_t train_run_bytes(const ArchConfig& config, TrainShape shape) {
  config.validate();
  check_shape(shape);
  TrainActivations a;
  ActivationGrads g;
  Carver m(nullptr);
  point_activations(config, shape, a, m);
  point_activation_grads(config, shape, g, m);
  const int64_t rope = 2 * shape.ctx * config.head_dim / 2;
  return (m.floats() + rope + kernel_scratch_floats(config, shape)) *
         static_cast<int64_t>(sizeof(float));
}

TrainRun::TrainRun(const ArchConfig& config, TrainShape shape) : config_(config), shape_(shape) {
  config_.validate();
  check_shape(shape_);
  acts_.storage = allocate_views(acts_.n_floats, [&](Carver& m) {
    point_activations(config_, shape_, acts_, m);
  });
  grads_.storage = allocate_views(grads_.n_floats, [&](Carver& m) {
    point_activation_grads(config_, shape_, grads_, m);
  });

  rope_ = make_rope_table(config_.head_dim, config_.rope_theta, config_.rope_layout, shape_.ctx);
}

LossSums TrainRun::forward_backward(const ModelWeights& weights, ModelWeights& grads,
                                    const TrainBatch& batch, const LossWeights& loss,
                                    float grad_scale, ThreadPool* pool) {
  FLASHNAS_CHECK(batch.tokens, "a training batch needs tokens");
  FLASHNAS_CHECK(static_cast<int64_t>(weights.layers.size()) == config_.n_layers() &&
                     static_cast<int64_t>(grads.layers.size()) == config_.n_layers(),
                 "weights or gradients do not match the config");
  const int64_t BT = shape_.batch * shape_.ctx;
  for (int64_t i = 0; i < BT; ++i) {
    if (batch.tokens[i] < 0 || batch.tokens[i] >= config_.vocab_size) {
      throw InvalidInput(fmt::format("token {} at index {} is outside the vocabulary [0, {})",
                                     batch.tokens[i], i, config_.vocab_size),
                         "tokens");
    }
  }
  forward(weights, batch.tokens, pool);
  const LossSums sums = head(weights, grads, batch, loss, grad_scale, pool);
  backward(weights, grads, batch.tokens, pool);
  return sums;
}

void TrainRun::forward(const ModelWeights& w, const int32_t* tokens, ThreadPool* pool) {
  const ArchConfig& c = config_;
  const int64_t B = shape_.batch, T = shape_.ctx, BT = B * T, C = c.d_model;
  const int64_t QD = c.q_dim(), KVD = c.kv_dim();
  float* x0 = acts_.layers[0].x_in;
  for (int64_t i = 0; i < BT; ++i) {  // x[i] = tok_embd[token]
    std::memcpy(x0 + i * C, w.tok_embd + tokens[i] * C, sz(C) * sizeof(float));
  }
  for (int64_t l = 0; l < c.n_layers(); ++l) {
    const LayerConfig& lc = c.layers[sz(l)];
    const LayerWeights& lw = w.layers[sz(l)];
    LayerActivations& a = acts_.layers[sz(l)];
    const int64_t FF = lc.d_ffn;
    if (lc.kind != LayerKind::skip) {
      rmsnorm_forward(a.n1, a.rstd1, a.x_in, lw.attn_norm, BT, C, c.norm_eps);
      matmul_forward(a.q, a.n1, lw.wq, BT, C, QD, pool);
      matmul_forward(a.k, a.n1, lw.wk, BT, C, KVD, pool);
      matmul_forward(a.v, a.n1, lw.wv, BT, C, KVD, pool);
      const AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim,
                                 lc.kind == LayerKind::swa ? lc.window : 0};
      // Every sequence starts at position 0. With at least two sequences per
      // thread, thread r takes sequences r, r + n, ... whole (one fork-join
      // for all B instead of one per sequence: on a shared machine each one
      // can wait a time slice for a descheduled worker); else each sequence
      // splits its heads across the threads. attention_forward's rows do not
      // depend on how the work is split, so neither does the result.
      auto attend = [&](int64_t b, AttentionScratch& scratch, ThreadPool* inner) {
        rope_forward(a.q + b * T * QD, rope_, 0, T, c.n_heads);
        rope_forward(a.k + b * T * KVD, rope_, 0, T, c.n_kv_heads);
        const KvSpan kv{a.k + b * T * KVD, a.v + b * T * KVD, 0, T, KVD, c.head_dim};
        attention_forward(a.att + b * T * QD, a.q + b * T * QD, kv, 0, T, shape, scratch, inner);
      };
      const int n_threads = pool ? pool->size() : 1;
      if (n_threads > 1 && B >= 2 * n_threads) {
        sequence_scratch_.resize(static_cast<size_t>(n_threads));
        pool->run([&](int r) {
          for (int64_t b = r; b < B; b += n_threads) attend(b, sequence_scratch_[sz(r)], nullptr);
        });
      } else {
        for (int64_t b = 0; b < B; ++b) attend(b, attention_scratch_, pool);
      }
      std::memcpy(a.x_mid, a.x_in, sz(BT * C) * sizeof(float));
      matmul_forward(a.x_mid, a.att, lw.wo, BT, QD, C, pool, MatmulMode::accumulate);
    }
    rmsnorm_forward(a.n2, a.rstd2, a.x_mid, lw.ffn_norm, BT, C, c.norm_eps);
    matmul_forward(a.gate, a.n2, lw.w_gate, BT, C, FF, pool);
    matmul_forward(a.up, a.n2, lw.w_up, BT, C, FF, pool);
    swiglu_forward(a.hidden, a.gate, a.up, BT * FF);
    float* x_out = l + 1 < c.n_layers() ? acts_.layers[sz(l + 1)].x_in : acts_.x_out;
    std::memcpy(x_out, a.x_mid, sz(BT * C) * sizeof(float));
    matmul_forward(x_out, a.hidden, lw.w_down, BT, FF, C, pool, MatmulMode::accumulate);
  }
  rmsnorm_forward(acts_.nf, acts_.rstdf, acts_.x_out, w.out_norm, BT, C, c.norm_eps);
}

// Per sequence: logits (T, V) = nf W_out^T, the loss and dlogits in place,
// then dn (T, C) = dlogits W_out and dW_out += dlogits^T nf.
LossSums TrainRun::head(const ModelWeights& w, ModelWeights& grads, const TrainBatch& batch,
                        const LossWeights& loss, float grad_scale, ThreadPool* pool) {
  const int64_t T = shape_.ctx, C = config_.d_model, V = config_.vocab_size;
  FLASHNAS_CHECK(loss.kd == 0.0 || batch.teacher_logits, "distillation needs teacher logits");
  LossSums sums;
  for (int64_t b = 0; b < shape_.batch; ++b) {
    const float* nf = acts_.nf + b * T * C;
    matmul_forward(grads_.logits, nf, w.output, T, C, V, pool);
    const float* teacher = loss.kd > 0.0 ? batch.teacher_logits(b) : nullptr;
    sums += loss_backward(grads_.logits, grads_.logits, teacher,
                          batch.targets ? batch.targets + b * T : nullptr, T, V, loss, grad_scale,
                          pool);
    matmul_backward(grads_.dn + b * T * C, grads.output, grads_.logits, nf, w.output, T, C, V, pool);
  }
  return sums;
}

void TrainRun::backward(const ModelWeights& w, ModelWeights& grads, const int32_t* tokens,
                        ThreadPool* pool) {
  const ArchConfig& c = config_;
  const int64_t B = shape_.batch, T = shape_.ctx, BT = B * T, C = c.d_model;
  const int64_t QD = c.q_dim(), KVD = c.kv_dim();
  ActivationGrads& g = grads_;
  std::memset(g.dx, 0, sz(BT * C) * sizeof(float));
  rmsnorm_backward(g.dx, grads.out_norm, g.dn, acts_.x_out, w.out_norm, acts_.rstdf, BT, C);
  for (int64_t l = c.n_layers() - 1; l >= 0; --l) {
    const LayerConfig& lc = c.layers[sz(l)];
    const LayerWeights& lw = w.layers[sz(l)];
    LayerWeights& lg = grads.layers[sz(l)];
    const LayerActivations& a = acts_.layers[sz(l)];
    const int64_t FF = lc.d_ffn;
    // Feed-forward: dx already holds d(x_out) = d(x_mid) through the residual.
    matmul_backward(g.dhidden, lg.w_down, g.dx, a.hidden, lw.w_down, BT, FF, C, pool);
    swiglu_backward(g.dgate, g.dup, g.dhidden, a.gate, a.up, BT * FF);
    matmul_backward(g.dn, lg.w_gate, g.dgate, a.n2, lw.w_gate, BT, C, FF, pool);
    matmul_backward(g.dn, lg.w_up, g.dup, a.n2, lw.w_up, BT, C, FF, pool,
                    MatmulMode::accumulate);
    rmsnorm_backward(g.dx, lg.ffn_norm, g.dn, a.x_mid, lw.ffn_norm, a.rstd2, BT, C);
    if (lc.kind == LayerKind::skip) continue;
    // Attention: dx holds d(x_mid) = d(x_in) through the residual.
    matmul_backward(g.datt, lg.wo, g.dx, a.att, lw.wo, BT, QD, C, pool);
    const AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim,
                               lc.kind == LayerKind::swa ? lc.window : 0};
    attention_backward(g.dq, g.dk, g.dv, g.datt, a.q, a.k, a.v, a.att, B, T, shape,
                       attention_scratch_, pool);
    for (int64_t b = 0; b < B; ++b) {
      rope_backward(g.dq + b * T * QD, rope_, 0, T, c.n_heads);
      rope_backward(g.dk + b * T * KVD, rope_, 0, T, c.n_kv_heads);
    }
    matmul_backward(g.dn, lg.wq, g.dq, a.n1, lw.wq, BT, C, QD, pool);
    matmul_backward(g.dn, lg.wk, g.dk, a.n1, lw.wk, BT, C, KVD, pool,
                    MatmulMode::accumulate);
    matmul_backward(g.dn, lg.wv, g.dv, a.n1, lw.wv, BT, C, KVD, pool,
                    MatmulMode::accumulate);
    rmsnorm_backward(g.dx, lg.attn_norm, g.dn, a.x_in, lw.attn_norm, a.rstd1, BT, C);
  }
  // Token embedding: row token[i] of the gradient gathers dx[i] (in row order).
  for (int64_t i = 0; i < BT; ++i) {
    float* row = grads.tok_embd + tokens[i] * C;
    const float* d = g.dx + i * C;
    for (int64_t j = 0; j < C; ++j) row[j] += d[j];
  }
}

}  // namespace flashnas
