// The migrations runner: applies the numbered SQL files of migrations/ in order,
// each in its own transaction, and records them in flashnas_schema_migrations.
// Safe to run twice and from several processes at once (a transaction-level
// advisory lock serialises the runners). Not the schema itself (../migrations).
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

namespace flashnas::store {

struct MigrationFile {
  int version = 0;      // from the file name: 0001_initial.sql -> 1
  std::string name;     // "0001_initial.sql"
  std::string sql;
  std::string sha256;   // of the file's bytes; an applied file must never change
};

// The migrations directory: `flag_value` when given, else FLASHNAS_MIGRATIONS_DIR,
// else this source tree's migrations/ folder (compiled in).
std::string migrations_dir(const std::optional<std::string>& flag_value = std::nullopt);

// Reads every NNNN_name.sql file of `dir`, sorted by version. Throws InvalidInput
// for a missing directory, a badly named .sql file or two files with one version.
std::vector<MigrationFile> load_migrations(const std::string& dir);

struct MigrateReport {
  std::vector<std::string> applied;  // names applied by this call, in order
  int version = 0;                   // schema version afterwards
};

// Applies the pending files. Throws flashnas::Error when an applied file's
// checksum differs from the file on disk (files are never edited once applied)
// or when a file fails (its transaction is rolled back; earlier files stay).
MigrateReport migrate(const std::string& url, const std::vector<MigrationFile>& files);
MigrateReport migrate(const std::string& url, const std::string& dir);

struct SchemaStatus {
  int applied_version = 0;  // highest applied version (0: none)
  int latest_version = 0;   // highest version on disk
  bool current() const { return applied_version == latest_version; }
};

// For readiness checks: compares the database with the files (read-only).
SchemaStatus schema_status(pqxx::transaction_base& tx, const std::vector<MigrationFile>& files);

}  // namespace flashnas::store
