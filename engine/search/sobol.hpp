// Scrambled Sobol sequence in up to kSobolMaxDims dimensions (Joe & Kuo 2008
// direction numbers), with random linear matrix scrambling plus a digital shift
// (Matousek 1998; as SciPy's scramble=True), seeded. Points in [0, 1), 32-bit
// resolution. Not a generic quasi-random library: only what the initial design needs.
//
// Legend: N points, D dimensions.
#pragma once

#include <Eigen/Core>

#include <array>
#include <cstdint>
#include <vector>

namespace flashnas::search {

inline constexpr int64_t kSobolMaxDims = 40;

class SobolSequence {
 public:
  // Throws InvalidInput when dims is outside [1, kSobolMaxDims].
  SobolSequence(int64_t dims, bool scramble, uint64_t seed);

  // The next n points: (n, D) in [0, 1). The unscrambled sequence starts at the origin.
  Eigen::MatrixXd next(int64_t n);
  int64_t dims() const { return dims_; }

 private:
  int64_t dims_;
  uint64_t index_ = 0;
  std::vector<std::array<uint32_t, 32>> directions_;  // (D, 32) possibly scrambled
  std::vector<uint32_t> state_;                        // (D) current point, integer form
};

}  // namespace flashnas::search
