// bench_search_job: the search job's policy against the exhaustive frontier of
// a stories260K sub-space (1,608 architectures, search_table.hpp), next to
// random search and NSGA-II at the same budgets. Prints one JSON object.
//
// The policy arm runs the service's code path with table look-ups in place of
// workers:
//   stage 1 as search_job.cpp drives it: study_initial_tasks (Sobol design and
//     held-out set), study_adaptive_round until the training samples are
//     measured, study_final_fit (the latency model, stored and read back as
//     JSON as the service does, and the reference latency);
//   stage 2 as the service's asynchronous loop: step 1 proposes the initial
//     design, then `batch` trials stay in flight; when the oldest completes
//     (its NLL and latency looked up) the next step asks for batch - in_flight
//     with the others pending (app::propose_search_step), until `budget` trials
//     exist; every `batch` trial latencies the latency model is refitted with
//     them (after_trial_latency, refit_latency_model) unless --no-refit.
// Random search and NSGA-II (engine/search/optimizers.hpp) see the table's
// measured NLL and TTFT of each of their trials; initial design and batch as
// the policy's.
// Metric: hypervolume of each run's trials, re-scored with the table (NLL,
// measured TTFT), over the hypervolume of the whole table, against one fixed
// reference point for every arm: the service's default rule evaluated on the
// table, (ln V, 1.1 x the measured TTFT of the costliest architecture); also
// against the exhaustive frontier's nadir (its worst values) + 10% of its range.
//
// Usage: bench_search_job [flags] (--help lists them)
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "app/search_policy.hpp"
#include "app/study_policy.hpp"
#include "bench/search/search_table.hpp"
#include "common/flags.hpp"
#include "engine/latency/features.hpp"
#include "engine/search/hypervolume_2d.hpp"
#include "engine/search/optimizers.hpp"
#include "engine/util/error.hpp"
#include "engine/util/json_reader.hpp"

namespace {

using namespace flashnas;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Options {
  std::string table_path = std::string(FLASHNAS_BINARY_DIR) + "/bench-search-job/table.json";
  std::string cache_dir = std::string(FLASHNAS_BINARY_DIR) + "/prune-cache";
  int64_t seeds = 5;
  int64_t first_seed = 0;  // seeds first_seed .. first_seed + seeds - 1
  std::vector<int64_t> budgets = {32, 64};
  int64_t batch = 8, initial = 8;
  int64_t stage1_samples = 64, stage1_holdout = 16, stage1_batch = 8;
  bool refit = true;
  std::vector<std::string> arms = {"policy", "random", "nsga2"};
  // Investigation only (the service has no such settings): the latency model fitted
  // to every table row instead of stage 1's, and the policy's NEHVI options.
  bool all_points_latency_model = false;
  bool quality_gp_report = false, log_nll = false;
  json nehvi = json::object();
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

search::Point2 point_of(const bench::TableRow& r) { return {r.eval_nll, r.ttft_ms}; }

double hypervolume(const std::vector<search::Point2>& points, const search::Point2& reference) {
  return search::staircase_hypervolume(search::make_staircase(points, reference), reference);
}

double trials_hypervolume(const bench::SearchTable& table, const std::vector<CandidateArch>& trials,
                          const search::Point2& reference) {
  std::vector<search::Point2> points;
  for (const CandidateArch& a : trials) points.push_back(point_of(table.at(a)));
  return hypervolume(points, reference);
}

// The service's job spec for this bench: the table's workload and the sub-space.
app::SearchSpec search_spec(const bench::SearchTable& table, const Options& o, int64_t budget, uint64_t seed) {
  app::SearchSpec spec;
  spec.evaluation.calib_tokens = table.settings.at("calib_tokens").get<int64_t>();
  spec.evaluation.eval_tokens = table.settings.at("eval_tokens").get<int64_t>();
  spec.evaluation.ctx = table.settings.at("ctx").get<int64_t>();
  spec.latency.options = latency::latency_options_from_json(table.settings.at("latency"));
  spec.space = search::arch_space_options_from_json(table.settings.at("space"));
  app::Stage1Spec stage1;
  stage1.samples = o.stage1_samples;
  stage1.holdout = o.stage1_holdout;
  stage1.batch = o.stage1_batch;
  spec.stage1 = stage1;
  spec.stage2 = {budget, o.batch, o.initial};
  spec.seed = seed;
  return spec;
}

struct PolicyRun {
  std::vector<CandidateArch> trials;  // in the order proposed
  json stage1;
  int64_t refits = 0, design_trials = 0;
  std::vector<double> step_seconds;
  double seconds = 0.0;
};

// Stage 1 as after_study_latency / apply_fit_result drive it, measurements
// looked up in the table. Returns the final fit.
app::FitResult run_stage1(const bench::SearchTable& table, const app::SearchSpec& spec,
                          const latency::ModelShape& shape) {
  const app::StudyProblem study = app::make_study_problem(*spec.stage1, spec.space, shape, spec.latency, spec.seed);
  std::vector<app::StudyMeasurement> measured;
  auto measure = [&](const CandidateArch& a, store::MeasurementPhase phase, int32_t round) {
    const bench::TableRow& r = table.at(a);
    measured.push_back({a, phase, round, r.ttft_ms, r.decode_ms_per_token});
  };
  for (const app::LatencyPayload& p : app::study_initial_tasks(study)) measure(p.arch, *p.phase, p.round);
  const app::Stage1Spec& s1 = *spec.stage1;
  const int64_t rounds_needed = (s1.samples - s1.design_size() + s1.batch - 1) / s1.batch;
  for (int32_t round = 1;; ++round) {
    if (app::study_training_count(measured) >= s1.samples || round > rounds_needed + 2) break;
    const app::FitResult r = app::study_adaptive_round(study, measured, round);
    if (r.picks.empty()) break;
    for (const auto& [arch, sd] : r.picks) measure(arch, store::MeasurementPhase::adaptive, round);
  }
  return app::study_final_fit(study, measured);
}

// Investigation: the latency model on every architecture of the table.
std::shared_ptr<const latency::LatencyModel> all_points_latency_model(const bench::SearchTable& table,
                                                                      const latency::ModelShape& shape,
                                                                      int64_t prompt_len) {
  const auto n = static_cast<Eigen::Index>(table.rows.size());
  Eigen::MatrixXd x(n, latency::kLatencyFeatureCount);
  Eigen::VectorXd ttft(n), decode(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const bench::TableRow& r = table.rows[static_cast<size_t>(i)];
    x.row(i) = latency::latency_features(latency::shape_to_config(shape, r.arch), prompt_len).transpose();
    ttft(i) = r.ttft_ms;
    decode(i) = r.decode_ms_per_token;
  }
  return std::make_shared<const latency::LatencyModel>(latency::LatencyModel::fit(x, ttft, decode));
}

PolicyRun run_policy(const bench::SearchTable& table, const app::SearchSpec& spec, const latency::ModelShape& shape,
                     const Options& o) {
  const auto t0 = Clock::now();
  PolicyRun run;
  const bool refit = o.refit && !o.all_points_latency_model;
  const app::FitResult fit = run_stage1(table, spec, shape);
  // The service stores the model's JSON and its workers rebuild it (EngineCache::latency_model).
  const auto root = o.all_points_latency_model
                        ? all_points_latency_model(table, shape, spec.latency.options.prompt_len)
                        : std::make_shared<const latency::LatencyModel>(latency::LatencyModel::from_json(fit.model));
  const app::ReferencePoint reference{std::log(static_cast<double>(shape.vocab_size)), fit.reference_latency};
  run.stage1 = {{"n_points", fit.n_points},
                {"accuracy", fit.accuracy},
                {"reference", {{"eval_nll", reference.eval_nll}, {"latency", reference.latency}}}};
  app::SearchProblem problem = app::make_search_problem(spec, shape, root, reference);
  if (!o.nehvi.empty()) problem.nehvi = search::nehvi_proposal_options_from_json(o.nehvi);

  app::SearchState state;
  std::deque<CandidateArch> in_flight;  // oldest first
  std::vector<app::TrialMeasurement> trial_latencies;
  const int64_t budget = spec.stage2.budget, batch = spec.stage2.batch;
  bool done = false;
  int64_t step = 1;
  auto propose = [&](int64_t q) {
    const app::SearchStepResult r = app::propose_search_step(problem, state, step++, q);
    run.step_seconds.push_back(r.total_seconds);
    for (const app::Proposal& p : r.proposals) {
      if (static_cast<int64_t>(run.trials.size()) >= budget) break;
      run.trials.push_back(p.arch);
      state.pending.push_back(p.arch);
      in_flight.push_back(p.arch);
      run.design_trials += p.source == store::TrialSource::design;
    }
    if (r.exhausted || static_cast<int64_t>(run.trials.size()) >= budget) done = true;
  };
  propose(std::min(spec.stage2.initial, budget));
  while (!in_flight.empty()) {
    const CandidateArch arch = in_flight.front();
    in_flight.pop_front();
    state.pending.erase(std::find(state.pending.begin(), state.pending.end(), arch));
    const bench::TableRow& row = table.at(arch);
    state.completed.push_back({arch, row.eval_nll});
    trial_latencies.push_back({latency::shape_to_config(shape, arch), row.ttft_ms, row.decode_ms_per_token});
    if (refit && static_cast<int64_t>(trial_latencies.size()) % batch == 0) {
      const app::FitResult r = app::refit_latency_model(*root, shape, spec.latency.options.prompt_len, trial_latencies,
                                                        problem.space, spec.latency.objective);
      problem.latency_model = std::make_shared<const latency::LatencyModel>(latency::LatencyModel::from_json(r.model));
      ++run.refits;
    }
    const int64_t total = static_cast<int64_t>(run.trials.size());
    const int64_t pending = static_cast<int64_t>(in_flight.size());
    if (!done && pending < batch) propose(std::min(batch - pending, budget - total));
  }
  run.seconds = seconds_since(t0);
  return run;
}

std::vector<CandidateArch> run_optimizer(const std::string& algo, const bench::SearchTable& table,
                                         const search::ArchSpace& space, int64_t budget, int64_t batch,
                                         int64_t initial, uint64_t seed, const search::Point2& reference) {
  search::OptimizerConfig config;
  config.initial_points = std::min(initial, budget);
  config.reference = {reference[0], reference[1]};
  config.has_reference = true;
  config.seed = seed;
  auto optimizer = search::make_optimizer(algo, space, config);
  std::vector<CandidateArch> trials;
  bool first = true;
  while (static_cast<int64_t>(trials.size()) < budget) {
    const int64_t q = std::min(first ? config.initial_points : batch, budget - static_cast<int64_t>(trials.size()));
    first = false;
    const std::vector<Eigen::VectorXd> x = optimizer->ask(q);
    if (x.empty()) break;
    Eigen::MatrixXd y(static_cast<Eigen::Index>(x.size()), 2);
    for (size_t i = 0; i < x.size(); ++i) {
      const CandidateArch arch = space.decode(x[i]);
      const bench::TableRow& row = table.at(arch);
      y.row(static_cast<Eigen::Index>(i)) << row.eval_nll, row.ttft_ms;
      trials.push_back(arch);
    }
    optimizer->tell(x, y);
  }
  return trials;
}

// Investigation: how well the quality GP (the policy's options, or `nehvi`'s)
// predicts the NLL of the rest of the table from N random architectures:
// R^2 and Kendall tau over the held-out rows, median over 5 draws.
json quality_gp_report(const bench::SearchTable& table, const search::ArchSpace& space, const json& nehvi,
                       bool log_nll) {
  search::GpOptions options = nehvi.empty() ? search::NehviProposalOptions{}.gp
                                            : search::nehvi_proposal_options_from_json(nehvi).gp;
  const auto n_rows = static_cast<Eigen::Index>(table.rows.size());
  Eigen::MatrixXd x(n_rows, space.encoding_dims());
  Eigen::VectorXd y(n_rows);
  for (Eigen::Index i = 0; i < n_rows; ++i) {
    x.row(i) = space.encode(table.rows[static_cast<size_t>(i)].arch).transpose();
    y(i) = table.rows[static_cast<size_t>(i)].eval_nll;
  }
  json out = json::array();
  for (int64_t n : {16, 32, 64, 128}) {
    std::vector<double> r2s, taus;
    for (uint64_t draw = 0; draw < 5; ++draw) {
      std::vector<Eigen::Index> order(static_cast<size_t>(n_rows));
      std::iota(order.begin(), order.end(), Eigen::Index{0});
      std::mt19937_64 rng(100 + draw);
      std::shuffle(order.begin(), order.end(), rng);
      Eigen::MatrixXd xt(n, x.cols()), xh(n_rows - n, x.cols());
      Eigen::VectorXd yt(n), yh(n_rows - n);
      for (Eigen::Index i = 0; i < n_rows; ++i) {
        const Eigen::Index r = order[static_cast<size_t>(i)];
        if (i < n) {
          xt.row(i) = x.row(r);
          yt(i) = log_nll ? std::log(y(r)) : y(r);
        } else {
          xh.row(i - n) = x.row(r);
          yh(i - n) = y(r);
        }
      }
      options.seed = draw;
      const auto gp = search::fit_objective_gp(xt, yt, options, nullptr);
      Eigen::VectorXd mean = gp->predict(xh).mean;
      if (log_nll) mean = mean.array().exp();
      const double ss_res = (mean - yh).squaredNorm(), ss_tot = (yh.array() - yh.mean()).square().sum();
      r2s.push_back(1.0 - ss_res / ss_tot);
      double concordant = 0, pairs = 0;
      for (Eigen::Index i = 0; i < yh.size(); ++i) {
        for (Eigen::Index j = i + 1; j < yh.size(); ++j) {
          const double a = (mean(i) - mean(j)) * (yh(i) - yh(j));
          concordant += a > 0 ? 1 : a < 0 ? -1 : 0;
          pairs += 1;
        }
      }
      taus.push_back(concordant / pairs);
    }
    out.push_back({{"n", n}, {"r2", median(r2s)}, {"kendall_tau", median(taus)}});
  }
  return out;
}

json summary_of(const std::vector<double>& ratios) {
  return {{"median", median(ratios)},
          {"min", *std::min_element(ratios.begin(), ratios.end())},
          {"max", *std::max_element(ratios.begin(), ratios.end())},
          {"per_seed", ratios}};
}

Options parse(int argc, char** argv) {
  static const std::vector<FlagSpec> spec = {
      {"table", true, "the stories260K sub-space table (built and cached there when absent)"},
      {"cache-dir", true, "the pruning calibration cache"},
      {"seeds", true, "runs per arm and budget (default 5)"},
      {"first-seed", true, "seeds first-seed .. first-seed + seeds - 1 (default 0)"},
      {"budgets", true, "comma list of stage-2 budgets (default 32,64)"},
      {"batch", true, "stage-2 batch (default 8)"},
      {"initial", true, "stage-2 Sobol design (default 8)"},
      {"stage1-samples", true, "stage-1 measurements (default 64)"},
      {"stage1-holdout", true, "stage-1 held-out measurements (default 16)"},
      {"no-refit", false, "keep stage 1's latency model (no refit with the trials' latencies)"},
      {"arms", true, "comma list of policy, random, nsga2 (default all)"},
      {"all-points-latency-model", false, "investigation: the latency model fitted to every table row"},
      {"quality-gp-report", false, "investigation: the quality GP's fit to the table"},
      {"log-nll", false, "investigation: model log NLL"},
      {"nehvi", true, "investigation: the policy's NEHVI options (JSON)"},
      {"help", false, "show this help"},
  };
  const Flags flags(std::vector<std::string>(argv + 1, argv + argc), spec);
  if (print_help_if_asked(flags, spec, "bench_search_job [flags]")) std::exit(0);
  Options o;
  o.table_path = flags.get("table").value_or(o.table_path);
  o.cache_dir = flags.get("cache-dir").value_or(o.cache_dir);
  o.seeds = flags.integer("seeds", o.seeds, 1, 1000);
  o.first_seed = flags.integer("first-seed", o.first_seed, 0, int64_t{1} << 40);
  o.budgets = flags.integers("budgets", o.budgets, 1, 10000);
  o.batch = flags.integer("batch", o.batch, 1, 64);
  o.initial = flags.integer("initial", o.initial, 1, 10000);
  o.stage1_samples = flags.integer("stage1-samples", o.stage1_samples, 2, 10000);
  o.stage1_holdout = flags.integer("stage1-holdout", o.stage1_holdout, 1, 10000);
  o.refit = !flags.has("no-refit");
  o.arms = flags.list("arms", o.arms);
  for (const std::string& arm : o.arms) {
    if (arm != "policy" && arm != "random" && arm != "nsga2") {
      throw InvalidInput("--arms: policy, random or nsga2, got '" + arm + "'", "--arms");
    }
  }
  o.all_points_latency_model = flags.has("all-points-latency-model");
  o.quality_gp_report = flags.has("quality-gp-report");
  o.log_nll = flags.has("log-nll");
  if (const auto nehvi = flags.get("nehvi")) o.nehvi = parse_json_object(*nehvi);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    spdlog::set_level(spdlog::level::warn);  // the policy logs every step at info
    const search::ArchSpace space(bench::stories_subspace());
    const bench::SearchTable table =
        bench::load_or_build_table(o.table_path, space, bench::table_settings_default(), o.cache_dir);
    const latency::ModelShape shape = bench::stories_shape();
    if (o.quality_gp_report) {
      std::printf("%s\n", quality_gp_report(table, space, o.nehvi, o.log_nll).dump().c_str());
      return 0;
    }

    // The fixed references of the metric, and the exhaustive frontier.
    const search::ArchSpaceOptions& so = space.options();
    CandidateArch costliest;
    costliest.n_layers = so.n_layers.max;
    costliest.d_model = so.d_model.max;
    costliest.d_ffn.assign(static_cast<size_t>(costliest.n_layers), so.d_ffn.max);
    costliest.layer_types.assign(static_cast<size_t>(costliest.n_layers), LayerKind::full);
    const search::Point2 service_ref{std::log(static_cast<double>(shape.vocab_size)), 1.1 * table.at(costliest).ttft_ms};
    std::vector<search::Point2> all;
    for (const bench::TableRow& r : table.rows) all.push_back(point_of(r));
    const search::Staircase2 front = search::make_staircase(all, service_ref);
    search::Point2 lo = front.points.front(), hi = front.points.front();
    for (const search::Point2& p : front.points) {
      for (int k = 0; k < 2; ++k) {
        lo[k] = std::min(lo[k], p[k]);
        hi[k] = std::max(hi[k], p[k]);
      }
    }
    const search::Point2 nadir_ref{hi[0] + 0.1 * (hi[0] - lo[0]), hi[1] + 0.1 * (hi[1] - lo[1])};
    const double hv_service = search::staircase_hypervolume(front, service_ref);
    const double hv_nadir = hypervolume(all, nadir_ref);
    json front_json = json::array();
    for (const search::Point2& p : front.points) {
      for (const bench::TableRow& r : table.rows) {
        if (r.eval_nll == p[0] && r.ttft_ms == p[1]) {
          front_json.push_back({{"arch", candidate_arch_to_json(r.arch)}, {"eval_nll", r.eval_nll}, {"ttft_ms", r.ttft_ms}});
          break;
        }
      }
    }

    json results = json::object();
    for (const std::string& arm : o.arms) {
      for (int64_t budget : o.budgets) {
        std::vector<double> ratio_service, ratio_nadir, run_seconds, step_seconds;
        json runs = json::array();
        for (int64_t s = 0; s < o.seeds; ++s) {
          const auto seed = static_cast<uint64_t>(o.first_seed + s);
          std::vector<CandidateArch> trials;
          json run = {{"seed", seed}};
          const auto t0 = Clock::now();
          if (arm == "policy") {
            PolicyRun p = run_policy(table, search_spec(table, o, budget, seed), shape, o);
            trials = std::move(p.trials);
            run["stage1"] = p.stage1;
            run["refits"] = p.refits;
            run["design_trials"] = p.design_trials;
            run["steps"] = p.step_seconds.size();
            run["median_step_s"] = median(p.step_seconds);
            step_seconds.push_back(median(p.step_seconds));
          } else {
            trials = run_optimizer(arm, table, space, budget, o.batch, o.initial, seed, service_ref);
          }
          run_seconds.push_back(seconds_since(t0));
          ratio_service.push_back(trials_hypervolume(table, trials, service_ref) / hv_service);
          ratio_nadir.push_back(trials_hypervolume(table, trials, nadir_ref) / hv_nadir);
          run["evaluations"] = trials.size();
          json trial_json = json::array();
          for (const CandidateArch& a : trials) trial_json.push_back(candidate_arch_to_json(a));
          run["trials"] = trial_json;
          run["hv_ratio"] = ratio_service.back();
          run["hv_ratio_nadir"] = ratio_nadir.back();
          run["seconds"] = run_seconds.back();
          runs.push_back(run);
          std::fprintf(stderr, "%s budget %lld seed %llu: hv ratio %.4f (nadir %.4f), %.1f s\n", arm.c_str(),
                       static_cast<long long>(budget), static_cast<unsigned long long>(seed), ratio_service.back(),
                       ratio_nadir.back(), run_seconds.back());
        }
        results[arm][std::to_string(budget)] = {{"hv_ratio", summary_of(ratio_service)},
                                                {"hv_ratio_nadir", summary_of(ratio_nadir)},
                                                {"median_run_s", median(run_seconds)},
                                                {"runs", runs}};
      }
    }

    const json out = {
        {"bench", "search_job"},
        {"space", search::arch_space_options_to_json(so)},
        {"architectures", table.rows.size()},
        {"table", {{"settings", table.settings}, {"eval_seconds", table.eval_seconds},
                   {"latency_seconds", table.latency_seconds}}},
        {"reference_service", {service_ref[0], service_ref[1]}},
        {"reference_nadir", {nadir_ref[0], nadir_ref[1]}},
        {"exhaustive", {{"frontier_size", front.points.size()}, {"hv_service", hv_service}, {"hv_nadir", hv_nadir},
                        {"frontier", front_json}}},
        {"settings", {{"seeds", o.seeds}, {"first_seed", o.first_seed}, {"budgets", o.budgets}, {"batch", o.batch}, {"initial", o.initial},
                      {"stage1_samples", o.stage1_samples}, {"stage1_holdout", o.stage1_holdout},
                      {"stage1_batch", o.stage1_batch}, {"refit", o.refit},
                      {"all_points_latency_model", o.all_points_latency_model}, {"nehvi", o.nehvi}}},
        {"results", results}};
    std::printf("%s\n", out.dump(2).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_search_job: %s\n", e.what());
    return 1;
  }
  return 0;
}
