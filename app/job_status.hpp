// What GET /v1/jobs/{id} shows beyond the job row: for a search or latency
// study, stage 1's measured and planned latencies, stage 2's evaluations
// against the budget, and the latest hypervolume and frontier version. Reads
// only; the JSON shape of a job for clients is job_json(). A job whose latency
// tasks wait for a device kind with no live agent says so ("waiting").
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <pqxx/pqxx>

#include <optional>
#include <string>

#include "store/records.hpp"

namespace flashnas::app {

struct JobStatus {
  std::optional<int64_t> stage1_planned, stage1_measured;  // latency study and search (stage 1)
  std::optional<int64_t> evaluated, budget;                // search (stage 2)
  std::optional<double> hypervolume;
  std::optional<int32_t> frontier_version;
  // Why the job is not moving, when it is waiting on something outside it: its
  // latency tasks are for a device kind no agent has served lately.
  std::optional<std::string> waiting;
};

// An agent that called within this long serves its device kind.
inline constexpr double kAgentLiveSeconds = 60;

JobStatus job_status(pqxx::transaction_base& tx, const store::Job& job);

// The job as clients see it: the row, with "progress" extended by the status.
nlohmann::json job_json(const store::Job& job, const JobStatus& status);

}  // namespace flashnas::app
