// safetensors and HF checkpoint writing (see safetensors_writer.hpp).
#include "engine/model/safetensors_writer.hpp"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "engine/model/hf_config.hpp"
#include "engine/model/rope_permute.hpp"
#include "engine/model/tensor_names.hpp"
#include "engine/model/tokenizer.hpp"
#include "engine/util/atomic_file.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

namespace {

const char* dtype_name(TensorType type) {
  switch (type) {
    case TensorType::f32: return "F32";
    case TensorType::f16: return "F16";
    case TensorType::bf16: return "BF16";
    case TensorType::q8_0: break;
  }
  throw InvalidInput("safetensors stores F32, F16 or BF16 only", "dtype");
}

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  int64_t offset = 0;
  for (const SafetensorsEntry& t : tensors) {
    const int64_t n_bytes = tensor_bytes(t.type, numel_of(t.shape));
    header[t.name] = {{"dtype", dtype_name(t.type)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + n_bytes}}};
    offset += n_bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  write_file_atomically(path, [&](std::ostream& out) {
    const uint64_t len = text.size();
    out.write(reinterpret_cast<const char*>(&len), 8);
    out << text;
    std::vector<uint8_t> encoded;
    for (const SafetensorsEntry& t : tensors) {
      const int64_t n = numel_of(t.shape);
      encoded.resize(static_cast<size_t>(tensor_bytes(t.type, n)));
      encode_tensor(encoded, t.type, {t.data, static_cast<size_t>(n)});
      out.write(reinterpret_cast<const char*>(encoded.data()),
                static_cast<std::streamsize>(encoded.size()));
    }
  });
}

void save_hf_model(const Model& model, const std::string& dir, const HfWriteOptions& options) {
  const ArchConfig& c = model.config;
  c.validate();
  (void)dtype_name(options.dtype);  // refuse Q8_0 before writing anything
  std::filesystem::create_directories(dir);
  // q/k rows go out in HF's half layout; keep the permuted copies alive until written.
  std::vector<std::vector<float>> permuted;
  std::vector<SafetensorsEntry> entries;
  for (const TensorView& v : list_tensors(c, const_cast<ModelWeights&>(model.weights))) {
    SafetensorsEntry e{hf_tensor_name(v.id, v.layer), hf_shape(v), v.data, options.dtype};
    const bool rotary = v.id == TensorId::wq || v.id == TensorId::wk;
    if (rotary && c.rope_layout != RopeLayout::half) {
      std::vector<float>& rows = permuted.emplace_back(static_cast<size_t>(v.numel()));
      const int64_t heads = v.id == TensorId::wq ? c.n_heads : c.n_kv_heads;
      permute_rope_rows(rows.data(), v.data, heads, c.head_dim, v.cols, c.rope_layout,
                        RopeLayout::half);
      e.data = rows.data();
    }
    entries.push_back(std::move(e));
  }
  const std::string base = (std::filesystem::path(dir) / "").string();
  write_safetensors(base + "model.safetensors", entries, {{"format", "pt"}});
  const int64_t bos = model.tokenizer ? model.tokenizer->bos_id() : -1;
  const int64_t eos = model.tokenizer ? model.tokenizer->eos_id() : -1;
  nlohmann::json config = arch_config_to_hf_json(c, bos, eos);
  config["torch_dtype"] = options.dtype == TensorType::f32    ? "float32"
                          : options.dtype == TensorType::f16  ? "float16"
                                                              : "bfloat16";
  write_file_atomically(base + "config.json", [&](std::ostream& out) { out << config.dump(2) << '\n'; });
  if (model.tokenizer) {
    model.tokenizer->save_llama2c(base + "tokenizer.bin");
  } else {
    std::filesystem::remove(base + "tokenizer.bin");  // never leave a stale one behind
  }
}

}  // namespace flashnas
