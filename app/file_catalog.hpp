// FileCatalog: the models and datasets of a project. Adding one validates the
// bytes (models by loading them with the engine, datasets as UTF-8 text), stores
// them content-addressed and records a row. Used by the API (uploads) and by
// `flashnas admin register-model/register-dataset` (files from an allowed folder).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/file_storage.hpp"
#include "store/file_repository.hpp"
#include "store/records.hpp"

namespace flashnas::store {
class ConnectionPool;
}

namespace flashnas::app {

class FileCatalog {
 public:
  FileCatalog(store::ConnectionPool& pool, FileStorage storage);

  // Throws InvalidInput naming the field ("name", "format", "body") when the
  // upload is refused; nothing is stored or recorded then.
  store::StoredFile add_model(int64_t project_id, const std::string& name, const std::string& format,
                              std::string_view bytes);
  store::StoredFile add_dataset(int64_t project_id, const std::string& name, std::string_view text);

  std::optional<store::StoredFile> get(store::FileKind kind, int64_t project_id, int64_t id);
  // Newest first; `before_id` is the last id of the previous page.
  std::vector<store::StoredFile> list(store::FileKind kind, int64_t project_id,
                                      std::optional<int64_t> before_id, int limit);

 private:
  store::ConnectionPool& pool_;
  FileStorage storage_;
};

// Names of models and datasets: 1..200 bytes of UTF-8 without control characters.
// Throws InvalidInput(field "name").
void check_display_name(const std::string& name);

}  // namespace flashnas::app
