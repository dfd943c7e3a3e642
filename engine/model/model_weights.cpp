// One-block weight allocation and the tensor listing every loader, writer and
// pruner iterates over.
#include "engine/model/model_weights.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "engine/util/error.hpp"

namespace flashnas {

void AlignedFree::operator()(float* p) const noexcept { std::free(p); }

namespace {

// Views are laid out in list_tensors order; each starts on a 64-byte boundary
// (16 floats) so kernels may use aligned vector loads.
constexpr int64_t kAlignFloats = 16;

int64_t round_up(int64_t n) { return (n + kAlignFloats - 1) / kAlignFloats * kAlignFloats; }

// Walks the layout once; with `base == nullptr` it only counts.
int64_t point_views(const ArchConfig& c, ModelWeights& w, float* base) {
  int64_t offset = 0;
  auto take = [&](int64_t n) {
    float* p = base ? base + offset : nullptr;
    offset += round_up(n);
    return p;
  };
  const int64_t C = c.d_model;
  w.tok_embd = take(c.vocab_size * C);
  w.out_norm = take(C);
  w.output = c.tied_embeddings ? w.tok_embd : take(c.vocab_size * C);
  w.layers.assign(c.layers.size(), LayerWeights{});
  for (size_t l = 0; l < c.layers.size(); ++l) {
    LayerWeights& lw = w.layers[l];
    if (c.layers[l].kind != LayerKind::skip) {
      lw.attn_norm = take(C);
      lw.wq = take(c.q_dim() * C);
      lw.wk = take(c.kv_dim() * C);
      lw.wv = take(c.kv_dim() * C);
      lw.wo = take(C * c.q_dim());
    }
    const int64_t FF = c.layers[l].d_ffn;
    lw.ffn_norm = take(C);
    lw.w_gate = take(FF * C);
    lw.w_up = take(FF * C);
    lw.w_down = take(C * FF);
  }
  return offset;
}

}  // namespace

AlignedFloats allocate_aligned_floats(int64_t n) {
  const size_t bytes = static_cast<size_t>(round_up(std::max<int64_t>(n, 1))) * sizeof(float);
  float* block = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!block) throw Error(fmt::format("cannot allocate {} bytes", bytes));
  std::memset(block, 0, bytes);
  return AlignedFloats(block);
}

int64_t count_weight_floats(const ArchConfig& config) {
  config.validate();
  ModelWeights w;
  return point_views(config, w, nullptr);
}

ModelWeights allocate_weights(const ArchConfig& config) {
  config.validate();
  ModelWeights w;
  const int64_t n = point_views(config, w, nullptr);
  w.storage = allocate_aligned_floats(n);
  w.n_floats = n;
  point_views(config, w, w.storage.get());
  return w;
}

ModelWeights clone_weights(const ArchConfig& config, const ModelWeights& weights) {
  ModelWeights copy = allocate_weights(config);
  FLASHNAS_CHECK(copy.n_floats == weights.n_floats, "weights do not match the config");
  std::memcpy(copy.storage.get(), weights.storage.get(),
              static_cast<size_t>(weights.n_floats) * sizeof(float));
  return copy;
}

std::vector<TensorView> list_tensors(const ArchConfig& c, ModelWeights& w) {
  const int64_t C = c.d_model;
  std::vector<TensorView> out;
  out.push_back({TensorId::tok_embd, -1, w.tok_embd, c.vocab_size, C});
  out.push_back({TensorId::out_norm, -1, w.out_norm, 1, C});
  if (!c.tied_embeddings) out.push_back({TensorId::output, -1, w.output, c.vocab_size, C});
  for (int64_t l = 0; l < c.n_layers(); ++l) {
    LayerWeights& lw = w.layers[static_cast<size_t>(l)];
    if (c.layers[static_cast<size_t>(l)].kind != LayerKind::skip) {
      out.push_back({TensorId::attn_norm, l, lw.attn_norm, 1, C});
      out.push_back({TensorId::wq, l, lw.wq, c.q_dim(), C});
      out.push_back({TensorId::wk, l, lw.wk, c.kv_dim(), C});
      out.push_back({TensorId::wv, l, lw.wv, c.kv_dim(), C});
      out.push_back({TensorId::wo, l, lw.wo, C, c.q_dim()});
    }
    const int64_t FF = c.layers[static_cast<size_t>(l)].d_ffn;
    out.push_back({TensorId::ffn_norm, l, lw.ffn_norm, 1, C});
    out.push_back({TensorId::w_gate, l, lw.w_gate, FF, C});
    out.push_back({TensorId::w_up, l, lw.w_up, FF, C});
    out.push_back({TensorId::w_down, l, lw.w_down, C, FF});
  }
  return out;
}

}  // namespace flashnas
