// BoundArch: a candidate architecture bound to the backbone it is pruned from,
// made once by the checking factory bind_arch() and then passed along to
// pruning, evaluation and latency measurement, so none of them re-validates.
// It holds the candidate and the full config of the pruned model (the
// candidate's dimensions with the backbone's heads, head size, vocabulary,
// RoPE and norms). Not the choice of what to keep (engine/prune/).
#pragma once

#include <string>

#include "engine/model/arch_config.hpp"
#include "engine/model/candidate_arch.hpp"

namespace flashnas {

class BoundArch {
 public:
  const CandidateArch& arch() const { return arch_; }
  const ArchConfig& config() const { return config_; }  // of the pruned model

 private:
  BoundArch(CandidateArch arch, ArchConfig config) : arch_(std::move(arch)), config_(std::move(config)) {}
  friend BoundArch bind_arch(const CandidateArch& arch, const ArchConfig& backbone, const std::string& prefix);

  CandidateArch arch_;
  ArchConfig config_;
};

// Checks that the backbone can supply `arch` (no more layers, no wider model or
// FFN than it has: validate_against_backbone) and builds the pruned config.
// Throws InvalidInput naming the candidate's field under `prefix`.
BoundArch bind_arch(const CandidateArch& arch, const ArchConfig& backbone, const std::string& prefix = "");

}  // namespace flashnas
