#include "cli/job_watch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "cli/exit_code.hpp"
#include "client/job_view.hpp"

namespace flashnas::cli {
namespace {

std::string bar(int64_t done, int64_t total) {
  constexpr int width = 24;
  const int filled = total > 0 ? static_cast<int>(width * std::min(done, total) / total) : 0;
  return fmt::format("[{}{}]", std::string(static_cast<size_t>(filled), '#'),
                     std::string(static_cast<size_t>(width - filled), '.'));
}

}  // namespace

int watch_job(client::ApiClient& api, int64_t job_id, const WatchOptions& options) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const std::string path = "/v1/jobs/" + std::to_string(job_id);
  std::string last_text;
  for (;;) {
    const client::JobView job = client::job_view_from_json(api.get(path));
    const client::ProgressLine line = client::progress_line(job);
    if (options.progress_bar) {
      std::fprintf(stderr, "\r%s %s\033[K", bar(line.done, line.total).c_str(), line.text.c_str());
    } else if (line.text != last_text) {
      std::fprintf(stderr, "%s\n", line.text.c_str());
    }
    last_text = line.text;
    if (store::is_terminal(job.state)) {
      if (options.progress_bar) std::fprintf(stderr, "\n");
      if (job.error) std::fprintf(stderr, "job %lld: %s\n", static_cast<long long>(job.id), job.error->c_str());
      switch (job.state) {
        case store::JobState::succeeded: return exit_ok;
        case store::JobState::cancelled: return exit_job_cancelled;
        default: return exit_job_failed;
      }
    }
    const double waited = std::chrono::duration<double>(clock::now() - start).count();
    if (options.timeout_seconds > 0 && waited >= options.timeout_seconds) {
      if (options.progress_bar) std::fprintf(stderr, "\n");
      std::fprintf(stderr, "job %lld still %s after %.0f s (--timeout); it keeps running on the server\n",
                   static_cast<long long>(job.id), std::string(store::name_of(job.state)).c_str(),
                   options.timeout_seconds);
      return exit_timed_out;
    }
    const double pause = options.timeout_seconds > 0 ? std::min(options.poll_seconds, options.timeout_seconds - waited)
                                                     : options.poll_seconds;
    std::this_thread::sleep_for(std::chrono::duration<double>(pause));
  }
}

}  // namespace flashnas::cli
