// Records: the plain structs the repositories return (one per table row, plus
// job progress), each with to_json for the API. No SQL and no behaviour here.
// Timestamps are ISO-8601 strings in UTC ("2026-11-21T19:17:14.123456+00:00").
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/states.hpp"

namespace flashnas::store {

struct Project {
  int64_t id = 0;
  std::string name;
  std::string created_at;
};

struct ApiKey {
  int64_t id = 0;
  int64_t project_id = 0;
  std::string project_name;
  std::string key_prefix;            // the first characters of the key, for humans
  std::vector<std::string> scopes;   // subset of read, submit, admin
  std::string label;
  std::string created_at;
  std::optional<std::string> revoked_at;
  bool has_scope(const std::string& scope) const;
};

// A model (gguf | safetensors) or a dataset (text) stored under the storage dir.
struct StoredFile {
  int64_t id = 0;
  int64_t project_id = 0;
  std::string name;
  std::string format;
  std::string sha256;
  int64_t size_bytes = 0;
  std::string storage_path;  // relative to the storage directory
  nlohmann::json metadata = nlohmann::json::object();
  std::string created_at;
};

// Trial counts of a job by state.
struct JobProgress {
  int64_t total = 0, pending = 0, running = 0, succeeded = 0, failed = 0, cancelled = 0;
};

struct Job {
  int64_t id = 0;
  int64_t project_id = 0;
  JobKind kind = JobKind::sweep;
  std::string name;
  nlohmann::json spec = nlohmann::json::object();
  JobState state = JobState::queued;
  std::optional<JobStage> stage;            // search and latency_study jobs only
  std::optional<int64_t> latency_model_id;  // the model stage 2 uses
  std::optional<nlohmann::json> reference_point, summary;
  std::optional<std::string> idempotency_key;
  std::optional<std::string> request_hash;
  std::optional<std::string> error;
  JobProgress progress;
  std::string created_at, updated_at;
  std::optional<std::string> started_at, finished_at;
};

struct TrialMetrics {
  std::optional<double> eval_nll;       // the quality: healed_nll when healed, else zero_shot_nll
  std::optional<double> zero_shot_nll;  // right after pruning
  std::optional<double> healed_nll;     // after healing (with `heal`, what it did and cost)
  std::optional<nlohmann::json> heal;
  std::optional<int64_t> params;
  std::optional<int64_t> non_embedding_params;
  std::optional<double> flops_per_token;
  std::optional<int64_t> kv_cache_bytes_per_token;
  std::optional<double> prefill_ms;
  std::optional<double> decode_ms_per_token;
};

struct Trial {
  int64_t id = 0;
  int64_t job_id = 0;
  int32_t ordinal = 0;  // position in the job
  int64_t seq = 0;      // change sequence within the job (for ?after=)
  nlohmann::json arch = nlohmann::json::object();
  std::string arch_hash;
  TrialState state = TrialState::pending;
  TrialSource source = TrialSource::candidate;
  std::optional<int32_t> step;              // the search step that proposed it
  std::optional<nlohmann::json> proposal;   // what the step predicted for it
  std::optional<int32_t> rung;              // multi-fidelity searches: the rung of its evaluation
  std::optional<int32_t> fidelity;          // that rung's heal steps
  TrialMetrics metrics;
  std::optional<std::string> error;
  std::string created_at, updated_at;
  std::optional<std::string> finished_at;
};

// One rung result of a trial in a multi-fidelity search.
struct TrialRung {
  int64_t trial_id = 0;
  int32_t rung = 0;
  int32_t fidelity = 0;  // heal steps
  double eval_nll = 0.0;
};

struct JobEvent {
  int64_t job_id = 0;
  int64_t seq = 0;
  std::string kind;  // job.created, job.running, trial.succeeded, ...
  nlohmann::json payload = nlohmann::json::object();
  std::string created_at;
};

struct Task {
  int64_t id = 0;
  TaskKind kind = TaskKind::evaluate;
  std::optional<int64_t> job_id, trial_id;
  std::optional<int32_t> step;  // search step or latency-model fit round
  nlohmann::json payload = nlohmann::json::object();
  TaskState state = TaskState::available;
  int32_t priority = 0;
  int32_t attempts = 0, max_attempts = 0;
  std::optional<std::string> lease_token, lease_expires_at, worker_id;
  std::string run_after;
  std::optional<std::string> last_error;
  std::optional<nlohmann::json> result;
  std::string created_at, updated_at;
  std::optional<std::string> started_at, finished_at;
  std::optional<std::string> device_kind;  // a device agent's latency task
};

struct LatencyMeasurement {
  int64_t id = 0;
  std::string device_kind;
  std::optional<int64_t> device_id;
  nlohmann::json arch = nlohmann::json::object();
  std::string arch_hash;
  int32_t prompt_len = 0;
  int32_t decode_tokens = 0;
  double prefill_ms = 0;
  std::optional<double> decode_ms_per_token;
  std::optional<double> prefill_spread, decode_spread;
  nlohmann::json samples = nlohmann::json::object();
  nlohmann::json environment = nlohmann::json::object();
  std::optional<int64_t> job_id, trial_id;
  std::optional<MeasurementPhase> phase;  // stage-1 design / adaptive / holdout, or a trial's
  std::optional<int32_t> round;
  bool imported = false;  // posted by a user (POST /v1/devices/{id}/measurements), not measured by flashnas
  std::string created_at;
};

struct LatencyModelRecord {
  int64_t id = 0;
  std::optional<int64_t> project_id;  // null: made outside any project (not served)
  std::string device_kind;
  std::optional<int64_t> job_id;
  std::optional<int32_t> prompt_len;
  nlohmann::json shape = nlohmann::json::object();  // heads, head size, vocabulary
  int32_t n_points = 0;
  std::optional<int64_t> base_model_id;  // refitted from this model
  nlohmann::json model = nlohmann::json::object();
  nlohmann::json accuracy = nlohmann::json::object();
  std::string created_at;
};

// One row of a job's hypervolume history.
struct HypervolumePoint {
  int32_t evaluations = 0;
  double hypervolume = 0;
  std::optional<int64_t> trial_id;
  std::optional<int32_t> frontier_version;
  std::string created_at;
};

struct Frontier {
  int64_t job_id = 0;
  int32_t version = 0;
  nlohmann::json points = nlohmann::json::array();
  std::string created_at;
};

// A trial's exported model: a file in the storage folder, named by its content.
struct Checkpoint {
  int64_t id = 0;
  int64_t job_id = 0, trial_id = 0;
  CheckpointFormat format = CheckpointFormat::safetensors;
  std::string sha256;
  int64_t bytes = 0;
  std::string path;  // relative to the storage folder
  std::string created_at;
};

struct Device {
  int64_t id = 0;
  std::optional<int64_t> project_id;  // registered devices; nullopt: reported by a worker
  std::string kind;
  std::string name;
  std::optional<std::string> token_prefix;
  nlohmann::json info = nlohmann::json::object();
  std::string created_at;
  std::optional<std::string> last_seen_at, revoked_at;
};

// JSON for the API (nlohmann ADL hooks: `nlohmann::json j = job;`).
// Secrets (key hashes, lease tokens) are never included.
void to_json(nlohmann::json& j, const Project& v);
void to_json(nlohmann::json& j, const ApiKey& v);
void to_json(nlohmann::json& j, const StoredFile& v);
void to_json(nlohmann::json& j, const JobProgress& v);
void to_json(nlohmann::json& j, const Job& v);
void to_json(nlohmann::json& j, const TrialMetrics& v);
void to_json(nlohmann::json& j, const Trial& v);
void to_json(nlohmann::json& j, const JobEvent& v);
void to_json(nlohmann::json& j, const Task& v);
void to_json(nlohmann::json& j, const LatencyMeasurement& v);
void to_json(nlohmann::json& j, const LatencyModelRecord& v);
void to_json(nlohmann::json& j, const Frontier& v);
void to_json(nlohmann::json& j, const Device& v);
void to_json(nlohmann::json& j, const HypervolumePoint& v);

}  // namespace flashnas::store
