// Two-objective minimisation staircase: construction, hypervolume, improvement, insert.
#include "engine/search/hypervolume_2d.hpp"

#include <algorithm>

namespace flashnas::search {

Staircase2 make_staircase(const std::vector<Point2>& points, const Point2& reference) {
  std::vector<Point2> inside;
  inside.reserve(points.size());
  for (const auto& p : points) {
    if (p[0] < reference[0] && p[1] < reference[1]) inside.push_back(p);
  }
  std::sort(inside.begin(), inside.end());  // by f0, ties by f1
  Staircase2 s;
  for (const auto& p : inside) {
    // Sorted by f0 then f1: p is dominated (or equal) iff its f1 is not below the last kept.
    if (s.points.empty() || p[1] < s.points.back()[1]) s.points.push_back(p);
  }
  return s;
}

double staircase_hypervolume(const Staircase2& front, const Point2& reference) {
  double hv = 0.0;
  const auto& f = front.points;
  for (size_t i = 0; i < f.size(); ++i) {
    const double next_x = i + 1 < f.size() ? f[i + 1][0] : reference[0];
    hv += (next_x - f[i][0]) * (reference[1] - f[i][1]);
  }
  return hv;
}

double hypervolume_improvement(const Staircase2& front, const Point2& p, const Point2& reference) {
  if (!(p[0] < reference[0] && p[1] < reference[1])) return 0.0;
  const auto& f = front.points;
  // h(x) = lowest f1 among front points with f0 <= x (reference[1] if none); the
  // improvement is the integral over x in [p0, r0] of max(0, h(x) - p1).
  auto it = std::upper_bound(f.begin(), f.end(), p[0], [](double x, const Point2& q) { return x < q[0]; });
  double h = it == f.begin() ? reference[1] : std::prev(it)->at(1);
  double x = p[0], hvi = 0.0;
  for (; it != f.end(); ++it) {
    if (h <= p[1]) return hvi;
    hvi += ((*it)[0] - x) * (h - p[1]);
    x = (*it)[0];
    h = (*it)[1];
  }
  if (h > p[1]) hvi += (reference[0] - x) * (h - p[1]);
  return hvi;
}

void staircase_insert(Staircase2& front, const Point2& p, const Point2& reference) {
  if (!(p[0] < reference[0] && p[1] < reference[1])) return;
  auto& f = front.points;
  auto it = std::lower_bound(f.begin(), f.end(), p[0], [](const Point2& q, double x) { return q[0] < x; });
  // Dominated by (or equal to) the previous point, or by a point with the same f0?
  if (it != f.begin() && std::prev(it)->at(1) <= p[1]) return;
  if (it != f.end() && (*it)[0] == p[0] && (*it)[1] <= p[1]) return;
  // Remove the points p dominates: from `it` while their f1 >= p1.
  auto end = it;
  while (end != f.end() && (*end)[1] >= p[1]) ++end;
  it = f.erase(it, end);
  f.insert(it, p);
}

}  // namespace flashnas::search
