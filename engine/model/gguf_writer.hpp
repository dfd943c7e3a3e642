// Writing a Model as a GGUF v3 file that llama.cpp (and gguf_reader.hpp)
// loads: llama.cpp's `llama` architecture for a uniform all-attention model,
// its `deci` architecture (per-layer FFN widths and head counts, 0 heads for a
// skipped-attention layer) otherwise; flashnas.* metadata for the layer kinds
// and windows (llama.cpp runs swa layers as full attention); the tokenizer
// when present; and the tensors. A half-layout (Hugging Face) model has its q/k rows
// permuted to GGUF's interleaved layout on the way out; a tied model omits
// output.weight. Not a general GGUF editor.
#pragma once

#include <string>

#include "engine/model/model.hpp"
#include "engine/model/tensor_types.hpp"

namespace flashnas {

struct GgufWriteOptions {
  // Encoding of the matrices; norm weights always stay F32. Q8_0 needs rows
  // that are a multiple of 32 and falls back to F32 for other tensors.
  TensorType matrix_type = TensorType::f32;
  std::string name = "flashnas";  // general.name
};

// Writes to `path` + ".tmp" and renames, so a failed write leaves no partial file.
void save_gguf(const Model& model, const std::string& path, const GgufWriteOptions& options = {});

}  // namespace flashnas
