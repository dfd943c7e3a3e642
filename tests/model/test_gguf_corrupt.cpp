// Hostile and corrupt GGUF files are refused with InvalidInput naming the
// problem, and never crash or allocate absurd memory (this suite also runs
// under AddressSanitizer). Each case patches one field of a small valid file.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "engine/model/gguf_reader.hpp"
#include "engine/model/gguf_writer.hpp"
#include "engine/model/mapped_file.hpp"
#include "engine/util/error.hpp"
#include "tests/model/model_fixtures.hpp"
#include "tests/support/test_data.hpp"

namespace flashnas {
namespace {

using Bytes = std::vector<uint8_t>;

ArchConfig tiny_config() {
  ArchConfig c;
  c.d_model = 8;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.head_dim = 4;
  c.vocab_size = 12;
  c.layers = {{LayerKind::full, 0, 8}, {LayerKind::swa, 4, 16}, {LayerKind::skip, 0, 8}};
  return c;
}

Bytes tiny_file() {
  const Model m = test::random_model(tiny_config(), 7);
  const auto path = (test::scratch_dir("gguf_corrupt") / "tiny.gguf").string();
  save_gguf(m, path);
  MappedFile file(path);
  return Bytes(file.bytes().begin(), file.bytes().end());
}

size_t find(const Bytes& b, const std::string& needle) {
  auto it = std::search(b.begin(), b.end(), needle.begin(), needle.end());
  EXPECT_NE(it, b.end()) << needle;
  return static_cast<size_t>(it - b.begin());
}

template <typename T>
void put(Bytes& b, size_t at, T value) {
  std::memcpy(b.data() + at, &value, sizeof(T));
}

// Offset just after a metadata key (where its u32 value type starts).
size_t after_key(const Bytes& b, const std::string& key) { return find(b, key) + key.size(); }

// Offsets inside a tensor info: n_dims, dims[0], type, offset (2-D tensors).
struct InfoAt {
  size_t n_dims, dim0, type, offset;
};
InfoAt tensor_info(const Bytes& b, const std::string& name) {
  const size_t n = after_key(b, name);
  return {n, n + 4, n + 4 + 16, n + 4 + 16 + 4};
}

// Expects refusal with a message containing `needle`.
void expect_refused(const Bytes& b, const std::string& needle) {
  try {
    (void)load_gguf_bytes(b, "patched.gguf");
    ADD_FAILURE() << "accepted a file that should fail with '" << needle << "'";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(GgufCorrupt, TheUnpatchedFileLoads) { EXPECT_NO_THROW(load_gguf_bytes(tiny_file(), "ok")); }

TEST(GgufCorrupt, EveryTruncationIsRefused) {
  const Bytes good = tiny_file();
  for (size_t cut = 0; cut < good.size(); ++cut) {
    const Bytes b(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    EXPECT_THROW(load_gguf_bytes(b, "cut"), InvalidInput) << "cut at " << cut << " of " << good.size();
  }
}

TEST(GgufCorrupt, BadMagicAndVersion) {
  Bytes b = tiny_file();
  b[0] = 'X';
  expect_refused(b, "not a GGUF file");
  for (uint32_t version : {0u, 1u, 4u, 0x03000000u /* big-endian v3 */}) {
    b = tiny_file();
    put(b, 4, version);
    expect_refused(b, "version");
  }
}

TEST(GgufCorrupt, AbsurdCountsAndLengths) {
  const Bytes good = tiny_file();
  Bytes b = good;
  put(b, 8, uint64_t{1} << 40);  // tensor count
  expect_refused(b, "tensor_count");
  b = good;
  put(b, 16, uint64_t{1} << 40);  // metadata count
  expect_refused(b, "metadata_kv_count");
  b = good;
  put(b, 24, uint64_t{1} << 60);  // length of the first key string
  expect_refused(b, "string length");
  b = good;
  put(b, after_key(good, "tokenizer.ggml.tokens") + 8, uint64_t{1} << 62);  // array count
  expect_refused(b, "cannot fit");
  b = good;
  put(b, after_key(good, "general.architecture"), uint32_t{99});  // value type
  expect_refused(b, "unknown metadata value type");
}

TEST(GgufCorrupt, TensorOffsetsAndSizesOutsideTheFile) {
  const Bytes good = tiny_file();
  const InfoAt q = tensor_info(good, "blk.0.attn_q.weight");
  Bytes b = good;
  put(b, q.offset, static_cast<uint64_t>(good.size()));  // aligned? either way refused
  EXPECT_THROW(load_gguf_bytes(b, "x"), InvalidInput);
  b = good;
  put(b, q.offset, uint64_t{1} << 63);
  expect_refused(b, "past the end");
  b = good;
  put(b, q.offset, uint64_t{3});
  expect_refused(b, "alignment");
  b = good;
  put(b, q.dim0, uint64_t{1} << 62);
  expect_refused(b, "larger than the file");
  b = good;
  put(b, q.dim0, uint64_t{0});
  expect_refused(b, "zero");
  b = good;
  put(b, q.n_dims, uint32_t{9});
  expect_refused(b, "dimensions");
}

TEST(GgufCorrupt, ShapeMismatchNamesTheTensor) {
  const Bytes good = tiny_file();
  const InfoAt k = tensor_info(good, "blk.0.attn_k.weight");
  Bytes b = good;
  put(b, k.dim0 + 8, uint64_t{2});  // (4 rows) -> (2 rows): smaller, still inside the file
  expect_refused(b, "blk.0.attn_k.weight has shape [8, 2], expected [8, 4]");
}

TEST(GgufCorrupt, UnsupportedTypesAreRefusedByName) {
  const Bytes good = tiny_file();
  const InfoAt q = tensor_info(good, "blk.0.attn_q.weight");
  Bytes b = good;
  put(b, q.type, uint32_t{12});
  expect_refused(b, "tensor blk.0.attn_q.weight has type Q4_K, supported: F32, F16, BF16, Q8_0");
  b = good;
  put(b, q.type, uint32_t{1000});
  expect_refused(b, "has type unknown");
}

TEST(GgufCorrupt, DuplicateTensorOrMissingTensor) {
  const Bytes good = tiny_file();
  Bytes b = good;
  const size_t k = find(b, "blk.0.attn_k.weight");
  b[k + 11] = 'q';  // attn_k -> attn_q: same length, now a duplicate
  expect_refused(b, "duplicate tensor");
  b = good;
  b[find(b, "blk.1.ffn_up.weight") + 4] = 'x';  // blk.1.ffn_up -> blk.1xffn_up
  expect_refused(b, "tensor blk.1.ffn_up.weight is missing");
}

TEST(GgufCorrupt, MetadataThatLiesAboutTheModel) {
  const Bytes good = tiny_file();
  Bytes b = good;
  put(b, after_key(good, "deci.embedding_length") + 4, uint32_t{1} << 20);
  expect_refused(b, "token_embd.weight has shape [8, 12], expected [1048576, 12]");
  b = good;
  put(b, after_key(good, "deci.block_count") + 4, uint32_t{0});
  expect_refused(b, "deci.block_count");
  b = good;
  // The per-layer array: u32 value type, u32 element type, u64 count, then layer 0, 1, 2.
  const size_t kv = after_key(good, "deci.attention.head_count_kv") + 16;
  put(b, kv, uint32_t{3});
  put(b, kv + 4, uint32_t{3});
  expect_refused(b, "multiple of n_kv_heads");
  b = good;
  put(b, kv + 4, uint32_t{2});
  expect_refused(b, "per-layer head counts are not supported");
  b = good;
  put(b, kv + 8, uint32_t{1});  // layer 2 is skip
  expect_refused(b, "layer 2 is skip in flashnas.layer_types but has 1 KV heads");
  b = good;
  b[find(b, "deci") + 1] = 'x';  // general.architecture = "dxci"
  expect_refused(b, "architecture 'dxci' is not supported");
  b = good;
  b[find(b, "skip")] = 'z';  // flashnas.layer_types[2] = "zkip"
  expect_refused(b, "unknown layer type 'zkip'");
}

TEST(GgufCorrupt, MissingFileIsInvalidInput) {
  EXPECT_THROW(load_gguf("/nonexistent/model.gguf"), InvalidInput);
  EXPECT_THROW(load_gguf(test::scratch_dir("gguf_dir").string()), InvalidInput);
}

}  // namespace
}  // namespace flashnas
