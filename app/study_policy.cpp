// Stage 1 as stateless steps (see study_policy.hpp).
#include "app/study_policy.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <unordered_set>

#include "app/search_policy.hpp"
#include "engine/latency/features.hpp"
#include "engine/util/error.hpp"

namespace flashnas::app {
namespace {

using Clock = std::chrono::steady_clock;
using store::MeasurementPhase;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

latency::StudyPoint study_point(const StudyProblem& p, const StudyMeasurement& m) {
  latency::StudyPoint out;
  out.arch = m.arch;
  out.phase = m.phase == MeasurementPhase::holdout ? "holdout" : m.phase == MeasurementPhase::adaptive ? "adaptive" : "sobol";
  out.round = m.round;
  out.measured.ttft_ms = m.ttft_ms;
  out.measured.decode_ms_per_token = m.decode_ms_per_token;
  latency::set_study_point_costs(out, p.shape, p.options.prompt_len);
  return out;
}

std::vector<latency::StudyPoint> points_of(const StudyProblem& p, const std::vector<StudyMeasurement>& measured,
                                           bool holdout) {
  std::vector<latency::StudyPoint> out;
  for (const StudyMeasurement& m : measured) {
    if ((m.phase == MeasurementPhase::holdout) == holdout) out.push_back(study_point(p, m));
  }
  return out;
}

nlohmann::json points_json(const std::vector<latency::StudyPoint>& points) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : points) out.push_back(latency::study_point_to_json(p));
  return out;
}

}  // namespace

StudyProblem make_study_problem(const Stage1Spec& stage1, const search::ArchSpaceOptions& space,
                                const latency::ModelShape& shape, const LatencySpec& latency, uint64_t seed) {
  latency::LatencyStudyOptions o;
  o.samples = stage1.samples;
  o.holdout = stage1.holdout;
  o.initial = stage1.initial;
  o.batch = stage1.batch;
  o.pool = stage1.pool;
  o.prompt_len = latency.options.prompt_len;
  o.seed = seed;
  return StudyProblem{search::ArchSpace(space), shape, o, latency.objective};
}

std::vector<LatencyPayload> study_initial_tasks(const StudyProblem& p) {
  const latency::StudyDesign design = latency::study_design(p.space, p.options);
  // The held-out points spread evenly through the design: after design point k
  // of D, ceil(M k / D) held-out points, so slow drift of the machine affects
  // the training and held-out measurements alike.
  const size_t d = design.design.size(), m = design.holdout.size();
  std::vector<LatencyPayload> out;
  size_t holdout_done = 0;
  for (size_t k = 0; k < d; ++k) {
    out.push_back({design.design[k], MeasurementPhase::design, 0});
    while (holdout_done < m && holdout_done * d < m * (k + 1)) {
      out.push_back({design.holdout[holdout_done++], MeasurementPhase::holdout, 0});
    }
  }
  for (; holdout_done < m; ++holdout_done) out.push_back({design.holdout[holdout_done], MeasurementPhase::holdout, 0});
  return out;
}

int64_t study_training_count(const std::vector<StudyMeasurement>& measured) {
  int64_t n = 0;
  for (const auto& m : measured) n += m.phase != MeasurementPhase::holdout;
  return n;
}

FitResult study_adaptive_round(const StudyProblem& p, const std::vector<StudyMeasurement>& measured, int64_t round) {
  const auto t0 = Clock::now();
  const std::vector<latency::StudyPoint> train = points_of(p, measured, false);
  if (train.size() < 2) {
    throw InvalidInput(fmt::format("only {} training latencies were measured: too few to fit a latency model",
                                   train.size()),
                       "stage1");
  }
  std::unordered_set<std::string> used;
  for (const auto& m : measured) used.insert(candidate_arch_hash(m.arch));
  // Held-out architectures stay out of training even when their measurement failed.
  for (const auto& a : latency::study_design(p.space, p.options).holdout) used.insert(candidate_arch_hash(a));
  const latency::LatencyModel model = latency::fit_study_model(train, p.shape, p.options.prompt_len, p.options.model);
  const int64_t want = std::min<int64_t>(p.options.batch, p.options.samples - static_cast<int64_t>(train.size()));
  FitResult out;
  out.purpose = FitPurpose::adaptive;
  out.n_points = static_cast<int32_t>(train.size());
  if (want > 0) out.picks = latency::study_adaptive_batch(p.space, p.shape, p.options, model, used, round, want);
  out.seconds = seconds_since(t0);
  return out;
}

FitResult study_final_fit(const StudyProblem& p, const std::vector<StudyMeasurement>& measured) {
  const auto t0 = Clock::now();
  const std::vector<latency::StudyPoint> train = points_of(p, measured, false);
  std::vector<latency::StudyPoint> holdout = points_of(p, measured, true);
  if (train.size() < 2) {
    throw InvalidInput(fmt::format("only {} training latencies were measured: too few to fit a latency model",
                                   train.size()),
                       "stage1");
  }
  latency::LatencyModel model = latency::fit_study_model(train, p.shape, p.options.prompt_len, p.options.model);
  FitResult out;
  out.purpose = FitPurpose::final;
  if (holdout.size() >= 2) {
    const latency::StudyAccuracy accuracy =
        latency::evaluate_study_accuracy(model, p.shape, p.options.prompt_len, holdout);
    out.accuracy = latency::study_accuracy_to_json(accuracy);
    model.metadata = latency::study_model_metadata(p.space, p.shape, p.options, accuracy, 0);
  } else {
    out.accuracy = {{"note", "fewer than two held-out measurements: no accuracy report"}};
    model.metadata = {{"prompt_len", p.options.prompt_len}, {"shape", latency::model_shape_to_json(p.shape)}};
  }
  model.metadata["train_points"] = points_json(train);
  model.metadata["holdout_points"] = points_json(holdout);
  out.n_points = static_cast<int32_t>(train.size());
  out.reference_latency = default_reference_latency(p.space, p.shape, model, p.options.prompt_len, p.objective);
  out.model = model.to_json();
  out.seconds = seconds_since(t0);
  return out;
}

FitResult refit_latency_model(const latency::LatencyModel& base, const latency::ModelShape& shape, int64_t prompt_len,
                              const std::vector<TrialMeasurement>& trials, const search::ArchSpace& space,
                              const LatencyObjective& objective) {
  const auto t0 = Clock::now();
  const Eigen::MatrixXd base_x = base.training_features();
  const Eigen::Index n = base_x.rows(), k = static_cast<Eigen::Index>(trials.size());
  Eigen::MatrixXd x(n + k, base_x.cols());
  Eigen::VectorXd ttft(n + k), decode(n + k);
  x.topRows(n) = base_x;
  ttft.head(n) = base.training_ttft_ms();
  decode.head(n) = base.training_decode_ms();
  for (Eigen::Index i = 0; i < k; ++i) {
    const TrialMeasurement& t = trials[static_cast<size_t>(i)];
    x.row(n + i) = latency::latency_features(t.config, prompt_len).transpose();
    ttft(n + i) = t.ttft_ms;
    decode(n + i) = t.decode_ms_per_token;
  }
  // A transferred model stays transferred from the same source.
  latency::LatencyModelOptions fit_options;
  fit_options.transfer_source = base.transfer_source();
  fit_options.transfer_method = base.transfer_method();
  latency::LatencyModel model = latency::LatencyModel::fit(x, ttft, decode, fit_options);
  model.metadata = base.metadata;
  model.metadata["refit_trials"] = k;
  FitResult out;
  out.purpose = FitPurpose::refit;
  out.n_points = static_cast<int32_t>(n + k);
  // Score the refitted model on the base model's held-out points.
  std::vector<latency::StudyPoint> holdout;
  for (const auto& h : base.metadata.value("holdout_points", nlohmann::json::array())) {
    latency::StudyPoint point;
    point.arch = candidate_arch_from_json(h.at("arch"));
    point.phase = "holdout";
    point.measured.ttft_ms = h.at("ttft_ms").get<double>();
    point.measured.decode_ms_per_token = h.at("decode_ms_per_token").get<double>();
    latency::set_study_point_costs(point, shape, prompt_len);
    holdout.push_back(std::move(point));
  }
  if (holdout.size() >= 2) {
    const latency::StudyAccuracy accuracy = latency::evaluate_study_accuracy(model, shape, prompt_len, holdout);
    out.accuracy = latency::study_accuracy_to_json(accuracy);
    model.metadata["accuracy"] = out.accuracy;
    model.metadata["holdout_points"] = points_json(holdout);
  } else {
    out.accuracy = base.metadata.value("accuracy", nlohmann::json::object());
  }
  out.reference_latency = default_reference_latency(space, shape, model, prompt_len, objective);
  out.model = model.to_json();
  out.seconds = seconds_since(t0);
  return out;
}

}  // namespace flashnas::app
