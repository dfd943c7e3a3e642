// The schema's own guards: constraints reject bad rows even when code is bypassed.
#include <gtest/gtest.h>

#include "engine/util/sha256.hpp"
#include "tests/support/test_db.hpp"

namespace flashnas {
namespace {

class Schema : public test::DbTest {
 protected:
  void SetUp() override {
    DbTest::SetUp();
    conn_ = db_->connect();
    pqxx::work tx(*conn_);
    project_ = tx.exec1("INSERT INTO projects (name) VALUES ('p') RETURNING id")[0].as<int64_t>();
    job_ = tx.exec_params1("INSERT INTO jobs (project_id, kind, name, spec) VALUES ($1, 'sweep', 'j', '{}') "
                           "RETURNING id", project_)[0].as<int64_t>();
    tx.commit();
  }
  // Runs one statement in its own transaction; returns the exception it raised, if any.
  template <class E>
  bool rejects(const std::string& sql) {
    try {
      pqxx::work tx(*conn_);
      tx.exec0(sql);
      tx.commit();
    } catch (const E&) {
      return true;
    }
    return false;
  }
  bool accepts(const std::string& sql) {
    pqxx::work tx(*conn_);
    tx.exec0(sql);
    tx.commit();
    return true;
  }
  std::string job() const { return std::to_string(job_); }
  std::string hash(const std::string& s) const { return "'" + sha256_hex(s) + "'"; }

  std::unique_ptr<pqxx::connection> conn_;
  int64_t project_ = 0, job_ = 0;
};

TEST_F(Schema, OneTrialPerArchitectureHashPerJob) {
  const std::string insert = "INSERT INTO trials (job_id, ordinal, seq, arch, arch_hash) VALUES (" + job() + ", ";
  EXPECT_TRUE(accepts(insert + "0, 1, '{}', " + hash("a") + ")"));
  EXPECT_TRUE((rejects<pqxx::unique_violation>(insert + "1, 2, '{}', " + hash("a") + ")")));
  EXPECT_TRUE((rejects<pqxx::check_violation>(insert + "1, 2, '{}', 'not-hex')")));
  EXPECT_TRUE((rejects<pqxx::check_violation>(insert + "1, 2, '[]', " + hash("b") + ")")));
  EXPECT_TRUE((rejects<pqxx::foreign_key_violation>(
      "INSERT INTO trials (job_id, ordinal, seq, arch, arch_hash) VALUES (999999, 0, 1, '{}', " + hash("c") + ")")));
}

TEST_F(Schema, StatesAreClosedAndConsistent) {
  EXPECT_TRUE((rejects<pqxx::data_exception>("UPDATE jobs SET state = 'paused' WHERE id = " + job())));
  EXPECT_TRUE((rejects<pqxx::check_violation>("UPDATE jobs SET state = 'failed', finished_at = now() WHERE id = " + job())))
      << "a failed job without an error";
  EXPECT_TRUE((rejects<pqxx::check_violation>("UPDATE jobs SET state = 'succeeded' WHERE id = " + job())))
      << "a finished job without finished_at";
  EXPECT_TRUE((rejects<pqxx::check_violation>("INSERT INTO tasks (kind, state) VALUES ('evaluate', 'running')")))
      << "a running task without a lease";
  EXPECT_TRUE((rejects<pqxx::check_violation>(
      "INSERT INTO tasks (kind, state, finished_at) VALUES ('evaluate', 'dead', now())")))
      << "a dead task without its error";
  EXPECT_TRUE((rejects<pqxx::check_violation>("INSERT INTO tasks (kind, attempts, max_attempts) VALUES ('latency', 4, 3)")));
  EXPECT_TRUE((rejects<pqxx::data_exception>("INSERT INTO tasks (kind) VALUES ('train')")));
}

TEST_F(Schema, KeysFilesAndMetricsAreChecked) {
  const std::string p = std::to_string(project_);
  EXPECT_TRUE((rejects<pqxx::check_violation>("INSERT INTO api_keys (project_id, key_hash, key_prefix, scopes) VALUES (" +
                                              p + ", " + hash("k") + ", 'k', ARRAY['root'])")));
  EXPECT_TRUE((rejects<pqxx::check_violation>("INSERT INTO models (project_id, name, format, sha256, size_bytes, "
                                              "storage_path) VALUES (" + p + ", 'm', 'gguf', " + hash("m") +
                                              ", 1, '/etc/passwd')")));
  EXPECT_TRUE((rejects<pqxx::check_violation>("INSERT INTO models (project_id, name, format, sha256, size_bytes, "
                                              "storage_path) VALUES (" + p + ", 'm', 'gguf', " + hash("m") +
                                              ", 1, 'models/../../x')")));
  EXPECT_TRUE((rejects<pqxx::check_violation>("INSERT INTO datasets (project_id, name, format, sha256, size_bytes, "
                                              "storage_path) VALUES (" + p + ", 'd', 'csv', " + hash("d") +
                                              ", 1, 'd.txt')")));
  EXPECT_TRUE((rejects<pqxx::check_violation>("INSERT INTO trials (job_id, ordinal, seq, arch, arch_hash, prefill_ms) "
                                              "VALUES (" + job() + ", 0, 1, '{}', " + hash("t") + ", -1)")));
  EXPECT_TRUE((rejects<pqxx::unique_violation>(
      "INSERT INTO jobs (project_id, kind, name, spec, idempotency_key) VALUES (" + p + ", 'sweep', 'a', '{}', 'k'), (" +
      p + ", 'sweep', 'b', '{}', 'k')")));
}

}  // namespace
}  // namespace flashnas
