// The forward pass of a Llama-family model with per-layer attention kinds
// (see inference_session.hpp). Each layer:
//   x += wo · attention(rope(wq · n1), rope(wk · n1), wv · n1)   n1 = rmsnorm(x)  [not in skip layers]
//   x += w_down · (silu(w_gate · n2) * (w_up · n2))              n2 = rmsnorm(x)
// then logits = output · rmsnorm(x). Matrix products dominate the time.
#include "engine/runtime/inference_session.hpp"

#include <algorithm>
#include <cstring>

#include "engine/runtime/matmul.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

namespace {

size_t sz(int64_t n) { return static_cast<size_t>(n); }

}  // namespace

InferenceSession::InferenceSession(const ArchConfig& config, const ModelWeights& weights,
                                   RuntimeContext& context, SessionOptions options)
    : config_(config), weights_(weights), context_(context), options_(options) {
  config_.validate();
  if (options_.max_positions < 1) {
    throw InvalidInput(fmt::format("max_positions must be positive, got {}", options_.max_positions),
                       "max_positions");
  }
  if (options_.max_batch < 1) {
    throw InvalidInput(fmt::format("max_batch must be positive, got {}", options_.max_batch),
                       "max_batch");
  }
  options_.max_batch = std::min(options_.max_batch, options_.max_positions);
  FLASHNAS_CHECK(weights_.tok_embd && weights_.out_norm && weights_.output,
                 "model weights are missing global tensors");
  FLASHNAS_CHECK(static_cast<int64_t>(weights_.layers.size()) == config_.n_layers(),
                 "weights have {} layers, config {}", weights_.layers.size(), config_.n_layers());
  for (int64_t l = 0; l < config_.n_layers(); ++l) {
    const LayerWeights& lw = weights_.layers[sz(l)];
    const LayerConfig& lc = config_.layers[sz(l)];
    if (lc.kind != LayerKind::skip && !(lw.attn_norm && lw.wq && lw.wk && lw.wv && lw.wo)) {
      throw InvalidInput(
          fmt::format("layer {} is '{}' but the model has no attention weights for it (it was "
                      "pruned to skip)", l, layer_kind_name(lc.kind)),
          fmt::format("layers[{}]", l));
    }
    FLASHNAS_CHECK(lw.ffn_norm && lw.w_gate && lw.w_up && lw.w_down,
                   "layer {} is missing FFN weights", l);
  }

  runtime_weights_ = quantize_model_weights(config_, weights_, options_.weights);
  rope_ = make_rope_table(config_.head_dim, config_.rope_theta, config_.rope_layout,
                          options_.max_positions);
  const KvCacheOptions kv{config_.kv_dim(), config_.head_dim, options_.max_positions,
                          options_.max_batch};
  for (const LayerConfig& lc : config_.layers) caches_.push_back(make_kv_cache(lc, kv));

  const int64_t B = options_.max_batch, C = config_.d_model;
  int64_t ff_max = 0;
  for (const LayerConfig& lc : config_.layers) ff_max = std::max(ff_max, lc.d_ffn);
  x_.resize(sz(B * C));
  xb_.resize(sz(B * C));
  q_.resize(sz(B * config_.q_dim()));
  k_.resize(sz(B * config_.kv_dim()));
  v_.resize(sz(B * config_.kv_dim()));
  att_.resize(sz(B * config_.q_dim()));
  gate_.resize(sz(B * ff_max));
  up_.resize(sz(B * ff_max));
  logits_.resize(sz(config_.vocab_size));
}

void InferenceSession::reset() {
  position_ = 0;
  for (auto& cache : caches_) cache->clear();
}

int64_t InferenceSession::kv_cache_bytes() const {
  int64_t total = 0;
  for (const auto& cache : caches_) total += cache->bytes();
  return total;
}

void InferenceSession::check_tokens(std::span<const int32_t> tokens) const {
  if (tokens.empty()) throw InvalidInput("no tokens to run", "tokens");
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i] < 0 || tokens[i] >= config_.vocab_size) {
      throw InvalidInput(fmt::format("token {} at index {} is outside the vocabulary [0, {})",
                                     tokens[i], i, config_.vocab_size),
                         "tokens");
    }
  }
  const int64_t end = position_ + static_cast<int64_t>(tokens.size());
  if (end > options_.max_positions) {
    throw InvalidInput(fmt::format("sequence of {} positions exceeds the session capacity {}", end,
                                   options_.max_positions),
                       "tokens");
  }
}

std::span<const float> InferenceSession::prefill(std::span<const int32_t> tokens,
                                                 const PrefillOptions& options) {
  check_tokens(tokens);
  const int64_t T = static_cast<int64_t>(tokens.size());
  const int64_t V = config_.vocab_size;
  if (options.all_logits && logits_.size() < sz(T * V)) logits_.resize(sz(T * V));
  for (int64_t t0 = 0; t0 < T; t0 += options_.max_batch) {
    const int64_t n = std::min(options_.max_batch, T - t0);
    float* out = options.all_logits ? logits_.data() + t0 * V : logits_.data();
    // Last-only: chunks before the last need no head at all.
    const HeadRows head = options.all_logits ? HeadRows::all
                          : t0 + n == T      ? HeadRows::last
                                             : HeadRows::none;
    forward(tokens.data() + t0, n, head, options.observer, out);
  }
  return {logits_.data(), sz(options.all_logits ? T * V : V)};
}

std::span<const float> InferenceSession::decode(int32_t token) {
  check_tokens({&token, 1});
  forward(&token, 1, HeadRows::last, nullptr, logits_.data(), /*decoding=*/true);
  return {logits_.data(), sz(config_.vocab_size)};
}

void InferenceSession::forward(const int32_t* tokens, int64_t T, HeadRows head,
                               ForwardObserver* obs, float* logits, bool decoding) {
  const ArchConfig& c = config_;
  const int64_t C = c.d_model, QD = c.q_dim();
  const int64_t pos0 = position_;
  ThreadPool* pool = &context_.pool();
  float* x = x_.data();
  float* xb = xb_.data();
  auto view = [&](const float* data, int64_t cols) { return ActivationView{data, T, cols, pos0}; };

  for (int64_t t = 0; t < T; ++t) {  // token embedding: x[t] = tok_embd[token]
    read_weight_row(x + t * C, runtime_weights_.tok_embd, tokens[t]);
  }

  // Without all-rows logits (or an observer), the last layer needs the keys
  // and values of every row but the rest of its work only for the rows that
  // reach the head: the last one, or none for a chunk before the last. Those
  // rows go through the same kernels as in a full pass (GEMM even for one
  // row, row-wise attention), so their values do not change.
  const bool trim_last_layer = head != HeadRows::all && !obs;
  for (int64_t l = 0; l < c.n_layers(); ++l) {
    const LayerConfig& lc = c.layers[sz(l)];
    const LayerWeights& w = weights_.layers[sz(l)];  // norms
    const RuntimeLayerWeights& rw = runtime_weights_.layers[sz(l)];  // matrices
    // Rows [r0, T) of this layer's output are needed; R of them.
    const int64_t r0 = trim_last_layer && l + 1 == c.n_layers()
                           ? (head == HeadRows::none ? T : T - 1)
                           : 0;
    const int64_t R = T - r0;
    const MatmulPath path = R < T ? MatmulPath::gemm : MatmulPath::by_rows;
    if (obs) {
      if (x_in_.size() < x_.size()) x_in_.resize(x_.size());
      std::memcpy(x_in_.data(), x, sz(T * C) * sizeof(float));
      obs->layer_input(l, view(x, C));
    }

    if (lc.kind != LayerKind::skip) {  // attention sub-block
      rmsnorm_forward(xb, x, w.attn_norm, T, C, c.norm_eps);  // every row: K and V need it
      if (obs) obs->attention_norm(l, view(xb, C));
      matmul_forward(k_.data(), xb, rw.wk, T, pool);
      matmul_forward(v_.data(), xb, rw.wv, T, pool);
      rope_forward(k_.data(), rope_, pos0, T, c.n_kv_heads);
      const KvSpan kv = caches_[sz(l)]->append(k_.data(), v_.data(), pos0, T);
      if (R > 0) {
        float* q = q_.data() + r0 * QD;  // (R, NH*HS)
        float* att = att_.data() + r0 * QD;
        matmul_forward(q, xb + r0 * C, rw.wq, R, pool, MatmulMode::overwrite, path);
        rope_forward(q, rope_, pos0 + r0, R, c.n_heads);
        const AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim,
                                   lc.kind == LayerKind::swa ? lc.window : 0};
        attention_forward(att, q, kv, pos0 + r0, R, shape, attention_scratch_, pool,
                          decoding ? AttentionMode::decode : AttentionMode::prefill);
        matmul_forward(x + r0 * C, att, rw.wo, R, pool, MatmulMode::accumulate, path);
      }
      if (obs) obs->attention_residual(l, view(x_in_.data(), C), view(x, C));
    }
    if (R == 0) continue;

    // Feed-forward sub-block (SwiGLU) on rows [r0, T).
    const int64_t FF = lc.d_ffn;
    float* xr = x + r0 * C;
    float* xbr = xb + r0 * C;
    rmsnorm_forward(xbr, xr, w.ffn_norm, R, C, c.norm_eps);
    if (obs) obs->ffn_norm(l, view(xb, C));
    matmul_forward(gate_.data(), xbr, rw.w_gate, R, pool, MatmulMode::overwrite, path);
    matmul_forward(up_.data(), xbr, rw.w_up, R, pool, MatmulMode::overwrite, path);
    for (int64_t t = 0; t < R; ++t) {  // per row, so a row's values never depend on R
      float* g = gate_.data() + t * FF;
      swiglu_forward(g, g, up_.data() + t * FF, FF);
    }
    if (obs) obs->ffn_hidden(l, view(gate_.data(), FF));
    matmul_forward(xr, gate_.data(), rw.w_down, R, pool, MatmulMode::accumulate, path);
    if (obs) obs->layer_output(l, view(x_in_.data(), C), view(x, C));
  }
  position_ += T;
  if (head == HeadRows::none && !obs) return;

  // Head: every row for evaluation or an observer, otherwise only the last.
  const bool all_rows = head == HeadRows::all;
  const bool every_row = all_rows || obs;
  const int64_t r0 = every_row ? 0 : T - 1;
  const int64_t rows = T - r0;
  rmsnorm_forward(xb + r0 * C, x + r0 * C, weights_.out_norm, rows, C, c.norm_eps);
  if (obs) {
    obs->final_residual(view(x, C));
    obs->final_norm(view(xb, C));
  }
  if (all_rows) {
    matmul_forward(logits, xb, runtime_weights_.output, T, pool);
  } else if (head == HeadRows::last) {
    // Only the last row (time to first token, as llama.cpp does). In a batch,
    // through the GEMM kernel so it equals the last row of the all-rows head
    // bit for bit; decode (T == 1) keeps the GEMV.
    const MatmulPath path = T > 1 ? MatmulPath::gemm : MatmulPath::by_rows;
    matmul_forward(logits, xb + r0 * C, runtime_weights_.output, 1, pool, MatmulMode::overwrite,
                   path);
  }
}

}  // namespace flashnas
