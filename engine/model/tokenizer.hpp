// Tokenizer: SentencePiece-BPE with byte fallback, with llama2.c's semantics
// (BOS first, a dummy space before the text, characters looked up whole, unknown
// characters split into UTF-8 byte tokens <0xXX>, then repeated merges of the
// adjacent pair whose merged token scores highest, leftmost on ties).
// Loads from a vocabulary (the GGUF reader fills one) or llama2.c's
// tokenizer.bin. Not a general SentencePiece implementation (no normaliser,
// no unigram model).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace flashnas {

// SentencePiece / GGUF token types (tokenizer.ggml.token_type).
enum class TokenType : int32_t {
  normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6,
};

// Pieces are stored as text: the SentencePiece word marker U+2581 is a plain
// space here (GGUF readers and writers convert), and BOS/EOS are "<s>", "</s>".
struct Vocabulary {
  std::vector<std::string> pieces;  // V
  std::vector<float> scores;        // V
  std::vector<TokenType> types;     // V
  int32_t bos_id = 1;
  int32_t eos_id = 2;
  int32_t unk_id = 0;

  bool operator==(const Vocabulary&) const = default;
};

// Type of a token when the file does not say: <unk> (id 0), <s>, </s>, <0xXX>, else normal.
TokenType infer_token_type(int32_t id, std::string_view piece);

class Tokenizer {
 public:
  // Validates (sizes agree, ids in range, finite scores, bounded piece lengths);
  // throws InvalidInput naming the field.
  explicit Tokenizer(Vocabulary vocab);

  // llama2.c's tokenizer.bin: i32 max_token_length, then per token f32 score,
  // i32 length, bytes. Token types are inferred from the pieces.
  static Tokenizer from_llama2c_file(const std::string& path);
  static Tokenizer from_llama2c_bytes(std::span<const uint8_t> bytes, const std::string& what);
  void save_llama2c(const std::string& path) const;

  std::vector<int32_t> encode(std::string_view text, bool bos = true, bool eos = false) const;

  // One token's text as llama2.c prints it while streaming: a leading space is
  // dropped right after BOS, byte tokens become their byte, control tokens "".
  std::string_view decode_piece(int32_t prev_token, int32_t token) const;
  // A whole sequence; the leading space of the first text piece is dropped
  // (SentencePiece's dummy prefix), so decode(encode(x)) == x.
  std::string decode(std::span<const int32_t> tokens) const;

  int64_t vocab_size() const { return static_cast<int64_t>(vocab_.pieces.size()); }
  int32_t bos_id() const { return vocab_.bos_id; }
  int32_t eos_id() const { return vocab_.eos_id; }
  const Vocabulary& vocabulary() const { return vocab_; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  int32_t lookup(std::string_view piece) const;  // -1 when absent
  void build_merges();
  static uint64_t pair_key(int32_t a, int32_t b) {
    return static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32 | static_cast<uint32_t>(b);
  }
  void encode_text(std::string_view text, std::vector<int32_t>& out) const;

  Vocabulary vocab_;
  // Text pieces (normal and user-defined tokens): what characters and merges
  // may produce. Control, unknown and byte tokens are never produced by text.
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> piece_to_id_;
  // Every possible merge: (left id, right id) -> the normal token whose piece
  // is their concatenation, precomputed from each piece's split points so the
  // merge loop hashes two integers instead of building strings.
  std::unordered_map<uint64_t, int32_t> merges_;
  int32_t byte_ids_[256];  // <0xXX> token of each byte, or unk
  std::string byte_pieces_;  // 256 one-byte strings for decode_piece
};

}  // namespace flashnas
