// Content-addressed storage: write to storage/tmp, then rename into place.
#include "app/file_storage.hpp"

#include <fmt/format.h>

#include <cstdlib>

#include <fstream>
#include <random>

#include "engine/util/error.hpp"

namespace flashnas::app {
namespace fs = std::filesystem;

namespace {

void write_bytes(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.flush();
  if (!out) throw Error(fmt::format("cannot write {}", path.string()));
}

}  // namespace

FileStorage::FileStorage(fs::path root) : root_(std::move(root)) {
  fs::create_directories(root_ / "tmp");
}

fs::path FileStorage::temp_path(const std::string& tag) const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return root_ / "tmp" / fmt::format("{}.{:016x}.part", tag, rng());
}

void FileStorage::put_file(const std::string& relative, std::string_view bytes) const {
  const fs::path target = absolute(relative);
  if (fs::exists(target)) return;  // same name = same content
  fs::create_directories(target.parent_path());
  const fs::path tmp = temp_path(target.filename().string());
  write_bytes(tmp, bytes);
  std::error_code ec;
  fs::rename(tmp, target, ec);  // atomic; a concurrent writer of the same content may win
  if (ec) {
    fs::remove(tmp);
    if (!fs::exists(target)) throw Error(fmt::format("cannot store {}: {}", target.string(), ec.message()));
  }
}

void FileStorage::put_directory(const std::string& relative,
                                const std::vector<std::pair<std::string, std::string_view>>& files) const {
  const fs::path target = absolute(relative);
  if (fs::exists(target)) return;
  fs::create_directories(target.parent_path());
  const fs::path tmp = temp_path(target.filename().string());
  fs::create_directories(tmp);
  try {
    for (const auto& [name, bytes] : files) {
      FLASHNAS_CHECK(name.find('/') == std::string::npos && name != ".." && name != ".",
                     "storage file names are plain names, got {}", name);
      write_bytes(tmp / name, bytes);
    }
  } catch (...) {
    fs::remove_all(tmp);
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);  // rename(2) of a directory onto a missing name is atomic
  if (ec) {
    fs::remove_all(tmp);
    if (!fs::exists(target)) throw Error(fmt::format("cannot store {}: {}", target.string(), ec.message()));
  }
}

std::string storage_dir(const std::optional<std::string>& flag_value) {
  if (flag_value && !flag_value->empty()) return *flag_value;
  if (const char* env = std::getenv("FLASHNAS_STORAGE_DIR"); env && *env) return env;
  throw InvalidInput("name the storage directory (where flashnas-server keeps uploaded models and datasets) with "
                     "--storage or FLASHNAS_STORAGE_DIR",
                     "--storage");
}

}  // namespace flashnas::app
