// Atomic file writes (see atomic_file.hpp).
#include "engine/util/atomic_file.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "engine/util/error.hpp"

namespace flashnas {

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& fill,
                           const std::string& field) {
  const std::string tmp = path + fmt::format(".tmp{:08x}", std::random_device{}());
  try {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(fmt::format("cannot write {}", tmp), field);
    fill(out);
    out.close();
    if (!out) throw Error(fmt::format("error writing {}", tmp), field);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(fmt::format("cannot rename {} to {}", tmp, path), field);
  }
}

}  // namespace flashnas
