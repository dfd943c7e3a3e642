// A fresh PostgreSQL database per test (fixture), for the `db` tests: created on
// the running test cluster named by FLASHNAS_DATABASE_URL (scripts/pg-start),
// migrated with migrations/, and dropped afterwards. Without that variable the
// test fails with the reason (a `db` test must not pass without a database).
#pragma once

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <unistd.h>
#include <utility>

#include "store/database.hpp"
#include "store/migrate.hpp"

namespace flashnas::test {

// The same URL with another database name (postgresql://user@host:port/NAME?params).
inline std::string url_with_database(const std::string& url, const std::string& dbname) {
  static const std::regex uri(R"(^(postgres(?:ql)?://[^/?]*)(/[^?]*)?(\?.*)?$)");
  std::smatch m;
  if (!std::regex_match(url, m, uri)) throw std::runtime_error("FLASHNAS_DATABASE_URL is not a postgresql:// URL");
  return m[1].str() + "/" + dbname + m[3].str();
}

inline std::string migrations_source_dir() { return std::string(FLASHNAS_SOURCE_DIR) + "/migrations"; }

// Owns one database: CREATE on construction (optionally migrated), DROP on destruction.
class ScratchDatabase {
 public:
  explicit ScratchDatabase(bool migrated = true) {
    const char* env = std::getenv("FLASHNAS_DATABASE_URL");
    if (env == nullptr || *env == '\0') {
      throw std::runtime_error("FLASHNAS_DATABASE_URL is not set: start the test cluster with scripts/pg-start "
                               "(scripts/test does this)");
    }
    admin_url_ = env;
    static std::atomic<int> counter{0};
    std::random_device rd;
    name_ = "flashnas_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
            std::to_string(rd() % 1000000);
    {
      pqxx::connection admin(admin_url_);
      pqxx::nontransaction tx(admin);
      tx.exec0("CREATE DATABASE " + tx.quote_name(name_));
    }
    url_ = url_with_database(admin_url_, name_);
    try {
      if (migrated) store::migrate(url_, migrations_source_dir());
    } catch (...) {
      drop();  // the destructor will not run for a half-built fixture
      throw;
    }
  }
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;
  ~ScratchDatabase() { drop(); }

  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  // A connection with the store's prepared statements.
  std::unique_ptr<pqxx::connection> connect() const { return store::open_connection(url_); }

 private:
  void drop() noexcept {
    try {
      pqxx::connection admin(admin_url_);
      pqxx::nontransaction tx(admin);
      tx.exec0("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "could not drop test database " << name_ << ": " << e.what();
    }
  }

  std::string admin_url_, url_, name_;
};

// Fixture: `db_` is a fresh migrated database for each test.
class DbTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = std::make_unique<ScratchDatabase>(); }
  void TearDown() override { db_.reset(); }
  std::unique_ptr<ScratchDatabase> db_;
};

// Fixture: DbTest plus one open connection `conn_` and in_tx(fn), which runs
// fn(tx) in its own committed transaction.
class DbConnectionTest : public DbTest {
 protected:
  void SetUp() override {
    DbTest::SetUp();
    conn_ = db_->connect();
  }
  void TearDown() override {
    conn_.reset();
    DbTest::TearDown();
  }
  template <class F>
  auto in_tx(F&& fn) {
    return store::in_transaction(*conn_, std::forward<F>(fn));
  }
  std::unique_ptr<pqxx::connection> conn_;
};

}  // namespace flashnas::test
