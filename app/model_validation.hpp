// Validating an uploaded model by loading it with the engine, before anything is
// stored: a GGUF file as is, a safetensors model as a tar of config.json +
// model.safetensors. Returns what the catalog stores and records.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/model/arch_config.hpp"

namespace flashnas::app {

struct ValidatedModel {
  ArchConfig config;
  nlohmann::json metadata;  // {"arch": arch_config JSON, "params": N, "tensors": N, ...}
  // safetensors: the files of the model directory (views into the upload).
  std::vector<std::pair<std::string, std::string_view>> directory_files;
};

// format: "gguf" | "safetensors". Throws InvalidInput (field "body") naming what
// is wrong with the file; the engine's messages describe the file, not the host.
// A safetensors model is unpacked into a fresh folder under `scratch` for the
// loader (which reads directories) and removed again.
ValidatedModel validate_model_upload(const std::string& format, std::string_view bytes,
                                     const std::filesystem::path& scratch);

}  // namespace flashnas::app
