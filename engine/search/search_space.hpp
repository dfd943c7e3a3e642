// SearchSpace: what the optimisers (NEHVI, random, NSGA-II, TPE) need from a space, as a
// small interface over fixed-length encodings in [0, 1]^E. Implemented by ArchSpace
// (architectures: mixed discrete, pattern rules; arch_space.hpp) and BoxSpace
// (continuous box for the benchmark problems; box_space.hpp).
// Every encoding an implementation returns is canonical (decode then encode gives
// the same vector) and valid, so `key` identifies a point for de-duplication.
//
// Legend: E encoding dimensions.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace flashnas::search {

class SearchSpace {
 public:
  virtual ~SearchSpace() = default;

  virtual int64_t encoding_dims() const = 0;  // E
  // Continuous spaces get SBX/polynomial mutation in NSGA-II and Sobol acquisition pools.
  virtual bool is_continuous() const = 0;

  // A uniformly drawn valid point, encoded (E).
  virtual Eigen::VectorXd sample(std::mt19937_64& rng) const = 0;
  // n valid points from a scrambled Sobol design (mapped into the space), encoded (n, E).
  virtual Eigen::MatrixXd initial_design(int64_t n, uint64_t seed) const = 0;
  // A valid neighbour of x: one dimension changed (one layer kind flipped, one width
  // stepped, one coordinate perturbed by about `scale` of its range). May return x
  // itself when no valid move is found.
  virtual Eigen::VectorXd mutate(const Eigen::VectorXd& x, double scale, std::mt19937_64& rng) const = 0;
  // A valid child mixing parents a and b gene by gene (falls back to a copy of a).
  virtual Eigen::VectorXd crossover(const Eigen::VectorXd& a, const Eigen::VectorXd& b,
                                    std::mt19937_64& rng) const = 0;
  // The valid point that an arbitrary vector x (E) of [0, 1]^E stands for, encoded:
  // for samplers that draw encodings directly (TPE). BoxSpace clamps; ArchSpace
  // snaps to the nearest grid point and repairs the pattern rules.
  virtual Eigen::VectorXd nearest_valid(const Eigen::VectorXd& x) const = 0;
  // Whether x is the canonical encoding of a valid point.
  virtual bool is_valid(const Eigen::VectorXd& x) const = 0;
  // Canonical identity of the point (a sha256 for architectures).
  virtual std::string key(const Eigen::VectorXd& x) const = 0;
};

}  // namespace flashnas::search
