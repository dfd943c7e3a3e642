// One entry point for loading and saving models in any supported format:
// a .gguf file, or a Hugging Face directory (config.json + model.safetensors).
// Formats are recognised by content (magic bytes), not by file extension.
#pragma once

#include <string>
#include <string_view>

#include "engine/model/model.hpp"
#include "engine/model/tensor_types.hpp"

namespace flashnas {

enum class ModelFormat { gguf, safetensors };

ModelFormat parse_model_format(std::string_view name, const std::string& field);  // "gguf" | "safetensors"
std::string_view model_format_name(ModelFormat format);

// `path`: a GGUF file; a directory with config.json + model.safetensors; or a
// safetensors file whose directory holds config.json. Throws InvalidInput
// naming the problem for anything else.
Model load_model(const std::string& path);

struct SaveOptions {
  // GGUF: F32, F16, BF16 or Q8_0 matrices; safetensors: F32, F16 or BF16.
  TensorType type = TensorType::f32;
};

// gguf: `path` is the file; safetensors: `path` is the directory to create.
void save_model(const Model& model, const std::string& path, ModelFormat format,
                const SaveOptions& options = {});

}  // namespace flashnas
