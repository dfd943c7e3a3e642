// Pool + hill-climbing maximisation of an acquisition function over a SearchSpace.
#include "engine/search/acquisition_search.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <numeric>

#include "engine/util/json_reader.hpp"

namespace flashnas::search {

namespace {

// Candidates kept distinct and away from excluded points.
struct CandidateSet {
  std::vector<Eigen::VectorXd> points;
  std::unordered_set<std::string> keys;
  bool add(const SearchSpace& space, const Eigen::VectorXd& x, const std::unordered_set<std::string>& exclude) {
    std::string k = space.key(x);
    if (exclude.count(k) || keys.count(k)) return false;
    keys.insert(std::move(k));
    points.push_back(x);
    return true;
  }
};

Eigen::MatrixXd stack(const std::vector<Eigen::VectorXd>& pts, int64_t dims) {
  Eigen::MatrixXd m(static_cast<Eigen::Index>(pts.size()), dims);
  for (size_t i = 0; i < pts.size(); ++i) m.row(static_cast<Eigen::Index>(i)) = pts[i].transpose();
  return m;
}

Eigen::VectorXd neighbour(const SearchSpace& space, const Eigen::VectorXd& x, double scale, std::mt19937_64& rng) {
  // One to three single-dimension moves: mostly local, sometimes a short jump.
  std::uniform_int_distribution<int> moves(1, 3);
  Eigen::VectorXd y = x;
  for (int m = moves(rng); m > 0; --m) y = space.mutate(y, scale, rng);
  return y;
}

}  // namespace

std::optional<Eigen::VectorXd> maximise_acquisition(const SearchSpace& space, const AcquisitionFunction& acquisition,
                                                    const std::vector<Eigen::VectorXd>& anchors,
                                                    const std::unordered_set<std::string>& exclude,
                                                    const AcquisitionSearchOptions& o, std::mt19937_64& rng) {
  const int64_t dims = space.encoding_dims();
  CandidateSet pool;
  const Eigen::MatrixXd design = space.initial_design(o.pool_size, rng());
  for (Eigen::Index i = 0; i < design.rows(); ++i) pool.add(space, design.row(i).transpose(), exclude);
  for (const auto& a : anchors) {
    for (int64_t j = 0; j < o.anchor_neighbours; ++j) pool.add(space, neighbour(space, a, o.initial_scale * 0.25, rng), exclude);
  }
  if (pool.points.empty()) return std::nullopt;
  const Eigen::VectorXd scores = acquisition(stack(pool.points, dims));

  std::vector<size_t> order(pool.points.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores(a) > scores(b); });

  std::optional<Eigen::VectorXd> best;
  double best_score = -1.0;
  const size_t starts = std::min<size_t>(static_cast<size_t>(std::max<int64_t>(o.local_starts, 0)), order.size());
  for (size_t s = 0; s < starts; ++s) {
    Eigen::VectorXd current = pool.points[order[s]];
    double current_score = scores(order[s]);
    double scale = o.initial_scale;
    for (int64_t round = 0; round < o.local_rounds; ++round) {
      std::vector<Eigen::VectorXd> nbrs;
      for (int64_t j = 0; j < o.neighbours; ++j) {
        Eigen::VectorXd y = neighbour(space, current, scale, rng);
        if (pool.add(space, y, exclude)) nbrs.push_back(std::move(y));
      }
      if (round % 2 == 1) scale *= 0.5;
      if (nbrs.empty()) continue;
      const Eigen::VectorXd ns = acquisition(stack(nbrs, dims));
      Eigen::Index arg = 0;
      if (ns.maxCoeff(&arg) > current_score) {
        current = nbrs[static_cast<size_t>(arg)];
        current_score = ns(arg);
      }
    }
    if (current_score > best_score) {
      best_score = current_score;
      best = current;
    }
  }
  // Without local search, or if every refined start is certainly infeasible, the pool's best.
  if (!best && !order.empty() && scores(order[0]) > -1.0) best = pool.points[order[0]];
  return best;
}

nlohmann::json acquisition_search_options_to_json(const AcquisitionSearchOptions& o) {
  return {{"pool_size", o.pool_size},         {"anchor_neighbours", o.anchor_neighbours},
          {"local_starts", o.local_starts},   {"local_rounds", o.local_rounds},
          {"neighbours", o.neighbours},       {"initial_scale", o.initial_scale}};
}

AcquisitionSearchOptions read_acquisition_search_options(JsonObjectReader& r) {
  // The same ceilings as `flashnas bench-search`'s flags: each point of the pool
  // and each neighbour is scored, so they bound one step's time and memory.
  constexpr int64_t kMaxPool = 1 << 20, kMaxMoves = 1024;
  AcquisitionSearchOptions o;
  o.pool_size = r.integer("pool_size", false, 1, kMaxPool).value_or(o.pool_size);
  o.anchor_neighbours = r.integer("anchor_neighbours", false, 0, kMaxMoves).value_or(o.anchor_neighbours);
  o.local_starts = r.integer("local_starts", false, 0, kMaxMoves).value_or(o.local_starts);
  o.local_rounds = r.integer("local_rounds", false, 0, kMaxMoves).value_or(o.local_rounds);
  o.neighbours = r.integer("neighbours", false, 1, kMaxMoves).value_or(o.neighbours);
  if (const auto scale = r.number("initial_scale", false)) {
    if (*scale > 0.0) {
      o.initial_scale = *scale;
    } else {
      r.errors().add(r.field_name("initial_scale"), fmt::format("must be positive, got {}", *scale));
    }
  }
  return o;
}

AcquisitionSearchOptions acquisition_search_options_from_json(const nlohmann::json& j) {
  return read_object(j, "", "acquisition_search", read_acquisition_search_options);
}

}  // namespace flashnas::search
