// A model written as a downloadable checkpoint file in the storage folder,
// named by its content (checkpoints/<sha256>.tar or .gguf), so a retried export
// writes the same file and a download's ETag is the hash:
//  - safetensors: a tar of model.safetensors and the Hugging Face style
//    config.json (per-layer FFN widths, layer_types full_attention /
//    sliding_attention / skip_attention), as `flashnas prune --format safetensors` writes them;
//  - gguf: the single file.
#pragma once

#include <string>

#include "engine/model/model.hpp"
#include "store/states.hpp"

namespace flashnas::app {

struct CheckpointFile {
  std::string sha256;
  int64_t bytes = 0;
  std::string path;  // relative to the storage folder
};

CheckpointFile write_checkpoint_file(const Model& model, store::CheckpointFormat format, const std::string& storage_dir);

// Unpacks a safetensors checkpoint tar into `dir` (its two files; anything else
// in the archive is refused), for clients and tests.
void unpack_checkpoint_tar(const std::string& tar_path, const std::string& dir);

}  // namespace flashnas::app
