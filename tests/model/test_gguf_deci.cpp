// GGUF export in llama.cpp's `deci` architecture: the writer picks deci exactly
// when a layer skips attention or FFN widths differ; the file holds exactly
// the tensors (names, shapes) llama.cpp's deci loader asks for; flashnas reads
// it back to the same config, weights and logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "engine/model/gguf_file.hpp"
#include "engine/model/gguf_reader.hpp"
#include "engine/model/gguf_writer.hpp"
#include "engine/model/mapped_file.hpp"
#include "engine/runtime/inference_session.hpp"
#include "engine/util/error.hpp"
#include "tests/model/model_fixtures.hpp"
#include "tests/support/test_data.hpp"

namespace flashnas {
namespace {

ArchConfig with_layers(ArchConfig c, std::vector<LayerConfig> layers) {
  c.layers = std::move(layers);
  return c;
}

// small_pruned_config's dims (NH*HS != C, GQA) with the given layers.
ArchConfig deci_config(std::vector<LayerConfig> layers, bool tied) {
  ArchConfig c = with_layers(test::small_pruned_config(), std::move(layers));
  c.tied_embeddings = tied;
  return c;
}

std::string write(const Model& m, const std::string& dir, TensorType type = TensorType::f32) {
  const auto path = (test::scratch_dir(dir) / "m.gguf").string();
  save_gguf(m, path, {.matrix_type = type});
  return path;
}

std::string architecture(const std::string& path) {
  MappedFile file(path);
  return parse_gguf(file.bytes(), path).get_string("general.architecture").value_or("");
}

std::vector<float> all_logits(const Model& m, const std::vector<int32_t>& tokens) {
  RuntimeContext ctx({1, false});
  InferenceSession s(m, ctx, {64, 64});
  const auto logits = s.prefill(tokens, {.all_logits = true});
  return {logits.begin(), logits.end()};
}

TEST(GgufDeci, WriterPicksDeciExactlyWhenNeeded) {
  const LayerConfig full{LayerKind::full, 0, 64}, swa{LayerKind::swa, 8, 64};
  const LayerConfig skip{LayerKind::skip, 0, 64}, narrow{LayerKind::full, 0, 32};
  const struct {
    std::vector<LayerConfig> layers;
    const char* arch;
  } cases[] = {
      {{full, full, full}, "llama"},
      {{full, swa, swa}, "llama"},  // swa layers are attention; llama.cpp runs them full
      {{full, skip, full}, "deci"},
      {{skip, full, full}, "deci"},
      {{full, narrow, full}, "deci"},
      {{swa, narrow, swa}, "deci"},
  };
  int i = 0;
  for (const auto& tc : cases) {
    const Model m = test::random_model(deci_config(tc.layers, false), 10 + i);
    EXPECT_EQ(architecture(write(m, fmt::format("gguf_deci_pick{}", i++))), tc.arch)
        << format_layer_types(m.config);
  }
}

// What llama.cpp (3f545becc) src/models/deci.cpp load_arch_tensors creates,
// with n_head / n_head_kv / n_ff of layer i from the per-layer arrays
// (llama-model.cpp get_key_or_arr) and ne lists innermost first:
//   token_embd {C, V}; output_norm {C}; output {C, V} unless absent (tied);
//   n_head_kv == 0 && n_head > 0 ("linear attention"): attn_norm {C}, attn_output {C, C}
//   n_head_kv > 0: attn_norm {C}, attn_q {C, HS*NH}, attn_k {C, HS*KVH},
//                  attn_v {C, HS*KVH}, attn_output {HS*NH, C}
//   (n_head == 0: no attention tensors)
//   n_ff > 0: ffn_norm {C}, ffn_gate {C, FF}, ffn_down {FF, C}, ffn_up {C, FF}
// and the loader refuses a file with any other tensor ("wrong number of tensors").
// HS is key_length, shared by all layers; it must equal rope.dimension_count,
// and the graph needs layer 0's head count > 0 (hparams.n_head()).
std::map<std::string, std::vector<int64_t>> deci_loader_tensors(const GgufFile& f) {
  const int64_t L = f.require_int("deci.block_count", 1, 4096);
  const int64_t C = f.require_int("deci.embedding_length", 1, 1 << 20);
  const int64_t V = f.require_int("deci.vocab_size", 1, 1 << 20);
  const int64_t HS = f.require_int("deci.attention.key_length", 1, 4096);
  const auto heads = *f.get_int_per_layer("deci.attention.head_count", L, 0, 4096);
  const auto kv = *f.get_int_per_layer("deci.attention.head_count_kv", L, 0, 4096);
  const auto ffn = *f.get_int_per_layer("deci.feed_forward_length", L, 0, 1 << 20);
  std::map<std::string, std::vector<int64_t>> want{
      {"token_embd.weight", {C, V}}, {"output_norm.weight", {C}}};
  if (f.find_tensor("output.weight")) want["output.weight"] = {C, V};
  for (int64_t i = 0; i < L; ++i) {
    const auto u = static_cast<size_t>(i);
    auto name = [&](const char* t) { return fmt::format("blk.{}.{}.weight", i, t); };
    if (kv[u] == 0 && heads[u] > 0) {
      want[name("attn_norm")] = {C};
      want[name("attn_output")] = {C, C};
    } else if (kv[u] > 0) {
      want[name("attn_norm")] = {C};
      want[name("attn_q")] = {C, HS * heads[u]};
      want[name("attn_k")] = {C, HS * kv[u]};
      want[name("attn_v")] = {C, HS * kv[u]};
      want[name("attn_output")] = {HS * heads[u], C};
    }
    if (ffn[u] > 0) {
      want[name("ffn_norm")] = {C};
      want[name("ffn_gate")] = {C, ffn[u]};
      want[name("ffn_down")] = {ffn[u], C};
      want[name("ffn_up")] = {C, ffn[u]};
    }
  }
  return want;
}

TEST(GgufDeci, TensorsAreExactlyWhatLlamaCppsDeciLoaderAsksFor) {
  const LayerConfig skip{LayerKind::skip, 0, 48};
  for (const ArchConfig& c :
       {deci_config({skip, {LayerKind::full, 0, 64}, {LayerKind::swa, 8, 32}, skip}, false),
        deci_config({{LayerKind::full, 0, 64}, skip, {LayerKind::full, 0, 32}}, true)}) {
    const auto path = write(test::random_model(c, 20), "gguf_deci_loader");
    MappedFile file(path);
    const GgufFile f = parse_gguf(file.bytes(), path);
    ASSERT_EQ(f.get_string("general.architecture"), "deci");
    EXPECT_GT(f.get_int_per_layer("deci.attention.head_count", c.n_layers(), 0, 4096)->at(0), 0);
    EXPECT_EQ(f.get_int("deci.rope.dimension_count", 1, 4096),
              f.get_int("deci.attention.key_length", 1, 4096));
    EXPECT_EQ(f.get_int("deci.attention.value_length", 1, 4096),
              f.get_int("deci.attention.key_length", 1, 4096));
    ASSERT_TRUE(f.get_number("deci.attention.layer_norm_rms_epsilon"));
    ASSERT_TRUE(f.get_number("deci.rope.freq_base"));
    ASSERT_TRUE(f.get_int("deci.context_length", 1, 1 << 30));
    std::map<std::string, std::vector<int64_t>> got;
    for (const GgufTensorInfo& t : f.tensors) got[t.name] = t.dims;
    EXPECT_EQ(got, deci_loader_tensors(f)) << format_layer_types(c);
  }
}

TEST(GgufDeci, SkippedLayer0IsAnAllZeroLinearAttention) {
  const ArchConfig c = deci_config({{LayerKind::skip, 0, 48}, {LayerKind::full, 0, 64}}, false);
  const auto path = write(test::random_model(c, 21), "gguf_deci_layer0");
  MappedFile file(path);
  const GgufFile f = parse_gguf(file.bytes(), path);
  const auto heads = *f.get_int_per_layer("deci.attention.head_count", 2, 0, 4096);
  const auto kv = *f.get_int_per_layer("deci.attention.head_count_kv", 2, 0, 4096);
  EXPECT_EQ(heads, (std::vector<int64_t>{c.n_heads, c.n_heads}));
  EXPECT_EQ(kv, (std::vector<int64_t>{0, c.n_kv_heads}));
  // deci computes x + attn_output * rmsnorm(x) * attn_norm for this layer.
  const GgufTensorInfo* norm = f.find_tensor("blk.0.attn_norm.weight");
  const GgufTensorInfo* out = f.find_tensor("blk.0.attn_output.weight");
  ASSERT_NE(norm, nullptr);
  ASSERT_NE(out, nullptr);
  std::vector<float> v(static_cast<size_t>(norm->numel));
  std::memcpy(v.data(), norm->data.data(), norm->data.size());
  for (float x : v) EXPECT_EQ(x, 1.0f);
  v.resize(static_cast<size_t>(out->numel));
  std::memcpy(v.data(), out->data.data(), out->data.size());
  for (float x : v) EXPECT_EQ(x, 0.0f);
}

TEST(GgufDeci, RoundTripGivesTheSameModelAndLogits) {
  const LayerConfig skip{LayerKind::skip, 0, 48};
  const std::vector<int32_t> tokens = {1, 5, 9, 3, 3, 17, 22, 8, 30, 2, 11, 4, 6, 7, 19, 25};
  const std::vector<ArchConfig> configs = {
      deci_config({skip, {LayerKind::full, 0, 64}, {LayerKind::swa, 4, 32}, skip}, false),
      deci_config({skip, {LayerKind::swa, 4, 64}, {LayerKind::full, 0, 32}}, true),
      deci_config({{LayerKind::full, 0, 64}, skip, {LayerKind::swa, 8, 16}}, true),
      deci_config({{LayerKind::full, 0, 64}, {LayerKind::full, 0, 40}}, false),  // widths only
      deci_config({skip, skip}, false),  // no attention at all
  };
  int i = 0;
  for (const ArchConfig& c : configs) {
    SCOPED_TRACE(format_layer_types(c));
    const Model m = test::random_model(c, 30 + i);
    const auto path = write(m, fmt::format("gguf_deci_rt{}", i++));
    ASSERT_EQ(architecture(path), "deci");
    const Model back = load_gguf(path);
    if (c.layers[0].kind == LayerKind::skip && c.layers[1].kind == LayerKind::skip) {
      // Without attention layers n_kv_heads is not in the file (it changes nothing).
      ArchConfig expected = c;
      expected.n_kv_heads = c.n_heads;
      EXPECT_EQ(back.config, expected);
    } else {
      test::expect_same_model(m, back);
    }
    EXPECT_EQ(all_logits(m, tokens), all_logits(back, tokens));
  }
}

TEST(GgufDeci, Q8_0ExportLoadsWithTheSameLayers) {
  ArchConfig c = deci_config(
      {{LayerKind::skip, 0, 64}, {LayerKind::full, 0, 64}, {LayerKind::swa, 8, 32}}, false);
  const Model m = test::random_model(c, 40);
  const Model back = load_gguf(write(m, "gguf_deci_q8", TensorType::q8_0));
  EXPECT_EQ(back.config, m.config);
}

TEST(GgufDeci, RefusesWhatFlashnasCannotRun) {
  const ArchConfig c = deci_config({{LayerKind::skip, 0, 48}, {LayerKind::full, 0, 64}}, false);
  const auto path = write(test::random_model(c, 50), "gguf_deci_refuse");
  MappedFile file(path);
  const std::vector<uint8_t> good(file.bytes().begin(), file.bytes().end());
  const GgufFile f = parse_gguf(good, path);

  // A layer 0 "linear attention" that is not all zeros.
  std::vector<uint8_t> b = good;
  const GgufTensorInfo* out = f.find_tensor("blk.0.attn_output.weight");
  const float one = 1.0f;
  std::memcpy(b.data() + out->offset, &one, sizeof one);
  try {
    load_gguf_bytes(b, "nonzero");
    ADD_FAILURE() << "loaded";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("must be all zeros"), std::string::npos) << e.what();
  }

  // Without flashnas.layer_types, heads > 0 with 0 KV heads is linear attention.
  b = good;
  const std::string key = "flashnas.layer_types";
  auto at = std::search(b.begin(), b.end(), key.begin(), key.end());
  ASSERT_NE(at, b.end());
  at[0] = 'x';  // an unknown key now
  try {
    load_gguf_bytes(b, "linear");
    ADD_FAILURE() << "loaded";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("linear attention"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace flashnas
