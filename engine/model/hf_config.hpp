// Hugging Face config.json <-> ArchConfig for LlamaForCausalLM, extended the
// way flashnas exports pruned models: intermediate_size may be a per-layer list,
// layer_types lists full_attention / sliding_attention / skip_attention, and
// sliding_window may be a per-layer list. Not the tensors (safetensors_*.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include "engine/model/arch_config.hpp"

namespace flashnas {

// Validates and throws InvalidInput naming the JSON field. The result has
// rope_layout = half: HF q/k rows rotate pairs (i, i + HS/2).
ArchConfig arch_config_from_hf_json(const nlohmann::json& j);

// Describes `config` as written by the HF writer (which stores half-layout
// q/k rows whatever config.rope_layout says). Optional BOS/EOS ids are added
// when non-negative.
nlohmann::json arch_config_to_hf_json(const ArchConfig& config, int64_t bos_id = -1,
                                      int64_t eos_id = -1);

}  // namespace flashnas
