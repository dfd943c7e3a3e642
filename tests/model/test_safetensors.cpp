// safetensors + config.json: round trips (bit-identical, including through
// GGUF), the RoPE permutation, config parsing and refusal of corrupt files.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "engine/model/gguf_reader.hpp"
#include "engine/model/gguf_writer.hpp"
#include "engine/model/hf_config.hpp"
#include "engine/model/mapped_file.hpp"
#include "engine/model/rope_permute.hpp"
#include "engine/model/safetensors_reader.hpp"
#include "engine/model/safetensors_writer.hpp"
#include "engine/util/error.hpp"
#include "tests/model/model_fixtures.hpp"
#include "tests/support/test_data.hpp"

namespace flashnas {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

TEST(RopePermute, MatchesLlamaCppPermuteOnASmallHead) {
  // One head, HS = 4, one column: half-layout rows 0,1,2,3 pair (0,2) and (1,3);
  // interleaved they must sit adjacent: 0,2,1,3.
  const float half[4] = {0, 1, 2, 3};
  float inter[4];
  permute_rope_rows(inter, half, 1, 4, 1, RopeLayout::half, RopeLayout::interleaved);
  EXPECT_EQ(std::vector<float>(inter, inter + 4), (std::vector<float>{0, 2, 1, 3}));
}

TEST(RopePermute, UnpermuteInvertsPermute) {
  const int64_t heads = 3, hs = 8, cols = 5;
  std::vector<float> x(static_cast<size_t>(heads * hs * cols)), y(x.size()), z(x.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  permute_rope_rows(y.data(), x.data(), heads, hs, cols, RopeLayout::half, RopeLayout::interleaved);
  EXPECT_NE(x, y);
  permute_rope_rows(z.data(), y.data(), heads, hs, cols, RopeLayout::interleaved, RopeLayout::half);
  EXPECT_EQ(x, z);
}

TEST(HfRoundTrip, ModelComesBackHalfLayoutAndConvertsBackBitIdentical) {
  const Model m = test::random_model(test::small_pruned_config(), 11);
  const auto dir = (test::scratch_dir("hf_rt") / "ckpt").string();
  save_hf_model(m, dir);
  Model back = load_hf_model(dir);
  EXPECT_EQ(back.config.rope_layout, RopeLayout::half);
  convert_rope_layout(back.config, back.weights, RopeLayout::interleaved);
  test::expect_same_model(m, back);
}

TEST(HfRoundTrip, GgufToSafetensorsToGgufIsBitIdentical) {
  const Model original = load_gguf(test::data_path("stories260K.gguf"));
  const auto dir = test::scratch_dir("hf_gguf_rt");
  save_gguf(original, (dir / "a.gguf").string());
  save_hf_model(original, (dir / "hf").string());
  const Model hf = load_hf_model((dir / "hf").string());
  EXPECT_EQ(hf.config.rope_layout, RopeLayout::half);
  EXPECT_TRUE(hf.config.tied_embeddings);
  save_gguf(hf, (dir / "b.gguf").string());
  EXPECT_EQ(read_bytes((dir / "a.gguf").string()), read_bytes((dir / "b.gguf").string()));
  test::expect_same_model(original, load_gguf((dir / "b.gguf").string()));
}

TEST(HfRoundTrip, HalfPrecisionDtypesDecodeToTheEncodersValues) {
  const Model m = test::random_model(test::small_pruned_config(), 12);
  for (TensorType type : {TensorType::f16, TensorType::bf16}) {
    const auto dir = (test::scratch_dir("hf_rt_half") / "ckpt").string();
    save_hf_model(m, dir, {.dtype = type});
    const Model back = load_hf_model(dir);
    ArchConfig c = back.config;
    auto got = list_tensors(c, const_cast<ModelWeights&>(back.weights));
    auto want = list_tensors(c, const_cast<ModelWeights&>(m.weights));
    // The token embedding is never permuted: it must equal encode-then-decode exactly.
    const TensorView& g = got[0];  // token embedding (never permuted)
    std::vector<uint8_t> bytes(static_cast<size_t>(tensor_bytes(type, g.numel())));
    encode_tensor(bytes, type, {want[0].data, static_cast<size_t>(g.numel())});
    std::vector<float> ref(static_cast<size_t>(g.numel()));
    decode_tensor(ref, type, bytes);
    EXPECT_EQ(std::vector<float>(g.data, g.data + g.numel()), ref);
  }
  EXPECT_THROW(save_hf_model(m, (test::scratch_dir("hf_q8") / "c").string(), {.dtype = TensorType::q8_0}),
               InvalidInput);
}

nlohmann::json base_config() {
  return nlohmann::json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": [96, 64, 32],
    "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
    "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "vocab_size": 100,
    "tie_word_embeddings": true, "max_position_embeddings": 512,
    "layer_types": ["full_attention", "sliding_attention", "skip_attention"],
    "sliding_window": 32})");
}

TEST(HfConfig, ParsesWhatPruningExports) {
  const ArchConfig c = arch_config_from_hf_json(base_config());
  EXPECT_EQ(c.n_layers(), 3);
  EXPECT_EQ(c.q_dim(), 32);  // NH*HS != C
  EXPECT_EQ(c.layers[0].d_ffn, 96);
  EXPECT_EQ(c.layers[1].kind, LayerKind::swa);
  EXPECT_EQ(c.layers[1].window, 32);
  EXPECT_EQ(c.layers[2].kind, LayerKind::skip);
  EXPECT_EQ(c.rope_layout, RopeLayout::half);
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0f);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(arch_config_from_hf_json(arch_config_to_hf_json(c)), c);
}

TEST(HfConfig, DefaultsFollowTransformers) {
  nlohmann::json j = base_config();
  for (const char* k : {"num_key_value_heads", "head_dim", "layer_types", "sliding_window",
                        "tie_word_embeddings"}) {
    j.erase(k);
  }
  j["intermediate_size"] = 128;
  const ArchConfig c = arch_config_from_hf_json(j);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_FALSE(c.tied_embeddings);
  for (const LayerConfig& l : c.layers) {
    EXPECT_EQ(l.kind, LayerKind::full);
    EXPECT_EQ(l.d_ffn, 128);
  }
}

TEST(HfConfig, RefusesWhatItCannotRun) {
  auto refused = [](const char* field, nlohmann::json value) {
    nlohmann::json j = base_config();
    if (value.is_null() && std::string(field) != "rope_scaling") {
      j.erase(field);
    } else {
      j[field] = value;
    }
    try {
      (void)arch_config_from_hf_json(j);
      ADD_FAILURE() << field << " accepted";
    } catch (const InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  refused("hidden_size", nullptr);
  refused("hidden_size", "64");
  refused("hidden_size", -1);
  refused("intermediate_size", nlohmann::json::array({1, 2}));
  refused("rope_scaling", {{"type", "linear"}});
  refused("architectures", nlohmann::json::array({"GPT2LMHeadModel"}));
  refused("layer_types", nlohmann::json::array({"full_attention", "bogus", "full_attention"}));
  refused("num_key_value_heads", 3);
  refused("hidden_act", "gelu");
}

// A small HF checkpoint on disk, returned as its model.safetensors bytes.
struct HfFixture {
  std::filesystem::path dir;
  Bytes bytes;
};
HfFixture small_checkpoint(const std::string& name) {
  ArchConfig c;
  c.d_model = 8;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.head_dim = 4;
  c.vocab_size = 10;
  c.layers = {{LayerKind::full, 0, 8}, {LayerKind::skip, 0, 4}};
  const Model m = test::random_model(c, 13, /*with_tokenizer=*/false);
  const auto dir = test::scratch_dir(name) / "ckpt";
  save_hf_model(m, dir.string());
  return {dir, read_bytes((dir / "model.safetensors").string())};
}

void expect_parse_refused(const Bytes& b, const std::string& needle) {
  try {
    (void)parse_safetensors(b, "patched.safetensors");
    ADD_FAILURE() << "accepted; expected '" << needle << "'";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

Bytes with_header(const std::string& json, size_t data_bytes) {
  const uint64_t n = json.size();
  std::string s(reinterpret_cast<const char*>(&n), 8);
  s += json;
  s.append(data_bytes, '\0');
  return Bytes(s.begin(), s.end());
}

TEST(SafetensorsCorrupt, EveryTruncationIsRefused) {
  const HfFixture f = small_checkpoint("st_cut");
  EXPECT_NO_THROW(load_hf_model(f.dir.string()));
  for (size_t cut = 0; cut < f.bytes.size(); ++cut) {
    const Bytes b(f.bytes.begin(), f.bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    // Cuts in the data region still parse as JSON but the offsets lie past the end.
    EXPECT_THROW(parse_safetensors(b, "cut"), InvalidInput) << "cut at " << cut;
  }
}

TEST(SafetensorsCorrupt, HostileHeaders) {
  expect_parse_refused(with_header("{", 0), "not valid JSON");
  expect_parse_refused(with_header("[1]", 0), "JSON object");
  Bytes huge = with_header("{}", 0);
  const uint64_t absurd = uint64_t{1} << 60;
  std::memcpy(huge.data(), &absurd, 8);
  expect_parse_refused(huge, "header length");
  expect_parse_refused(with_header(R"({"w":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}})", 2),
                       "tensor w has dtype I8, supported: F32, F16, BF16");
  expect_parse_refused(with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                   R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
                       "duplicate tensor w");
  expect_parse_refused(with_header(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8),
                       "exceeds the file");
  expect_parse_refused(with_header(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                       "8 bytes of data for 3 values");
  expect_parse_refused(
      with_header(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8),
      "exceeds the file");
  expect_parse_refused(with_header(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
                       "non-negative");
  expect_parse_refused(with_header(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8),
                       "reversed");
  expect_parse_refused(with_header(std::string(200, '[') + std::string(200, ']'), 0), "nested");
}

TEST(SafetensorsCorrupt, ShapeMismatchAndMissingTensors) {
  const HfFixture f = small_checkpoint("st_shape");
  // Describe the checkpoint as 3 layers: layer 2's tensors are missing.
  nlohmann::json config;
  std::ifstream(f.dir / "config.json") >> config;
  config["num_hidden_layers"] = 3;
  config["layer_types"].push_back("full_attention");
  config["intermediate_size"] = nlohmann::json::array({8, 4, 8});
  std::ofstream(f.dir / "config.json") << config.dump();
  try {
    (void)load_hf_model(f.dir.string());
    ADD_FAILURE() << "accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.2.input_layernorm.weight is missing"),
              std::string::npos) << e.what();
  }
  config["num_hidden_layers"] = 2;
  config["layer_types"].erase(2);
  config["intermediate_size"] = nlohmann::json::array({8, 8});
  std::ofstream(f.dir / "config.json") << config.dump();
  try {
    (void)load_hf_model(f.dir.string());
    ADD_FAILURE() << "accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.1.mlp.gate_proj.weight has shape [4, 8], "
                                         "expected [8, 8]"),
              std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace flashnas
