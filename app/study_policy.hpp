// Stage 1 (the latency study) as stateless steps over what the database holds,
// the service's counterpart of `flashnas latency-study` with the same engine
// calls (engine/latency/study.hpp), so both make the same choices:
//   submit: the held-out set and the Sobol design become latency tasks, the
//           held-out ones spread evenly among the design's;
//   fit (adaptive round r): the model on the measurements so far picks the
//           next batch where it is least certain;
//   fit (final): the model on every training measurement, scored on the
//           held-out set (R^2, within 10%, RMSPE, Kendall tau against the
//           parameter-count and FLOPs proxies);
//   refit (stage 2): the model extended with the measured latencies of the
//           search's trials, scored on the same held-out set.
// Not the bookkeeping between the steps (job_service.hpp).
#pragma once

#include <vector>

#include "app/job_spec.hpp"
#include "app/task_contract.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/latency/study.hpp"
#include "engine/search/arch_space.hpp"

namespace flashnas::app {

struct StudyProblem {
  search::ArchSpace space;
  latency::ModelShape shape;
  latency::LatencyStudyOptions options;  // samples, holdout, initial, batch, pool, prompt_len, seed
  LatencyObjective objective;            // for the reference latency of stage 2
};

StudyProblem make_study_problem(const Stage1Spec& stage1, const search::ArchSpaceOptions& space,
                                const latency::ModelShape& shape, const LatencySpec& latency, uint64_t seed);

// The first latency tasks of a study, in the order they should be measured.
std::vector<LatencyPayload> study_initial_tasks(const StudyProblem& problem);

// One stage-1 measurement as the database holds it.
struct StudyMeasurement {
  CandidateArch arch;
  store::MeasurementPhase phase = store::MeasurementPhase::design;
  int32_t round = 0;
  double ttft_ms = 0.0, decode_ms_per_token = 0.0;
};

// Training points measured so far (design and adaptive phases).
int64_t study_training_count(const std::vector<StudyMeasurement>& measured);

// Adaptive round `round`: the next batch (at most the study's batch, and no
// more than the samples still missing). Throws InvalidInput when fewer than two
// training points were measured (nothing to fit).
FitResult study_adaptive_round(const StudyProblem& problem, const std::vector<StudyMeasurement>& measured,
                               int64_t round);

// The final model of the study, its held-out accuracy report and the reference
// latency for stage 2. The model's metadata keeps the training and held-out
// points (the held-out ones with predictions), so a refit can score itself again.
FitResult study_final_fit(const StudyProblem& problem, const std::vector<StudyMeasurement>& measured);

// A trial's measured latency, for a refit.
struct TrialMeasurement {
  ArchConfig config;  // the full shape measured
  double ttft_ms = 0.0, decode_ms_per_token = 0.0;
};

// The base model's training data plus the trials' measurements, refitted; scored
// on the base model's held-out points when it has them.
FitResult refit_latency_model(const latency::LatencyModel& base, const latency::ModelShape& shape,
                              int64_t prompt_len, const std::vector<TrialMeasurement>& trials,
                              const search::ArchSpace& space, const LatencyObjective& objective);

}  // namespace flashnas::app
