// Tokenizer: the reference encodings of shared/data/README.md, the two loaders
// agreeing, round trips on real text, byte fallback, and refusal of bad files.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "engine/model/gguf_file.hpp"
#include "engine/model/gguf_reader.hpp"
#include "engine/model/mapped_file.hpp"
#include "engine/model/tokenizer.hpp"
#include "engine/util/error.hpp"
#include "tests/support/test_data.hpp"

namespace flashnas {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::shared_ptr<const Tokenizer> gguf_tok() {
  MappedFile file(test::data_path("stories260K.gguf"));
  return gguf_tokenizer(parse_gguf(file.bytes(), "stories260K.gguf"));
}

Tokenizer bin_tok() { return Tokenizer::from_llama2c_file(test::data_path("tok512.bin")); }

using Ids = std::vector<int32_t>;

TEST(Tokenizer, ReferenceEncodingsFromGguf) {
  auto tok = gguf_tok();
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("Once upon a time"), (Ids{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok->encode("Hello world! 123"),
            (Ids{1, 346, 306, 414, 263, 304, 341, 443, 410, 475, 479, 472}));
}

TEST(Tokenizer, ReferenceEncodingsFromLlama2cFile) {
  Tokenizer tok = bin_tok();
  EXPECT_EQ(tok.encode("Once upon a time"), (Ids{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok.encode("Hello world! 123", /*bos=*/false),
            (Ids{346, 306, 414, 263, 304, 341, 443, 410, 475, 479, 472}));
}

TEST(Tokenizer, BothLoadersGiveTheSameVocabulary) {
  auto a = gguf_tok();
  Tokenizer b = bin_tok();
  EXPECT_EQ(a->vocab_size(), 512);
  EXPECT_EQ(a->vocabulary().pieces, b.vocabulary().pieces);
  EXPECT_EQ(a->vocabulary().scores, b.vocabulary().scores);
  EXPECT_EQ(a->vocabulary().types, b.vocabulary().types);
  EXPECT_EQ(a->vocabulary(), b.vocabulary());
}

TEST(Tokenizer, SavedLlama2cFileIsByteIdenticalToTheOriginal) {
  auto dir = test::scratch_dir("tokenizer_save");
  gguf_tok()->save_llama2c((dir / "tok.bin").string());
  EXPECT_EQ(read_text((dir / "tok.bin").string()), read_text(test::data_path("tok512.bin")));
}

TEST(Tokenizer, DecodeInvertsEncodeOnRealText) {
  auto tok = gguf_tok();
  for (const char* name : {"tinystories-valid-sample.txt", "tinystories-train-sample.txt"}) {
    const std::string text = read_text(test::data_path(name));
    const Ids ids = tok->encode(text);
    EXPECT_LT(ids.size() * 5, text.size() * 3) << name << ": merges should compress the text";
    EXPECT_EQ(tok->decode(ids), text) << name;
  }
}

TEST(Tokenizer, UnseenCharactersFallBackToUtf8Bytes) {
  auto tok = gguf_tok();
  // U+65E5 (日) is E6 97 A5 in UTF-8; byte tokens are byte + 3 in this vocabulary.
  const Ids ids = tok->encode("\xE6\x97\xA5", /*bos=*/false);
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(tok->decode_piece(-1, ids[0]), " ");
  EXPECT_EQ(ids[1], 0xE6 + 3);
  EXPECT_EQ(ids[2], 0x97 + 3);
  EXPECT_EQ(ids[3], 0xA5 + 3);
  EXPECT_EQ(tok->decode(ids), "\xE6\x97\xA5");
  const std::string mixed = "caf\xC3\xA9 \xF0\x9F\x98\x80 ok";
  EXPECT_EQ(tok->decode(tok->encode(mixed)), mixed);
}

// Independent reference: llama2.c's quadratic merge loop, written out plainly.
Ids reference_encode(const Tokenizer& tok, const std::string& text) {
  const Vocabulary& v = tok.vocabulary();
  std::map<std::string, int32_t> normal;
  for (size_t i = v.pieces.size(); i-- > 0;) {
    if (v.types[i] == TokenType::normal) normal[v.pieces[i]] = static_cast<int32_t>(i);
  }
  auto find = [&](const std::string& s) -> int32_t {
    auto it = normal.find(s);
    return it == normal.end() ? -1 : it->second;
  };
  Ids ids{find(" ")};
  for (size_t i = 0; i < text.size();) {
    size_t len = 1;
    while (i + len < text.size() && len < 4 && (static_cast<unsigned char>(text[i + len]) & 0xC0) == 0x80) ++len;
    const int32_t id = find(text.substr(i, len));
    if (id >= 0) {
      ids.push_back(id);
    } else {
      for (size_t k = 0; k < len; ++k) ids.push_back(static_cast<unsigned char>(text[i + k]) + 3);
    }
    i += len;
  }
  for (;;) {
    float best = -1e10f;
    int best_at = -1, best_id = -1;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const int32_t id = find(v.pieces[static_cast<size_t>(ids[i])] + v.pieces[static_cast<size_t>(ids[i + 1])]);
      if (id >= 0 && v.scores[static_cast<size_t>(id)] > best) {
        best = v.scores[static_cast<size_t>(id)];
        best_at = static_cast<int>(i);
        best_id = id;
      }
    }
    if (best_at < 0) break;
    ids[static_cast<size_t>(best_at)] = best_id;
    ids.erase(ids.begin() + best_at + 1);
  }
  return ids;
}

TEST(Tokenizer, AgreesWithTheQuadraticReferenceOnShakespeare) {
  auto tok = gguf_tok();
  const std::string text = read_text(test::data_path("tinyshakespeare.txt"));
  for (size_t start : {size_t{0}, size_t{5000}, size_t{777777}}) {
    const std::string chunk = text.substr(start, 600);
    EXPECT_EQ(tok->encode(chunk, false), reference_encode(*tok, chunk)) << "at " << start;
  }
}

TEST(Tokenizer, DecodePieceDropsTheSpaceOnlyAfterBos) {
  auto tok = gguf_tok();
  EXPECT_EQ(tok->decode_piece(1, 403), "Once");
  EXPECT_EQ(tok->decode_piece(403, 407), " upon");
  EXPECT_EQ(tok->decode_piece(5, 1), "");  // BOS itself prints nothing
  EXPECT_THROW(tok->decode_piece(1, 512), InvalidInput);
  EXPECT_THROW(tok->decode_piece(1, -1), InvalidInput);
}

TEST(Tokenizer, EmptyTextIsJustBos) {
  auto tok = gguf_tok();
  EXPECT_EQ(tok->encode(""), (Ids{1}));
  EXPECT_EQ(tok->encode("", false, true), (Ids{2}));
}

TEST(Tokenizer, RefusesBrokenLlama2cFiles) {
  const std::string good = read_text(test::data_path("tok512.bin"));
  auto load = [](const std::string& bytes) {
    return Tokenizer::from_llama2c_bytes(
        {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "tok.bin");
  };
  EXPECT_NO_THROW(load(good));
  // Cuts inside a token's header or bytes are truncations.
  for (size_t cut : {size_t{0}, size_t{2}, size_t{6}, size_t{10}, good.size() - 1}) {
    EXPECT_THROW(load(good.substr(0, cut)), InvalidInput) << "cut " << cut;
  }
  std::string huge_length = good;
  const int32_t absurd = 1 << 30;
  std::memcpy(huge_length.data() + 8, &absurd, 4);  // first token's length
  EXPECT_THROW(load(huge_length), InvalidInput);
  std::string nan_score = good;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan_score.data() + 4, &nan, 4);
  EXPECT_THROW(load(nan_score), InvalidInput);
}

TEST(Tokenizer, RefusesInconsistentVocabularies) {
  Vocabulary v{{"<unk>", "<s>", "</s>", "a"}, {0, 0, 0, 0},
               {TokenType::unknown, TokenType::control, TokenType::control, TokenType::normal}};
  EXPECT_NO_THROW(Tokenizer{v});
  Vocabulary short_scores = v;
  short_scores.scores.pop_back();
  EXPECT_THROW(Tokenizer{short_scores}, InvalidInput);
  Vocabulary bad_bos = v;
  bad_bos.bos_id = 4;
  EXPECT_THROW(Tokenizer{bad_bos}, InvalidInput);
  Vocabulary bad_byte = v;
  bad_byte.types[3] = TokenType::byte;
  EXPECT_THROW(Tokenizer{bad_byte}, InvalidInput);
}

}  // namespace
}  // namespace flashnas
