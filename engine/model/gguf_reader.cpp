// GGUF (llama or deci architecture) -> Model: config from metadata, tensors checked
// against the config's exact shapes and dequantised into one F32 block.
#include "engine/model/gguf_reader.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
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

// Returns whether the file names the kinds (flashnas.layer_types).
bool read_layer_kinds(const GgufFile& f, ArchConfig& c) {
  const int64_t L = c.n_layers();
  const auto windows = f.get_int_per_layer("flashnas.sliding_window", L, 0, int64_t{1} << 40);
  const GgufValue* types = f.find("flashnas.layer_types");
  if (!types) {
    if (windows) refuse(f, "flashnas.sliding_window", "flashnas.sliding_window without layer types");
    return false;
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
  return true;
}

// deci's per-layer head counts: 0 heads make an attention-free layer
// (flashnas's skip); heads > 0 with 0 KV heads is DeciLM's "linear attention",
// which flashnas only writes as the placeholder of a skipped layer 0
// (gguf_writer.cpp) and otherwise cannot run. flashnas has one head count for
// all attention layers.
void read_deci_heads(const GgufFile& f, ArchConfig& c, bool kinds_given) {
  const int64_t L = c.n_layers();
  const auto heads = f.get_int_per_layer("deci.attention.head_count", L, 0, 4096);
  if (!heads) refuse(f, "deci.attention.head_count", "deci.attention.head_count is missing");
  const std::vector<int64_t> kv =
      f.get_int_per_layer("deci.attention.head_count_kv", L, 0, 4096).value_or(*heads);
  for (int64_t l = 0; l < L; ++l) {
    const auto i = static_cast<size_t>(l);
    LayerConfig& layer = c.layers[i];
    const bool placeholder = l == 0 && kinds_given && layer.kind == LayerKind::skip;
    if (kv[i] == 0 && (*heads)[i] > 0 && !placeholder) {
      refuse(f, "deci.attention.head_count_kv",
             fmt::format("layer {}: linear attention (head_count {}, head_count_kv 0) is not "
                         "supported", l, (*heads)[i]));
    }
    if (!kinds_given && kv[i] == 0) layer.kind = LayerKind::skip;
    if ((layer.kind == LayerKind::skip) != (kv[i] == 0)) {
      refuse(f, "deci.attention.head_count_kv",
             fmt::format("layer {} is {} in flashnas.layer_types but has {} KV heads", l,
                         layer_kind_name(layer.kind), kv[i]));
    }
    if (layer.kind == LayerKind::skip) continue;
    if (c.n_heads == 0) {
      c.n_heads = (*heads)[i];
      c.n_kv_heads = kv[i];
    } else if ((*heads)[i] != c.n_heads || kv[i] != c.n_kv_heads) {
      refuse(f, "deci.attention.head_count",
             fmt::format("layer {} has {}/{} heads/KV heads, layer 0's attention has {}/{}: "
                         "per-layer head counts are not supported", l, (*heads)[i], kv[i],
                         c.n_heads, c.n_kv_heads));
    }
  }
  if (c.n_heads == 0) {
    // No attention layer: the head counts do not change what the model
    // computes; keep layer 0's (the placeholder's) for the head size.
    c.n_heads = (*heads)[0];
    c.n_kv_heads = c.n_heads;
    if (c.n_heads == 0) {
      refuse(f, "deci.attention.head_count", "layer 0 has no heads, so the file has no head size");
    }
  }
}

// A deci file's skipped layer 0 carries an attention norm and an all-zero
// attention output (gguf_writer.cpp says why). They add nothing, so they are
// not loaded; a non-zero output would be a layer flashnas cannot run.
void check_layer0_placeholder(const GgufFile& f, const ArchConfig& c, std::set<std::string>& used) {
  if (c.layers[0].kind != LayerKind::skip) return;
  const std::string norm = gguf_tensor_name(TensorId::attn_norm, 0);
  const std::string out = gguf_tensor_name(TensorId::wo, 0);
  const GgufTensorInfo* t = f.find_tensor(out);
  if (!t) return;
  std::vector<float> values(static_cast<size_t>(t->numel));
  decode_tensor(values, t->type, t->data);
  if (std::any_of(values.begin(), values.end(), [](float v) { return v != 0.0f; })) {
    refuse(f, out, fmt::format("{} of the skipped layer 0 must be all zeros", out));
  }
  used.insert(out);
  used.insert(norm);
}

}  // namespace

ArchConfig gguf_arch_config(const GgufFile& f) {
  const auto arch = f.get_string("general.architecture");
  if (!arch) refuse(f, "general.architecture", "general.architecture is missing");
  if (*arch != "llama" && *arch != "deci") {
    refuse(f, "general.architecture",
           fmt::format("architecture '{}' is not supported (supported: llama, deci)", *arch));
  }
  const bool deci = *arch == "deci";
  const auto key = [&](const char* k) { return *arch + "." + k; };
  ArchConfig c;
  const int64_t L = f.require_int(key("block_count"), 1, 4096);
  c.d_model = f.require_int(key("embedding_length"), 1, kMaxDim);
  const auto ffn = f.get_int_per_layer(key("feed_forward_length"), L, 1, kMaxDim);
  if (!ffn) refuse(f, key("feed_forward_length"), key("feed_forward_length") + " is missing");
  c.layers.resize(static_cast<size_t>(L));
  for (int64_t l = 0; l < L; ++l) c.layers[static_cast<size_t>(l)].d_ffn = (*ffn)[static_cast<size_t>(l)];
  const bool kinds_given = read_layer_kinds(f, c);
  if (deci) {
    read_deci_heads(f, c, kinds_given);
  } else {
    c.n_heads = f.require_int(key("attention.head_count"), 1, 4096);
    c.n_kv_heads = f.get_int(key("attention.head_count_kv"), 1, 4096).value_or(c.n_heads);
  }
  if (c.d_model % c.n_heads != 0 && !f.find(key("attention.key_length"))) {
    refuse(f, key("attention.key_length"),
           key("attention.key_length") + " is required when head_count does not divide embedding_length");
  }
  c.head_dim = f.get_int(key("attention.key_length"), 1, 4096).value_or(c.d_model / c.n_heads);
  if (auto v = f.get_int(key("attention.value_length"), 1, 4096); v && *v != c.head_dim) {
    refuse(f, key("attention.value_length"), "value_length must equal key_length");
  }
  if (auto r = f.get_int(key("rope.dimension_count"), 1, 4096); r && *r != c.head_dim) {
    refuse(f, key("rope.dimension_count"),
           fmt::format("partial RoPE ({} of {} dims) is not supported", *r, c.head_dim));
  }
  c.norm_eps = static_cast<float>(f.get_number(key("attention.layer_norm_rms_epsilon")).value_or(1e-5));
  c.rope_theta = static_cast<float>(f.get_number(key("rope.freq_base")).value_or(10000.0));
  c.rope_layout = RopeLayout::interleaved;
  c.context_length = f.get_int(key("context_length"), 1, int64_t{1} << 40).value_or(2048);

  const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
  const GgufTensorInfo* embd = f.find_tensor(gguf_tensor_name(TensorId::tok_embd, -1));
  if (tokens && tokens->is_array()) {
    c.vocab_size = tokens->array_size;
  } else if (auto v = f.get_int(key("vocab_size"), 1, 1 << 24)) {
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
  check_layer0_placeholder(f, model.config, used);
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
