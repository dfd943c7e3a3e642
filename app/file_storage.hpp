// FileStorage: the content-addressed file area under --storage. Files are named by
// their sha256, written to a temporary name and renamed into place, so a reader
// never sees a partial file and two writers of the same content cannot clash.
// Paths handed out are relative to the root (what the database stores).
// Not validation (file_catalog.hpp) and never driven by a client-supplied path.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flashnas::app {

// The storage directory of flashnas-server, flashnas-worker and `flashnas admin`
// alike: the --storage flag when given, else FLASHNAS_STORAGE_DIR. Throws
// InvalidInput (field "--storage") naming both when neither is set.
std::string storage_dir(const std::optional<std::string>& flag_value);

class FileStorage {
 public:
  explicit FileStorage(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path absolute(const std::string& relative) const { return root_ / relative; }

  // Stores `bytes` as `relative` (e.g. "models/ab12....gguf") unless it exists.
  void put_file(const std::string& relative, std::string_view bytes) const;

  // Stores a directory of files (name -> bytes) as `relative` unless it exists.
  void put_directory(const std::string& relative,
                     const std::vector<std::pair<std::string, std::string_view>>& files) const;

 private:
  std::filesystem::path temp_path(const std::string& tag) const;

  std::filesystem::path root_;
};

}  // namespace flashnas::app
