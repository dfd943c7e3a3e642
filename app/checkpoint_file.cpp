// Checkpoint files (see checkpoint_file.hpp).
#include "app/checkpoint_file.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

#include "engine/model/model_io.hpp"
#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"

namespace flashnas::app {
namespace {

namespace fs = std::filesystem;

using ArchivePtr = std::unique_ptr<archive, int (*)(archive*)>;

// A scratch path next to the final files, so the last step is a rename on one file system.
fs::path scratch_path(const fs::path& dir, const std::string& what) {
  std::random_device rd;
  return dir / fmt::format(".{}-{}-{:x}", what, getpid(), rd());
}

void check(archive* a, int status, const std::string& what) {
  if (status != ARCHIVE_OK) throw Error(fmt::format("{}: {}", what, archive_error_string(a) ? archive_error_string(a) : "failed"));
}

// A tar (POSIX pax) of `files` from `dir`, in that order, with fixed times and
// owners so the same model always makes the same bytes (and the same hash).
void write_tar(const fs::path& dir, const std::vector<std::string>& files, const fs::path& out) {
  ArchivePtr a(archive_write_new(), archive_write_free);
  check(a.get(), archive_write_set_format_pax_restricted(a.get()), "tar format");
  check(a.get(), archive_write_open_filename(a.get(), out.c_str()), "open " + out.string());
  std::vector<char> buffer(1 << 20);
  for (const std::string& name : files) {
    const fs::path path = dir / name;
    const auto size = static_cast<int64_t>(fs::file_size(path));
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(entry.get(), name.c_str());
    archive_entry_set_size(entry.get(), size);
    archive_entry_set_filetype(entry.get(), AE_IFREG);
    archive_entry_set_perm(entry.get(), 0644);
    archive_entry_set_mtime(entry.get(), 0, 0);
    check(a.get(), archive_write_header(a.get(), entry.get()), "tar header");
    std::ifstream in(path, std::ios::binary);
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      const auto n = in.gcount();
      if (n > 0 && archive_write_data(a.get(), buffer.data(), static_cast<size_t>(n)) != n) {
        check(a.get(), ARCHIVE_FATAL, "tar data");
      }
    }
  }
  check(a.get(), archive_write_close(a.get()), "close " + out.string());
}

}  // namespace

CheckpointFile write_checkpoint_file(const Model& model, store::CheckpointFormat format, const std::string& storage_dir) {
  const fs::path dir = fs::path(storage_dir) / "checkpoints";
  fs::create_directories(dir);
  const fs::path scratch = scratch_path(dir, "export");
  fs::path file;
  try {
    if (format == store::CheckpointFormat::gguf) {
      file = scratch;
      save_model(model, file.string(), ModelFormat::gguf);
    } else {
      save_model(model, scratch.string(), ModelFormat::safetensors);
      file = scratch_path(dir, "tar");
      write_tar(scratch, {"config.json", "model.safetensors"}, file);
      fs::remove_all(scratch);
    }
    CheckpointFile out;
    out.sha256 = sha256_file_hex(file.string());
    out.bytes = static_cast<int64_t>(fs::file_size(file));
    out.path = fmt::format("checkpoints/{}.{}", out.sha256, format == store::CheckpointFormat::gguf ? "gguf" : "tar");
    fs::rename(file, fs::path(storage_dir) / out.path);  // same content, same name: a retry replaces it with itself
    return out;
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(scratch, ignored);
    if (!file.empty()) fs::remove(file, ignored);
    throw;
  }
}

void unpack_checkpoint_tar(const std::string& tar_path, const std::string& dir) {
  ArchivePtr a(archive_read_new(), archive_read_free);
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), tar_path.c_str(), 1 << 16) != ARCHIVE_OK) {
    throw InvalidInput(fmt::format("{} is not a readable tar", tar_path), "checkpoint");
  }
  fs::create_directories(dir);
  archive_entry* entry = nullptr;
  int files = 0;
  while (archive_read_next_header(a.get(), &entry) == ARCHIVE_OK) {
    const std::string name = archive_entry_pathname(entry);
    if ((name != "config.json" && name != "model.safetensors") || archive_entry_filetype(entry) != AE_IFREG) {
      throw InvalidInput(fmt::format("unexpected entry '{}' in the checkpoint tar", name), "checkpoint");
    }
    std::ofstream out(fs::path(dir) / name, std::ios::binary | std::ios::trunc);
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int status;
    while ((status = archive_read_data_block(a.get(), &block, &size, &offset)) == ARCHIVE_OK) {
      out.write(static_cast<const char*>(block), static_cast<std::streamsize>(size));
    }
    if (status != ARCHIVE_EOF) throw InvalidInput("the checkpoint tar is truncated", "checkpoint");
    ++files;
  }
  if (files != 2) throw InvalidInput("the checkpoint tar must hold config.json and model.safetensors", "checkpoint");
}

}  // namespace flashnas::app
