// The latency study (stage 1 of the search): choose architectures of a search
// space, measure them, fit the latency model and report its accuracy on
// independently sampled held-out architectures.
//   1. a scrambled Sobol design over the space (ArchSpace::initial_design);
//   2. adaptive rounds: fit the model, draw a pool of random valid candidates,
//      and measure the batch with the highest predictive standard deviation of
//      log latency (relative uncertainty), chosen greedily: after each pick the
//      pick is added as a fantasy observation at its predicted mean, so the
//      variance near it shrinks and one batch does not cluster;
//   3. the final model on every training point, scored on the held-out set.
// Points are measured in batches (the design in groups of `batch`, each adaptive
// round as one), and held-out points join the batches evenly through the run,
// so slow drift of the machine's load affects training and held-out
// measurements alike.
// Transfer: with options.model.transfer_source set (the fitted model of another
// device), every fit is LatencyModel::fit_transferred, so a study of a new
// device needs only a small design (samples 10-40); without it, from scratch.
// The measuring is a callback, so tests and other devices plug in their own;
// no files are read or written here.
//
// Legend: N training points, M held-out points, D features.
#pragma once

#include <Eigen/Core>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/latency/accuracy.hpp"
#include "engine/latency/latency_model.hpp"
#include "engine/latency/latency_options.hpp"
#include "engine/latency/latency_stats.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/model/candidate_arch.hpp"
#include "engine/search/arch_space.hpp"

namespace flashnas::latency {

// What one measurement of one architecture gives the study.
struct MeasuredLatency {
  double ttft_ms = 0.0;              // median time to first token
  double decode_ms_per_token = 0.0;  // median decode ms/token at context P
  bool noisy = false;
  nlohmann::json detail;             // the full measurement (samples, environment), kept in reports
};

// Measures a batch of architectures whose full configs are given, one result
// per config, in order. A batch is measured together, so a measurer may
// interleave the runs of its architectures (the local one does). The study
// supplies the prompt length through its own options, which the measurer was
// built with.
using LatencyMeasurer =
    std::function<std::vector<MeasuredLatency>(const std::vector<ArchConfig>& configs)>;

// A measurer that measures the architectures of a batch one after another.
LatencyMeasurer per_architecture(std::function<MeasuredLatency(const ArchConfig&)> measure_one);

// The measurer of this machine: random weights of each config's shape
// (make_synthetic_model, fixed seed), then measure_latency_interleaved with
// `options` over the batch, in consecutive groups whose weights fit in
// `max_batch_bytes` (every model of a group is held in memory while it is timed).
LatencyMeasurer local_measurer(const LatencyOptions& options, uint64_t weight_seed = 1234,
                               LatencyStatistic statistic = LatencyStatistic::median,
                               int64_t max_batch_bytes = int64_t{8} << 30);

struct LatencyStudyOptions {
  int64_t samples = 200;    // N: training measurements (Sobol + adaptive)
  int64_t holdout = 50;     // M: held-out measurements, sampled independently
  int64_t initial = -1;     // Sobol design size; -1: half of samples
  int64_t batch = 10;       // points per adaptive round
  int64_t pool = 2000;      // random valid candidates scored per round
  int64_t prompt_len = 256; // P of the features (the measurer must use the same)
  uint64_t seed = 0;
  LatencyModelOptions model;  // model.transfer_source: transfer from another device's model

  void validate() const;  // throws InvalidInput naming the field
};

struct StudyPoint {
  CandidateArch arch;
  std::string phase;            // "sobol" | "adaptive" | "holdout"
  int64_t round = 0;            // adaptive round (0 for sobol and holdout)
  double selection_log_sd = 0;  // adaptive: predictive sd of log latency when chosen
  MeasuredLatency measured;
  int64_t params = 0;
  double prefill_flops = 0, decode_flops = 0;
  // held-out only: the final model's predictions
  double predicted_ttft_ms = 0, predicted_decode_ms = 0;
};

struct StudyAccuracy {
  TargetAccuracy prefill;
  TargetAccuracy decode;
};

struct LatencyStudyResult {
  LatencyModel model;
  std::vector<StudyPoint> train;    // N, in measurement order
  std::vector<StudyPoint> holdout;  // M
  StudyAccuracy accuracy;
  int64_t noisy_measurements = 0;
  double measure_seconds = 0, fit_seconds = 0;
};

// Called after every measurement (for progress logs); may be empty.
using StudyProgress = std::function<void(const StudyPoint& point, int64_t done, int64_t total)>;

// The study as stateless steps, for a driver that keeps its state elsewhere (the
// service keeps it in PostgreSQL; run_latency_study below keeps it in memory).
// Both make the same choices for the same options.

// Step 1: the M held-out architectures (their own random stream) and the Sobol
// design of the training set, distinct from each other. Throws InvalidInput when
// the space has too few distinct architectures.
struct StudyDesign {
  std::vector<CandidateArch> holdout;  // M
  std::vector<CandidateArch> design;   // the initial design (o.initial, or N / 2)
};
StudyDesign study_design(const search::ArchSpace& space, const LatencyStudyOptions& options);

// Step 2, adaptive round `round` (1, 2, ...): the next `want` training points
// where `model` is least certain, from a pool of random valid architectures not
// in `used` (hashes of every architecture measured or planned). Each pick comes
// with the predictive sd of log latency it was chosen at. Throws InvalidInput
// when the space has no unused architecture left.
std::vector<std::pair<CandidateArch, double>> study_adaptive_batch(
    const search::ArchSpace& space, const ModelShape& shape, const LatencyStudyOptions& options,
    const LatencyModel& model, const std::unordered_set<std::string>& used, int64_t round, int64_t want);

// The latency model on measured training points (ttft and decode of each).
LatencyModel fit_study_model(const std::vector<StudyPoint>& train, const ModelShape& shape, int64_t prompt_len,
                             const LatencyModelOptions& options);

// The metadata a study stores with its model (workload, shape, space, options, accuracy).
nlohmann::json study_model_metadata(const search::ArchSpace& space, const ModelShape& shape,
                                    const LatencyStudyOptions& options, const StudyAccuracy& accuracy,
                                    int64_t noisy_measurements);

// The cost proxies of a point (params, prefill and decode FLOPs), for accuracy reports.
void set_study_point_costs(StudyPoint& point, const ModelShape& shape, int64_t prompt_len);

// Runs the study. Throws InvalidInput for bad options, or when the space has too
// few distinct architectures for N + M measurements.
LatencyStudyResult run_latency_study(const search::ArchSpace& space, const ModelShape& shape,
                                     const LatencyStudyOptions& options,
                                     const LatencyMeasurer& measure,
                                     const StudyProgress& progress = {});

// Accuracy of `model` on measured points (uses their measured values and proxies).
StudyAccuracy evaluate_study_accuracy(const LatencyModel& model, const ModelShape& shape,
                                      int64_t prompt_len, std::vector<StudyPoint>& points);

nlohmann::json study_accuracy_to_json(const StudyAccuracy& a);
nlohmann::json study_point_to_json(const StudyPoint& p);

}  // namespace flashnas::latency
