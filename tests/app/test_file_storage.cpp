// The storage directory every process agrees on: the --storage flag, else
// FLASHNAS_STORAGE_DIR, else a refusal naming both (a worker used to fall back
// to its working directory and report files "missing").
#include <gtest/gtest.h>

#include <cstdlib>

#include "app/file_storage.hpp"
#include "engine/util/error.hpp"

namespace flashnas {
namespace {

TEST(StorageDir, FlagThenEnvironmentThenARefusalNamingBoth) {
  ::unsetenv("FLASHNAS_STORAGE_DIR");
  try {
    app::storage_dir(std::nullopt);
    FAIL() << "no storage directory was accepted";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "--storage");
    EXPECT_NE(std::string(e.what()).find("FLASHNAS_STORAGE_DIR"), std::string::npos);
  }
  ::setenv("FLASHNAS_STORAGE_DIR", "/srv/flashnas", 1);
  EXPECT_EQ(app::storage_dir(std::nullopt), "/srv/flashnas");
  EXPECT_EQ(app::storage_dir(std::string("/data")), "/data");
  ::unsetenv("FLASHNAS_STORAGE_DIR");
}

}  // namespace
}  // namespace flashnas
