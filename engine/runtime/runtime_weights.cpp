// Runtime weight views and the model-level Q8_0 quantisation (see
// runtime_weights.hpp), and the names of the weight formats.
#include "engine/runtime/runtime_weights.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "engine/runtime/q8_0_matmul.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

std::string_view weight_format_name(WeightFormat format) {
  switch (format) {
    case WeightFormat::f32: return "f32";
    case WeightFormat::q8_0: return "q8_0";
  }
  return "?";
}

WeightFormat parse_weight_format(std::string_view text, const std::string& field) {
  if (text == "f32") return WeightFormat::f32;
  if (text == "q8_0") return WeightFormat::q8_0;
  throw InvalidInput(fmt::format("{}: must be f32 or q8_0, got '{}'", field, text), field);
}

void RuntimeWeights::FreeBytes::operator()(uint8_t* p) const noexcept { std::free(p); }

namespace {

constexpr int64_t kAlign = 64;

int64_t round_up(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

WeightMatrix f32_view(const float* data, int64_t rows, int64_t cols) {
  if (!data) return {};
  return WeightMatrix{WeightFormat::f32, data, nullptr, rows, cols};
}

std::unique_ptr<uint8_t[], RuntimeWeights::FreeBytes> allocate_bytes(int64_t bytes) {
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(kAlign, static_cast<size_t>(round_up(bytes))));
  if (!p) throw Error(fmt::format("cannot allocate {} bytes of quantised weights", bytes));
  return std::unique_ptr<uint8_t[], RuntimeWeights::FreeBytes>(p);
}

// Quantises the F32 view `w` into `dst` (N rows of q8_0_row_bytes(K)) and
// points `w` there.
void quantize_into(WeightMatrix& w, uint8_t* dst) {
  const int64_t row_bytes = q8_0_row_bytes(w.cols);
  for (int64_t n = 0; n < w.rows; ++n) quantize_row_q8_0(dst + n * row_bytes, w.f32 + n * w.cols, w.cols);
  w = WeightMatrix{WeightFormat::q8_0, nullptr, dst, w.rows, w.cols};
}

}  // namespace

RuntimeWeights quantize_model_weights(const ArchConfig& config, const ModelWeights& weights,
                                      WeightFormat format) {
  config.validate();
  FLASHNAS_CHECK(static_cast<int64_t>(weights.layers.size()) == config.n_layers(),
                 "weights have {} layers, config {}", weights.layers.size(), config.n_layers());
  const int64_t C = config.d_model, V = config.vocab_size;
  const int64_t QD = config.q_dim(), KVD = config.kv_dim();
  RuntimeWeights rw;
  rw.format = format;
  rw.tok_embd = f32_view(weights.tok_embd, V, C);
  const bool tied = weights.output == weights.tok_embd;
  rw.output = f32_view(weights.output, V, C);
  rw.layers.resize(weights.layers.size());
  std::vector<WeightMatrix*> matrices = {&rw.tok_embd};  // every distinct matrix present
  if (!tied) matrices.push_back(&rw.output);
  for (size_t l = 0; l < weights.layers.size(); ++l) {
    const LayerWeights& lw = weights.layers[l];
    RuntimeLayerWeights& r = rw.layers[l];
    const int64_t FF = config.layers[l].d_ffn;
    r.wq = f32_view(lw.wq, QD, C);
    r.wk = f32_view(lw.wk, KVD, C);
    r.wv = f32_view(lw.wv, KVD, C);
    r.wo = f32_view(lw.wo, C, QD);
    r.w_gate = f32_view(lw.w_gate, FF, C);
    r.w_up = f32_view(lw.w_up, FF, C);
    r.w_down = f32_view(lw.w_down, C, FF);
    matrices.insert(matrices.end(), {&r.wq, &r.wk, &r.wv, &r.wo, &r.w_gate, &r.w_up, &r.w_down});
  }
  std::erase_if(matrices, [](const WeightMatrix* m) { return !m->f32; });  // skip layers' attention

  auto quantisable = [&](const WeightMatrix& m) {
    return format == WeightFormat::q8_0 && m.cols % kQ8BlockValues == 0;
  };
  int64_t bytes = 0;
  for (const WeightMatrix* m : matrices) {
    if (quantisable(*m)) bytes += round_up(m->rows * q8_0_row_bytes(m->cols));
  }
  if (bytes > 0) rw.storage = allocate_bytes(bytes);
  int64_t offset = 0;
  for (WeightMatrix* m : matrices) {
    if (!quantisable(*m)) {
      ++rw.f32_matrices;
      continue;
    }
    const int64_t size = m->rows * q8_0_row_bytes(m->cols);
    quantize_into(*m, rw.storage.get() + offset);
    offset += round_up(size);
    ++rw.q8_0_matrices;
  }
  rw.q8_0_bytes = bytes;
  if (tied) rw.output = rw.tok_embd;
  return rw;
}

Q8_0Matrix quantize_matrix_q8_0(const float* weight, int64_t N, int64_t K) {
  check_q8_0_row_length(K);  // before allocating, and also when N is 0
  Q8_0Matrix m;
  m.storage = allocate_bytes(std::max<int64_t>(1, N * q8_0_row_bytes(K)));
  m.view = f32_view(weight, N, K);
  quantize_into(m.view, m.storage.get());
  return m;
}

void read_weight_row(float* out, const WeightMatrix& w, int64_t row) {
  if (w.format == WeightFormat::f32) {
    std::memcpy(out, w.f32 + row * w.cols, static_cast<size_t>(w.cols) * sizeof(float));
  } else {
    dequantize_row_q8_0(out, w.q8_0 + row * q8_0_row_bytes(w.cols), w.cols, 0, w.cols);
  }
}

}  // namespace flashnas
