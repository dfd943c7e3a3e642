// Where the benchmarks find the bundled assets (stories260K.gguf, the
// TinyStories samples): $FLASHNAS_DATA_DIR, else ../shared/data beside the
// source tree.
#pragma once

#include <string>

namespace flashnas::bench {

// The asset's path; throws Error (field "data_dir") when it is missing.
std::string data_file(const std::string& name);

}  // namespace flashnas::bench
