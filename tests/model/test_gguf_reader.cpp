// GGUF loading of the real stories260K checkpoint: its config (as documented in
// shared/data/README.md) and weights equal to the raw floats in the file.
#include <gtest/gtest.h>

#include <cstring>

#include "engine/model/gguf_file.hpp"
#include "engine/model/gguf_reader.hpp"
#include "engine/model/mapped_file.hpp"
#include "engine/model/tensor_names.hpp"
#include "engine/model/tokenizer.hpp"
#include "tests/support/test_data.hpp"

namespace flashnas {
namespace {

TEST(GgufReader, Stories260KConfig) {
  const Model m = load_gguf(test::data_path("stories260K.gguf"));
  const ArchConfig& c = m.config;
  EXPECT_EQ(c.n_layers(), 5);
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  for (const LayerConfig& l : c.layers) {
    EXPECT_EQ(l.d_ffn, 172);
    EXPECT_EQ(l.kind, LayerKind::full);
  }
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0f);
  EXPECT_EQ(c.rope_layout, RopeLayout::interleaved);
  // output.weight is a bit-identical copy of token_embd.weight: loaded as tied.
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(m.weights.output, m.weights.tok_embd);
  ASSERT_TRUE(m.tokenizer);
  EXPECT_EQ(m.tokenizer->vocab_size(), 512);
  EXPECT_EQ(m.tokenizer->bos_id(), 1);
  EXPECT_EQ(m.tokenizer->eos_id(), 2);
}

TEST(GgufReader, WeightsEqualTheFileFloats) {
  const std::string path = test::data_path("stories260K.gguf");
  Model m = load_gguf(path);
  MappedFile file(path);
  const GgufFile f = parse_gguf(file.bytes(), path);
  int checked = 0;
  for (const TensorView& v : list_tensors(m.config, m.weights)) {
    const GgufTensorInfo* t = f.find_tensor(gguf_tensor_name(v.id, v.layer));
    ASSERT_NE(t, nullptr);
    ASSERT_EQ(t->type, TensorType::f32);
    ASSERT_EQ(t->n_bytes, v.numel() * 4);
    EXPECT_EQ(std::memcmp(v.data, t->data.data(), static_cast<size_t>(t->n_bytes)), 0)
        << gguf_tensor_name(v.id, v.layer);
    ++checked;
  }
  EXPECT_EQ(checked, 2 + 5 * 9);  // tied head not listed
}

}  // namespace
}  // namespace flashnas
