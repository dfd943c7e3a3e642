// A job as the API shows it (GET /v1/jobs/{id}), read into a typed struct for
// the client's progress lines and exit codes. Fields the client does not use
// are ignored, so a newer server's additions do not break an older client; a
// missing or mistyped field it does use is a ClientError (server_error).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "store/states.hpp"

namespace flashnas::client {

struct JobView {
  int64_t id = 0;
  store::JobKind kind = store::JobKind::sweep;
  std::string name;
  store::JobState state = store::JobState::queued;
  std::optional<store::JobStage> stage;  // search and latency study
  int64_t trials_total = 0, trials_settled = 0, trials_failed = 0;
  std::optional<int64_t> stage1_planned, stage1_measured;  // latency measurements of stage 1
  std::optional<int64_t> evaluated, budget;                // stage 2 evaluations
  std::optional<double> hypervolume;
  std::optional<std::string> error;
  std::string created_at;
};

JobView job_view_from_json(const nlohmann::json& job);

// How far the job is, as done out of total (total 0: nothing to count yet) and
// one line of text, e.g. "searching: 24/64 evaluated, hypervolume 0.8312".
struct ProgressLine {
  int64_t done = 0, total = 0;
  std::string detail;  // "searching: 24/64 evaluated, hypervolume 0.8312"
  std::string text;    // "job 7 running: " + detail
};
ProgressLine progress_line(const JobView& job);

}  // namespace flashnas::client
