// What a task carries and what its worker reports, as typed structs: the
// payload of each task kind (stored in tasks.payload) and the result a handler
// returns (applied in-process by the job service, stored in tasks.result as its
// JSON for the record). A handler returns a TaskResult; the job service never
// parses a worker's JSON.
//   evaluate           payload {"arch", ["heal"], ["rung"]} -> EvaluateResult
//   latency            payload {"arch", ["phase", "round"]} -> LatencyResult
//   search_step        (the task's step)                 -> SearchStepResult
//   fit_latency_model  payload {"purpose"} (the task's step is the round) -> FitResult
//   export             payload {"format"} (the task's trial)  -> ExportResult
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "app/job_spec.hpp"
#include "engine/model/candidate_arch.hpp"
#include "store/states.hpp"

namespace flashnas::app {

// ------------------------------------------------------------------ payloads

// The heal travels with the task (the job's "heal"), so that tasks of one job
// may heal for different budgets.
struct EvaluatePayload {
  CandidateArch arch;
  std::optional<HealSpec> heal;  // absent: zero-shot only
  std::optional<int32_t> rung;   // multi-fidelity searches: the rung this evaluation is of
};

// A stage-1 latency task has a phase (design, adaptive or holdout) and a round;
// a trial's latency task has neither.
struct LatencyPayload {
  CandidateArch arch;
  std::optional<store::MeasurementPhase> phase;
  int32_t round = 0;
};

// Why a latency model is fitted: to choose adaptive round `round`'s points, to
// make the study's final model, or to refit stage 2's model with trial measurements.
enum class FitPurpose : uint8_t { adaptive, final, refit };
std::string_view fit_purpose_name(FitPurpose purpose);
struct FitPayload {
  FitPurpose purpose = FitPurpose::final;
  std::optional<int64_t> base_model_id;  // refit: the stage-1 model the trials extend
};

// An export task makes its trial's model file in a format.
struct ExportPayload {
  store::CheckpointFormat format = store::CheckpointFormat::safetensors;
};

nlohmann::json evaluate_payload_to_json(const EvaluatePayload& p);
nlohmann::json latency_payload_to_json(const LatencyPayload& p);
nlohmann::json fit_payload_to_json(const FitPayload& p);
// Trusted (the job service wrote them); throws InvalidInput naming the field otherwise.
EvaluatePayload evaluate_payload_from_json(const nlohmann::json& j);
LatencyPayload latency_payload_from_json(const nlohmann::json& j);
FitPayload fit_payload_from_json(const nlohmann::json& j);
ExportPayload export_payload_from_json(const nlohmann::json& j);

// ------------------------------------------------------------------ results

// What healing one candidate did and cost (HealResult's summary).
struct HealOutcome {
  double healed_nll = 0.0;   // eval NLL after healing
  int64_t steps = 0;
  int64_t tokens = 0;        // tokens trained on
  double seconds = 0.0;      // the training loop
  double setup_seconds = 0.0;  // allocation (and teacher logits when not shared)
  double tokens_per_second = 0.0;
  double first_loss = 0.0, final_loss = 0.0;  // training loss of the first and last step
  int64_t memory_bytes = 0;  // the heal's memory plan
  bool teacher_cached = false;
};
nlohmann::json heal_outcome_to_json(const HealOutcome& h);

struct EvaluateResult {
  double eval_nll = 0.0;  // the quality: mean NLL in nats per predicted token (healed_nll when healed)
  int64_t eval_tokens = 0;
  int64_t params = 0;
  int64_t non_embedding_params = 0;
  double flops_per_token = 0.0;
  int64_t kv_cache_bytes_per_token = 0;
  double seconds = 0.0;        // pruning, evaluation(s) and healing
  double zero_shot_nll = 0.0;  // right after pruning
  std::optional<HealOutcome> heal;  // absent: not healed
};

struct LatencyResult {
  std::string device_kind;
  int64_t prompt_len = 0, decode_tokens = 0;
  double prefill_ms = 0.0;           // the statistic of the repeats (median)
  double decode_ms_per_token = 0.0;
  double prefill_spread = 0.0, decode_spread = 0.0;  // MAD / median
  nlohmann::json arch = nlohmann::json::object();    // the full shape measured (arch_config JSON)
  std::string arch_hash;                              // sha256 of that JSON
  nlohmann::json samples = nlohmann::json::object();  // every timed run
  nlohmann::json environment = nlohmann::json::object();
  std::optional<int64_t> device_id;  // the registered device whose agent measured it
};

// A measurement's arch_hash: sha256 of the full shape's arch_config JSON, so
// measurements of one shape are found again whoever measured them.
std::string measured_arch_hash(const nlohmann::json& arch_config);

// One architecture a search step proposes, with what the latency model predicts.
struct Proposal {
  CandidateArch arch;
  store::TrialSource source = store::TrialSource::search;  // design (initial Sobol) or search (NEHVI)
  double predicted_latency = 0.0;     // of the job's latency objective, ms
  double predicted_latency_sd = 0.0;  // its posterior standard deviation, ms
};

struct SearchStepResult {
  int64_t requested = 0;     // points the step was asked for (batch - in flight, within budget)
  std::vector<Proposal> proposals;
  bool exhausted = false;    // fewer than requested: the space has no admissible point left
  int64_t observations = 0, pending = 0;
  double propose_seconds = 0.0;  // qNEHVI: fitting the quality GP and choosing the batch
  double total_seconds = 0.0;    // the whole policy call
};

// What a fit reports: for an adaptive round, the architectures to measure next
// (with the predictive sd of log latency each was chosen at); for a final fit or
// a refit, the model with its accuracy report and the reference latency for stage 2.
struct FitResult {
  FitPurpose purpose = FitPurpose::final;
  std::vector<std::pair<CandidateArch, double>> picks;  // adaptive
  nlohmann::json model = nlohmann::json::object();      // final, refit: LatencyModel::to_json()
  nlohmann::json accuracy = nlohmann::json::object();   // held-out accuracy report
  int32_t n_points = 0;                                 // training measurements
  std::optional<int64_t> base_model_id;                 // refit: the model it extends
  double reference_latency = 0.0;  // final, refit: 1.1 x the predicted latency objective of the costliest arch
  double seconds = 0.0;
};

// The file an export made, already in the storage folder under its content's name.
struct ExportResult {
  store::CheckpointFormat format = store::CheckpointFormat::safetensors;
  std::string sha256;
  int64_t bytes = 0;
  std::string path;  // relative to the storage folder
  double seconds = 0.0;
};

using TaskResult = std::variant<EvaluateResult, LatencyResult, SearchStepResult, FitResult, ExportResult>;

store::TaskKind task_kind_of(const TaskResult& result);
nlohmann::json task_result_to_json(const TaskResult& result);

}  // namespace flashnas::app
