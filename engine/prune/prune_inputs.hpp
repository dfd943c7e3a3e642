// Reading the inputs of a pruning run from files (the CLI and benchmarks; the
// service passes registered paths): a candidate architecture JSON file, a text
// file, and calibration keyed by the backbone file's and the text's sha256.
// Not the pruning (prune_to_arch.hpp) nor the statistics (calibration.hpp).
#pragma once

#include <string>

#include "engine/model/candidate_arch.hpp"
#include "engine/model/model.hpp"
#include "engine/prune/calibration.hpp"

namespace flashnas {

// Whole file as bytes; throws InvalidInput naming `field` if unreadable.
std::string read_text_file(const std::string& path, const std::string& field);

// Parses and validates a candidate architecture JSON file. Syntax errors name
// `field`; content errors name the JSON field (n_layers, d_ffn[2], ...).
CandidateArch load_candidate_arch(const std::string& path, const std::string& field);

// Calibration of the backbone loaded from `model_path` on the text in
// `calib_path`, through the cache in `cache_dir` (empty: no cache). The key uses
// sha256 of the backbone file and of the text.
CalibrationStats calibrate_from_files(const Model& backbone, const std::string& model_path,
                                      const std::string& calib_path,
                                      const CalibrationOptions& options,
                                      const std::string& cache_dir, RuntimeContext* context,
                                      bool* loaded_from_cache = nullptr);

}  // namespace flashnas
