// Maximising an acquisition function over a SearchSpace: score a large pool of valid
// candidates (scrambled Sobol design of the space plus neighbours of anchor points),
// then hill-climb by mutation from the best few (one dimension or one layer kind at
// a time, shrinking steps), never returning an excluded (observed or pending) point.
// With a trust-region length (trust_region.hpp) the design and the climbs are kept to
// boxes of that side around the anchors instead of the whole space.
// Deterministic for a given rng state. Works for any SearchSpace.
//
// Legend: M candidates, E encoding dims.
#pragma once

#include <Eigen/Core>
#include <nlohmann/json_fwd.hpp>

#include <functional>
#include <optional>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "engine/search/search_space.hpp"
#include "engine/util/json_reader_fwd.hpp"

namespace flashnas::search {

struct AcquisitionSearchOptions {
  int64_t pool_size = 512;       // Sobol-design candidates scored first
  int64_t anchor_neighbours = 8; // mutations of each anchor added to the pool
  int64_t local_starts = 4;      // best pool points refined by hill climbing
  int64_t local_rounds = 16;     // 16 rounds end at 1/256 of initial_scale
  int64_t neighbours = 12;       // mutations per start per round
  double initial_scale = 0.2;    // mutation scale (fraction of a range), halved every 2 rounds
};

nlohmann::json acquisition_search_options_to_json(const AcquisitionSearchOptions& o);
// Missing fields keep defaults; unknown fields are refused; every bad field is
// reported in one InvalidInput.
AcquisitionSearchOptions acquisition_search_options_from_json(const nlohmann::json& j);
// The same from `r`'s object, errors recorded in r.errors(); the caller reports
// unknown fields with finish().
AcquisitionSearchOptions read_acquisition_search_options(JsonObjectReader& r);

// Scores candidates (M, E) -> (M); higher is better. A score of exactly -1 or less
// marks a candidate that must never be proposed (certainly infeasible).
using AcquisitionFunction = std::function<Eigen::VectorXd(const Eigen::MatrixXd&)>;

// The best-scoring valid point whose key is not in `exclude`, or nullopt when every
// candidate found is excluded or certainly infeasible. `anchors` (e.g. the current
// Pareto-optimal points) seed extra pool candidates near the front. When
// region_length > 0 and there are anchors, every candidate is drawn from (and every
// climb clamped to) the box of that side centred on one anchor, cut to [0, 1]^E, and
// mapped by nearest_valid (so a discrete space may step just outside it); the pool's
// design is shared out among the anchors in turn.
std::optional<Eigen::VectorXd> maximise_acquisition(const SearchSpace& space, const AcquisitionFunction& acquisition,
                                                    const std::vector<Eigen::VectorXd>& anchors,
                                                    const std::unordered_set<std::string>& exclude,
                                                    const AcquisitionSearchOptions& options, std::mt19937_64& rng,
                                                    double region_length = 0.0);

}  // namespace flashnas::search
