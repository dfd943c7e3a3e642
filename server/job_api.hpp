// JobApi: the job operations behind /v1/jobs, each scoped to the caller's project:
// submit (idempotent with a key), read, list with filters and keyset pages,
// cancel, and the trial and event feeds read with ?after=SEQ.
// Returns std::nullopt for "not in this project"; the routes answer 404.
#pragma once

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
  store::Job job;
  bool created = false;  // false: an earlier submission with the same idempotency key
};

struct JobPage {
  std::vector<store::Job> items;
  std::optional<int64_t> next_before_id;  // cursor of the next page, if there is one
};

class JobApi {
 public:
  JobApi(store::ConnectionPool& pool, store::QueueOptions queue);

  // Validates (ApiError 400 with field errors), then creates the job, its trials and
  // tasks in one transaction. The same idempotency key with a different body is 409.
  SubmitOutcome submit(int64_t project_id, const nlohmann::json& body,
                       const std::optional<std::string>& idempotency_key);

  std::optional<store::Job> get(int64_t project_id, int64_t job_id);
  JobPage list(int64_t project_id, std::optional<std::string> state, std::optional<std::string> kind,
               std::optional<int64_t> before_id, int limit);
  std::optional<store::Job> cancel(int64_t project_id, int64_t job_id);
  std::optional<std::vector<store::Trial>> trials(int64_t project_id, int64_t job_id, int64_t after,
                                                  int limit);
  std::optional<std::vector<store::JobEvent>> events(int64_t project_id, int64_t job_id, int64_t after,
                                                     int limit);

 private:
  store::ConnectionPool& pool_;
  store::QueueOptions queue_;
};

}  // namespace flashnas::server
