// Reading safetensors files (8-byte little-endian header length, a JSON header
// of {name: {dtype, shape, data_offsets}} plus optional __metadata__, then the
// data) and Hugging Face LlamaForCausalLM checkpoint directories (config.json +
// model.safetensors, optionally llama2.c's tokenizer.bin). Dtypes F32, F16,
// BF16; others are refused by name. Not the writer (safetensors_writer.hpp).
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/model/tensor_types.hpp"

namespace flashnas {

struct SafetensorsTensor {
  TensorType type = TensorType::f32;
  std::vector<int64_t> shape;     // outermost first
  std::span<const uint8_t> data;  // into the parsed bytes
};

struct SafetensorsFile {
  std::map<std::string, SafetensorsTensor> tensors;
  std::map<std::string, std::string> metadata;  // __metadata__
};

// Validates the header length, the JSON, every dtype, shape and data range
// against the file; throws InvalidInput naming the tensor or field.
SafetensorsFile parse_safetensors(std::span<const uint8_t> bytes, const std::string& what);

// A directory holding config.json and model.safetensors. The model keeps the
// HF RoPE layout (rope_layout = half); the runtime honours it.
Model load_hf_model(const std::string& dir);

}  // namespace flashnas
