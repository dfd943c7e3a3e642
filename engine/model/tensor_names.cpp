// Tensor-name table (llama.cpp's LLM_TENSOR_NAMES for "llama", and HF's
// LlamaForCausalLM state-dict keys).
#include "engine/model/tensor_names.hpp"

#include <fmt/format.h>

#include "engine/util/error.hpp"

namespace flashnas {

namespace {

struct TensorNameRow {
  TensorId id;
  const char* short_name;
  bool per_layer;
  const char* gguf;  // {} stands for the layer index
  const char* hf;
};

constexpr TensorNameRow kTensorNames[] = {
    {TensorId::tok_embd, "tok_embd", false, "token_embd.weight", "model.embed_tokens.weight"},
    {TensorId::out_norm, "out_norm", false, "output_norm.weight", "model.norm.weight"},
    {TensorId::output, "output", false, "output.weight", "lm_head.weight"},
    {TensorId::attn_norm, "attn_norm", true, "blk.{}.attn_norm.weight", "model.layers.{}.input_layernorm.weight"},
    {TensorId::wq, "wq", true, "blk.{}.attn_q.weight", "model.layers.{}.self_attn.q_proj.weight"},
    {TensorId::wk, "wk", true, "blk.{}.attn_k.weight", "model.layers.{}.self_attn.k_proj.weight"},
    {TensorId::wv, "wv", true, "blk.{}.attn_v.weight", "model.layers.{}.self_attn.v_proj.weight"},
    {TensorId::wo, "wo", true, "blk.{}.attn_output.weight", "model.layers.{}.self_attn.o_proj.weight"},
    {TensorId::ffn_norm, "ffn_norm", true, "blk.{}.ffn_norm.weight",
     "model.layers.{}.post_attention_layernorm.weight"},
    {TensorId::w_gate, "w_gate", true, "blk.{}.ffn_gate.weight", "model.layers.{}.mlp.gate_proj.weight"},
    {TensorId::w_up, "w_up", true, "blk.{}.ffn_up.weight", "model.layers.{}.mlp.up_proj.weight"},
    {TensorId::w_down, "w_down", true, "blk.{}.ffn_down.weight", "model.layers.{}.mlp.down_proj.weight"},
};

const TensorNameRow& row_of(TensorId id) {
  for (const TensorNameRow& row : kTensorNames) {
    if (row.id == id) return row;
  }
  FLASHNAS_CHECK(false, "no name for tensor id {}", static_cast<int>(id));
  return kTensorNames[0];  // unreachable
}

std::string format_name(const TensorNameRow& row, const char* pattern, int64_t layer) {
  if (!row.per_layer) return pattern;
  FLASHNAS_CHECK(layer >= 0, "per-layer tensor needs a layer index");
  return fmt::format(fmt::runtime(pattern), layer);
}

bool is_vector(TensorId id) {
  return id == TensorId::out_norm || id == TensorId::attn_norm || id == TensorId::ffn_norm;
}

}  // namespace

std::vector<int64_t> gguf_dims(const TensorView& view) {
  if (is_vector(view.id)) return {view.cols};
  return {view.cols, view.rows};
}

std::vector<int64_t> hf_shape(const TensorView& view) {
  if (is_vector(view.id)) return {view.cols};
  return {view.rows, view.cols};
}

std::vector<TensorView> list_tensor_shapes(const ArchConfig& config) {
  ModelWeights unallocated;  // every view stays null
  unallocated.layers.resize(config.layers.size());
  return list_tensors(config, unallocated);
}

const char* tensor_id_name(TensorId id) { return row_of(id).short_name; }

std::string gguf_tensor_name(TensorId id, int64_t layer) {
  const TensorNameRow& row = row_of(id);
  return format_name(row, row.gguf, layer);
}

std::string hf_tensor_name(TensorId id, int64_t layer) {
  const TensorNameRow& row = row_of(id);
  return format_name(row, row.hf, layer);
}

}  // namespace flashnas
