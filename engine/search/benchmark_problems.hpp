// Benchmark problems for the multi-objective optimisers, all minimised: BraninCurrin
// (2-D), ZDT1 (6-D), DTLZ2 (6-D, 2 objectives), with BoTorch's definitions, reference
// points and maximum hypervolumes; and `arch`, our own cheap deterministic
// architecture-shaped problem on an ArchSpace (see ArchProblem below).
// Not the loop that runs them (benchmark_run.hpp).
#pragma once

#include <Eigen/Core>

#include <memory>
#include <string>

#include "engine/model/candidate_arch.hpp"
#include "engine/search/arch_space.hpp"
#include "engine/search/box_space.hpp"

namespace flashnas::search {

class BenchmarkProblem {
 public:
  virtual ~BenchmarkProblem() = default;
  virtual std::string name() const = 0;
  virtual const SearchSpace& space() const = 0;
  virtual Eigen::Vector2d evaluate(const Eigen::VectorXd& x) const = 0;  // x: an encoding of space()
  virtual Eigen::Vector2d reference() const = 0;
  virtual double max_hypervolume() const = 0;
};

// "branincurrin" | "zdt1" | "dtlz2" | "arch"; throws InvalidInput (field "problem").
std::unique_ptr<BenchmarkProblem> make_benchmark_problem(const std::string& name);

// The arch problem: CandidateArch over 2..12 layers, d_model 128..768 step 64, one
// d_ffn 256..3072 step 128, kinds full/swa/skip, windows {64, 128, 256}, first layer
// full, at most 3 consecutive non-full layers, at least 1 full layer. Objectives:
//   loss = 1.5 + 40 C^-0.25 + 0.15 n_skip / n_layers + 0.1 [last layer not full],
//     C = sum over layers of 3 d_model d_ffn + a_k 4 d_model^2 (capacity),
//     a_full = 1, a_swa = 0.9 + 0.1 min(w, 256) / 256, a_skip = 0;
//   log10 of a decode latency in ms: sum over layers of weight bytes (2 per
//     parameter) / 1e6 + KV bytes read (4 d_model per attended position; full
//     layers attend 1024 positions, swa layers min(w, 1024)) / 1e6 + 0.05 per layer.
// Reference point (3.5, 2.5). The maximum hypervolume is exact: every admissible
// (n_layers, kind counts, last kind, d_model, d_ffn, window) combination is
// enumerated once when the problem is built (the objectives depend on the pattern
// only through those), about 0.5 M evaluations.
class ArchProblem final : public BenchmarkProblem {
 public:
  ArchProblem();
  std::string name() const override { return "arch"; }
  const SearchSpace& space() const override { return space_; }
  Eigen::Vector2d evaluate(const Eigen::VectorXd& x) const override { return evaluate_arch(space_.decode(x)); }
  Eigen::Vector2d reference() const override { return {3.5, 2.5}; }
  double max_hypervolume() const override { return max_hv_; }
  static Eigen::Vector2d evaluate_arch(const CandidateArch& arch);
  const ArchSpace& arch_space() const { return space_; }

 private:
  ArchSpace space_;
  double max_hv_ = 0.0;
};

}  // namespace flashnas::search
