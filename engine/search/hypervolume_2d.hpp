// Two-objective minimisation staircase: the non-dominated points that beat a reference
// point, sorted by the first objective, with exact hypervolume and the exact
// hypervolume improvement of one more point. The hot loop of the acquisition (it runs
// once per posterior sample per candidate), so it is allocation-free where it counts.
// Not validated: callers pass finite, minimisation-oriented values (see pareto.hpp).
#pragma once

#include <array>
#include <vector>

namespace flashnas::search {

using Point2 = std::array<double, 2>;

// Points with f0 strictly increasing and f1 strictly decreasing, all < reference.
struct Staircase2 {
  std::vector<Point2> points;
};

// Builds the staircase of `points` (any order) against `reference`.
Staircase2 make_staircase(const std::vector<Point2>& points, const Point2& reference);

// Area dominated by the staircase and bounded by the reference.
double staircase_hypervolume(const Staircase2& front, const Point2& reference);

// HV(front + p) - HV(front): the area of p's box [p, reference] not already dominated.
// O(log n + k) for k front points inside p's box.
double hypervolume_improvement(const Staircase2& front, const Point2& p, const Point2& reference);

// Inserts p (keeping the staircase invariant). O(n).
void staircase_insert(Staircase2& front, const Point2& p, const Point2& reference);

}  // namespace flashnas::search
