// Locating the shared assets (../shared/data or $FLASHNAS_DATA_DIR) from tests.
// A missing asset fails the test loudly: CI always has them.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace flashnas::test {

inline std::filesystem::path data_dir() {
  if (const char* env = std::getenv("FLASHNAS_DATA_DIR"); env && *env) return env;
  return std::filesystem::path(FLASHNAS_SOURCE_DIR) / ".." / "shared" / "data";
}

// Full path of a shared asset; throws if it is absent so the test fails with the reason.
inline std::string data_path(const std::string& name) {
  const auto path = data_dir() / name;
  if (!std::filesystem::exists(path)) {
    throw std::runtime_error("missing test asset " + path.string() +
                             " (set FLASHNAS_DATA_DIR or run scripts/fetch-data)");
  }
  return path.string();
}

// A whole file's bytes ("" when unreadable: the test's own checks then fail).
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A fresh directory under the build tree for one test's files. ctest runs each
// test in its own process, in parallel, so the directory is keyed by the running
// test's full name as well: two tests asking for the same `name` never collide.
inline std::filesystem::path scratch_dir(const std::string& name) {
  auto dir = std::filesystem::path(FLASHNAS_BINARY_DIR) / "test-scratch";
  if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info()) {
    dir /= std::string(info->test_suite_name()) + "." + info->name();
  }
  dir /= name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace flashnas::test
