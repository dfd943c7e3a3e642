// The job contract: what a client asks for, as typed structs. A request body is
// parsed once, at the HTTP edge (parse_job_request: structure and ranges, every
// bad field reported), then bound to the caller's project and backbone
// (job_binding.hpp); the stored job spec is the canonical JSON of the typed
// spec (job_spec_to_json), which workers read back with job_spec_from_json and
// trust. Not the job logic (job_service.hpp).
//
// Bodies (see server/openapi.json for every field):
//   sweep:         {"kind": "sweep", "name", "backbone", "calibration", "eval",
//                   "candidates": [ARCH, ...], "latency": LATENCY, [EVAL SETTINGS]}
//   search:        {"kind": "search", "name", "backbone", "calibration", "eval",
//                   "space": SPACE, "latency": LATENCY, "stage1": STAGE1 | "latency_model": ID,
//                   "stage2": {"budget", "batch", "initial"}, "constraints": [...],
//                   "reference_point": {"eval_nll", "latency"}, "seed", [EVAL SETTINGS],
//                   ["fidelities": [HEAL STEPS | {"steps", "lr", "warmup_steps"}, ...] with "heal" (stage2.eta)]}
//   latency_study: {"kind": "latency_study", "name", "backbone", "space", "latency": LATENCY,
//                   "stage1": STAGE1, "seed"}
//   LATENCY:       {"device_kind", "prompt_len", "decode_tokens", "objective", ... LatencyOptions}
//                  (a device_kind other than local-cpu needs a registered device of that kind)
//   STAGE1:        {"samples", "holdout", "repeats", "initial", "batch", "pool", "source", "transfer_from"}
//   EVAL SETTINGS: "calib_tokens", "eval_tokens", "ctx", "heal": HEAL
//   HEAL:          {"train": DATASET_ID, "train_tokens", ... HealOptions ("steps",
//                   "tokens_per_step" | "batch", "ctx", "lr", "distill", ...)}
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "engine/latency/latency_options.hpp"
#include "engine/model/candidate_arch.hpp"
#include "engine/search/arch_space_options.hpp"
#include "engine/train/heal.hpp"
#include "store/states.hpp"

namespace flashnas::app {

// The largest sweep one request may ask for, and the largest search budget.
inline constexpr int64_t kMaxSweepCandidates = 256;
inline constexpr int64_t kMaxSearchBudget = 2000;

// The most a job may ask of one heal: optimiser steps, and the memory limit
// (a worker holds the heal of each of its evaluate tasks at once).
inline constexpr int64_t kMaxHealSteps = 100000;
inline constexpr int64_t kMaxHealMemoryBytes = int64_t{16} << 30;

// Healing each candidate after pruning (continued pretraining, distillation
// from the backbone when options.distill > 0): the engine's HealOptions, read
// by its own reader under "heal.", and the training text.
struct HealSpec {
  HealOptions options;
  int64_t train = 0;             // dataset id of the project
  int64_t train_tokens = 65537;  // the training text cut to this many tokens (BOS included)
  // Windows of ctx + 1 tokens the cut text holds at most (at least one is needed).
  int64_t min_tokens() const { return options.ctx + 1; }
};

// Reads a "heal" object (fields under `prefix`, e.g. "heal" or "payload.heal"),
// errors recorded in `errors`; and its canonical JSON.
HealSpec read_heal_spec(JsonObjectReader& r);
nlohmann::json heal_spec_to_json(const HealSpec& heal);
HealSpec heal_spec_from_json(const nlohmann::json& j, const std::string& prefix);

// Quality evaluation: the backbone, its calibration and evaluation texts, and
// the token budgets (defaults as `flashnas evaluate-candidate`, so a trial's
// NLL equals what that command prints).
struct EvaluationSpec {
  int64_t backbone = 0;     // model id of the project
  int64_t calibration = 0;  // dataset ids of the project
  int64_t eval = 0;
  int64_t calib_tokens = 8192;  // calibration text cut to this many tokens
  int64_t eval_tokens = 16384;  // evaluation text cut to this many tokens
  int64_t ctx = 256;            // evaluation window
  std::optional<HealSpec> heal;  // absent: zero-shot quality (pruned, not healed)
  // The fewest tokens a calibration or evaluation text must hold: 8 windows, or
  // the whole budget when that is smaller.
  int64_t min_tokens(int64_t budget) const { return std::min(budget, 8 * ctx + 1); }
};

// The latency that is minimised: w_prefill * prefill_ms + w_decode *
// decode_ms_per_token. "prefill_ms" is (1, 0), "decode_ms_per_token" (0, 1).
struct LatencyObjective {
  double prefill_weight = 1.0;
  double decode_weight = 0.0;
  std::string name() const;  // "prefill_ms", "decode_ms_per_token" or "weighted"
  double of(double prefill_ms, double decode_ms_per_token) const {
    return prefill_weight * prefill_ms + decode_weight * decode_ms_per_token;
  }
  bool operator==(const LatencyObjective&) const = default;
};

// The device kind workers measure on their own CPU; other kinds are measured by
// device agents (device_tasks.hpp).
inline constexpr const char* kLocalDeviceKind = "local-cpu";
// 1 to 64 of lowercase letters, digits, '_', '.', '-', starting with a letter or digit.
bool is_device_kind_name(const std::string& kind);

struct LatencySpec {
  std::string device_kind = kLocalDeviceKind;
  latency::LatencyOptions options;  // prompt_len, decode_tokens, repeats, threads, weights, ...
  LatencyObjective objective;
};

// Outcome constraints (Ax's): metric <= max.
enum class ConstraintMetric : uint8_t { prefill_ms, decode_ms_per_token, params, kv_cache_bytes_per_token };
std::string_view constraint_metric_name(ConstraintMetric metric);
struct OutcomeConstraintSpec {
  ConstraintMetric metric = ConstraintMetric::decode_ms_per_token;
  double max = 0.0;
};

// Where stage 1's measurements come from: measured now (by workers for
// local-cpu, by device agents for other kinds), or imported earlier for the
// project's devices of the kind (POST /v1/devices/{id}/measurements), which the
// study only fits: `holdout` of them, spread evenly, score the model.
enum class Stage1Source : uint8_t { measured, imported };

// Stage 1: the latency study. Stage-1 measurements take `repeats` runs each.
struct Stage1Spec {
  Stage1Source source = Stage1Source::measured;
  int64_t samples = 100;  // training measurements (Sobol design + adaptive rounds)
  int64_t holdout = 20;   // held-out measurements for the accuracy report
  int64_t initial = -1;   // Sobol design size; -1: half the samples
  int64_t batch = 10;     // points per adaptive round
  int64_t pool = 2000;    // random candidates scored per adaptive round
  int64_t repeats = 10;   // timed runs per architecture (interleaved)
  // A latency model of another device (of the project, same backbone shape and
  // prompt length) that this study's model is transferred from: a few
  // measurements of the new device then suffice (engine/latency/latency_model.hpp).
  std::optional<int64_t> transfer_from;
  int64_t design_size() const { return initial < 0 ? std::max<int64_t>(2, samples / 2) : initial; }
};

// Stage 2: the search. `budget` evaluations in all, `batch` in flight.
struct Stage2Spec {
  int64_t budget = 64;
  int64_t batch = 8;
  int64_t initial = 8;  // scrambled Sobol design of the first step
  int64_t eta = 3;      // with fidelities: the top 1/eta of a rung go on to the next (fidelity_policy.hpp)
};

// The most rungs of a multi-fidelity search.
inline constexpr size_t kMaxFidelities = 6;

// One rung of a multi-fidelity search: its heal steps (0: zero-shot) and, when
// given, its own learning-rate schedule instead of heal.lr and heal.warmup_steps.
// A short heal ranks candidates best at a lower rate than a long one
// (bench/README.md, "Heal study"), and a warm-up fit for the top rung would take
// much of a short one.
struct Fidelity {
  int64_t steps = 0;
  std::optional<double> lr;
  std::optional<int64_t> warmup_steps;
  bool operator==(const Fidelity&) const = default;
};

// The hypervolume reference point: worst acceptable quality (eval NLL) and latency.
struct ReferencePoint {
  double eval_nll = 0.0;
  double latency = 0.0;
};

struct SweepSpec {
  EvaluationSpec evaluation;
  LatencySpec latency;
  std::vector<CandidateArch> candidates;  // canonical, distinct
};

struct SearchSpec {
  EvaluationSpec evaluation;
  LatencySpec latency;
  search::ArchSpaceOptions space;
  std::optional<Stage1Spec> stage1;      // exactly one of stage1 and latency_model
  std::optional<int64_t> latency_model;  // a fitted latency model of the project
  Stage2Spec stage2;
  std::vector<OutcomeConstraintSpec> constraints;
  std::optional<ReferencePoint> reference_point;  // else inferred at stage 2's start
  uint64_t seed = 0;
  // The rungs, heal steps increasing (0: zero-shot); empty: one fidelity,
  // evaluation.heal's steps. With rungs, evaluation.heal->options.steps is the top one.
  std::vector<Fidelity> fidelities;
  int32_t rungs() const { return fidelities.empty() ? 1 : static_cast<int32_t>(fidelities.size()); }
};

struct LatencyStudySpec {
  int64_t backbone = 0;
  LatencySpec latency;
  search::ArchSpaceOptions space;
  Stage1Spec stage1;
  uint64_t seed = 0;
};

using JobSpec = std::variant<SweepSpec, SearchSpec, LatencyStudySpec>;

struct JobRequest {
  std::string name;
  JobSpec spec;
};

store::JobKind job_kind_of(const JobSpec& spec);

// Reads a POST /v1/jobs body: types, ranges, unknown fields, the architecture,
// space and latency-option schemas of the engine (so the job refuses exactly
// what the CLI refuses). Throws InvalidInput listing every bad field. References
// (ids) are checked later, against the project (bind_job_request).
JobRequest parse_job_request(const nlohmann::json& body);

// The canonical stored form, and back (trusted: the stored spec was validated).
nlohmann::json job_spec_to_json(const JobSpec& spec);
JobSpec job_spec_from_json(store::JobKind kind, const nlohmann::json& stored);

// What every job kind shares, for the workers: the backbone and latency settings.
int64_t backbone_of(const JobSpec& spec);
const LatencySpec& latency_spec_of(const JobSpec& spec);
// The job's stage 1: a latency study's, or a search's unless it names a fitted
// latency model; nullptr otherwise (sweeps too).
const Stage1Spec* stage1_spec_of(const JobSpec& spec);
// The evaluation settings of a sweep or search (nullptr for a latency study).
const EvaluationSpec* evaluation_spec_of(const JobSpec& spec);

}  // namespace flashnas::app
