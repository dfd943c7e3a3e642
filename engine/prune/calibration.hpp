// Calibration: runs the backbone over calibration tokens with a ForwardObserver
// and accumulates the statistics pruning ranks weights by (calibration_stats.hpp),
// in double. Also the cached entry point: reuse the artifact for a key when it is
// on disk, else compute and store it. Not the ranking (importance.hpp).
//
// Legend: T tokens, C d_model, FF FFN width, L layers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/model.hpp"
#include "engine/model/tokenizer.hpp"
#include "engine/prune/calibration_stats.hpp"
#include "engine/runtime/runtime_context.hpp"

namespace flashnas {

struct CalibrationOptions {
  int64_t max_tokens = 8192;  // tokens used: BOS + encode(text), cut to this many
  int64_t window = 256;       // tokens per independent forward pass (a fresh cache each)
  int threads = 1;            // when no runtime context is passed
};

// BOS + encode(text), cut to max_tokens, via the evaluation protocol's
// tokenize_eval_text (runtime/evaluate.hpp: CRLF read as LF). Throws InvalidInput (field `field`) when
// fewer than two tokens result.
std::vector<int32_t> tokens_for_text(const Tokenizer& tokenizer, const std::string& text,
                                     int64_t max_tokens, const std::string& field);

// Runs `tokens` in consecutive non-overlapping windows of options.window tokens
// (the last may be shorter) and returns the statistics. The key's n_tokens and
// window are filled; the caller fills the two sha256 fields.
CalibrationStats run_calibration(const Model& backbone, const std::vector<int32_t>& tokens,
                                 const CalibrationOptions& options,
                                 RuntimeContext* context = nullptr);

// What a caller knows about the inputs, to key the cache.
struct CalibrationSource {
  std::string backbone_sha256;  // e.g. sha256_file_hex(model path)
  std::string text;             // the calibration text itself
};

// The key run_calibration would produce for this source, without running it.
CalibrationKey calibration_key(const Model& backbone, const CalibrationSource& source,
                               const CalibrationOptions& options);

// With a non-empty cache_dir: returns the cached stats for the key if present,
// else runs calibration and saves the artifact there. With an empty cache_dir it
// always runs. `loaded_from_cache` (optional) reports which happened.
CalibrationStats load_or_run_calibration(const Model& backbone, const CalibrationSource& source,
                                         const CalibrationOptions& options,
                                         const std::string& cache_dir,
                                         RuntimeContext* context = nullptr,
                                         bool* loaded_from_cache = nullptr);

}  // namespace flashnas
