// The migrations runner against a real database: idempotent, safe under
// concurrent runners, refuses edited files; every named statement prepares.
#include <gtest/gtest.h>

#include <thread>

#include "engine/util/error.hpp"
#include "store/database.hpp"
#include "store/migrate.hpp"
#include "store/statements.hpp"
#include "tests/support/test_db.hpp"

namespace flashnas {
namespace {

int count_rows(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::read_transaction tx(c);
  return tx.exec1(sql)[0].as<int>();
}

TEST(Migrate, AppliesEveryFileOnceAndIsIdempotent) {
  test::ScratchDatabase db(/*migrated=*/false);
  const auto files = store::load_migrations(test::migrations_source_dir());
  const auto first = store::migrate(db.url(), files);
  EXPECT_EQ(first.applied.size(), files.size());
  EXPECT_EQ(first.version, files.back().version);
  const auto second = store::migrate(db.url(), files);
  EXPECT_TRUE(second.applied.empty());
  EXPECT_EQ(second.version, first.version);
  EXPECT_EQ(count_rows(db.url(), "SELECT count(*) FROM flashnas_schema_migrations"), static_cast<int>(files.size()));
  EXPECT_EQ(count_rows(db.url(), "SELECT count(*) FROM pg_tables WHERE tablename = 'tasks'"), 1);
}

TEST(Migrate, ConcurrentRunnersApplyEachFileExactlyOnce) {
  test::ScratchDatabase db(/*migrated=*/false);
  const auto files = store::load_migrations(test::migrations_source_dir());
  constexpr int kRunners = 4;
  std::vector<store::MigrateReport> reports(kRunners);
  std::vector<std::string> errors(kRunners);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRunners; ++i) {
    threads.emplace_back([&, i] {
      try {
        reports[i] = store::migrate(db.url(), files);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  size_t applied = 0;
  for (int i = 0; i < kRunners; ++i) {
    EXPECT_EQ(errors[i], "") << "runner " << i;
    EXPECT_EQ(reports[i].version, files.back().version);
    applied += reports[i].applied.size();
  }
  EXPECT_EQ(applied, files.size());
  EXPECT_EQ(count_rows(db.url(), "SELECT count(*) FROM flashnas_schema_migrations"), static_cast<int>(files.size()));
}

TEST(Migrate, RefusesAFileChangedAfterItWasApplied) {
  test::ScratchDatabase db(/*migrated=*/false);
  auto files = store::load_migrations(test::migrations_source_dir());
  store::migrate(db.url(), files);
  files[0].sql += "\n-- edited\n";
  files[0].sha256 = std::string(64, 'a');
  EXPECT_THROW(store::migrate(db.url(), files), Error);
}

TEST(Migrate, FailingFileRollsBackAndLaterFilesWait) {
  test::ScratchDatabase db(/*migrated=*/false);
  auto files = store::load_migrations(test::migrations_source_dir());
  store::MigrationFile broken{static_cast<int>(files.size()) + 1, "broken.sql",
                              "CREATE TABLE half_done (x int); SELECT no_such_function();", std::string(64, 'b')};
  store::MigrationFile later{broken.version + 1, "later.sql", "CREATE TABLE later (x int);", std::string(64, 'c')};
  files.push_back(broken);
  files.push_back(later);
  EXPECT_THROW(store::migrate(db.url(), files), Error);
  EXPECT_EQ(count_rows(db.url(), "SELECT count(*) FROM pg_tables WHERE tablename IN ('half_done', 'later')"), 0);
  EXPECT_EQ(count_rows(db.url(), "SELECT max(version) FROM flashnas_schema_migrations"), broken.version - 1);
}

TEST(Migrate, SchemaStatusTellsWhetherTheDatabaseIsCurrent) {
  test::ScratchDatabase db(/*migrated=*/false);
  const auto files = store::load_migrations(test::migrations_source_dir());
  {
    auto conn = store::connect(db.url());
    pqxx::read_transaction tx(*conn);
    const auto s = store::schema_status(tx, files);
    EXPECT_EQ(s.applied_version, 0);
    EXPECT_FALSE(s.current());
  }
  store::migrate(db.url(), files);
  auto conn = store::connect(db.url());
  pqxx::read_transaction tx(*conn);
  EXPECT_TRUE(store::schema_status(tx, files).current());
}

TEST(Migrate, EveryNamedStatementPreparesOnTheMigratedSchema) {
  test::ScratchDatabase db;
  auto conn = db.connect();
  int n = 0;
  for (auto list : {store::project_statements(), store::file_statements(), store::job_statements(),
                    store::trial_statements(), store::event_statements(), store::task_statements(),
                    store::latency_statements()}) {
    for (const auto& s : list) {
      EXPECT_NO_THROW(conn->prepare_now(s.name)) << s.name;
      ++n;
    }
  }
  EXPECT_GT(n, 30);
}

TEST(Migrate, MissingUrlNamesTheFlag) {
  try {
    store::database_url(std::string());
    FAIL() << "an empty --database was accepted";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "--database");
  }
}

}  // namespace
}  // namespace flashnas
