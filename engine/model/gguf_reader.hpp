// Loading a GGUF checkpoint of llama.cpp's `llama` or `deci` architecture
// (v2/v3; F32, F16, BF16, Q8_0 tensors dequantised to F32) into a Model,
// including what gguf_writer.hpp writes for pruned models: flashnas.layer_types
// and flashnas.sliding_window, per-layer feed_forward_length, deci's per-layer
// head counts (0 = a skipped-attention layer) and the placeholder attention of
// a skipped layer 0. deci files of other origins load when every attention
// layer has the same head counts (no "linear attention" layers).
// Not the generic GGUF parsing (gguf_file.hpp).
//
// Tied embeddings: a file without output.weight is tied; so is one whose
// output.weight is bit-identical to token_embd.weight (stories260K stores such
// a copy), which halves the head's memory and keeps pruned models tied.
// GGUF q/k rows are in the interleaved RoPE layout, so rope_layout = interleaved.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "engine/model/gguf_file.hpp"
#include "engine/model/model.hpp"

namespace flashnas {

Model load_gguf(const std::string& path);
Model load_gguf_bytes(std::span<const uint8_t> bytes, const std::string& what);

// The pieces, for tools that only need the config or the tokenizer.
ArchConfig gguf_arch_config(const GgufFile& file);
std::shared_ptr<const Tokenizer> gguf_tokenizer(const GgufFile& file);  // null if none

}  // namespace flashnas
