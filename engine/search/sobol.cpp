// Scrambled Sobol sequence: direction numbers, linear matrix scrambling, Gray-code stepping.
#include "engine/search/sobol.hpp"

#include <random>

#include "engine/util/error.hpp"

namespace flashnas::search {

namespace {

// Joe & Kuo (2008), new-joe-kuo-6.21201, dimensions 2..40: degree s, polynomial
// coefficients a, initial direction numbers m_1..m_s. Dimension 1 is van der Corput.
struct JoeKuoRow {
  uint32_t s, a;
  uint32_t m[8];
};
constexpr JoeKuoRow kJoeKuo[kSobolMaxDims - 1] = {
    {1, 0, {1}},
    {2, 1, {1, 3}},
    {3, 1, {1, 3, 1}},
    {3, 2, {1, 1, 1}},
    {4, 1, {1, 1, 3, 3}},
    {4, 4, {1, 3, 5, 13}},
    {5, 2, {1, 1, 5, 5, 17}},
    {5, 4, {1, 1, 5, 5, 5}},
    {5, 7, {1, 1, 7, 11, 19}},
    {5, 11, {1, 1, 5, 1, 1}},
    {5, 13, {1, 1, 1, 3, 11}},
    {5, 14, {1, 3, 5, 5, 31}},
    {6, 1, {1, 3, 3, 9, 7, 49}},
    {6, 13, {1, 1, 1, 15, 21, 21}},
    {6, 16, {1, 3, 1, 13, 27, 49}},
    {6, 19, {1, 1, 1, 15, 7, 5}},
    {6, 22, {1, 3, 1, 15, 13, 25}},
    {6, 25, {1, 1, 5, 5, 19, 61}},
    {7, 1, {1, 3, 7, 11, 23, 15, 103}},
    {7, 4, {1, 3, 7, 13, 13, 15, 69}},
    {7, 7, {1, 1, 3, 13, 7, 35, 63}},
    {7, 8, {1, 3, 5, 9, 1, 25, 53}},
    {7, 14, {1, 3, 1, 13, 9, 35, 107}},
    {7, 19, {1, 3, 1, 5, 27, 61, 31}},
    {7, 21, {1, 1, 5, 11, 19, 41, 61}},
    {7, 28, {1, 3, 5, 3, 3, 13, 69}},
    {7, 31, {1, 1, 7, 13, 1, 19, 1}},
    {7, 32, {1, 3, 7, 5, 13, 19, 59}},
    {7, 37, {1, 1, 3, 9, 25, 29, 41}},
    {7, 41, {1, 3, 5, 13, 23, 1, 55}},
    {7, 42, {1, 3, 7, 3, 13, 59, 17}},
    {7, 50, {1, 3, 1, 3, 5, 53, 69}},
    {7, 55, {1, 1, 5, 5, 23, 33, 13}},
    {7, 56, {1, 1, 7, 7, 1, 61, 123}},
    {7, 59, {1, 1, 7, 9, 13, 61, 49}},
    {7, 62, {1, 3, 3, 5, 3, 55, 33}},
    {8, 14, {1, 3, 1, 15, 31, 13, 49, 245}},
    {8, 21, {1, 3, 5, 15, 31, 59, 63, 97}},
    {8, 22, {1, 3, 1, 11, 11, 11, 77, 249}},
};

// v_j (j = 1..32) as 32-bit integers, the binary fraction aligned at the top bit.
std::array<uint32_t, 32> direction_numbers(int64_t dim) {
  std::array<uint32_t, 32> v{};
  if (dim == 0) {
    for (int j = 0; j < 32; ++j) v[j] = 1u << (31 - j);
    return v;
  }
  const JoeKuoRow& row = kJoeKuo[dim - 1];
  const uint32_t s = row.s;
  for (uint32_t j = 0; j < s; ++j) v[j] = row.m[j] << (31 - j);
  for (uint32_t j = s; j < 32; ++j) {
    v[j] = v[j - s] ^ (v[j - s] >> s);
    for (uint32_t k = 1; k < s; ++k) {
      if ((row.a >> (s - 1 - k)) & 1u) v[j] ^= v[j - k];
    }
  }
  return v;
}

// Output bit b (from the top) = parity(row_b & x): a random lower-triangular binary
// matrix with unit diagonal, so each output bit depends only on more significant
// input bits and the net structure survives (Matousek 1998).
uint32_t apply_ltm(const std::array<uint32_t, 32>& rows, uint32_t x) {
  uint32_t out = 0;
  for (int b = 0; b < 32; ++b) {
    out |= static_cast<uint32_t>(__builtin_parity(rows[b] & x)) << (31 - b);
  }
  return out;
}

}  // namespace

SobolSequence::SobolSequence(int64_t dims, bool scramble, uint64_t seed) : dims_(dims) {
  if (dims < 1 || dims > kSobolMaxDims) {
    throw InvalidInput(fmt::format("Sobol dimensions must be in [1, {}], got {}", kSobolMaxDims, dims), "dims");
  }
  std::mt19937_64 rng(seed);
  directions_.resize(static_cast<size_t>(dims));
  state_.assign(static_cast<size_t>(dims), 0u);
  for (int64_t d = 0; d < dims; ++d) {
    directions_[d] = direction_numbers(d);
    if (!scramble) continue;
    std::array<uint32_t, 32> rows{};
    for (int b = 0; b < 32; ++b) {
      const uint32_t diag = 1u << (31 - b);
      const uint32_t above = b == 0 ? 0u : ~((diag << 1) - 1u);  // bits more significant than b
      rows[b] = diag | (static_cast<uint32_t>(rng()) & above);
    }
    for (auto& v : directions_[d]) v = apply_ltm(rows, v);
    state_[d] = static_cast<uint32_t>(rng());  // digital shift: the first point
  }
}

Eigen::MatrixXd SobolSequence::next(int64_t n) {
  FLASHNAS_CHECK(n >= 0, "negative point count {}", n);
  Eigen::MatrixXd out(n, dims_);
  constexpr double kScale = 1.0 / 4294967296.0;  // 2^-32
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t d = 0; d < dims_; ++d) out(i, d) = static_cast<double>(state_[d]) * kScale;
    // Gray-code step: flip by the direction number of the lowest zero bit of the index.
    const int c = __builtin_ctzll(~index_);
    FLASHNAS_CHECK(c < 32, "Sobol sequence exhausted after 2^32 points");
    for (int64_t d = 0; d < dims_; ++d) state_[d] ^= directions_[d][c];
    ++index_;
  }
  return out;
}

}  // namespace flashnas::search
