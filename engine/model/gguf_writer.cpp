// GGUF v3 serialisation of a Model (see gguf_writer.hpp).
#include "engine/model/gguf_writer.hpp"

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

void write_config(MetadataBuilder& m, const ArchConfig& c, const std::string& name) {
  m.string("general.architecture", "llama");
  m.string("general.name", name);
  m.u32("general.alignment", kGgufDefaultAlignment);
  m.u32("llama.block_count", c.n_layers());
  m.u32("llama.context_length", c.context_length);
  m.u32("llama.embedding_length", c.d_model);
  std::vector<int64_t> ffn, windows;
  std::vector<std::string> kinds;
  bool uniform_ffn = true, all_full = true, any_swa = false;
  for (const LayerConfig& l : c.layers) {
    ffn.push_back(l.d_ffn);
    windows.push_back(l.kind == LayerKind::swa ? l.window : 0);
    kinds.emplace_back(layer_kind_name(l.kind));
    uniform_ffn = uniform_ffn && l.d_ffn == c.layers[0].d_ffn;
    all_full = all_full && l.kind == LayerKind::full;
    any_swa = any_swa || l.kind == LayerKind::swa;
  }
  if (uniform_ffn) {
    m.u32("llama.feed_forward_length", ffn[0]);
  } else {
    m.u32_array("llama.feed_forward_length", ffn);
  }
  m.u32("llama.attention.head_count", c.n_heads);
  m.u32("llama.attention.head_count_kv", c.n_kv_heads);
  m.u32("llama.attention.key_length", c.head_dim);
  m.u32("llama.attention.value_length", c.head_dim);
  m.f32("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
  m.f32("llama.rope.freq_base", c.rope_theta);
  m.u32("llama.rope.dimension_count", c.head_dim);
  m.u32("llama.vocab_size", c.vocab_size);
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
  MetadataBuilder meta;
  write_config(meta, c, options.name);
  if (model.tokenizer) write_tokenizer(meta, *model.tokenizer);

  // list_tensors only hands out views; it does not modify the weights.
  const std::vector<TensorView> views =
      list_tensors(c, const_cast<ModelWeights&>(model.weights));
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
