// The latency study driver: Sobol design, adaptive rounds, held-out accuracy.
#include "engine/latency/study.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <unordered_set>

#include "engine/latency/features.hpp"
#include "engine/latency/measure_latency.hpp"
#include "engine/model/arch_cost.hpp"
#include "engine/runtime/synthetic_model.hpp"
#include "engine/util/error.hpp"

namespace flashnas::latency {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Draws a valid architecture not in `used` (tries a bounded number of times).
bool draw_unused(const search::ArchSpace& space, std::mt19937_64& rng,
                 const std::unordered_set<std::string>& used, CandidateArch* out) {
  for (int tries = 0; tries < 200; ++tries) {
    CandidateArch a = space.sample_arch(rng);
    if (!used.count(candidate_arch_hash(a))) {
      *out = std::move(a);
      return true;
    }
  }
  return false;
}

Eigen::MatrixXd features_of(const std::vector<StudyPoint>& points, const ModelShape& shape,
                            int64_t P) {
  Eigen::MatrixXd x(static_cast<Eigen::Index>(points.size()), kLatencyFeatureCount);
  for (size_t i = 0; i < points.size(); ++i) {
    x.row(static_cast<Eigen::Index>(i)) =
        latency_features(shape_to_config(shape, points[i].arch), P).transpose();
  }
  return x;
}

}  // namespace

LatencyModel fit_study_model(const std::vector<StudyPoint>& train, const ModelShape& shape, int64_t P,
                             const LatencyModelOptions& options) {
  Eigen::VectorXd ttft(static_cast<Eigen::Index>(train.size()));
  Eigen::VectorXd decode(ttft.size());
  for (size_t i = 0; i < train.size(); ++i) {
    ttft(static_cast<Eigen::Index>(i)) = train[i].measured.ttft_ms;
    decode(static_cast<Eigen::Index>(i)) = train[i].measured.decode_ms_per_token;
  }
  return LatencyModel::fit(features_of(train, shape, P), ttft, decode, options);
}

namespace {

// Greedy batch of the pool points with the largest predictive sd of log latency
// (the larger of prefill and decode). After each pick, both GPs are conditioned
// on the pick at its predicted mean (same hyperparameters): the posterior
// variance does not depend on the observed value, so this shrinks the variance
// around the pick exactly as measuring it would.
std::vector<std::pair<size_t, double>> select_batch(const LatencyModel& model,
                                                    const Eigen::MatrixXd& pool_features, int64_t batch) {
  search::GaussianProcess gps[2] = {model.prefill_gp(), model.decode_gp()};
  // The offsets do not matter here: only variances are compared.
  const LatencyModel::GpInputs in = model.gp_inputs(pool_features);
  const Eigen::MatrixXd* pool[2] = {&in.x[0], &in.x[1]};
  const Eigen::Index n_pool = pool_features.rows();
  std::vector<std::pair<size_t, double>> picks;
  std::vector<bool> taken(static_cast<size_t>(n_pool), false);
  for (int64_t b = 0; b < batch; ++b) {
    Eigen::VectorXd score = Eigen::VectorXd::Zero(n_pool);
    Eigen::MatrixXd mean(n_pool, 2);
    for (int t = 0; t < 2; ++t) {
      const search::GpPrediction p = gps[t].predict(*pool[t]);
      score = score.cwiseMax(p.variance.cwiseMax(0.0).cwiseSqrt());
      mean.col(t) = p.mean;
    }
    Eigen::Index best = -1;
    for (Eigen::Index i = 0; i < n_pool; ++i) {
      if (taken[static_cast<size_t>(i)]) continue;
      if (best < 0 || score(i) > score(best)) best = i;
    }
    if (best < 0) break;
    taken[static_cast<size_t>(best)] = true;
    picks.emplace_back(static_cast<size_t>(best), score(best));
    if (b + 1 == batch) break;
    for (int t = 0; t < 2; ++t) {
      Eigen::MatrixXd x(gps[t].n_points() + 1, pool[t]->cols());
      x << gps[t].inputs(), pool[t]->row(best);
      Eigen::VectorXd y(x.rows());
      y << gps[t].outputs(), mean(best, t);
      const search::GpHyperparameters hyper = gps[t].hyperparameters();
      gps[t].condition(x, y, hyper);
    }
  }
  return picks;
}

nlohmann::json study_options_to_json(const LatencyStudyOptions& o) {
  nlohmann::json j = {{"samples", o.samples}, {"holdout", o.holdout},       {"initial", o.initial},
                      {"batch", o.batch},     {"pool", o.pool},             {"prompt_len", o.prompt_len},
                      {"seed", o.seed},       {"gp", search::gp_options_to_json(o.model.gp)}};
  // The source model itself is in the model's JSON; here only what identifies the run.
  if (o.model.transfer_source) {
    j["transfer"] = {{"method", std::string(transfer_method_name(o.model.transfer_method))},
                     {"source_points", o.model.transfer_source->n_points()}};
  }
  return j;
}

// The random stream of adaptive round `round`, so that a round's pool does not
// depend on how earlier rounds were driven (in one process or across workers).
std::mt19937_64 round_rng(uint64_t seed, int64_t round) {
  return std::mt19937_64(seed ^ (0x9e3779b97f4a7c15ull * static_cast<uint64_t>(round + 1)));
}

InvalidInput too_few(const LatencyStudyOptions& o, const char* field) {
  return InvalidInput(fmt::format("the space has too few distinct architectures for {} training and {} held-out "
                                  "measurements",
                                  o.samples, o.holdout),
                      field);
}

}  // namespace

StudyDesign study_design(const search::ArchSpace& space, const LatencyStudyOptions& o) {
  o.validate();
  const int64_t n_init = o.initial < 0 ? std::max<int64_t>(2, o.samples / 2) : o.initial;
  std::unordered_set<std::string> used;
  StudyDesign out;
  // Held-out architectures first, from their own random stream, so the training
  // design (which avoids them) never measures one.
  std::mt19937_64 holdout_rng(o.seed ^ 0x6a09e667f3bcc908ull);
  for (int64_t i = 0; i < o.holdout; ++i) {
    CandidateArch a;
    if (!draw_unused(space, holdout_rng, used, &a)) throw too_few(o, "holdout");
    used.insert(candidate_arch_hash(a));
    out.holdout.push_back(std::move(a));
  }
  std::mt19937_64 rng(o.seed);
  const Eigen::MatrixXd design = space.initial_design(n_init, o.seed);
  for (Eigen::Index i = 0; i < design.rows(); ++i) {
    CandidateArch a = space.decode(design.row(i).transpose());
    if (used.count(candidate_arch_hash(a)) && !draw_unused(space, rng, used, &a)) throw too_few(o, "samples");
    used.insert(candidate_arch_hash(a));
    out.design.push_back(std::move(a));
  }
  return out;
}

std::vector<std::pair<CandidateArch, double>> study_adaptive_batch(
    const search::ArchSpace& space, const ModelShape& shape, const LatencyStudyOptions& o, const LatencyModel& model,
    const std::unordered_set<std::string>& used, int64_t round, int64_t want) {
  std::mt19937_64 rng = round_rng(o.seed, round);
  std::vector<StudyPoint> pool;
  std::unordered_set<std::string> in_pool;
  for (int64_t i = 0; i < o.pool; ++i) {
    StudyPoint p;
    if (!draw_unused(space, rng, used, &p.arch)) break;
    if (!in_pool.insert(candidate_arch_hash(p.arch)).second) continue;
    pool.push_back(std::move(p));
  }
  if (pool.empty()) throw too_few(o, "samples");
  const auto picks = select_batch(model, features_of(pool, shape, o.prompt_len), want);
  spdlog::info("latency study: round {}: {} points from a pool of {}, top relative sd {:.3f}", round, picks.size(),
               pool.size(), picks.empty() ? 0.0 : picks.front().second);
  std::vector<std::pair<CandidateArch, double>> out;
  for (const auto& [index, sd] : picks) out.emplace_back(pool[index].arch, sd);
  return out;
}

void set_study_point_costs(StudyPoint& p, const ModelShape& shape, int64_t P) {
  const ArchConfig config = shape_to_config(shape, p.arch);
  p.params = count_parameters(config);
  p.prefill_flops = prefill_flops(config, P);
  p.decode_flops = decode_flops_per_token(config, P);
}

nlohmann::json study_model_metadata(const search::ArchSpace& space, const ModelShape& shape,
                                    const LatencyStudyOptions& o, const StudyAccuracy& accuracy, int64_t noisy) {
  return {{"prompt_len", o.prompt_len},
          {"shape", model_shape_to_json(shape)},
          {"space", search::arch_space_options_to_json(space.options())},
          {"study", study_options_to_json(o)},
          {"accuracy", study_accuracy_to_json(accuracy)},
          {"noisy_measurements", noisy}};
}

LatencyMeasurer local_measurer(const LatencyOptions& options, uint64_t weight_seed,
                               LatencyStatistic statistic, int64_t max_batch_bytes) {
  options.validate();
  FLASHNAS_CHECK(max_batch_bytes > 0, "max_batch_bytes must be positive");
  // Weight bytes held while a model is timed (F32, plus the Q8_0 copy).
  const double bytes_per_param = options.weights == WeightFormat::q8_0 ? 4.0 + 34.0 / 32.0 : 4.0;
  return [options, weight_seed, statistic, max_batch_bytes,
          bytes_per_param](const std::vector<ArchConfig>& configs) {
    std::vector<MeasuredLatency> out;
    // Consecutive groups whose weights fit the budget (at least one model each).
    for (size_t begin = 0; begin < configs.size();) {
      size_t end = begin;
      double bytes = 0.0;
      while (end < configs.size()) {
        const double b = bytes_per_param * static_cast<double>(count_parameters(configs[end]));
        if (end > begin && bytes + b > static_cast<double>(max_batch_bytes)) break;
        bytes += b;
        ++end;
      }
      std::vector<Model> models;
      std::vector<const Model*> pointers;
      models.reserve(end - begin);
      for (size_t i = begin; i < end; ++i) {
        models.push_back(make_synthetic_model(configs[i], weight_seed));
        pointers.push_back(&models.back());
      }
      for (const LatencyMeasurement& m : measure_latency_interleaved(pointers, options)) {
        out.push_back(MeasuredLatency{statistic_of(m.ttft_ms, statistic),
                                      statistic_of(m.decode_ms_per_token, statistic), m.noisy,
                                      latency_measurement_to_json(m)});
      }
      begin = end;
    }
    return out;
  };
}

LatencyMeasurer per_architecture(std::function<MeasuredLatency(const ArchConfig&)> measure_one) {
  return [measure_one = std::move(measure_one)](const std::vector<ArchConfig>& configs) {
    std::vector<MeasuredLatency> out;
    out.reserve(configs.size());
    for (const ArchConfig& c : configs) out.push_back(measure_one(c));
    return out;
  };
}

void LatencyStudyOptions::validate() const {
  auto range = [](int64_t v, int64_t lo, int64_t hi, const char* field) {
    if (v < lo || v > hi) {
      throw InvalidInput(fmt::format("{} must be in [{}, {}], got {}", field, lo, hi, v), field);
    }
  };
  range(samples, 2, 100000, "samples");
  range(holdout, 2, 100000, "holdout");
  range(initial, -1, samples, "initial");
  if (initial >= 0) range(initial, 2, samples, "initial");
  range(batch, 1, 10000, "batch");
  range(pool, 1, 1000000, "pool");
  range(prompt_len, 1, 1 << 20, "prompt_len");
}

LatencyStudyResult run_latency_study(const search::ArchSpace& space, const ModelShape& shape,
                                     const LatencyStudyOptions& o, const LatencyMeasurer& measure,
                                     const StudyProgress& progress) {
  const int64_t N = o.samples, M = o.holdout, P = o.prompt_len;
  StudyDesign plan = study_design(space, o);  // validates the options
  std::unordered_set<std::string> used;
  std::vector<StudyPoint> holdout;
  for (CandidateArch& a : plan.holdout) {
    used.insert(candidate_arch_hash(a));
    StudyPoint p;
    p.arch = std::move(a);
    p.phase = "holdout";
    holdout.push_back(std::move(p));
  }

  std::vector<StudyPoint> train;
  int64_t holdout_done = 0, noisy = 0, done = 0;
  double measure_seconds = 0.0, fit_seconds = 0.0;
  // Measures `points` as one batch (the measurer may interleave their runs).
  auto measure_points = [&](const std::vector<StudyPoint*>& points) {
    std::vector<ArchConfig> configs;
    for (StudyPoint* p : points) {
      set_study_point_costs(*p, shape, P);
      configs.push_back(shape_to_config(shape, p->arch));
    }
    const auto t0 = Clock::now();
    std::vector<MeasuredLatency> measured = measure(configs);
    measure_seconds += seconds_since(t0);
    if (measured.size() != points.size()) {
      throw Error(fmt::format("the measurer returned {} results for {} architectures",
                              measured.size(), points.size()));
    }
    for (size_t i = 0; i < points.size(); ++i) {
      StudyPoint& p = *points[i];
      p.measured = std::move(measured[i]);
      if (!(p.measured.ttft_ms > 0.0) || !(p.measured.decode_ms_per_token > 0.0)) {
        throw Error(fmt::format("the measurer returned non-positive latencies for {}",
                                candidate_arch_to_json(p.arch).dump()));
      }
      noisy += p.measured.noisy;
      if (progress) progress(p, ++done, N + M);
    }
  };
  // Measures a batch of training points together with the held-out points that
  // keep the held-out measurements in step with the training ones: after
  // training point k of N, ceil(M k / N) held-out points have been measured.
  auto add_training_batch = [&](std::vector<StudyPoint> batch) {
    const int64_t k = static_cast<int64_t>(train.size() + batch.size());
    int64_t holdout_end = holdout_done;
    while (holdout_end < M && holdout_end * N < M * k) ++holdout_end;
    std::vector<StudyPoint*> points;
    for (StudyPoint& p : batch) points.push_back(&p);
    for (int64_t i = holdout_done; i < holdout_end; ++i) points.push_back(&holdout[static_cast<size_t>(i)]);
    measure_points(points);
    holdout_done = holdout_end;
    for (StudyPoint& p : batch) train.push_back(std::move(p));
  };

  // 1. The scrambled Sobol design over the space, measured in batches of o.batch.
  std::vector<StudyPoint> batch;
  for (size_t i = 0; i < plan.design.size(); ++i) {
    StudyPoint p;
    p.arch = std::move(plan.design[i]);
    p.phase = "sobol";
    used.insert(candidate_arch_hash(p.arch));
    batch.push_back(std::move(p));
    if (static_cast<int64_t>(batch.size()) == o.batch || i + 1 == plan.design.size()) {
      add_training_batch(std::move(batch));
      batch.clear();
    }
  }

  // 2. Adaptive rounds where the model is least sure.
  for (int64_t round = 1; static_cast<int64_t>(train.size()) < N; ++round) {
    const auto t0 = Clock::now();
    const LatencyModel model = fit_study_model(train, shape, P, o.model);
    const int64_t want = std::min<int64_t>(o.batch, N - static_cast<int64_t>(train.size()));
    const auto picks = study_adaptive_batch(space, shape, o, model, used, round, want);
    fit_seconds += seconds_since(t0);
    std::vector<StudyPoint> picked;
    for (const auto& [arch, sd] : picks) {
      StudyPoint p;
      p.arch = arch;
      p.phase = "adaptive";
      p.round = round;
      p.selection_log_sd = sd;
      used.insert(candidate_arch_hash(p.arch));
      picked.push_back(std::move(p));
    }
    add_training_batch(std::move(picked));
  }
  if (holdout_done < M) add_training_batch({});  // only when N rounding left some behind

  // 3. The final model and its accuracy on the held-out architectures.
  const auto t0 = Clock::now();
  LatencyModel model = fit_study_model(train, shape, P, o.model);
  fit_seconds += seconds_since(t0);
  const StudyAccuracy accuracy = evaluate_study_accuracy(model, shape, P, holdout);
  model.metadata = study_model_metadata(space, shape, o, accuracy, noisy);
  return LatencyStudyResult{std::move(model), std::move(train), std::move(holdout), accuracy, noisy,
                            measure_seconds, fit_seconds};
}

StudyAccuracy evaluate_study_accuracy(const LatencyModel& model, const ModelShape& shape,
                                      int64_t prompt_len, std::vector<StudyPoint>& points) {
  const LatencyPredictions pred = model.predict(features_of(points, shape, prompt_len));
  std::vector<double> m_ttft, m_decode, p_ttft, p_decode, params, f_prefill, f_decode;
  for (size_t i = 0; i < points.size(); ++i) {
    StudyPoint& p = points[i];
    p.predicted_ttft_ms = pred.ttft_ms(static_cast<Eigen::Index>(i));
    p.predicted_decode_ms = pred.decode_ms_per_token(static_cast<Eigen::Index>(i));
    m_ttft.push_back(p.measured.ttft_ms);
    m_decode.push_back(p.measured.decode_ms_per_token);
    p_ttft.push_back(p.predicted_ttft_ms);
    p_decode.push_back(p.predicted_decode_ms);
    params.push_back(static_cast<double>(p.params));
    f_prefill.push_back(p.prefill_flops);
    f_decode.push_back(p.decode_flops);
  }
  return {evaluate_target_accuracy(m_ttft, p_ttft, params, f_prefill),
          evaluate_target_accuracy(m_decode, p_decode, params, f_decode)};
}

nlohmann::json study_accuracy_to_json(const StudyAccuracy& a) {
  return {{"prefill", target_accuracy_to_json(a.prefill)},
          {"decode", target_accuracy_to_json(a.decode)}};
}

nlohmann::json study_point_to_json(const StudyPoint& p) {
  nlohmann::json j = {{"arch", candidate_arch_to_json(p.arch)},
                      {"phase", p.phase},
                      {"params", p.params},
                      {"prefill_flops", p.prefill_flops},
                      {"decode_flops", p.decode_flops},
                      {"ttft_ms", p.measured.ttft_ms},
                      {"decode_ms_per_token", p.measured.decode_ms_per_token},
                      {"noisy", p.measured.noisy}};
  if (p.phase == "adaptive") {
    j["round"] = p.round;
    j["selection_log_sd"] = p.selection_log_sd;
  }
  if (p.phase == "holdout") {
    j["predicted_ttft_ms"] = p.predicted_ttft_ms;
    j["predicted_decode_ms_per_token"] = p.predicted_decode_ms;
  }
  return j;
}

}  // namespace flashnas::latency
