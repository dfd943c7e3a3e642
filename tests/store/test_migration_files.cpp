// Reading the migrations directory: naming rules, ordering, checksums (no database).
#include <gtest/gtest.h>

#include <fstream>

#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"
#include "store/migrate.hpp"
#include "tests/support/test_data.hpp"
#include "tests/support/test_db.hpp"

namespace flashnas {
namespace {

void write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

TEST(MigrationFiles, SortedByVersionWithChecksums) {
  const auto dir = test::scratch_dir("migration_files_sorted");
  write(dir / "0002_second.sql", "SELECT 2;");
  write(dir / "0001_first.sql", "SELECT 1;");
  write(dir / "README.md", "not a migration");
  const auto files = store::load_migrations(dir.string());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].version, 1);
  EXPECT_EQ(files[0].name, "0001_first.sql");
  EXPECT_EQ(files[1].version, 2);
  EXPECT_EQ(files[0].sha256, sha256_hex("SELECT 1;"));
}

TEST(MigrationFiles, RefusesBadNamesDuplicatesAndMissingDirectory) {
  const auto bad = test::scratch_dir("migration_files_bad");
  write(bad / "1_short.sql", "SELECT 1;");
  EXPECT_THROW(store::load_migrations(bad.string()), InvalidInput);

  const auto dup = test::scratch_dir("migration_files_dup");
  write(dup / "0001_a.sql", "SELECT 1;");
  write(dup / "0001_b.sql", "SELECT 1;");
  EXPECT_THROW(store::load_migrations(dup.string()), InvalidInput);

  EXPECT_THROW(store::load_migrations((dup / "absent").string()), InvalidInput);
}

TEST(MigrationFiles, TheRepositoryMigrationsLoad) {
  const auto files = store::load_migrations(test::migrations_source_dir());
  ASSERT_FALSE(files.empty());
  EXPECT_EQ(files.front().name, "0001_initial.sql");
  for (size_t i = 0; i < files.size(); ++i) EXPECT_EQ(files[i].version, static_cast<int>(i) + 1);
}

TEST(MigrationFiles, UrlWithDatabaseKeepsHostAndParameters) {
  EXPECT_EQ(test::url_with_database("postgresql://u@127.0.0.1:5432/flashnas?sslmode=disable", "x"),
            "postgresql://u@127.0.0.1:5432/x?sslmode=disable");
  EXPECT_EQ(test::url_with_database("postgres://h", "y"), "postgres://h/y");
  EXPECT_EQ(store::redact_url("postgresql://u:secret@h:1/db?a=b"), "h:1/db");
}

}  // namespace
}  // namespace flashnas
