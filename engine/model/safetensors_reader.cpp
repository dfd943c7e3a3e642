// safetensors parsing and HF checkpoint loading with bounds checks throughout.
#include "engine/model/safetensors_reader.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/model/byte_reader.hpp"
#include "engine/model/hf_config.hpp"
#include "engine/model/mapped_file.hpp"
#include "engine/model/tensor_names.hpp"
#include "engine/model/tokenizer.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

namespace {

constexpr int64_t kMaxHeaderBytes = int64_t{100} << 20;  // the reference implementation's cap

[[noreturn]] void refuse(const std::string& what, const std::string& field, const std::string& reason) {
  throw InvalidInput(fmt::format("{}: {}", what, reason), field);
}

TensorType parse_dtype(const std::string& what, const std::string& name, const nlohmann::json& v) {
  if (!v.is_string()) refuse(what, name, fmt::format("tensor {} has no dtype string", name));
  const std::string dtype = v.get<std::string>();
  if (dtype == "F32") return TensorType::f32;
  if (dtype == "F16") return TensorType::f16;
  if (dtype == "BF16") return TensorType::bf16;
  refuse(what, name, fmt::format("tensor {} has dtype {}, supported: F32, F16, BF16", name, dtype));
}

int64_t non_negative(const std::string& what, const std::string& name, const nlohmann::json& v,
                     int64_t max, const char* part) {
  if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64_t>() >= 0)) {
    refuse(what, name, fmt::format("tensor {}: {} must be non-negative integers", name, part));
  }
  const uint64_t x = v.get<uint64_t>();
  if (x > static_cast<uint64_t>(max)) {
    refuse(what, name, fmt::format("tensor {}: {} value {} exceeds the file", name, part, x));
  }
  return static_cast<int64_t>(x);
}

int64_t as_token_id(const nlohmann::json& v, int64_t vocab_size, const char* field) {
  const int64_t id = v.get<int64_t>();
  if (id < 0 || id >= vocab_size) {
    throw InvalidInput(fmt::format("config.json: {} = {} outside the vocabulary", field, id), field);
  }
  return id;
}

}  // namespace

SafetensorsFile parse_safetensors(std::span<const uint8_t> bytes, const std::string& what) {
  ByteReader in(bytes, what);
  const uint64_t header_len = in.read<uint64_t>("header length");
  if (header_len > static_cast<uint64_t>(std::min(in.remaining(), kMaxHeaderBytes))) {
    in.fail("header length", fmt::format("{} bytes exceeds the file or the {} byte limit",
                                         header_len, kMaxHeaderBytes));
  }
  const std::string_view text = in.read_bytes(static_cast<int64_t>(header_len), "header");
  const std::span<const uint8_t> data = bytes.subspan(static_cast<size_t>(in.offset()));
  const auto data_size = static_cast<int64_t>(data.size());

  // Duplicate tensor names would silently overwrite each other in the parsed
  // object, so the parser callback records every top-level key.
  std::set<std::string> seen;
  std::string duplicate;
  // Nesting is capped too: a valid header is three levels deep.
  auto on_event = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth > 8) refuse(what, "header", "header JSON is nested too deeply");
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string()) {
      if (!seen.insert(parsed.get<std::string>()).second) duplicate = parsed.get<std::string>();
    }
    return true;
  };
  const nlohmann::json header = nlohmann::json::parse(text, on_event, /*allow_exceptions=*/false);
  if (header.is_discarded()) refuse(what, "header", "header is not valid JSON");
  if (!header.is_object()) refuse(what, "header", "header must be a JSON object");
  if (!duplicate.empty()) refuse(what, duplicate, fmt::format("duplicate tensor {}", duplicate));

  SafetensorsFile file;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) refuse(what, name, "__metadata__ must be an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) refuse(what, name, fmt::format("__metadata__.{} must be a string", k));
        file.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets")) {
      refuse(what, name, fmt::format("tensor {} needs dtype, shape and data_offsets", name));
    }
    SafetensorsTensor t;
    t.type = parse_dtype(what, name, entry.at("dtype"));
    const auto& shape = entry.at("shape");
    const auto& offsets = entry.at("data_offsets");
    if (!shape.is_array() || shape.size() > 8) refuse(what, name, fmt::format("tensor {}: bad shape", name));
    if (!offsets.is_array() || offsets.size() != 2) {
      refuse(what, name, fmt::format("tensor {}: data_offsets must be [begin, end]", name));
    }
    int64_t numel = 1;
    for (const auto& d : shape) {
      const int64_t dim = non_negative(what, name, d, data_size, "shape");
      // numel <= data_size keeps the product far from overflow.
      if (dim != 0 && numel > data_size / dim) {
        refuse(what, name, fmt::format("tensor {}: shape holds more values than the file", name));
      }
      numel *= dim;
      t.shape.push_back(dim);
    }
    const int64_t begin = non_negative(what, name, offsets[0], data_size, "data_offsets");
    const int64_t end = non_negative(what, name, offsets[1], data_size, "data_offsets");
    if (begin > end) refuse(what, name, fmt::format("tensor {}: data_offsets are reversed", name));
    if (end - begin != tensor_bytes(t.type, numel)) {
      refuse(what, name, fmt::format("tensor {}: {} bytes of data for {} values of its dtype", name,
                                     end - begin, numel));
    }
    t.data = data.subspan(static_cast<size_t>(begin), static_cast<size_t>(end - begin));
    file.tensors.emplace(name, std::move(t));
  }
  return file;
}

Model load_hf_model(const std::string& dir_name) {
  namespace fs = std::filesystem;
  const fs::path dir(dir_name);
  const fs::path config_path = dir / "config.json";
  const fs::path weights_path = dir / "model.safetensors";
  if (!fs::exists(config_path)) {
    throw InvalidInput(fmt::format("{} has no config.json", dir_name), "path");
  }
  if (!fs::exists(weights_path)) {
    const bool sharded = fs::exists(dir / "model.safetensors.index.json");
    throw InvalidInput(fmt::format("{} has no model.safetensors{}", dir_name,
                                   sharded ? " (sharded checkpoints are not supported)" : ""),
                       "path");
  }
  std::ifstream config_in(config_path);
  const nlohmann::json config_json = nlohmann::json::parse(config_in, nullptr, false);
  if (config_json.is_discarded()) {
    throw InvalidInput(fmt::format("{} is not valid JSON", config_path.string()), "config.json");
  }
  Model model;
  model.config = arch_config_from_hf_json(config_json);

  const MappedFile mapped(weights_path.string());
  const SafetensorsFile file = parse_safetensors(mapped.bytes(), weights_path.string());
  const std::string& what = mapped.path();
  // Names, dtypes and exact shapes first: each tensor's bytes lie in the file,
  // so the F32 allocation is bounded by (at most twice) the file size.
  std::vector<const SafetensorsTensor*> sources;
  for (const TensorView& view : list_tensor_shapes(model.config)) {
    const std::string name = hf_tensor_name(view.id, view.layer);
    auto it = file.tensors.find(name);
    if (it == file.tensors.end()) refuse(what, name, fmt::format("tensor {} is missing", name));
    const std::vector<int64_t> want = hf_shape(view);
    if (it->second.shape != want) {
      refuse(what, name, fmt::format("tensor {} has shape [{}], expected [{}] for this config",
                                     name, fmt::join(it->second.shape, ", "), fmt::join(want, ", ")));
    }
    sources.push_back(&it->second);
  }
  model.weights = allocate_weights(model.config);
  const std::vector<TensorView> views = list_tensors(model.config, model.weights);
  std::set<std::string> used;
  for (size_t i = 0; i < views.size(); ++i) {
    decode_tensor({views[i].data, static_cast<size_t>(views[i].numel())}, sources[i]->type,
                  sources[i]->data);
    used.insert(hf_tensor_name(views[i].id, views[i].layer));
  }
  for (const auto& [name, t] : file.tensors) {
    if (!used.count(name)) spdlog::warn("{}: ignoring tensor {} (not part of the model)", what, name);
  }
  if (const fs::path tok = dir / "tokenizer.bin"; fs::exists(tok)) {
    // tokenizer.bin does not store BOS/EOS ids (llama2.c assumes 1 and 2);
    // config.json may name others.
    Vocabulary vocab = Tokenizer::from_llama2c_file(tok.string()).vocabulary();
    const int64_t V = static_cast<int64_t>(vocab.pieces.size());
    if (config_json.contains("bos_token_id") && config_json["bos_token_id"].is_number_integer()) {
      vocab.bos_id = static_cast<int32_t>(as_token_id(config_json["bos_token_id"], V, "bos_token_id"));
    }
    if (config_json.contains("eos_token_id") && config_json["eos_token_id"].is_number_integer()) {
      vocab.eos_id = static_cast<int32_t>(as_token_id(config_json["eos_token_id"], V, "eos_token_id"));
    }
    auto tokenizer = std::make_shared<const Tokenizer>(std::move(vocab));
    if (tokenizer->vocab_size() != model.config.vocab_size) {
      throw InvalidInput(fmt::format("{} has {} tokens but the model's vocab_size is {}",
                                     tok.string(), tokenizer->vocab_size(), model.config.vocab_size),
                         "tokenizer.bin");
    }
    model.tokenizer = std::move(tokenizer);
  }
  return model;
}

}  // namespace flashnas
