// The exit codes of the `flashnas` command line, distinct so that a CI step can
// tell what happened without parsing text. Documented in the README (CLI client).
#pragma once

namespace flashnas::cli {

enum ExitCode : int {
  exit_ok = 0,
  exit_error = 1,          // anything else: a local failure, or the server failed (500)
  exit_bad_input = 2,      // bad flags or files on this side
  exit_job_failed = 3,     // --wait: the job ended failed
  exit_job_cancelled = 4,  // --wait: the job ended cancelled
  exit_timed_out = 5,      // --wait: --timeout passed with the job still running (it keeps running)
  exit_refused = 6,        // the server refused the request (4xx: validation, key, not found)
  exit_unreachable = 7,    // no answer from the server within the retry window
  exit_gate_unmet = 8,     // frontier --require: no frontier point meets every requirement
};

}  // namespace flashnas::cli
