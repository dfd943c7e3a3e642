// One step of the multi-objective Bayesian optimisation loop, stateless so the search
// service can call it from whatever it has stored: fit (or take) one model per
// objective, build qNEHVI over observed + pending points, and choose a batch of q
// points greedily (each chosen point becomes pending for the next). All objectives
// are minimised (negate a quality to maximise it).
//
// Legend: N observed, P pending, E encoding dims.
#pragma once

#include <Eigen/Core>
#include <nlohmann/json_fwd.hpp>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "engine/search/acquisition_search.hpp"
#include "engine/search/gp/gaussian_process.hpp"
#include "engine/search/nehvi.hpp"
#include "engine/search/search_space.hpp"
#include "engine/search/trust_region.hpp"

namespace flashnas::search {

struct NehviProposalOptions {
  GpOptions gp;                        // surrogates of learned objectives
  NehviOptions nehvi;                  // samples (seed is per call)
  AcquisitionSearchOptions search;
  TrustRegionOptions trust_region;     // for callers that keep the region's length between steps
};
nlohmann::json nehvi_proposal_options_to_json(const NehviProposalOptions& o);
// Missing fields keep defaults; unknown fields are refused; every bad field is
// reported in one InvalidInput, nested ones as "gp.mean", "acquisition_search.pool_size".
NehviProposalOptions nehvi_proposal_options_from_json(const nlohmann::json& j);
NehviProposalOptions read_nehvi_proposal_options(JsonObjectReader& r);

struct ProposalInputs {
  Eigen::MatrixXd observed_x;  // (N, E) canonical encodings of evaluated points
  Eigen::MatrixXd observed_y;  // (N, 2) minimised objective values (a column a fixed model provides is unused)
  Eigen::MatrixXd pending_x;   // (P, E) proposed but not yet evaluated (may have 0 rows)
  // Objective models; a null entry is learned from observed_y's column with a GP.
  std::array<std::shared_ptr<const ObjectiveModel>, 2> objectives;
  // The inputs of a learned objective's GP: the encodings when null, else these
  // features of them (e.g. the encodings plus a log parameter count, which an
  // architecture's loss follows closely).
  std::array<FeatureMap, 2> learned_features;
  std::vector<OutcomeConstraint> constraints;
  Eigen::Vector2d reference;   // hypervolume reference point (see infer_reference_point)
  // SearchSpace::key of points never to propose besides observed and pending ones
  // (e.g. points whose evaluation failed).
  std::vector<std::string> excluded_keys;
  // Side of the trust regions around the non-dominated points that candidates are drawn
  // from (trust_region.hpp keeps it between steps); 0: the whole space.
  double trust_region_length = 0.0;
};

// Fits a GP to (x, y) with `options` (warm-started from `previous` when given).
std::shared_ptr<GaussianProcess> fit_objective_gp(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                                  const GpOptions& options, const GaussianProcess* previous);

// Up to q new canonical encodings, distinct from each other and from observed and
// pending points; fewer only if the space runs out of admissible points. Throws
// InvalidInput on inconsistent shapes.
std::vector<Eigen::VectorXd> propose_nehvi_batch(const SearchSpace& space, const ProposalInputs& inputs, int64_t q,
                                                 const NehviProposalOptions& options, uint64_t seed);

// A reference point from data when none is given: the worst observed value of each
// objective plus 10% of its observed range (BoTorch's infer_reference_point idea).
Eigen::Vector2d infer_reference_point(const Eigen::MatrixXd& y);

}  // namespace flashnas::search
