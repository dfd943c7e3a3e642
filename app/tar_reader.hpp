// Reading a POSIX ustar archive held in memory (a safetensors model upload:
// config.json + model.safetensors). Only regular files are returned, as views
// into the archive; nothing is ever written to disk under an archive name.
// Not a general tar implementation: no sparse files, no base-256 sizes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace flashnas::app {

struct TarFile {
  std::string name;        // normalised: no leading "./"
  std::string_view data;   // view into the archive passed to read_tar_files
};

// Validates every header (magic, checksum, octal size within the archive) and
// returns the regular files in order. Directories and pax/GNU metadata entries are
// skipped. Throws InvalidInput (field "body") naming the entry and the reason:
// a truncated archive, a bad checksum, an absolute or ".." name, a duplicate name.
std::vector<TarFile> read_tar_files(std::string_view archive);

}  // namespace flashnas::app
