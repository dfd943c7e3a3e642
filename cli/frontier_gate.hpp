// The CI gate on a job's frontier: `--require "prefill_ms<=3.0,eval_nll<=1.2"`
// is met when one frontier point meets every requirement. When none does, the
// closest point is the one with the smallest sum of relative shortfalls.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <vector>

namespace flashnas::cli {

enum class Comparison : uint8_t { at_most, below, at_least, above };  // <=, <, >=, >

struct Requirement {
  std::string metric;  // a key of the points' "metrics" (prefill_ms, eval_nll, params, ...) or "latency"
  Comparison comparison = Comparison::at_most;
  double bound = 0.0;
  std::string text;  // as written, for messages
};

// Throws InvalidInput (field "--require") naming the part it cannot read.
std::vector<Requirement> parse_requirements(const std::string& text);

// A point's value of `metric` (from its "metrics", else the point itself), if it has one.
std::optional<double> point_metric(const nlohmann::json& point, const std::string& metric);

struct GateResult {
  bool met = false;
  std::optional<size_t> point;  // met: the best point meeting every requirement (lowest eval_nll); else the closest
  double shortfall = 0.0;       // the closest point's sum of relative shortfalls
};

// `points`: the frontier's points (GET /v1/jobs/{id}/frontier). A metric that no
// point has is an InvalidInput naming it (a typo must not read as "unmet").
GateResult check_gate(const nlohmann::json& points, const std::vector<Requirement>& requirements);

// "prefill_ms 3.41 > 3.0 (+13.7%)" or "eval_nll 1.12 ok", one per requirement.
std::string describe_against(const nlohmann::json& point, const std::vector<Requirement>& requirements);

}  // namespace flashnas::cli
