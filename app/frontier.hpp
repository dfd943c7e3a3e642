// A job's quality-latency frontier from its trials: which trials count (succeeded,
// with an eval NLL and a measured latency, meeting every outcome constraint by
// their measured values), which of them no other dominates (lower NLL and lower
// latency objective both minimised), its hypervolume against the job's reference
// point, and the design principles read off it as the paper's Section 6 reports
// them (depth against width, the share of skip and sliding-window layers by
// latency band). Pure functions over trial records; no SQL.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <vector>

#include "app/job_spec.hpp"
#include "store/records.hpp"

namespace flashnas::app {

struct FrontierPoint {
  const store::Trial* trial = nullptr;
  CandidateArch arch;
  double eval_nll = 0.0;
  double latency = 0.0;  // the job's latency objective, measured
};

// The trials that count, in the order given: succeeded, measured, feasible and,
// in a multi-fidelity search, evaluated at the top rung (`top_rung`; a trial
// without a rung counts whatever it is).
std::vector<FrontierPoint> frontier_candidates(const std::vector<store::Trial>& trials,
                                               const LatencyObjective& objective,
                                               const std::vector<OutcomeConstraintSpec>& constraints,
                                               int32_t top_rung = 0);

// The non-dominated points, sorted by latency (then NLL). Points equal in both
// objectives are all kept.
std::vector<FrontierPoint> pareto_frontier(const std::vector<FrontierPoint>& points);

// Exact 2-D hypervolume of the points (minimised) against the reference point.
double frontier_hypervolume(const std::vector<FrontierPoint>& points, const ReferencePoint& reference);

// [{"trial_id", "ordinal", "arch", "eval_nll", "latency", "metrics"}...]
nlohmann::json frontier_points_json(const std::vector<FrontierPoint>& frontier);

// Depth against width and attention patterns of the frontier by latency band
// (thirds of its latency range), next to the same figures over every point, and
// Kendall's tau of each design variable with latency along the frontier.
nlohmann::json design_principles(const std::vector<FrontierPoint>& frontier, const std::vector<FrontierPoint>& all);

}  // namespace flashnas::app
