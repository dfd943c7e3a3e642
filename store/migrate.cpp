// The migrations runner (see migrate.hpp).
#include "store/migrate.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"
#include "store/database.hpp"

namespace flashnas::store {
namespace {

namespace fs = std::filesystem;

// Any constant works as long as every runner uses the same one: "flashnas" in ASCII.
constexpr int64_t kMigrationLockKey = 0x666c6173686e6173;

constexpr const char* kCreateVersionTable = R"SQL(
CREATE TABLE IF NOT EXISTS flashnas_schema_migrations (
  version    integer PRIMARY KEY CHECK (version >= 1),
  name       text NOT NULL,
  sha256     text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  applied_at timestamptz NOT NULL DEFAULT now()
))SQL";

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidInput("cannot read migration " + path.string(), "migrations");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// version -> sha256 of what is recorded as applied.
std::map<int, std::string> applied_versions(pqxx::transaction_base& tx) {
  std::map<int, std::string> out;
  const auto exists = tx.exec1("SELECT to_regclass('flashnas_schema_migrations') IS NOT NULL");
  if (!exists[0].as<bool>()) return out;
  for (const auto& row : tx.exec("SELECT version, sha256 FROM flashnas_schema_migrations")) {
    out[row[0].as<int>()] = row[1].as<std::string>();
  }
  return out;
}

void check_unchanged(const std::map<int, std::string>& applied, const std::vector<MigrationFile>& files) {
  for (const auto& f : files) {
    auto it = applied.find(f.version);
    if (it != applied.end() && it->second != f.sha256) {
      throw Error("migration " + f.name + " was changed after it was applied (sha256 " + f.sha256 +
                  ", applied " + it->second + "); add a new migration file instead");
    }
  }
}

}  // namespace

std::string migrations_dir(const std::optional<std::string>& flag_value) {
  if (flag_value) return *flag_value;
  if (const char* env = std::getenv("FLASHNAS_MIGRATIONS_DIR"); env != nullptr && *env != '\0') return env;
  return FLASHNAS_DEFAULT_MIGRATIONS_DIR;
}

std::vector<MigrationFile> load_migrations(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw InvalidInput("migrations directory " + dir + " does not exist", "--migrations");
  }
  static const std::regex pattern(R"(^(\d{4})_[a-z0-9_]+\.sql$)");
  std::vector<MigrationFile> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".sql") continue;
    std::smatch m;
    if (!std::regex_match(name, m, pattern)) {
      throw InvalidInput("migration file " + name + " is not named NNNN_lowercase_name.sql", "--migrations");
    }
    MigrationFile f;
    f.version = std::stoi(m[1].str());
    if (f.version < 1) throw InvalidInput("migration versions start at 0001: " + name, "--migrations");
    f.name = name;
    f.sql = read_file(entry.path());
    f.sha256 = sha256_hex(f.sql);
    files.push_back(std::move(f));
  }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.version < b.version; });
  for (size_t i = 1; i < files.size(); ++i) {
    if (files[i].version == files[i - 1].version) {
      throw InvalidInput("two migrations share version " + std::to_string(files[i].version) + ": " +
                         files[i - 1].name + " and " + files[i].name, "--migrations");
    }
  }
  return files;
}

MigrateReport migrate(const std::string& url, const std::vector<MigrationFile>& files) {
  auto conn_ptr = connect(url);
  pqxx::connection& conn = *conn_ptr;
  MigrateReport report;
  {
    // Creating the version table races between runners too (CREATE ... IF NOT
    // EXISTS is not atomic against a concurrent create), so take the lock first.
    pqxx::work tx(conn);
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    tx.exec0(kCreateVersionTable);
    tx.commit();
  }
  for (const auto& f : files) {
    pqxx::work tx(conn);
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
    const auto applied = applied_versions(tx);
    check_unchanged(applied, files);
    if (applied.count(f.version)) continue;  // done earlier, or by a runner we waited for
    try {
      tx.exec0(f.sql);
    } catch (const pqxx::sql_error& e) {
      throw Error("migration " + f.name + " failed: " + e.what());
    }
    tx.exec_params0("INSERT INTO flashnas_schema_migrations (version, name, sha256) VALUES ($1, $2, $3)",
                    f.version, f.name, f.sha256);
    tx.commit();
    report.applied.push_back(f.name);
  }
  pqxx::work tx(conn);
  report.version = tx.exec1("SELECT coalesce(max(version), 0) FROM flashnas_schema_migrations")[0].as<int>();
  tx.commit();
  return report;
}

MigrateReport migrate(const std::string& url, const std::string& dir) {
  return migrate(url, load_migrations(dir));
}

SchemaStatus schema_status(pqxx::transaction_base& tx, const std::vector<MigrationFile>& files) {
  SchemaStatus status;
  for (const auto& [version, sha] : applied_versions(tx)) status.applied_version = std::max(status.applied_version, version);
  for (const auto& f : files) status.latest_version = std::max(status.latest_version, f.version);
  return status;
}

}  // namespace flashnas::store
