// SentencePiece-BPE encode/decode with llama2.c's semantics. Encoding uses a
// linked list of symbols and a priority queue of candidate merges (as
// SentencePiece and llama.cpp do), O(n log n) instead of llama2.c's O(n^2)
// rescans; the merge order is the same: highest score first, leftmost on ties.
#include "engine/model/tokenizer.hpp"

#include <cmath>
#include <queue>

#include "engine/util/error.hpp"

namespace flashnas {

namespace {

constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr size_t kMaxPieceBytes = 1 << 12;

// "<0x41>" -> 0x41; -1 for anything else.
int parse_byte_piece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(piece[3]), lo = hex(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace

TokenType infer_token_type(int32_t id, std::string_view piece) {
  if (id == 0 && piece == "<unk>") return TokenType::unknown;
  if (piece == "<s>" || piece == "</s>") return TokenType::control;
  if (parse_byte_piece(piece) >= 0) return TokenType::byte;
  return TokenType::normal;
}

Tokenizer::Tokenizer(Vocabulary vocab) : vocab_(std::move(vocab)) {
  const int64_t V = static_cast<int64_t>(vocab_.pieces.size());
  if (V < 1 || V > kMaxVocab) {
    throw InvalidInput(fmt::format("tokenizer vocabulary size {} outside [1, {}]", V, kMaxVocab),
                       "tokenizer.tokens");
  }
  if (static_cast<int64_t>(vocab_.scores.size()) != V) {
    throw InvalidInput(fmt::format("tokenizer has {} scores for {} tokens", vocab_.scores.size(), V),
                       "tokenizer.scores");
  }
  if (static_cast<int64_t>(vocab_.types.size()) != V) {
    throw InvalidInput(fmt::format("tokenizer has {} token types for {} tokens",
                                   vocab_.types.size(), V),
                       "tokenizer.token_type");
  }
  auto check_id = [V](int32_t id, const char* field) {
    if (id < 0 || id >= V) {
      throw InvalidInput(fmt::format("tokenizer {} = {} outside [0, {})", field, id, V), field);
    }
  };
  check_id(vocab_.bos_id, "bos_token_id");
  check_id(vocab_.eos_id, "eos_token_id");
  check_id(vocab_.unk_id, "unknown_token_id");
  for (int32_t b = 0; b < 256; ++b) byte_ids_[b] = vocab_.unk_id;
  byte_pieces_.resize(256);
  for (int b = 0; b < 256; ++b) byte_pieces_[static_cast<size_t>(b)] = static_cast<char>(b);
  piece_to_id_.reserve(static_cast<size_t>(V));
  for (int32_t id = 0; id < V; ++id) {
    const std::string& piece = vocab_.pieces[static_cast<size_t>(id)];
    if (piece.size() > kMaxPieceBytes) {
      throw InvalidInput(fmt::format("token {} is {} bytes long (limit {})", id, piece.size(),
                                     kMaxPieceBytes),
                         "tokenizer.tokens");
    }
    if (!std::isfinite(vocab_.scores[static_cast<size_t>(id)])) {
      throw InvalidInput(fmt::format("token {} has a non-finite score", id), "tokenizer.scores");
    }
    const TokenType type = vocab_.types[static_cast<size_t>(id)];
    const auto t = static_cast<int32_t>(type);
    if (t < 1 || t > 6) {
      throw InvalidInput(fmt::format("token {} has unknown type {}", id, t), "tokenizer.token_type");
    }
    if (type == TokenType::byte) {
      const int b = parse_byte_piece(piece);
      if (b < 0) {
        throw InvalidInput(fmt::format("byte token {} is '{}', not <0xXX>", id, piece),
                           "tokenizer.tokens");
      }
      byte_ids_[b] = id;
    } else if ((type == TokenType::normal || type == TokenType::user_defined) && !piece.empty()) {
      piece_to_id_.emplace(piece, id);  // first id wins on duplicates
    }
  }
  build_merges();
}

void Tokenizer::build_merges() {
  // Symbols are any token (byte and unknown tokens included), so split halves
  // may name any token with that piece.
  std::unordered_map<std::string_view, std::vector<int32_t>> ids_of_piece;
  for (int32_t id = 0; id < vocab_size(); ++id) {
    ids_of_piece[vocab_.pieces[static_cast<size_t>(id)]].push_back(id);
  }
  for (const auto& [piece, merged] : piece_to_id_) {
    for (size_t k = 1; k < piece.size(); ++k) {
      auto left = ids_of_piece.find(std::string_view(piece).substr(0, k));
      if (left == ids_of_piece.end()) continue;
      auto right = ids_of_piece.find(std::string_view(piece).substr(k));
      if (right == ids_of_piece.end()) continue;
      for (int32_t a : left->second) {
        for (int32_t b : right->second) merges_.emplace(pair_key(a, b), merged);
      }
    }
  }
}

int32_t Tokenizer::lookup(std::string_view piece) const {
  auto it = piece_to_id_.find(piece);
  return it == piece_to_id_.end() ? -1 : it->second;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool bos, bool eos) const {
  std::vector<int32_t> out;
  out.reserve(text.size() + 3);
  if (bos) out.push_back(vocab_.bos_id);
  if (!text.empty()) encode_text(text, out);
  if (eos) out.push_back(vocab_.eos_id);
  return out;
}

void Tokenizer::encode_text(std::string_view text, std::vector<int32_t>& out) const {
  // Symbols form a doubly linked list; merging folds the right symbol into the
  // left one and bumps the left's version, which invalidates queued pairs.
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    uint32_t version;
  };
  std::vector<Symbol> syms;
  syms.reserve(text.size() + 1);
  auto push_id = [&syms](int32_t id) {
    const auto n = static_cast<int32_t>(syms.size());
    syms.push_back({id, n - 1, n + 1, 0});
  };
  auto push_bytes = [&](std::string_view bytes) {
    for (unsigned char c : bytes) push_id(byte_ids_[c]);
  };
  // Dummy prefix: SentencePiece's add_dummy_prefix, a word boundary before the text.
  if (const int32_t space = lookup(" "); space >= 0) {
    push_id(space);
  } else {
    push_bytes(" ");
  }
  // One UTF-8 character at a time (a lead byte plus up to 3 continuation bytes,
  // grouped exactly as llama2.c does); unknown characters fall back to bytes.
  size_t i = 0;
  while (i < text.size()) {
    size_t len = 1;
    while (i + len < text.size() && len < 4 &&
           (static_cast<unsigned char>(text[i + len]) & 0xC0) == 0x80) {
      ++len;
    }
    const std::string_view ch = text.substr(i, len);
    if (const int32_t id = lookup(ch); id >= 0) {
      push_id(id);
    } else {
      push_bytes(ch);
    }
    i += len;
  }
  syms.back().next = -1;

  struct Candidate {
    float score;
    int32_t left, right;
    uint32_t left_version, right_version;
    int32_t merged;
  };
  auto worse = [](const Candidate& a, const Candidate& b) {
    if (a.score != b.score) return a.score < b.score;
    return a.left > b.left;  // leftmost first on equal scores
  };
  std::vector<Candidate> storage;
  storage.reserve(syms.size());
  std::priority_queue<Candidate, std::vector<Candidate>, decltype(worse)> queue(
      worse, std::move(storage));
  auto try_pair = [&](int32_t left) {
    if (left < 0) return;
    const int32_t right = syms[static_cast<size_t>(left)].next;
    if (right < 0) return;
    const Symbol& a = syms[static_cast<size_t>(left)];
    const Symbol& b = syms[static_cast<size_t>(right)];
    auto it = merges_.find(pair_key(a.id, b.id));
    if (it == merges_.end()) return;
    const int32_t merged = it->second;
    queue.push({vocab_.scores[static_cast<size_t>(merged)], left, right, a.version, b.version,
                merged});
  };
  for (int32_t s = 0; s + 1 < static_cast<int32_t>(syms.size()); ++s) try_pair(s);

  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& a = syms[static_cast<size_t>(c.left)];
    if (a.id < 0 || a.version != c.left_version || a.next != c.right) continue;
    Symbol& b = syms[static_cast<size_t>(c.right)];
    if (b.id < 0 || b.version != c.right_version) continue;
    a.id = c.merged;
    ++a.version;
    a.next = b.next;
    if (b.next >= 0) syms[static_cast<size_t>(b.next)].prev = c.left;
    b.id = -1;  // dead
    try_pair(a.prev);
    try_pair(c.left);
  }
  for (int32_t s = 0; s >= 0; s = syms[static_cast<size_t>(s)].next) {
    out.push_back(syms[static_cast<size_t>(s)].id);
  }
}

std::string_view Tokenizer::decode_piece(int32_t prev_token, int32_t token) const {
  if (token < 0 || token >= vocab_size()) {
    throw InvalidInput(fmt::format("token id {} outside the vocabulary [0, {})", token,
                                   vocab_size()),
                       "token");
  }
  const size_t t = static_cast<size_t>(token);
  switch (vocab_.types[t]) {
    case TokenType::control: return {};
    case TokenType::byte: {
      const int b = parse_byte_piece(vocab_.pieces[t]);
      return std::string_view(byte_pieces_).substr(static_cast<size_t>(b), 1);
    }
    default: break;
  }
  std::string_view piece = vocab_.pieces[t];
  if (prev_token == vocab_.bos_id && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
  return piece;
}

std::string Tokenizer::decode(std::span<const int32_t> tokens) const {
  std::string out;
  bool at_start = true;  // only control tokens (BOS) so far
  for (int32_t token : tokens) {
    // At the start of a sequence act as if after BOS, so the dummy prefix is dropped.
    std::string_view piece = decode_piece(at_start ? vocab_.bos_id : -1, token);
    if (vocab_.types[static_cast<size_t>(token)] != TokenType::control) at_start = false;
    out.append(piece);
  }
  return out;
}

}  // namespace flashnas
