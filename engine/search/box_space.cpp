// BoxSpace: sampling, Sobol design, perturbation and exact keys in [0, 1]^D.
#include "engine/search/box_space.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/search/sobol.hpp"
#include "engine/util/error.hpp"

namespace flashnas::search {

BoxSpace::BoxSpace(int64_t dims) : dims_(dims) {
  if (dims < 1 || dims > kSobolMaxDims) {
    throw InvalidInput(fmt::format("box dimensions must be in [1, {}], got {}", kSobolMaxDims, dims), "dims");
  }
}

Eigen::VectorXd BoxSpace::sample(std::mt19937_64& rng) const {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Eigen::VectorXd x(dims_);
  for (int64_t i = 0; i < dims_; ++i) x(i) = u(rng);
  return x;
}

Eigen::MatrixXd BoxSpace::initial_design(int64_t n, uint64_t seed) const {
  SobolSequence sobol(dims_, /*scramble=*/true, seed);
  return sobol.next(n);
}

Eigen::VectorXd BoxSpace::mutate(const Eigen::VectorXd& x, double scale, std::mt19937_64& rng) const {
  Eigen::VectorXd y = x;
  std::uniform_int_distribution<int64_t> pick(0, dims_ - 1);
  std::normal_distribution<double> step(0.0, scale);
  const int64_t i = pick(rng);
  y(i) = std::clamp(y(i) + step(rng), 0.0, 1.0);
  return y;
}

Eigen::VectorXd BoxSpace::crossover(const Eigen::VectorXd& a, const Eigen::VectorXd& b,
                                    std::mt19937_64& rng) const {
  Eigen::VectorXd c = a;
  std::bernoulli_distribution coin(0.5);
  for (int64_t i = 0; i < dims_; ++i) {
    if (coin(rng)) c(i) = b(i);
  }
  return c;
}

Eigen::VectorXd BoxSpace::nearest_valid(const Eigen::VectorXd& x) const {
  FLASHNAS_CHECK(x.size() == dims_, "vector has {} entries, the box {}", x.size(), dims_);
  Eigen::VectorXd y(dims_);
  for (int64_t i = 0; i < dims_; ++i) y(i) = std::isnan(x(i)) ? 0.5 : std::clamp(x(i), 0.0, 1.0);
  return y;
}

bool BoxSpace::is_valid(const Eigen::VectorXd& x) const {
  return x.size() == dims_ && x.allFinite() && x.minCoeff() >= 0.0 && x.maxCoeff() <= 1.0;
}

std::string BoxSpace::key(const Eigen::VectorXd& x) const {
  std::string k;
  k.reserve(static_cast<size_t>(x.size()) * 17);
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    uint64_t bits = 0;
    const double v = x(i) == 0.0 ? 0.0 : x(i);  // -0 and +0 are the same point
    std::memcpy(&bits, &v, sizeof bits);
    k += fmt::format("{:016x}", bits);
  }
  return k;
}

}  // namespace flashnas::search
