// load_model / save_model: format sniffing by content, both writers through
// one entry point, and refusal of paths that are no model.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "engine/model/model_io.hpp"
#include "engine/util/error.hpp"
#include "tests/model/model_fixtures.hpp"
#include "tests/support/test_data.hpp"

namespace flashnas {
namespace {

TEST(ModelIo, SniffsGgufByMagicNotExtension) {
  const Model m = test::random_model(test::small_pruned_config(), 21);
  const auto path = (test::scratch_dir("io_sniff") / "weights.bin").string();
  save_model(m, path, ModelFormat::gguf);
  test::expect_same_model(m, load_model(path));
}

TEST(ModelIo, SafetensorsDirectoryOrItsWeightsFile) {
  Model m = test::random_model(test::small_pruned_config(), 22);
  m.config.rope_layout = RopeLayout::half;  // HF's own layout: written unpermuted
  const auto dir = test::scratch_dir("io_hf") / "ckpt";
  save_model(m, dir.string(), ModelFormat::safetensors);
  test::expect_same_model(m, load_model(dir.string()));
  test::expect_same_model(m, load_model((dir / "model.safetensors").string()));
}

TEST(ModelIo, QuantisedGgufThroughSaveOptions) {
  const Model m = load_model(test::data_path("stories260K.gguf"));
  const auto dir = test::scratch_dir("io_q8");
  save_model(m, (dir / "f32.gguf").string(), ModelFormat::gguf);
  save_model(m, (dir / "q8.gguf").string(), ModelFormat::gguf, {.type = TensorType::q8_0});
  // Most weights have rows of 64 (Q8_0: 34 bytes per 32 values instead of 128);
  // ffn_down rows of 172 stay F32.
  EXPECT_LT(std::filesystem::file_size(dir / "q8.gguf") * 2, std::filesystem::file_size(dir / "f32.gguf"));
  Model q = load_model((dir / "q8.gguf").string());
  ASSERT_EQ(q.config, m.config);
  ArchConfig c = m.config;
  auto want = list_tensors(c, const_cast<ModelWeights&>(m.weights));
  auto got = list_tensors(c, q.weights);
  for (size_t i = 0; i < want.size(); ++i) {
    float amax = 0, err = 0;
    for (int64_t k = 0; k < want[i].numel(); ++k) {
      amax = std::max(amax, std::fabs(want[i].data[k]));
      err = std::max(err, std::fabs(want[i].data[k] - got[i].data[k]));
    }
    // Rounding to a block step d = max|x|/127 errs by d/2, plus the fp16 rounding of d.
    EXPECT_LE(err, amax / 127.0f) << tensor_id_name(want[i].id);
  }
}

TEST(ModelIo, RefusesWhatIsNoModel) {
  const auto dir = test::scratch_dir("io_bad");
  EXPECT_THROW(load_model((dir / "missing.gguf").string()), InvalidInput);
  EXPECT_THROW(load_model(dir.string()), InvalidInput);  // no config.json
  std::ofstream(dir / "text.gguf") << "hello, not a model";
  EXPECT_THROW(load_model((dir / "text.gguf").string()), InvalidInput);
  std::ofstream(dir / "empty.gguf").close();
  EXPECT_THROW(load_model((dir / "empty.gguf").string()), InvalidInput);
  EXPECT_THROW(parse_model_format("onnx", "--format"), InvalidInput);
  EXPECT_EQ(parse_model_format("gguf", "--format"), ModelFormat::gguf);
}

}  // namespace
}  // namespace flashnas
