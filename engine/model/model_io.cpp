// Format sniffing and dispatch to the GGUF and safetensors readers/writers.
#include "engine/model/model_io.hpp"

#include <filesystem>
#include <cstring>
#include <fstream>

#include "engine/model/gguf_file.hpp"
#include "engine/model/gguf_reader.hpp"
#include "engine/model/gguf_writer.hpp"
#include "engine/model/safetensors_reader.hpp"
#include "engine/model/safetensors_writer.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

ModelFormat parse_model_format(std::string_view name, const std::string& field) {
  if (name == "gguf") return ModelFormat::gguf;
  if (name == "safetensors" || name == "hf") return ModelFormat::safetensors;
  throw InvalidInput(fmt::format("{}: unknown model format '{}' (expected gguf or safetensors)",
                                 field, name),
                     field);
}

std::string_view model_format_name(ModelFormat format) {
  return format == ModelFormat::gguf ? "gguf" : "safetensors";
}

Model load_model(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || !fs::exists(status)) {
    throw InvalidInput(fmt::format("model path {} does not exist", path), "path");
  }
  if (fs::is_directory(status)) return load_hf_model(path);
  // Sniff the first bytes: "GGUF", or a safetensors header (u64 length, then '{').
  unsigned char head[9] = {};
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(head), sizeof(head));
  const auto got = in.gcount();
  uint32_t magic = 0;
  std::memcpy(&magic, head, 4);
  if (got >= 4 && magic == kGgufMagic) return load_gguf(path);
  if (got == 9 && head[8] == '{') {
    const fs::path dir = fs::path(path).parent_path();
    if (fs::path(path).filename() != "model.safetensors") {
      throw InvalidInput(fmt::format("{} looks like safetensors; pass its directory, which must "
                                     "hold config.json and model.safetensors", path),
                         "path");
    }
    return load_hf_model(dir.empty() ? "." : dir.string());
  }
  throw InvalidInput(fmt::format("{} is neither a GGUF file nor a safetensors checkpoint", path),
                     "path");
}

void save_model(const Model& model, const std::string& path, ModelFormat format,
                const SaveOptions& options) {
  if (format == ModelFormat::gguf) {
    save_gguf(model, path, {.matrix_type = options.type});
  } else {
    save_hf_model(model, path, {.dtype = options.type});
  }
}

}  // namespace flashnas
