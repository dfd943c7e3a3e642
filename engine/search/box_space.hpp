// BoxSpace: the continuous box [0, 1]^D (callers map to their own bounds), the
// SearchSpace of the benchmark problems. Not for architectures (arch_space.hpp).
#pragma once

#include "engine/search/search_space.hpp"

namespace flashnas::search {

class BoxSpace final : public SearchSpace {
 public:
  explicit BoxSpace(int64_t dims);  // throws InvalidInput unless 1 <= dims <= kSobolMaxDims

  int64_t encoding_dims() const override { return dims_; }
  bool is_continuous() const override { return true; }
  Eigen::VectorXd sample(std::mt19937_64& rng) const override;
  Eigen::MatrixXd initial_design(int64_t n, uint64_t seed) const override;
  // Gaussian perturbation of one coordinate (sd = scale), clamped to [0, 1].
  Eigen::VectorXd mutate(const Eigen::VectorXd& x, double scale, std::mt19937_64& rng) const override;
  Eigen::VectorXd crossover(const Eigen::VectorXd& a, const Eigen::VectorXd& b,
                            std::mt19937_64& rng) const override;
  Eigen::VectorXd nearest_valid(const Eigen::VectorXd& x) const override;  // clamped; NaN -> 0.5
  bool is_valid(const Eigen::VectorXd& x) const override;
  std::string key(const Eigen::VectorXd& x) const override;  // exact hex of the doubles

 private:
  int64_t dims_;
};

}  // namespace flashnas::search
