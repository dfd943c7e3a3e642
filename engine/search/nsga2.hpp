// NSGA-II building blocks (Deb et al. 2002), minimisation: fast non-dominated
// sorting, crowding distance, simulated binary crossover and polynomial mutation on
// [0, 1]^D. The optimiser that uses them is in optimizers.hpp.
//
// Legend: N points, M objectives, D dimensions.
#pragma once

#include <Eigen/Core>

#include <random>
#include <vector>

namespace flashnas::search {

// Rank of every row of y (N, M): 0 for the first front, 1 for the next, ...
std::vector<int64_t> non_dominated_ranks(const Eigen::MatrixXd& y);

// Crowding distance of the rows `front` of y, in the same order (boundary points: +inf).
std::vector<double> crowding_distance(const Eigen::MatrixXd& y, const std::vector<int64_t>& front);

// SBX on two parents in [0, 1]^D (distribution index eta, per-variable probability 0.5).
std::pair<Eigen::VectorXd, Eigen::VectorXd> sbx_crossover(const Eigen::VectorXd& a, const Eigen::VectorXd& b,
                                                          double eta, std::mt19937_64& rng);

// Polynomial mutation of each variable with probability `rate` (distribution index eta).
Eigen::VectorXd polynomial_mutation(const Eigen::VectorXd& x, double eta, double rate, std::mt19937_64& rng);

}  // namespace flashnas::search
