// GGUF v3 serialisation of a Model (see gguf_writer.hpp).
#include "engine/model/gguf_writer.hpp"

#include <algorithm>
#include <vector>

#include "engine/model/gguf_file.hpp"
#include "engine/model/rope_permute.hpp"
#include "engine/model/tensor_names.hpp"
#include "engine/model/tokenizer.hpp"
#include "engine/util/atomic_file.hpp"
#include "engine/util/error.hpp"

namespace flashnas {

namespace {

// Accumulates the metadata section in memory (it is small next to the tensors).
class MetadataBuilder {
 public:
  void u32(const std::string& key, int64_t v) {
    FLASHNAS_CHECK(v >= 0 && v <= UINT32_MAX, "{} = {} does not fit u32", key, v);
    header(key, GgufValueType::u32);
    pod(static_cast<uint32_t>(v));
  }
  void f32(const std::string& key, float v) {
    header(key, GgufValueType::f32);
    pod(v);
  }
  void string(const std::string& key, const std::string& v) {
    header(key, GgufValueType::string);
    str(v);
  }
  void u32_array(const std::string& key, const std::vector<int64_t>& v) {
    array_header(key, GgufValueType::u32, v.size());
    for (int64_t x : v) {
      FLASHNAS_CHECK(x >= 0 && x <= UINT32_MAX, "{} entry {} does not fit u32", key, x);
      pod(static_cast<uint32_t>(x));
    }
  }
  void i32_array(const std::string& key, const std::vector<int32_t>& v) {
    array_header(key, GgufValueType::i32, v.size());
    for (int32_t x : v) pod(x);
  }
  void f32_array(const std::string& key, const std::vector<float>& v) {
    array_header(key, GgufValueType::f32, v.size());
    for (float x : v) pod(x);
  }
  void string_array(const std::string& key, const std::vector<std::string>& v) {
    array_header(key, GgufValueType::string, v.size());
    for (const std::string& s : v) str(s);
  }

  int64_t count() const { return count_; }
  const std::string& bytes() const { return bytes_; }

  template <typename T>
  void pod(T v) {
    bytes_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  void str(const std::string& s) {
    pod(static_cast<uint64_t>(s.size()));
    bytes_ += s;
  }

 private:
  void header(const std::string& key, GgufValueType type) {
    str(key);
    pod(static_cast<uint32_t>(type));
    ++count_;
  }
  void array_header(const std::string& key, GgufValueType elem, size_t n) {
    header(key, GgufValueType::array);
    pod(static_cast<uint32_t>(elem));
    pod(static_cast<uint64_t>(n));
  }

  std::string bytes_;
  int64_t count_ = 0;
};

std::string to_sentencepiece(const std::string& piece) {
  std::string out;
  out.reserve(piece.size());
  for (char ch : piece) {
    if (ch == ' ') {
      out += "\xE2\x96\x81";  // U+2581, SentencePiece's word marker
    } else {
      out += ch;
    }
  }
  return out;
}

// llama.cpp's `llama` architecture has one FFN width and attention in every
// layer; its `deci` architecture (DeciLM / Nemotron-NAS) takes per-layer FFN
// widths and head counts, where 0 heads make a layer attention-free. Uniform
// all-attention candidates stay `llama` (the wider-supported form, and the
// files stay as they were); swa layers count as attention there: llama.cpp
// runs them as full attention (flashnas.* metadata keeps the window).
bool needs_deci(const ArchConfig& c) {
  for (const LayerConfig& l : c.layers) {
    if (l.kind == LayerKind::skip || l.d_ffn != c.layers[0].d_ffn) return true;
  }
  return false;
}

// deci takes its head size from the first layer's head count (llama.cpp's
// hparams.n_head() is layer 0's), so a layer 0 with no heads leaves the file
// without a head size. A skipped layer 0 therefore takes deci's other
// attention-free form, "linear attention" (heads > 0, 0 KV heads), which
// computes x + attn_output·rmsnorm(x) with weight attn_norm: with attn_norm
// all ones and attn_output all zeros that is exactly x, as in a skip layer.
// The rest of deci's layer matches flashnas's skip layer: with no attention
// residual the FFN adds to its input, x + FFN(ffn_norm(x)).
bool needs_layer0_placeholder(const ArchConfig& c, bool deci) {
  return deci && c.layers[0].kind == LayerKind::skip;
}

void write_config(MetadataBuilder& m, const ArchConfig& c, const std::string& name, bool deci) {
  const std::string arch = deci ? "deci" : "llama";
  auto key = [&](const char* k) { return arch + "." + k; };
  m.string("general.architecture", arch);
  m.string("general.name", name);
  m.u32("general.alignment", kGgufDefaultAlignment);
  m.u32(key("block_count"), c.n_layers());
  m.u32(key("context_length"), c.context_length);
  m.u32(key("embedding_length"), c.d_model);
  std::vector<int64_t> ffn, heads, kv_heads, windows;
  std::vector<std::string> kinds;
  bool all_full = true, any_swa = false;
  for (size_t l = 0; l < c.layers.size(); ++l) {
    const LayerConfig& layer = c.layers[l];
    const bool skip = layer.kind == LayerKind::skip;
    const bool placeholder = l == 0 && needs_layer0_placeholder(c, deci);
    ffn.push_back(layer.d_ffn);
    heads.push_back(skip && !placeholder ? 0 : c.n_heads);
    kv_heads.push_back(skip ? 0 : c.n_kv_heads);
    windows.push_back(layer.kind == LayerKind::swa ? layer.window : 0);
    kinds.emplace_back(layer_kind_name(layer.kind));
    all_full = all_full && layer.kind == LayerKind::full;
    any_swa = any_swa || layer.kind == LayerKind::swa;
  }
  if (deci) {
    m.u32_array(key("feed_forward_length"), ffn);
    m.u32_array(key("attention.head_count"), heads);
    m.u32_array(key("attention.head_count_kv"), kv_heads);
  } else {
    m.u32(key("feed_forward_length"), ffn[0]);
    m.u32(key("attention.head_count"), c.n_heads);
    m.u32(key("attention.head_count_kv"), c.n_kv_heads);
  }
  m.u32(key("attention.key_length"), c.head_dim);
  m.u32(key("attention.value_length"), c.head_dim);
  m.f32(key("attention.layer_norm_rms_epsilon"), c.norm_eps);
  m.f32(key("rope.freq_base"), c.rope_theta);
  m.u32(key("rope.dimension_count"), c.head_dim);
  m.u32(key("vocab_size"), c.vocab_size);
  if (!all_full) m.string_array("flashnas.layer_types", kinds);
  if (any_swa) m.u32_array("flashnas.sliding_window", windows);
}

void write_tokenizer(MetadataBuilder& m, const Tokenizer& tok) {
  const Vocabulary& v = tok.vocabulary();
  std::vector<std::string> pieces;
  pieces.reserve(v.pieces.size());
  for (const std::string& p : v.pieces) pieces.push_back(to_sentencepiece(p));
  std::vector<int32_t> types;
  for (TokenType t : v.types) types.push_back(static_cast<int32_t>(t));
  m.string("tokenizer.ggml.model", "llama");
  m.string_array("tokenizer.ggml.tokens", pieces);
  m.f32_array("tokenizer.ggml.scores", v.scores);
  m.i32_array("tokenizer.ggml.token_type", types);
  m.u32("tokenizer.ggml.bos_token_id", v.bos_id);
  m.u32("tokenizer.ggml.eos_token_id", v.eos_id);
  m.u32("tokenizer.ggml.unknown_token_id", v.unk_id);
}

struct PlannedTensor {
  TensorView view;
  std::string name;
  TensorType type;
  int64_t offset;  // relative to the data section
  int64_t n_bytes;
};

int64_t align_up(int64_t n) {
  return (n + kGgufDefaultAlignment - 1) / kGgufDefaultAlignment * kGgufDefaultAlignment;
}

}  // namespace

void save_gguf(const Model& model, const std::string& path, const GgufWriteOptions& options) {
  const ArchConfig& c = model.config;
  c.validate();
  if (model.tokenizer && model.tokenizer->vocab_size() != c.vocab_size) {
    throw InvalidInput("tokenizer size differs from the model's vocab_size", "tokenizer");
  }
  const bool deci = needs_deci(c);
  MetadataBuilder meta;
  write_config(meta, c, options.name, deci);
  if (model.tokenizer) write_tokenizer(meta, *model.tokenizer);

  // list_tensors only hands out views; it does not modify the weights.
  std::vector<TensorView> views = list_tensors(c, const_cast<ModelWeights&>(model.weights));
  // The placeholder of a skipped layer 0 (see needs_layer0_placeholder), in
  // front of layer 0's FFN tensors.
  std::vector<float> ones, zeros_cc;
  if (needs_layer0_placeholder(c, deci)) {
    const int64_t C = c.d_model;
    ones.assign(static_cast<size_t>(C), 1.0f);
    zeros_cc.assign(static_cast<size_t>(C * C), 0.0f);
    const auto layer0 = std::find_if(views.begin(), views.end(),
                                     [](const TensorView& v) { return v.layer == 0; });
    views.insert(layer0, {{TensorId::attn_norm, 0, ones.data(), 1, C},
                          {TensorId::wo, 0, zeros_cc.data(), C, C}});
  }
  std::vector<PlannedTensor> plan;
  int64_t offset = 0;
  for (const TensorView& v : views) {
    TensorType type = gguf_dims(v).size() == 1 ? TensorType::f32 : options.matrix_type;
    if (tensor_bytes(type, v.numel()) < 0 || (type == TensorType::q8_0 && v.cols % kQ8BlockValues)) {
      type = TensorType::f32;
    }
    const int64_t n_bytes = tensor_bytes(type, v.numel());
    plan.push_back({v, gguf_tensor_name(v.id, v.layer), type, offset, n_bytes});
    offset = align_up(offset + n_bytes);
  }

  MetadataBuilder infos;  // reuses the little-endian helpers for the tensor infos
  for (const PlannedTensor& t : plan) {
    infos.str(t.name);
    const std::vector<int64_t> dims = gguf_dims(t.view);
    infos.pod(static_cast<uint32_t>(dims.size()));
    for (int64_t d : dims) infos.pod(static_cast<uint64_t>(d));
    infos.pod(static_cast<uint32_t>(t.type));
    infos.pod(static_cast<uint64_t>(t.offset));
  }
  MetadataBuilder head;
  head.pod(kGgufMagic);
  head.pod(uint32_t{3});
  head.pod(static_cast<uint64_t>(plan.size()));
  head.pod(static_cast<uint64_t>(meta.count()));

  write_file_atomically(path, [&](std::ostream& out) {
    out << head.bytes() << meta.bytes() << infos.bytes();
    const int64_t header_size =
        static_cast<int64_t>(head.bytes().size() + meta.bytes().size() + infos.bytes().size());
    const std::string zeros(static_cast<size_t>(kGgufDefaultAlignment), '\0');
    out.write(zeros.data(), align_up(header_size) - header_size);

    std::vector<float> permuted;
    std::vector<uint8_t> encoded;
    int64_t written = 0;
    for (const PlannedTensor& t : plan) {
      out.write(zeros.data(), t.offset - written);
      const float* src = t.view.data;
      const bool rotary = t.view.id == TensorId::wq || t.view.id == TensorId::wk;
      if (rotary && c.rope_layout != RopeLayout::interleaved) {
        permuted.resize(static_cast<size_t>(t.view.numel()));
        const int64_t heads = t.view.id == TensorId::wq ? c.n_heads : c.n_kv_heads;
        permute_rope_rows(permuted.data(), src, heads, c.head_dim, t.view.cols, c.rope_layout,
                          RopeLayout::interleaved);
        src = permuted.data();
      }
      encoded.resize(static_cast<size_t>(t.n_bytes));
      encode_tensor(encoded, t.type, {src, static_cast<size_t>(t.view.numel())});
      out.write(reinterpret_cast<const char*>(encoded.data()), t.n_bytes);
      written = t.offset + t.n_bytes;
    }
  });
}

}  // namespace flashnas
