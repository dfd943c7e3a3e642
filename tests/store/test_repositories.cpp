// Repositories without job logic, against a real database: API keys authenticate
// until revoked; files are scoped to their project.
#include <gtest/gtest.h>

#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"
#include "store/store.hpp"
#include "tests/support/test_db.hpp"

namespace flashnas {
namespace {

class Repositories : public test::DbConnectionTest {
 protected:
  void SetUp() override {
    DbConnectionTest::SetUp();
    project_ = in_tx([](pqxx::work& tx) { return store::project_ensure(tx, "alpha").id; });
    other_project_ = in_tx([](pqxx::work& tx) { return store::project_ensure(tx, "beta").id; });
  }
  int64_t project_ = 0, other_project_ = 0;
};

TEST_F(Repositories, KeysAuthenticateUntilRevoked) {
  const std::string hash = sha256_hex("secret-key");
  const auto key = in_tx([&](pqxx::work& tx) {
    return store::api_key_create(tx, {project_, hash, "fn_sec", {"read", "submit"}, "ci"});
  });
  const auto found = in_tx([&](pqxx::work& tx) { return store::api_key_authenticate(tx, hash); });
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->project_id, project_);
  EXPECT_TRUE(found->has_scope("submit"));
  EXPECT_FALSE(found->has_scope("admin"));
  EXPECT_FALSE(in_tx([&](pqxx::work& tx) { return store::api_key_authenticate(tx, sha256_hex("other")); }).has_value());
  EXPECT_TRUE(in_tx([&](pqxx::work& tx) { return store::api_key_revoke(tx, key.id); }));
  EXPECT_FALSE(in_tx([&](pqxx::work& tx) { return store::api_key_authenticate(tx, hash); }).has_value());
  EXPECT_THROW(in_tx([&](pqxx::work& tx) { return store::api_key_create(tx, {project_, hash, "x", {"root"}, ""}); }),
               InvalidInput);
}

TEST_F(Repositories, FilesAreScopedToTheirProject) {
  store::NewStoredFile f{project_, "stories", "gguf", sha256_hex("x"), 1, "models/ab/abcd.gguf", {{"n_layers", 5}}};
  const auto m = in_tx([&](pqxx::work& tx) { return store::file_insert(tx, store::FileKind::model, f); });
  in_tx([&](pqxx::work& tx) {
    EXPECT_TRUE(store::file_get(tx, store::FileKind::model, project_, m.id).has_value());
    EXPECT_FALSE(store::file_get(tx, store::FileKind::model, other_project_, m.id).has_value());
    EXPECT_FALSE(store::file_get(tx, store::FileKind::dataset, project_, m.id).has_value());
    EXPECT_EQ(store::file_list(tx, store::FileKind::model, project_, std::nullopt, 10).size(), 1u);
  });
}

}  // namespace
}  // namespace flashnas
