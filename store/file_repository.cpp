// Models and datasets: SQL (see file_repository.hpp). The two tables have the same
// shape, so each statement exists once per table, chosen by FileKind.
#include "store/file_repository.hpp"

#include "engine/util/error.hpp"
#include "store/row_reader.hpp"
#include "store/statements.hpp"

namespace flashnas::store {
namespace {

#define FILE_COLUMNS                                                                  \
  "id, project_id, name, format, sha256, size_bytes, storage_path, metadata::text AS metadata, " \
  FLASHNAS_SQL_TS("created_at")
#define FILE_STATEMENTS(table)                                                                \
  {#table "_insert",                                                                          \
   "INSERT INTO " #table " (project_id, name, format, sha256, size_bytes, storage_path, metadata) " \
   "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING " FILE_COLUMNS},                    \
  {#table "_get", "SELECT " FILE_COLUMNS " FROM " #table " WHERE id = $1 AND project_id = $2"}, \
  {#table "_get_any_project", "SELECT " FILE_COLUMNS " FROM " #table " WHERE id = $1"},      \
  {#table "_list",                                                                            \
   "SELECT " FILE_COLUMNS " FROM " #table " WHERE project_id = $1 AND ($2::bigint IS NULL OR id < $2) " \
   "ORDER BY id DESC LIMIT $3"}

const Statement kStatements[] = {FILE_STATEMENTS(models), FILE_STATEMENTS(datasets)};

std::string statement(FileKind kind, const char* verb) {
  return std::string(kind == FileKind::model ? "models_" : "datasets_") + verb;
}

StoredFile read_file(const pqxx::row& r) {
  StoredFile f;
  f.id = r["id"].as<int64_t>();
  f.project_id = r["project_id"].as<int64_t>();
  f.name = row::str(r, "name");
  f.format = row::str(r, "format");
  f.sha256 = row::str(r, "sha256");
  f.size_bytes = r["size_bytes"].as<int64_t>();
  f.storage_path = row::str(r, "storage_path");
  f.metadata = row::json(r, "metadata");
  f.created_at = row::str(r, "created_at");
  return f;
}

std::optional<StoredFile> read_optional(const pqxx::result& res) {
  if (res.empty()) return std::nullopt;
  return read_file(res[0]);
}

}  // namespace

std::span<const Statement> file_statements() { return kStatements; }

StoredFile file_insert(pqxx::transaction_base& tx, FileKind kind, const NewStoredFile& file) {
  if (!file.metadata.is_object()) throw InvalidInput("metadata must be a JSON object", "metadata");
  return read_file(tx.exec_prepared1(statement(kind, "insert"), file.project_id, file.name, file.format,
                                     file.sha256, file.size_bytes, file.storage_path, file.metadata.dump()));
}

std::optional<StoredFile> file_get(pqxx::transaction_base& tx, FileKind kind, int64_t project_id, int64_t id) {
  return read_optional(tx.exec_prepared(statement(kind, "get"), id, project_id));
}

std::optional<StoredFile> file_get_any_project(pqxx::transaction_base& tx, FileKind kind, int64_t id) {
  return read_optional(tx.exec_prepared(statement(kind, "get_any_project"), id));
}

std::vector<StoredFile> file_list(pqxx::transaction_base& tx, FileKind kind, int64_t project_id,
                                  std::optional<int64_t> before_id, int limit) {
  std::vector<StoredFile> out;
  for (const auto& r : tx.exec_prepared(statement(kind, "list"), project_id, before_id, limit)) {
    out.push_back(read_file(r));
  }
  return out;
}

}  // namespace flashnas::store
