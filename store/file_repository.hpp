// Models and datasets: SQL for the rows describing stored files (the files
// themselves live content-addressed under the storage directory, written by
// the server). Every read is scoped to a project: another project's id is "not found".
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "store/records.hpp"

namespace flashnas::store {

enum class FileKind { model, dataset };

struct NewStoredFile {
  int64_t project_id = 0;
  std::string name;
  std::string format;        // model: gguf | safetensors; dataset: text
  std::string sha256;
  int64_t size_bytes = 0;
  std::string storage_path;  // relative to the storage directory
  nlohmann::json metadata = nlohmann::json::object();
};

StoredFile file_insert(pqxx::transaction_base& tx, FileKind kind, const NewStoredFile& file);
std::optional<StoredFile> file_get(pqxx::transaction_base& tx, FileKind kind, int64_t project_id, int64_t id);
// Without a project check: for workers, which act on tasks the server already scoped.
std::optional<StoredFile> file_get_any_project(pqxx::transaction_base& tx, FileKind kind, int64_t id);

// Newest first; keyset pagination: pass the last id of a page as `before_id`.
std::vector<StoredFile> file_list(pqxx::transaction_base& tx, FileKind kind, int64_t project_id,
                                  std::optional<int64_t> before_id, int limit);

}  // namespace flashnas::store
