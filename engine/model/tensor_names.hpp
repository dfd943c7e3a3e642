// The one table of checkpoint tensor names: each TensorId's GGUF name
// ("blk.%d.attn_q.weight") and Hugging Face name
// ("model.layers.%d.self_attn.q_proj.weight"). Loaders and writers look names
// up here; no other file spells a tensor name.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/model_weights.hpp"

namespace flashnas {

// `layer` is ignored for global tensors (token embedding, final norm, output head).
std::string gguf_tensor_name(TensorId id, int64_t layer);
std::string hf_tensor_name(TensorId id, int64_t layer);

// Shapes as each format writes them. Norm weights are 1-D (C); matrices are
// (rows, cols) row-major. GGUF lists dims innermost first: {cols, rows}.
// safetensors lists them outermost first: {rows, cols}.
std::vector<int64_t> gguf_dims(const TensorView& view);
std::vector<int64_t> hf_shape(const TensorView& view);

// The tensors `config` has (list_tensors order) with null data: lets loaders
// check a file's names and shapes before allocating anything.
std::vector<TensorView> list_tensor_shapes(const ArchConfig& config);

// "tok_embd", "wq", ...: for messages and test output.
const char* tensor_id_name(TensorId id);

}  // namespace flashnas
