// GGUF (llama architecture) -> Model: config from metadata, tensors checked
// against the config's exact shapes and dequantised into one F32 block.
#include "engine/model/gguf_reader.hpp"

#include <spdlog/spdlog.h>

#include <cstring>
#include <set>

#include "engine/model/mapped_file.hpp"
#include "engine/model/tensor_names.hpp"
#include "engine/model/tokenizer.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

namespace {

constexpr int64_t kMaxDim = 1 << 20;

[[noreturn]] void refuse(const GgufFile& f, const std::string& field, const std::string& reason) {
  throw InvalidInput(fmt::format("{}: {}", f.what, reason), field);
}

// SentencePiece marks word starts with U+2581; our pieces use a plain space.
std::string from_sentencepiece(const std::string& piece) {
  static constexpr std::string_view kMarker = "\xE2\x96\x81";
  std::string out;
  out.reserve(piece.size());
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kMarker.size(), kMarker) == 0) {
      out += ' ';
      i += kMarker.size();
    } else {
      out += piece[i++];
    }
  }
  return out;
}

bool same_bytes(const GgufTensorInfo& a, const GgufTensorInfo& b) {
  return a.type == b.type && a.dims == b.dims &&
         std::memcmp(a.data.data(), b.data.data(), a.data.size()) == 0;
}

void read_layer_kinds(const GgufFile& f, ArchConfig& c) {
  const int64_t L = c.n_layers();
  const auto windows = f.get_int_per_layer("flashnas.sliding_window", L, 0, int64_t{1} << 40);
  const GgufValue* types = f.find("flashnas.layer_types");
  if (!types) {
    if (windows) refuse(f, "flashnas.sliding_window", "flashnas.sliding_window without layer types");
    return;
  }
  if (!types->is_array() || types->elem_type != GgufValueType::string ||
      types->array_size != L) {
    refuse(f, "flashnas.layer_types", fmt::format("flashnas.layer_types must be an array of {} "
                                                  "strings (full, swa, skip)", L));
  }
  for (int64_t l = 0; l < L; ++l) {
    const auto i = static_cast<size_t>(l);
    const int64_t window = windows ? (*windows)[i] : 0;
    const LayerTypeSpec spec = parse_layer_type(types->strings[i], window,
                                                fmt::format("flashnas.layer_types[{}]", l));
    c.layers[i].kind = spec.kind;
    c.layers[i].window = spec.window;
  }
}

}  // namespace

ArchConfig gguf_arch_config(const GgufFile& f) {
  const auto arch = f.get_string("general.architecture");
  if (!arch) refuse(f, "general.architecture", "general.architecture is missing");
  if (*arch != "llama") {
    refuse(f, "general.architecture",
           fmt::format("architecture '{}' is not supported (supported: llama)", *arch));
  }
  ArchConfig c;
  const int64_t L = f.require_int("llama.block_count", 1, 4096);
  c.d_model = f.require_int("llama.embedding_length", 1, kMaxDim);
  c.n_heads = f.require_int("llama.attention.head_count", 1, 4096);
  c.n_kv_heads = f.get_int("llama.attention.head_count_kv", 1, 4096).value_or(c.n_heads);
  if (c.d_model % c.n_heads != 0 && !f.find("llama.attention.key_length")) {
    refuse(f, "llama.attention.key_length",
           "llama.attention.key_length is required when head_count does not divide embedding_length");
  }
  c.head_dim = f.get_int("llama.attention.key_length", 1, 4096).value_or(c.d_model / c.n_heads);
  if (auto v = f.get_int("llama.attention.value_length", 1, 4096); v && *v != c.head_dim) {
    refuse(f, "llama.attention.value_length", "value_length must equal key_length");
  }
  if (auto r = f.get_int("llama.rope.dimension_count", 1, 4096); r && *r != c.head_dim) {
    refuse(f, "llama.rope.dimension_count",
           fmt::format("partial RoPE ({} of {} dims) is not supported", *r, c.head_dim));
  }
  c.norm_eps = static_cast<float>(f.get_number("llama.attention.layer_norm_rms_epsilon").value_or(1e-5));
  c.rope_theta = static_cast<float>(f.get_number("llama.rope.freq_base").value_or(10000.0));
  c.rope_layout = RopeLayout::interleaved;
  c.context_length = f.get_int("llama.context_length", 1, int64_t{1} << 40).value_or(2048);

  const auto ffn = f.get_int_per_layer("llama.feed_forward_length", L, 1, kMaxDim);
  if (!ffn) refuse(f, "llama.feed_forward_length", "llama.feed_forward_length is missing");
  c.layers.resize(static_cast<size_t>(L));
  for (int64_t l = 0; l < L; ++l) c.layers[static_cast<size_t>(l)].d_ffn = (*ffn)[static_cast<size_t>(l)];
  read_layer_kinds(f, c);

  const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
  const GgufTensorInfo* embd = f.find_tensor(gguf_tensor_name(TensorId::tok_embd, -1));
  if (tokens && tokens->is_array()) {
    c.vocab_size = tokens->array_size;
  } else if (auto v = f.get_int("llama.vocab_size", 1, 1 << 24)) {
    c.vocab_size = *v;
  } else if (embd && embd->dims.size() == 2) {
    c.vocab_size = embd->dims[1];
  }
  const GgufTensorInfo* output = f.find_tensor(gguf_tensor_name(TensorId::output, -1));
  c.tied_embeddings = output == nullptr || (embd && same_bytes(*embd, *output));
  try {
    c.validate();
  } catch (const InvalidInput& e) {
    refuse(f, e.field(), fmt::format("invalid model config: {}", e.what()));
  }
  return c;
}

std::shared_ptr<const Tokenizer> gguf_tokenizer(const GgufFile& f) {
  const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
  if (!tokens) return nullptr;
  if (auto model = f.get_string("tokenizer.ggml.model"); model && *model != "llama") {
    spdlog::warn("{}: tokenizer model '{}' is not supported (supported: llama); loading without "
                 "a tokenizer", f.what, *model);
    return nullptr;
  }
  if (!tokens->is_array() || tokens->elem_type != GgufValueType::string) {
    refuse(f, "tokenizer.ggml.tokens", "tokenizer.ggml.tokens must be an array of strings");
  }
  const int64_t V = tokens->array_size;
  Vocabulary v;
  v.pieces.reserve(static_cast<size_t>(V));
  for (const std::string& piece : tokens->strings) v.pieces.push_back(from_sentencepiece(piece));
  if (const GgufValue* scores = f.find("tokenizer.ggml.scores")) {
    if (!scores->is_array() || !gguf_type_is_float(scores->elem_type) || scores->array_size != V) {
      refuse(f, "tokenizer.ggml.scores", fmt::format("tokenizer.ggml.scores must be {} floats", V));
    }
    for (double s : scores->numbers) v.scores.push_back(static_cast<float>(s));
  } else {
    v.scores.assign(static_cast<size_t>(V), 0.0f);
  }
  if (const GgufValue* types = f.find("tokenizer.ggml.token_type")) {
    if (!types->is_array() || !gguf_type_is_integer(types->elem_type) || types->array_size != V) {
      refuse(f, "tokenizer.ggml.token_type",
             fmt::format("tokenizer.ggml.token_type must be {} integers", V));
    }
    for (int64_t t : types->integers) {
      if (t < 1 || t > 6) refuse(f, "tokenizer.ggml.token_type", fmt::format("unknown token type {}", t));
      v.types.push_back(static_cast<TokenType>(t));
    }
  } else {
    for (int64_t i = 0; i < V; ++i) {
      v.types.push_back(infer_token_type(static_cast<int32_t>(i), v.pieces[static_cast<size_t>(i)]));
    }
  }
  v.bos_id = static_cast<int32_t>(f.get_int("tokenizer.ggml.bos_token_id", 0, V - 1).value_or(1));
  v.eos_id = static_cast<int32_t>(f.get_int("tokenizer.ggml.eos_token_id", 0, V - 1).value_or(2));
  v.unk_id = static_cast<int32_t>(f.get_int("tokenizer.ggml.unknown_token_id", 0, V - 1).value_or(0));
  return std::make_shared<const Tokenizer>(std::move(v));
}

Model load_gguf_bytes(std::span<const uint8_t> bytes, const std::string& what) {
  const GgufFile f = parse_gguf(bytes, what);
  Model model;
  model.config = gguf_arch_config(f);
  model.tokenizer = gguf_tokenizer(f);
  if (model.tokenizer && model.tokenizer->vocab_size() != model.config.vocab_size) {
    refuse(f, "tokenizer.ggml.tokens", "tokenizer size differs from the vocabulary size");
  }
  // Check every tensor the config needs (name, exact shape) before allocating:
  // each one's bytes lie inside the file, so the allocation is bounded by what
  // the file holds (at most ~4x its size, for Q8_0 expanded to F32).
  std::vector<const GgufTensorInfo*> sources;
  for (const TensorView& view : list_tensor_shapes(model.config)) {
    const std::string name = gguf_tensor_name(view.id, view.layer);
    const GgufTensorInfo* t = f.find_tensor(name);
    if (!t) refuse(f, name, fmt::format("tensor {} is missing", name));
    const std::vector<int64_t> want = gguf_dims(view);
    if (t->dims != want) {
      refuse(f, name, fmt::format("tensor {} has shape [{}], expected [{}] for this config", name,
                                  fmt::join(t->dims, ", "), fmt::join(want, ", ")));
    }
    sources.push_back(t);
  }
  model.weights = allocate_weights(model.config);
  std::set<std::string> used;
  const std::vector<TensorView> views = list_tensors(model.config, model.weights);
  for (size_t i = 0; i < views.size(); ++i) {
    const GgufTensorInfo* t = sources[i];
    decode_tensor({views[i].data, static_cast<size_t>(views[i].numel())}, t->type, t->data);
    used.insert(t->name);
  }
  if (model.config.tied_embeddings) used.insert(gguf_tensor_name(TensorId::output, -1));
  for (const GgufTensorInfo& t : f.tensors) {
    if (!used.count(t.name)) spdlog::warn("{}: ignoring tensor {} (not part of the model)", what, t.name);
  }
  return model;
}

Model load_gguf(const std::string& path) {
  MappedFile file(path);
  return load_gguf_bytes(file.bytes(), path);
}

}  // namespace flashnas
