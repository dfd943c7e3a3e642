// Writing a file so that no reader ever sees half of it: fill a temporary file
// next to the target, then rename it into place (atomic on POSIX file systems).
#pragma once

#include <functional>
#include <ostream>
#include <string>

namespace flashnas {

// Calls `fill` with a binary stream to a uniquely named temporary file beside
// `path`, then renames it to `path`. Concurrent writers of the same path each
// rename a complete file (the last one wins). On any failure the temporary file
// is removed and Error (with `field`, when given) names the path.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& fill,
                           const std::string& field = {});

}  // namespace flashnas
