// The stateless search step (see search_policy.hpp).
#include "app/search_policy.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <unordered_set>

#include "engine/latency/features.hpp"
#include "engine/latency/latency_objective.hpp"
#include "engine/model/arch_cost.hpp"
#include "engine/search/trust_region.hpp"
#include "engine/util/error.hpp"

namespace flashnas::app {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Encoded points (M, E) -> the pruned model configs.
std::vector<ArchConfig> configs_of(const SearchProblem& p, const Eigen::MatrixXd& x) {
  std::vector<ArchConfig> out;
  out.reserve(static_cast<size_t>(x.rows()));
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    out.push_back(latency::shape_to_config(p.shape, p.space.decode(x.row(i).transpose())));
  }
  return out;
}

search::FeatureMap latency_feature_map(const SearchProblem& p) {
  return [&p](const Eigen::MatrixXd& x) {
    const std::vector<ArchConfig> configs = configs_of(p, x);
    Eigen::MatrixXd f(x.rows(), latency::kLatencyFeatureCount);
    for (size_t i = 0; i < configs.size(); ++i) {
      f.row(static_cast<Eigen::Index>(i)) = latency::latency_features(configs[i], p.prompt_len).transpose();
    }
    return f;
  };
}

// The quality GP's inputs: the encoding and the log parameter count of the
// pruned model, scaled to [0, 1] over the space (loss falls close to linearly in
// log parameters, so the GP need not learn that trend from a few points).
search::FeatureMap quality_feature_map(const SearchProblem& p) {
  const search::ArchSpaceOptions& o = p.space.options();
  auto log_params = [&p](int64_t layers, int64_t d_model, int64_t d_ffn) {
    CandidateArch a;
    a.n_layers = layers;
    a.d_model = d_model;
    a.d_ffn.assign(static_cast<size_t>(layers), d_ffn);
    a.layer_types.assign(static_cast<size_t>(layers), LayerKind::full);
    return std::log(static_cast<double>(cost_parameters(latency::shape_to_config(p.shape, a))));
  };
  const double lo = log_params(o.n_layers.min, o.d_model.min, o.d_ffn.min);
  const double hi = log_params(o.n_layers.max, o.d_model.max, o.d_ffn.max);
  return [&p, lo, hi](const Eigen::MatrixXd& x) {
    const std::vector<ArchConfig> configs = configs_of(p, x);
    Eigen::MatrixXd f(x.rows(), x.cols() + 1);
    f.leftCols(x.cols()) = x;
    for (size_t i = 0; i < configs.size(); ++i) {
      const double v = std::log(static_cast<double>(cost_parameters(configs[i])));
      f(static_cast<Eigen::Index>(i), x.cols()) = std::clamp((v - lo) / std::max(hi - lo, 1e-12), 0.0, 1.0);
    }
    return f;
  };
}

std::shared_ptr<const search::ObjectiveModel> latency_objective_model(const SearchProblem& p, double prefill_weight,
                                                                      double decode_weight) {
  return std::make_shared<latency::LatencyObjectiveModel>(p.latency_model, latency_feature_map(p), prefill_weight,
                                                          decode_weight);
}

// A deterministic metric of the pruned model (parameters, KV-cache bytes per token).
double exact_metric(const SearchProblem& p, ConstraintMetric metric, const ArchConfig& config) {
  if (metric == ConstraintMetric::params) return static_cast<double>(cost_parameters(config));
  return kv_cache_bytes_per_token(config, p.ctx);
}

std::shared_ptr<const search::ObjectiveModel> constraint_model(const SearchProblem& p, ConstraintMetric metric) {
  switch (metric) {
    case ConstraintMetric::prefill_ms: return latency_objective_model(p, 1.0, 0.0);
    case ConstraintMetric::decode_ms_per_token: return latency_objective_model(p, 0.0, 1.0);
    case ConstraintMetric::params:
    case ConstraintMetric::kv_cache_bytes_per_token:
      return std::make_shared<search::FixedObjectiveModel>([&p, metric](const Eigen::MatrixXd& x) {
        const std::vector<ArchConfig> configs = configs_of(p, x);
        Eigen::VectorXd v(x.rows());
        for (size_t i = 0; i < configs.size(); ++i) v(static_cast<Eigen::Index>(i)) = exact_metric(p, metric, configs[i]);
        return v;
      });
  }
  throw Error("unknown constraint metric");
}

// Whether the architecture meets every constraint: exactly for parameters and
// KV bytes, by the predicted mean for latencies (for the initial design).
bool predicted_feasible(const SearchProblem& p, const CandidateArch& arch) {
  const ArchConfig config = latency::shape_to_config(p.shape, arch);
  std::optional<latency::LatencyPrediction> predicted;
  for (const OutcomeConstraintSpec& c : p.constraints) {
    double value = 0.0;
    if (c.metric == ConstraintMetric::params || c.metric == ConstraintMetric::kv_cache_bytes_per_token) {
      value = exact_metric(p, c.metric, config);
    } else {
      if (!predicted) predicted = p.latency_model->predict(config, p.prompt_len);
      value = c.metric == ConstraintMetric::prefill_ms ? predicted->ttft_ms : predicted->decode_ms_per_token;
    }
    if (value > c.max) return false;
  }
  return true;
}

// Design proposals: the scrambled Sobol design, then random draws, skipping
// known and infeasible points.
std::vector<CandidateArch> design_proposals(const SearchProblem& p, std::unordered_set<std::string>& used,
                                            int64_t step, int64_t q) {
  std::vector<CandidateArch> out;
  auto offer = [&](const CandidateArch& a) {
    if (static_cast<int64_t>(out.size()) >= q) return;
    if (!used.insert(candidate_arch_hash(a)).second) return;
    if (!predicted_feasible(p, a)) return;
    out.push_back(a);
  };
  // Later design steps continue the same sequence: the first `initial` points are
  // step 1's, so a longer design only adds points after them.
  const int64_t n = std::max<int64_t>(p.initial, 1) + 4 * q + static_cast<int64_t>(used.size());
  const Eigen::MatrixXd design = p.space.initial_design(n, p.seed);
  for (Eigen::Index i = 0; i < design.rows(); ++i) offer(p.space.decode(design.row(i).transpose()));
  std::mt19937_64 rng(p.seed ^ (0x2545f4914f6cdd1dull * static_cast<uint64_t>(step)));
  for (int64_t tries = 0; static_cast<int64_t>(out.size()) < q && tries < 200 * q; ++tries) {
    offer(p.space.sample_arch(rng));
  }
  return out;
}

Eigen::MatrixXd encode_all(const search::ArchSpace& space, const std::vector<CandidateArch>& archs) {
  Eigen::MatrixXd x(static_cast<Eigen::Index>(archs.size()), space.encoding_dims());
  for (size_t i = 0; i < archs.size(); ++i) x.row(static_cast<Eigen::Index>(i)) = space.encode(archs[i]).transpose();
  return x;
}

}  // namespace

SearchProblem make_search_problem(const SearchSpec& spec, const latency::ModelShape& shape,
                                  std::shared_ptr<const latency::LatencyModel> latency_model,
                                  const ReferencePoint& reference) {
  FLASHNAS_CHECK(latency_model != nullptr, "a search needs a latency model");
  return SearchProblem{search::ArchSpace(spec.space),
                       shape,
                       std::move(latency_model),
                       spec.latency.options.prompt_len,
                       spec.evaluation.ctx,
                       spec.latency.objective,
                       spec.constraints,
                       reference,
                       spec.stage2.initial,
                       spec.stage2.batch,
                       spec.seed,
                       search::NehviProposalOptions{}};
}

std::pair<double, double> predict_latency_objective(const SearchProblem& p, const CandidateArch& arch) {
  const auto model = latency_objective_model(p, p.objective.prefill_weight, p.objective.decode_weight);
  Eigen::VectorXd mean, variance;
  model->posterior(p.space.encode(arch).transpose(), mean, variance);
  return {mean(0), std::sqrt(std::max(variance(0), 0.0))};
}

double default_reference_latency(const search::ArchSpace& space, const latency::ModelShape& shape,
                                 const latency::LatencyModel& model, int64_t prompt_len,
                                 const LatencyObjective& objective) {
  const search::ArchSpaceOptions& o = space.options();
  CandidateArch largest;
  largest.n_layers = o.n_layers.max;
  largest.d_model = o.d_model.max;
  largest.d_ffn.assign(static_cast<size_t>(largest.n_layers), o.d_ffn.max);
  largest.layer_types.assign(static_cast<size_t>(largest.n_layers), LayerKind::full);
  const latency::LatencyPrediction p = model.predict(latency::shape_to_config(shape, largest), prompt_len);
  return 1.1 * objective.of(p.ttft_ms, p.decode_ms_per_token);
}

SearchStepResult propose_search_step(const SearchProblem& p, const SearchState& state, int64_t step, int64_t q) {
  const auto t0 = Clock::now();
  SearchStepResult out;
  out.requested = q;
  out.observations = static_cast<int64_t>(state.completed.size());
  out.pending = static_cast<int64_t>(state.pending.size());
  if (q < 1) return out;

  std::unordered_set<std::string> used;
  for (const auto& c : state.completed) used.insert(candidate_arch_hash(c.arch));
  for (const auto& a : state.pending) used.insert(candidate_arch_hash(a));
  for (const auto& a : state.failed) used.insert(candidate_arch_hash(a));

  std::vector<CandidateArch> chosen;
  store::TrialSource source = store::TrialSource::design;
  if (state.completed.size() < 2) {
    chosen = design_proposals(p, used, step, q);
  } else {
    source = store::TrialSource::search;
    search::ProposalInputs in;
    std::vector<CandidateArch> observed;
    for (const auto& c : state.completed) observed.push_back(c.arch);
    in.observed_x = encode_all(p.space, observed);
    in.observed_y = Eigen::MatrixXd::Zero(in.observed_x.rows(), 2);
    for (size_t i = 0; i < state.completed.size(); ++i) in.observed_y(static_cast<Eigen::Index>(i), 0) = state.completed[i].eval_nll;
    in.pending_x = encode_all(p.space, state.pending);
    // Objective 0 (quality) is learned from observed_y; objective 1 is the latency model.
    in.objectives[1] = latency_objective_model(p, p.objective.prefill_weight, p.objective.decode_weight);
    in.learned_features[0] = quality_feature_map(p);
    if (p.nehvi.trust_region.enabled) {
      // The front as the policy sees it: measured quality, predicted latency.
      Eigen::VectorXd latency, variance;
      in.objectives[1]->posterior(in.observed_x, latency, variance);
      Eigen::MatrixXd y = in.observed_y;
      y.col(1) = latency;
      in.trust_region_length = search::replay_trust_region(y, Eigen::Vector2d(p.reference.eval_nll, p.reference.latency),
                                                           p.initial, p.batch, p.space.encoding_dims(),
                                                           p.nehvi.trust_region)
                                   .length;
    }
    for (const OutcomeConstraintSpec& c : p.constraints) in.constraints.push_back({constraint_model(p, c.metric), c.max});
    in.reference = Eigen::Vector2d(p.reference.eval_nll, p.reference.latency);
    for (const auto& a : state.failed) in.excluded_keys.push_back(candidate_arch_hash(a));
    const auto t1 = Clock::now();
    for (const Eigen::VectorXd& x : search::propose_nehvi_batch(p.space, in, q, p.nehvi, p.seed * 1000003 + static_cast<uint64_t>(step))) {
      chosen.push_back(p.space.decode(x));
    }
    out.propose_seconds = seconds_since(t1);
  }
  if (!chosen.empty()) {
    const auto model = latency_objective_model(p, p.objective.prefill_weight, p.objective.decode_weight);
    Eigen::VectorXd mean, variance;
    model->posterior(encode_all(p.space, chosen), mean, variance);
    for (size_t i = 0; i < chosen.size(); ++i) {
      const auto k = static_cast<Eigen::Index>(i);
      out.proposals.push_back({chosen[i], source, mean(k), std::sqrt(std::max(variance(k), 0.0))});
    }
  }
  out.exhausted = static_cast<int64_t>(out.proposals.size()) < q;
  out.total_seconds = seconds_since(t0);
  spdlog::info("search step {}: {} of {} proposals ({}) from {} observations and {} pending in {:.3f} s", step,
               out.proposals.size(), q, store::name_of(source), out.observations, out.pending, out.total_seconds);
  return out;
}

}  // namespace flashnas::app
