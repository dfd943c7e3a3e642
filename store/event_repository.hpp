// Job events: SQL for a job's append-only log (state changes, trial results),
// numbered densely per job, read with ?after=SEQ.
#pragma once

#include <pqxx/pqxx>

#include <string>
#include <vector>

#include "store/records.hpp"

namespace flashnas::store {

// Appends an event; returns its seq. Locks the job row until commit, so events
// become visible in seq order. `kind` like "job.running", "trial.failed".
int64_t event_append(pqxx::transaction_base& tx, int64_t job_id, const std::string& kind,
                     const nlohmann::json& payload = nlohmann::json::object());

// Events with seq > after, in order (the job must belong to the project).
std::vector<JobEvent> event_list(pqxx::transaction_base& tx, int64_t project_id, int64_t job_id, int64_t after,
                                 int limit);

}  // namespace flashnas::store
