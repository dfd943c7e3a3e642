// Pareto utilities as free, validated functions with the objective sense explicit:
// dominance, non-dominated filtering, exact 2-D hypervolume against a reference
// point, hypervolume history. Not the acquisition (nehvi.hpp), which uses the
// minimisation-only staircase in hypervolume_2d.hpp directly for speed.
//
// Legend: N points, M objectives. Points are rows of an (N, M) matrix.
#pragma once

#include <Eigen/Core>

#include <array>
#include <cstdint>
#include <vector>

namespace flashnas::search {

enum class ObjectiveSense : uint8_t { minimize, maximize };

using Senses2 = std::array<ObjectiveSense, 2>;
inline constexpr Senses2 kMinimizeBoth = {ObjectiveSense::minimize, ObjectiveSense::minimize};

// True when a is at least as good as b in every objective and strictly better in one.
// a, b (M); senses (M). Throws InvalidInput on size mismatch or non-finite values.
bool pareto_dominates(const Eigen::VectorXd& a, const Eigen::VectorXd& b,
                      const std::vector<ObjectiveSense>& senses);

// Indices (ascending) of the rows of points (N, M) that no other row dominates.
// Duplicated rows are all kept (neither dominates the other).
std::vector<int64_t> non_dominated_indices(const Eigen::MatrixXd& points,
                                           const std::vector<ObjectiveSense>& senses);

// Exact hypervolume of the region dominated by points (N, 2) and bounded by
// `reference`; points that do not strictly beat the reference in both objectives
// contribute nothing. O(N log N).
double hypervolume_2d(const Eigen::MatrixXd& points, const Eigen::Vector2d& reference,
                      const Senses2& senses = kMinimizeBoth);

// Hypervolume of the first k rows for k = 1..N (points in evaluation order).
std::vector<double> hypervolume_history(const Eigen::MatrixXd& points, const Eigen::Vector2d& reference,
                                        const Senses2& senses = kMinimizeBoth);

}  // namespace flashnas::search
