// What `prune` and `evaluate-candidate` both start from: the backbone, the
// candidate architecture checked against it, and the calibration statistics
// (cached when --cache-dir is given); their shared flags.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/flags.hpp"
#include "engine/model/bound_arch.hpp"
#include "engine/model/model.hpp"
#include "engine/prune/calibration_stats.hpp"
#include "engine/prune/prune_to_arch.hpp"
#include "engine/runtime/runtime_context.hpp"

namespace flashnas::cli {

// --model, --arch, --calib, --calib-tokens, --cache-dir, --threads, --random-importance.
std::vector<FlagSpec> candidate_input_flags();

struct CandidateInputs {
  Model backbone;                           // has a tokenizer
  std::optional<BoundArch> arch;            // bound to the backbone (always set)
  std::unique_ptr<RuntimeContext> context;  // --threads, unpinned
  CalibrationStats stats;
  bool stats_from_cache = false;
  PruneOptions prune;                       // --random-importance
};

// Reads the flags and loads the backbone; checks the candidate before the
// (possibly long) calibration runs.
CandidateInputs load_candidate_inputs(const Flags& flags);

}  // namespace flashnas::cli
