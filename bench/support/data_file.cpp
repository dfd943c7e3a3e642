#include "bench/support/data_file.hpp"

#include <cstdlib>
#include <filesystem>

#include "engine/util/error.hpp"

namespace flashnas::bench {

std::string data_file(const std::string& name) {
  std::filesystem::path dir = std::filesystem::path(FLASHNAS_SOURCE_DIR) / ".." / "shared" / "data";
  if (const char* env = std::getenv("FLASHNAS_DATA_DIR"); env && *env) dir = env;
  const auto path = dir / name;
  if (!std::filesystem::exists(path)) throw Error("missing asset " + path.string(), "data_dir");
  return path.string();
}

}  // namespace flashnas::bench
