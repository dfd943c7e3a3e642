// JobApi: the job operations behind /v1/jobs, each scoped to the caller's project:
// submit (parse, bind to the project, create: idempotent with a key), read,
// list with filters and keyset pages, cancel, the trial and event feeds read
// with ?after=SEQ, the frontier (latest or a version) and the hypervolume
// history; and the project's latency models (list, detail, predict).
// Returns std::nullopt for "not in this project"; the routes answer 404.
#pragma once

#include "app/checkpoints.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/records.hpp"
#include "store/task_queue.hpp"

namespace flashnas::store {
class ConnectionPool;
}

namespace flashnas::server {

struct SubmitOutcome {
  nlohmann::json job;    // as GET /v1/jobs/{id} shows it
  int64_t job_id = 0;
  bool created = false;  // false: an earlier submission with the same idempotency key
};

struct Page {
  std::vector<nlohmann::json> items;
  std::optional<int64_t> next_before_id;  // cursor of the next page, if there is one
};

class JobApi {
 public:
  JobApi(store::ConnectionPool& pool, store::QueueOptions queue);

  // Parses and binds the body (InvalidInput listing every bad field), then creates
  // the job and its first tasks in one transaction. The same idempotency key with
  // a different body is 409.
  SubmitOutcome submit(int64_t project_id, const nlohmann::json& body,
                       const std::optional<std::string>& idempotency_key);

  std::optional<nlohmann::json> get(int64_t project_id, int64_t job_id);
  Page list(int64_t project_id, std::optional<store::JobState> state, std::optional<store::JobKind> kind,
            std::optional<int64_t> before_id, int limit);
  std::optional<nlohmann::json> cancel(int64_t project_id, int64_t job_id);
  std::optional<std::vector<store::Trial>> trials(int64_t project_id, int64_t job_id, int64_t after, int limit);
  std::optional<std::vector<store::JobEvent>> events(int64_t project_id, int64_t job_id, int64_t after, int limit);
  // {"job_id", "version", "points", ...}; a job without a frontier yet has version null and no points.
  std::optional<nlohmann::json> frontier(int64_t project_id, int64_t job_id, std::optional<int32_t> version);
  std::optional<nlohmann::json> hypervolume(int64_t project_id, int64_t job_id);
  // The trial's checkpoint, or the export it started (app/checkpoints.hpp); nullopt: no such job or trial.
  std::optional<app::CheckpointStatus> checkpoint(int64_t project_id, int64_t job_id, int64_t trial_id,
                                                  store::CheckpointFormat format);

  Page latency_models(int64_t project_id, std::optional<std::string> device_kind, std::optional<int64_t> before_id,
                      int limit);
  std::optional<nlohmann::json> latency_model(int64_t project_id, int64_t id);
  std::optional<nlohmann::json> predict(int64_t project_id, int64_t id, const nlohmann::json& body);

 private:
  store::ConnectionPool& pool_;
  store::QueueOptions queue_;
};

}  // namespace flashnas::server
