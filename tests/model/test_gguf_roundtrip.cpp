// GGUF writer -> reader round trips: identical configs and bit-identical F32
// weights; F16/BF16/Q8_0 tensors decode to exactly the encoder's values; a
// half-layout model comes back interleaved with its q/k rows permuted; the real
// stories260K survives a rewrite.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/model/gguf_file.hpp"
#include "engine/model/gguf_reader.hpp"
#include "engine/model/gguf_writer.hpp"
#include "engine/model/mapped_file.hpp"
#include "engine/model/rope_permute.hpp"
#include "engine/model/tensor_names.hpp"
#include "tests/model/model_fixtures.hpp"
#include "tests/support/test_data.hpp"

namespace flashnas {
namespace {

TEST(GgufRoundTrip, PrunedF32ModelIsBitIdentical) {
  const Model m = test::random_model(test::small_pruned_config(), 1);
  const auto path = (test::scratch_dir("gguf_rt_f32") / "m.gguf").string();
  save_gguf(m, path);
  const Model back = load_gguf(path);
  test::expect_same_model(m, back);
  EXPECT_EQ(back.config.layers[1].kind, LayerKind::swa);
  EXPECT_EQ(back.config.layers[1].window, 8);
  EXPECT_EQ(back.config.layers[2].kind, LayerKind::skip);
  EXPECT_EQ(back.weights.layers[2].wq, nullptr);
}

TEST(GgufRoundTrip, SkipLayersStoreNoAttentionTensors) {
  const Model m = test::random_model(test::small_pruned_config(), 2);
  const auto path = (test::scratch_dir("gguf_rt_skip") / "m.gguf").string();
  save_gguf(m, path);
  MappedFile file(path);
  const GgufFile f = parse_gguf(file.bytes(), path);
  EXPECT_EQ(f.find_tensor("blk.2.attn_q.weight"), nullptr);
  EXPECT_NE(f.find_tensor("blk.2.ffn_up.weight"), nullptr);
  EXPECT_NE(f.find_tensor("blk.1.attn_q.weight"), nullptr);
  EXPECT_NE(f.find_tensor("output.weight"), nullptr);  // untied
}

TEST(GgufRoundTrip, TiedModelOmitsTheHeadAndStaysTied) {
  ArchConfig c = test::small_pruned_config();
  c.tied_embeddings = true;
  const Model m = test::random_model(c, 3);
  const auto path = (test::scratch_dir("gguf_rt_tied") / "m.gguf").string();
  save_gguf(m, path);
  MappedFile file(path);
  EXPECT_EQ(parse_gguf(file.bytes(), path).find_tensor("output.weight"), nullptr);
  const Model back = load_gguf(path);
  test::expect_same_model(m, back);
  EXPECT_EQ(back.weights.output, back.weights.tok_embd);
}

TEST(GgufRoundTrip, EncodedTypesDecodeToTheEncodersValues) {
  const Model m = test::random_model(test::small_pruned_config(), 4);
  for (TensorType type : {TensorType::f16, TensorType::bf16, TensorType::q8_0}) {
    const auto path = (test::scratch_dir("gguf_rt_types") / "m.gguf").string();
    save_gguf(m, path, {.matrix_type = type});
    Model back = load_gguf(path);
    ASSERT_EQ(back.config, m.config);
    MappedFile file(path);
    const GgufFile f = parse_gguf(file.bytes(), path);
    auto want = list_tensors(back.config, const_cast<ModelWeights&>(m.weights));
    auto got = list_tensors(back.config, back.weights);
    int encoded = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const GgufTensorInfo* t = f.find_tensor(gguf_tensor_name(want[i].id, want[i].layer));
      ASSERT_NE(t, nullptr);
      encoded += t->type == type;
      // Reference: this file's own encode/decode pair applied to the original.
      std::vector<uint8_t> bytes(static_cast<size_t>(tensor_bytes(t->type, want[i].numel())));
      encode_tensor(bytes, t->type, {want[i].data, static_cast<size_t>(want[i].numel())});
      std::vector<float> ref(static_cast<size_t>(want[i].numel()));
      decode_tensor(ref, t->type, bytes);
      double max_err = 0;
      for (int64_t k = 0; k < want[i].numel(); ++k) {
        ASSERT_EQ(got[i].data[k], ref[static_cast<size_t>(k)]);
        max_err = std::max(max_err, std::fabs(double(got[i].data[k]) - want[i].data[k]));
      }
      // Relative precision of the formats: F16 2^-11, BF16 2^-8, Q8_0 max/254 per block.
      const double bound = type == TensorType::f16 ? 3e-3 : type == TensorType::bf16 ? 2e-2 : 2e-2;
      EXPECT_LT(max_err, bound) << ggml_type_name(static_cast<uint32_t>(t->type));
    }
    EXPECT_GT(encoded, 0) << "some tensors must use " << ggml_type_name(static_cast<uint32_t>(type));
  }
}

TEST(GgufRoundTrip, HalfLayoutModelIsWrittenInterleaved) {
  Model m = test::random_model(test::small_pruned_config(), 5);
  m.config.rope_layout = RopeLayout::half;
  const auto path = (test::scratch_dir("gguf_rt_half") / "m.gguf").string();
  save_gguf(m, path);
  const Model back = load_gguf(path);
  EXPECT_EQ(back.config.rope_layout, RopeLayout::interleaved);
  // Reference: the same conversion done in memory.
  ArchConfig c = m.config;
  ModelWeights w = clone_weights(c, m.weights);
  convert_rope_layout(c, w, RopeLayout::interleaved);
  Model expected{c, std::move(w), m.tokenizer};
  test::expect_same_model(expected, back);
}

TEST(GgufRoundTrip, Stories260KRewriteLoadsIdentically) {
  const Model m = load_gguf(test::data_path("stories260K.gguf"));
  const auto path = (test::scratch_dir("gguf_rt_stories") / "s.gguf").string();
  save_gguf(m, path);
  test::expect_same_model(m, load_gguf(path));
}

TEST(GgufRoundTrip, Version2FilesLoad) {
  const Model m = test::random_model(test::small_pruned_config(), 6);
  const auto path = (test::scratch_dir("gguf_rt_v2") / "m.gguf").string();
  save_gguf(m, path);
  MappedFile file(path);
  std::vector<uint8_t> bytes(file.bytes().begin(), file.bytes().end());
  bytes[4] = 2;  // v2 and v3 share the little-endian layout
  test::expect_same_model(m, load_gguf_bytes(bytes, "v2"));
}

}  // namespace
}  // namespace flashnas
