// The checking factory of BoundArch (see bound_arch.hpp).
#include "engine/model/bound_arch.hpp"

namespace flashnas {

BoundArch bind_arch(const CandidateArch& arch, const ArchConfig& backbone, const std::string& prefix) {
  validate_against_backbone(arch, backbone, prefix);
  return BoundArch(arch, candidate_to_config(backbone, arch));
}

}  // namespace flashnas
