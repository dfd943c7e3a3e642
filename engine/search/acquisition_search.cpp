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

// A trust region: the box of a given side centred on an anchor, cut to [0, 1]^E.
struct Region {
  Eigen::VectorXd lo, hi;  // (E)
  Region(const Eigen::VectorXd& centre, double length)
      : lo((centre.array() - 0.5 * length).max(0.0)), hi((centre.array() + 0.5 * length).min(1.0)) {}
  // u in [0, 1]^E spread uniformly over the region (no mass piled on its faces).
  Eigen::VectorXd map(const Eigen::VectorXd& u) const { return lo + (u.array() * (hi - lo).array()).matrix(); }
  Eigen::VectorXd clamp(const Eigen::VectorXd& x) const { return x.cwiseMax(lo).cwiseMin(hi); }
};

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
                                                    const AcquisitionSearchOptions& o, std::mt19937_64& rng,
                                                    double region_length) {
  const int64_t dims = space.encoding_dims();
  std::vector<Region> regions;  // empty: the whole space
  if (region_length > 0.0) {
    for (const auto& a : anchors) regions.emplace_back(a, region_length);
  }
  // Candidates stay in the region of the anchor they were drawn around.
  auto in_region = [&](const Eigen::VectorXd& x, size_t r) {
    return regions.empty() ? x : space.nearest_valid(regions[r].clamp(x));
  };
  CandidateSet pool;
  std::vector<size_t> pool_region;  // parallel to pool.points: index into regions (0 without regions)
  const Eigen::MatrixXd design = space.initial_design(o.pool_size, rng());
  for (Eigen::Index i = 0; i < design.rows(); ++i) {
    const size_t r = regions.empty() ? 0 : static_cast<size_t>(i) % regions.size();
    const Eigen::VectorXd u = design.row(i).transpose();
    if (pool.add(space, regions.empty() ? u : space.nearest_valid(regions[r].map(u)), exclude)) pool_region.push_back(r);
  }
  for (size_t a = 0; a < anchors.size(); ++a) {
    const size_t r = regions.empty() ? 0 : a;
    for (int64_t j = 0; j < o.anchor_neighbours; ++j) {
      if (pool.add(space, in_region(neighbour(space, anchors[a], o.initial_scale * 0.25, rng), r), exclude)) {
        pool_region.push_back(r);
      }
    }
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
        Eigen::VectorXd y = in_region(neighbour(space, current, scale, rng), pool_region[order[s]]);
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
