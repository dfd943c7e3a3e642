// A job's frontier, hypervolume and design principles (see frontier.hpp).
#include "app/frontier.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <numeric>

#include "engine/latency/accuracy.hpp"
#include "engine/search/pareto.hpp"

namespace flashnas::app {
namespace {

std::optional<double> metric_of(const store::TrialMetrics& m, ConstraintMetric metric) {
  switch (metric) {
    case ConstraintMetric::prefill_ms: return m.prefill_ms;
    case ConstraintMetric::decode_ms_per_token: return m.decode_ms_per_token;
    case ConstraintMetric::params:
      return m.params ? std::optional<double>(static_cast<double>(*m.params)) : std::nullopt;
    case ConstraintMetric::kv_cache_bytes_per_token:
      return m.kv_cache_bytes_per_token ? std::optional<double>(static_cast<double>(*m.kv_cache_bytes_per_token))
                                        : std::nullopt;
  }
  return std::nullopt;
}

double share(const CandidateArch& a, LayerKind kind) {
  return static_cast<double>(std::count(a.layer_types.begin(), a.layer_types.end(), kind)) /
         static_cast<double>(a.n_layers);
}

double mean_ffn(const CandidateArch& a) {
  return std::accumulate(a.d_ffn.begin(), a.d_ffn.end(), 0.0) / static_cast<double>(a.n_layers);
}

// Means of the design variables over `points`.
nlohmann::json profile(const std::vector<const FrontierPoint*>& points) {
  nlohmann::json j = {{"points", points.size()}};
  if (points.empty()) return j;
  double layers = 0, d_model = 0, d_ffn = 0, depth_width = 0, skip = 0, swa = 0, full = 0;
  for (const FrontierPoint* p : points) {
    layers += static_cast<double>(p->arch.n_layers);
    d_model += static_cast<double>(p->arch.d_model);
    d_ffn += mean_ffn(p->arch);
    // Layers per 64 channels of width: > 1 deeper than wide, as MobileLLM finds for small models.
    depth_width += static_cast<double>(p->arch.n_layers) * 64.0 / static_cast<double>(p->arch.d_model);
    skip += share(p->arch, LayerKind::skip);
    swa += share(p->arch, LayerKind::swa);
    full += share(p->arch, LayerKind::full);
  }
  const double n = static_cast<double>(points.size());
  j["mean_n_layers"] = layers / n;
  j["mean_d_model"] = d_model / n;
  j["mean_d_ffn"] = d_ffn / n;
  j["layers_per_64_channels"] = depth_width / n;
  j["skip_share"] = skip / n;
  j["swa_share"] = swa / n;
  j["full_share"] = full / n;
  return j;
}

}  // namespace

std::vector<FrontierPoint> frontier_candidates(const std::vector<store::Trial>& trials,
                                               const LatencyObjective& objective,
                                               const std::vector<OutcomeConstraintSpec>& constraints,
                                               int32_t top_rung) {
  std::vector<FrontierPoint> out;
  for (const store::Trial& t : trials) {
    const store::TrialMetrics& m = t.metrics;
    if (t.state != store::TrialState::succeeded || !m.eval_nll || !m.prefill_ms) continue;
    if (t.rung && *t.rung < top_rung) continue;
    if (objective.decode_weight > 0 && !m.decode_ms_per_token) continue;
    bool feasible = true;
    for (const OutcomeConstraintSpec& c : constraints) {
      const auto v = metric_of(m, c.metric);
      feasible = feasible && v && *v <= c.max;
    }
    if (!feasible) continue;
    out.push_back({&t, candidate_arch_from_json(t.arch), *m.eval_nll,
                   objective.of(*m.prefill_ms, m.decode_ms_per_token.value_or(0.0))});
  }
  return out;
}

std::vector<FrontierPoint> pareto_frontier(const std::vector<FrontierPoint>& points) {
  if (points.empty()) return {};
  Eigen::MatrixXd y(static_cast<Eigen::Index>(points.size()), 2);
  for (size_t i = 0; i < points.size(); ++i) y.row(static_cast<Eigen::Index>(i)) << points[i].eval_nll, points[i].latency;
  std::vector<FrontierPoint> out;
  for (int64_t i : search::non_dominated_indices(y, {search::ObjectiveSense::minimize, search::ObjectiveSense::minimize})) {
    out.push_back(points[static_cast<size_t>(i)]);
  }
  std::sort(out.begin(), out.end(), [](const FrontierPoint& a, const FrontierPoint& b) {
    return a.latency != b.latency ? a.latency < b.latency : a.eval_nll < b.eval_nll;
  });
  return out;
}

double frontier_hypervolume(const std::vector<FrontierPoint>& points, const ReferencePoint& reference) {
  if (points.empty()) return 0.0;
  Eigen::MatrixXd y(static_cast<Eigen::Index>(points.size()), 2);
  for (size_t i = 0; i < points.size(); ++i) y.row(static_cast<Eigen::Index>(i)) << points[i].eval_nll, points[i].latency;
  return search::hypervolume_2d(y, Eigen::Vector2d(reference.eval_nll, reference.latency));
}

nlohmann::json frontier_points_json(const std::vector<FrontierPoint>& frontier) {
  nlohmann::json out = nlohmann::json::array();
  for (const FrontierPoint& p : frontier) {
    out.push_back({{"trial_id", p.trial->id},
                   {"ordinal", p.trial->ordinal},
                   {"arch", p.trial->arch},
                   {"eval_nll", p.eval_nll},
                   {"latency", p.latency},
                   {"metrics", p.trial->metrics}});
  }
  return out;
}

nlohmann::json design_principles(const std::vector<FrontierPoint>& frontier, const std::vector<FrontierPoint>& all) {
  std::vector<const FrontierPoint*> everything;
  for (const auto& p : all) everything.push_back(&p);
  nlohmann::json j = {{"frontier", profile({})}, {"all_trials", profile(everything)}, {"bands", nlohmann::json::array()}};
  if (frontier.empty()) return j;
  std::vector<const FrontierPoint*> on_frontier;
  for (const auto& p : frontier) on_frontier.push_back(&p);
  j["frontier"] = profile(on_frontier);
  // Thirds of the frontier's latency range: fast, middle, slow.
  const double lo = frontier.front().latency, hi = frontier.back().latency;
  const char* names[3] = {"fast", "middle", "slow"};
  for (int b = 0; b < 3; ++b) {
    const double from = lo + (hi - lo) * b / 3.0, to = lo + (hi - lo) * (b + 1) / 3.0;
    std::vector<const FrontierPoint*> band;
    for (const FrontierPoint* p : on_frontier) {
      if (p->latency >= from && (p->latency < to || (b == 2 && p->latency <= to))) band.push_back(p);
    }
    nlohmann::json row = profile(band);
    row["band"] = names[b];
    row["latency_from"] = from;
    row["latency_to"] = to;
    j["bands"].push_back(row);
  }
  // Along the frontier, how each design variable moves with latency.
  if (frontier.size() >= 3) {
    std::vector<double> latency, layers, width, skip, swa;
    for (const FrontierPoint* p : on_frontier) {
      latency.push_back(p->latency);
      layers.push_back(static_cast<double>(p->arch.n_layers));
      width.push_back(static_cast<double>(p->arch.d_model));
      skip.push_back(share(p->arch, LayerKind::skip));
      swa.push_back(share(p->arch, LayerKind::swa));
    }
    j["kendall_tau_with_latency"] = {{"n_layers", latency::kendall_tau(latency, layers)},
                                     {"d_model", latency::kendall_tau(latency, width)},
                                     {"skip_share", latency::kendall_tau(latency, skip)},
                                     {"swa_share", latency::kendall_tau(latency, swa)}};
  }
  return j;
}

}  // namespace flashnas::app
