// llama2.c's tokenizer.bin format: i32 max_token_length, then for every token
// f32 score, i32 byte length, the bytes. The vocabulary size is not stored: the
// file simply ends after the last token. BOS and EOS are written "\n<s>\n" and
// "\n</s>\n" (llama2.c's tokenizer.py), which we map to "<s>" and "</s>".
#include <fstream>

#include "engine/model/byte_reader.hpp"
#include "engine/model/mapped_file.hpp"
#include "engine/model/tokenizer.hpp"

namespace flashnas {

namespace {

constexpr int32_t kMaxTokenLength = 1 << 12;

}  // namespace

Tokenizer Tokenizer::from_llama2c_bytes(std::span<const uint8_t> bytes, const std::string& what) {
  ByteReader in(bytes, what);
  const int32_t max_len = in.read<int32_t>("max_token_length");
  if (max_len < 1 || max_len > kMaxTokenLength) {
    in.fail("max_token_length", fmt::format("{} outside [1, {}]", max_len, kMaxTokenLength));
  }
  Vocabulary v;
  while (in.remaining() > 0) {
    const auto id = static_cast<int32_t>(v.pieces.size());
    const float score = in.read<float>("score");
    const int32_t len = in.read<int32_t>("length");
    if (len < 0 || len > max_len) {
      in.fail("length", fmt::format("token {} has length {} outside [0, {}]", id, len, max_len));
    }
    std::string piece(in.read_bytes(len, "piece"));
    if (piece == "\n<s>\n" || piece == "\n</s>\n") piece = piece.substr(1, piece.size() - 2);
    v.types.push_back(infer_token_type(id, piece));
    v.pieces.push_back(std::move(piece));
    v.scores.push_back(score);
  }
  // llama2.c hard-codes BOS = 1, EOS = 2 (and <unk> = 0).
  return Tokenizer(std::move(v));
}

Tokenizer Tokenizer::from_llama2c_file(const std::string& path) {
  MappedFile file(path);
  return from_llama2c_bytes(file.bytes(), path);
}

void Tokenizer::save_llama2c(const std::string& path) const {
  std::vector<std::string> pieces = vocab_.pieces;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (static_cast<int32_t>(i) == vocab_.bos_id || static_cast<int32_t>(i) == vocab_.eos_id) {
      pieces[i] = "\n" + pieces[i] + "\n";
    }
  }
  int32_t max_len = 1;
  for (const std::string& p : pieces) max_len = std::max(max_len, static_cast<int32_t>(p.size()));
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(fmt::format("cannot write {}", path));
  out.write(reinterpret_cast<const char*>(&max_len), 4);
  for (size_t i = 0; i < pieces.size(); ++i) {
    const float score = vocab_.scores[i];
    const auto len = static_cast<int32_t>(pieces[i].size());
    out.write(reinterpret_cast<const char*>(&score), 4);
    out.write(reinterpret_cast<const char*>(&len), 4);
    out.write(pieces[i].data(), len);
  }
  if (!out.flush()) throw Error(fmt::format("error writing {}", path));
}

}  // namespace flashnas
