// ArchSpace: the architecture search space (CandidateArch points) behind the
// SearchSpace interface: pattern rules, sampling of valid points, repair, mutation,
// crossover, the fixed-length encoding for the surrogate and the canonical hash.
// The data lives in ArchSpaceOptions (arch_space_options.hpp); the architecture type
// is CandidateArch (engine/model/candidate_arch.hpp).
//
// Encoding (E = 2 + F + 2 L + 3 + 1, L = n_layers.max, F = L if per-layer FFN else 1),
// every entry in [0, 1]:
//   [n_layers, d_model, d_ffn (F slots)]    index in its range / (count - 1)
//   [is_swa, is_skip] per layer slot        full = (0, 0); slots past n_layers are 0
//   [n_full, n_swa, n_skip] / L             counts: help the GP see global structure
//   [window]                                index among sliding_windows; 0 without swa
#pragma once

#include <string>

#include "engine/model/candidate_arch.hpp"
#include "engine/search/arch_space_options.hpp"
#include "engine/search/search_space.hpp"

namespace flashnas::search {

class ArchSpace final : public SearchSpace {
 public:
  explicit ArchSpace(ArchSpaceOptions options);  // validates

  const ArchSpaceOptions& options() const { return options_; }

  // Throws InvalidInput naming the field (e.g. "layer_types[0]") when `arch` is not
  // in the space or breaks a pattern rule; `contains` is the non-throwing form.
  void check(const CandidateArch& arch) const;
  bool contains(const CandidateArch& arch) const;
  // The pattern rules alone, without exceptions (hot in enumerations): the index of
  // the first offending layer, n_layers when only the minimum-full rule fails, or -1.
  int64_t first_rule_violation(const std::vector<LayerKind>& kinds) const;

  Eigen::VectorXd encode(const CandidateArch& arch) const;  // (E); arch must be in the space
  CandidateArch decode(const Eigen::VectorXd& x) const;     // nearest grid point; may break rules
  CandidateArch sample_arch(std::mt19937_64& rng) const;    // always valid
  // Makes the pattern rules hold with the fewest kind changes (to full), in order:
  // first layer, runs of non-full layers, minimum full count; the window is snapped.
  void repair(CandidateArch& arch) const;

  // SearchSpace
  int64_t encoding_dims() const override { return encoding_dims_; }
  bool is_continuous() const override { return false; }
  Eigen::VectorXd sample(std::mt19937_64& rng) const override { return encode(sample_arch(rng)); }
  Eigen::MatrixXd initial_design(int64_t n, uint64_t seed) const override;
  Eigen::VectorXd mutate(const Eigen::VectorXd& x, double scale, std::mt19937_64& rng) const override;
  Eigen::VectorXd crossover(const Eigen::VectorXd& a, const Eigen::VectorXd& b,
                            std::mt19937_64& rng) const override;
  // decode (nearest grid point; kinds the space lacks become full), then repair.
  Eigen::VectorXd nearest_valid(const Eigen::VectorXd& x) const override;
  bool is_valid(const Eigen::VectorXd& x) const override;
  std::string key(const Eigen::VectorXd& x) const override;  // candidate_arch_hash(decode(x))

 private:
  CandidateArch from_genes(const Eigen::VectorXd& u) const;  // Sobol genotype -> repaired arch
  bool try_mutate(CandidateArch& a, double scale, std::mt19937_64& rng) const;

  ArchSpaceOptions options_;
  int64_t max_layers_;
  int64_t ffn_slots_;
  int64_t encoding_dims_;
};

}  // namespace flashnas::search
