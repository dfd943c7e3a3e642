// Pareto utilities: validation, sense handling, and the general dominance filter.
#include "engine/search/pareto.hpp"

#include <cmath>

#include "engine/search/hypervolume_2d.hpp"
#include "engine/util/error.hpp"

namespace flashnas::search {

namespace {

void check_points(const Eigen::MatrixXd& points, size_t n_objectives) {
  if (static_cast<size_t>(points.cols()) != n_objectives) {
    throw InvalidInput(fmt::format("points have {} objectives, senses give {}", points.cols(), n_objectives),
                       "points");
  }
  if (!points.allFinite()) throw InvalidInput("points contain a non-finite value", "points");
}

// Converts to minimisation: maximised objectives are negated.
Point2 to_min(double a, double b, const Senses2& senses) {
  return {senses[0] == ObjectiveSense::maximize ? -a : a, senses[1] == ObjectiveSense::maximize ? -b : b};
}

}  // namespace

bool pareto_dominates(const Eigen::VectorXd& a, const Eigen::VectorXd& b,
                      const std::vector<ObjectiveSense>& senses) {
  if (a.size() != b.size() || static_cast<size_t>(a.size()) != senses.size()) {
    throw InvalidInput(fmt::format("sizes differ: a {} b {} senses {}", a.size(), b.size(), senses.size()),
                       "senses");
  }
  if (!a.allFinite() || !b.allFinite()) throw InvalidInput("non-finite objective value", "points");
  bool strictly = false;
  for (Eigen::Index m = 0; m < a.size(); ++m) {
    const double sa = senses[m] == ObjectiveSense::maximize ? -a(m) : a(m);
    const double sb = senses[m] == ObjectiveSense::maximize ? -b(m) : b(m);
    if (sa > sb) return false;
    if (sa < sb) strictly = true;
  }
  return strictly;
}

std::vector<int64_t> non_dominated_indices(const Eigen::MatrixXd& points,
                                           const std::vector<ObjectiveSense>& senses) {
  check_points(points, senses.size());
  std::vector<int64_t> keep;
  // O(N^2 M): fronts here are at most a few thousand points.
  for (Eigen::Index i = 0; i < points.rows(); ++i) {
    bool dominated = false;
    for (Eigen::Index j = 0; j < points.rows() && !dominated; ++j) {
      if (j != i && pareto_dominates(points.row(j).transpose(), points.row(i).transpose(), senses)) dominated = true;
    }
    if (!dominated) keep.push_back(i);
  }
  return keep;
}

double hypervolume_2d(const Eigen::MatrixXd& points, const Eigen::Vector2d& reference, const Senses2& senses) {
  check_points(points, 2);
  if (!reference.allFinite()) throw InvalidInput("reference point is not finite", "reference");
  std::vector<Point2> pts;
  pts.reserve(static_cast<size_t>(points.rows()));
  for (Eigen::Index i = 0; i < points.rows(); ++i) pts.push_back(to_min(points(i, 0), points(i, 1), senses));
  const Point2 ref = to_min(reference(0), reference(1), senses);
  return staircase_hypervolume(make_staircase(pts, ref), ref);
}

std::vector<double> hypervolume_history(const Eigen::MatrixXd& points, const Eigen::Vector2d& reference,
                                        const Senses2& senses) {
  check_points(points, 2);
  if (!reference.allFinite()) throw InvalidInput("reference point is not finite", "reference");
  const Point2 ref = to_min(reference(0), reference(1), senses);
  Staircase2 front;
  std::vector<double> history;
  history.reserve(static_cast<size_t>(points.rows()));
  double hv = 0.0;
  for (Eigen::Index i = 0; i < points.rows(); ++i) {
    const Point2 p = to_min(points(i, 0), points(i, 1), senses);
    hv += hypervolume_improvement(front, p, ref);
    staircase_insert(front, p, ref);
    history.push_back(hv);
  }
  return history;
}

}  // namespace flashnas::search
