// Model upload validation through the engine's loaders.
#include "app/model_validation.hpp"

#include <fmt/format.h>

#include <fstream>
#include <random>
#include <span>

#include "engine/model/gguf_reader.hpp"
#include "engine/model/model_io.hpp"
#include "engine/util/error.hpp"
#include "app/tar_reader.hpp"

namespace flashnas::app {
namespace {

nlohmann::json describe(const Model& model) {
  return {{"arch", arch_config_to_json(model.config)},
          {"params", count_parameters(model.config)},
          {"has_tokenizer", model.tokenizer != nullptr}};
}

// Loader failures are the file's fault: present them as a bad body. The loaders
// are given a neutral name ("uploaded model"), never a host path.
template <class F>
Model load_or_reject(F&& load, const std::string& hide = {}) {
  try {
    return load();
  } catch (const Error& e) {
    std::string why = e.what();
    // Never show a host path: the scratch folder becomes "uploaded model".
    for (size_t at; !hide.empty() && (at = why.find(hide)) != std::string::npos;) {
      why.replace(at, hide.size(), "uploaded model");
    }
    throw InvalidInput(fmt::format("the model file was rejected: {}", why), "body");
  } catch (const std::bad_alloc&) {
    throw InvalidInput("the model file was rejected: it declares more memory than allowed", "body");
  }
}

}  // namespace

// Loads config.json + model.safetensors from a scratch folder, then removes it.
Model load_safetensors_upload(std::string_view config, std::string_view weights,
                              const std::filesystem::path& scratch) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto dir = scratch / fmt::format("upload.{:016x}", rng());
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir};
  for (const auto& [name, bytes] : {std::pair{"config.json", config}, std::pair{"model.safetensors", weights}}) {
    std::ofstream out(dir / name, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw Error("cannot write the upload's scratch copy");
  }
  return load_or_reject([&] { return load_model(dir.string()); }, dir.string());
}

ValidatedModel validate_model_upload(const std::string& format, std::string_view bytes,
                                     const std::filesystem::path& scratch) {
  if (bytes.empty()) throw InvalidInput("the body is empty; send the model file", "body");
  ValidatedModel out;
  if (format == "gguf") {
    const std::span<const uint8_t> data(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    const Model model = load_or_reject([&] { return load_gguf_bytes(data, "uploaded model"); });
    out.config = model.config;
    out.metadata = describe(model);
    return out;
  }
  if (format == "safetensors") {
    const auto files = read_tar_files(bytes);
    std::string_view config, weights;
    for (const auto& f : files) {
      if (f.name == "config.json") {
        config = f.data;
      } else if (f.name == "model.safetensors") {
        weights = f.data;
      } else {
        throw InvalidInput(fmt::format("unexpected file \"{}\" in the archive (expected only "
                                       "config.json and model.safetensors)", f.name), "body");
      }
    }
    if (config.empty()) throw InvalidInput("the archive has no config.json", "body");
    if (weights.empty()) throw InvalidInput("the archive has no model.safetensors", "body");
    const Model model = load_safetensors_upload(config, weights, scratch);
    out.config = model.config;
    out.metadata = describe(model);
    out.directory_files = {{"config.json", config}, {"model.safetensors", weights}};
    return out;
  }
  throw InvalidInput("format must be gguf or safetensors", "format");
}

}  // namespace flashnas::app
