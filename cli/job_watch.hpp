// Waiting for a job: polls GET /v1/jobs/{id} and shows its progress on stderr
// (a progress bar on a terminal, a plain line per change otherwise, for CI logs)
// until it ends or the timeout passes, and turns the outcome into an exit code.
#pragma once

#include <cstdint>

#include "client/api_client.hpp"

namespace flashnas::cli {

struct WatchOptions {
  double timeout_seconds = 0.0;  // 0: wait as long as it takes
  double poll_seconds = 2.0;
  bool progress_bar = false;     // stderr is a terminal
};

// exit_ok (succeeded), exit_job_failed, exit_job_cancelled or exit_timed_out; a
// server that stops answering throws ClientError (unreachable) after its retries.
int watch_job(client::ApiClient& api, int64_t job_id, const WatchOptions& options);

}  // namespace flashnas::cli
