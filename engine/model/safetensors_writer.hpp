// Writing safetensors files and Hugging Face LlamaForCausalLM checkpoint
// directories (config.json + model.safetensors + llama2.c tokenizer.bin when the
// model has a tokenizer). q/k rows are written in HF's half RoPE layout, so an
// interleaved (GGUF) model is un-permuted on the way out. Not the reader.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/model/tensor_types.hpp"

namespace flashnas {

struct SafetensorsEntry {
  std::string name;
  std::vector<int64_t> shape;  // outermost first
  const float* data = nullptr;  // numel values, encoded to `type` on write
  TensorType type = TensorType::f32;
};

// Tensors are stored in the given order; the header is padded to 8 bytes.
void write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors,
                       const std::map<std::string, std::string>& metadata);

struct HfWriteOptions {
  TensorType dtype = TensorType::f32;  // F32, F16 or BF16
};

// Creates `dir` if needed; writes through temporary files and renames.
void save_hf_model(const Model& model, const std::string& dir, const HfWriteOptions& options = {});

}  // namespace flashnas
