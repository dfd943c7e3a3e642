// Models and datasets: validate, store content-addressed, record.
#include "app/file_catalog.hpp"

#include <fmt/format.h>

#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"
#include "app/model_validation.hpp"
#include "app/utf8.hpp"
#include "store/database.hpp"

namespace flashnas::app {

void check_display_name(const std::string& name) {
  if (name.empty() || name.size() > 200) throw InvalidInput("must be 1 to 200 bytes", "name");
  if (find_invalid_utf8(name)) throw InvalidInput("must be UTF-8 text", "name");
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7F) throw InvalidInput("must not contain control characters", "name");
  }
}

FileCatalog::FileCatalog(store::ConnectionPool& pool, FileStorage storage)
    : pool_(pool), storage_(std::move(storage)) {}

store::StoredFile FileCatalog::add_model(int64_t project_id, const std::string& name,
                                         const std::string& format, std::string_view bytes) {
  check_display_name(name);
  if (format != "gguf" && format != "safetensors") {
    throw InvalidInput("must be gguf or safetensors", "format");
  }
  const ValidatedModel model = validate_model_upload(format, bytes, storage_.root() / "tmp");
  const std::string sha = sha256_hex(bytes);
  std::string relative;
  if (format == "gguf") {
    relative = fmt::format("models/{}.gguf", sha);
    storage_.put_file(relative, bytes);
  } else {
    relative = fmt::format("models/{}", sha);  // a directory: config.json + model.safetensors
    storage_.put_directory(relative, model.directory_files);
  }
  store::NewStoredFile row{project_id, name, format, sha, static_cast<int64_t>(bytes.size()),
                           relative, model.metadata};
  return pool_.transact([&](pqxx::transaction_base& tx) {
    return store::file_insert(tx, store::FileKind::model, row);
  });
}

store::StoredFile FileCatalog::add_dataset(int64_t project_id, const std::string& name,
                                           std::string_view text) {
  check_display_name(name);
  if (text.empty()) throw InvalidInput("the body is empty; send the text", "body");
  if (const auto bad = find_invalid_utf8(text)) {
    throw InvalidInput(fmt::format("not UTF-8 text: invalid byte sequence at offset {}", *bad), "body");
  }
  if (text.find('\0') != std::string_view::npos) {
    throw InvalidInput("text must not contain NUL bytes", "body");
  }
  const std::string sha = sha256_hex(text);
  const std::string relative = fmt::format("datasets/{}.txt", sha);
  storage_.put_file(relative, text);
  int64_t lines = 0;
  for (char c : text) lines += c == '\n';
  if (text.back() != '\n') ++lines;
  store::NewStoredFile row{project_id, name, "text", sha, static_cast<int64_t>(text.size()), relative,
                           {{"lines", lines}}};
  return pool_.transact([&](pqxx::transaction_base& tx) {
    return store::file_insert(tx, store::FileKind::dataset, row);
  });
}

std::optional<store::StoredFile> FileCatalog::get(store::FileKind kind, int64_t project_id, int64_t id) {
  return pool_.read([&](pqxx::transaction_base& tx) { return store::file_get(tx, kind, project_id, id); });
}

std::vector<store::StoredFile> FileCatalog::list(store::FileKind kind, int64_t project_id,
                                                 std::optional<int64_t> before_id, int limit) {
  return pool_.read([&](pqxx::transaction_base& tx) {
    return store::file_list(tx, kind, project_id, before_id, limit);
  });
}

}  // namespace flashnas::app
