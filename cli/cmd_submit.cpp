// flashnas submit JOB.json: submits a job to a flashnas server, printing its id
// on stdout; with --wait, follows it to the end (progress on stderr) and exits
// with the job's outcome (cli/exit_code.hpp). The request carries an
// Idempotency-Key, by default derived from the job file's content, so a CI step
// that is retried (or a submit whose answer was lost) does not start a second job.
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/client_flags.hpp"
#include "cli/commands.hpp"
#include "cli/exit_code.hpp"
#include "cli/job_watch.hpp"
#include "client/job_view.hpp"
#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"

namespace flashnas::cli {
namespace {

nlohmann::json read_job_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidInput(fmt::format("cannot read job file '{}'", path), "JOB.json");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json job = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (job.is_discarded()) throw InvalidInput(fmt::format("job file '{}' is not valid JSON", path), "JOB.json");
  if (!job.is_object()) throw InvalidInput(fmt::format("job file '{}' must hold a JSON object", path), "JOB.json");
  return job;
}

}  // namespace

int run_submit(const Args& args) {
  const std::vector<FlagSpec> spec = with_client_flags({
      {"wait", false, "follow the job to its end; the exit code tells how it ended"},
      {"timeout", true, "with --wait: give up after this many seconds (exit 5; the job keeps running); 0 = no limit"},
      {"poll", true, "with --wait: seconds between status reads (default 2)"},
      {"idempotency-key", true, "the request's Idempotency-Key (default: derived from the job file's content; "
                                "give a new one, e.g. the CI run id, to start a new job from the same file)"},
  });
  const auto [operands, flag_args] = split_operands(args);
  const Flags flags(flag_args, spec);
  if (print_help_if_asked(flags, spec, "flashnas submit JOB.json --server URL [--wait [--timeout S]]")) return exit_ok;
  if (operands.size() != 1) throw InvalidInput("expected one job file: flashnas submit JOB.json ...", "JOB.json");
  const nlohmann::json job = read_job_file(operands[0]);
  WatchOptions watch;
  watch.timeout_seconds = flags.number("timeout", 0.0, 0.0, 1e7);
  watch.poll_seconds = flags.number("poll", 2.0, 0.05, 3600.0);
  watch.progress_bar = isatty(STDERR_FILENO);
  const std::string key = flags.get("idempotency-key").value_or("flashnas-cli-" + sha256_hex(job.dump()));

  client::ApiClient api(client_options(flags));
  const client::Response answer = api.post("/v1/jobs", job, {.idempotency_key = key});
  const client::JobView submitted = client::job_view_from_json(answer.body);
  std::printf("%lld\n", static_cast<long long>(submitted.id));
  std::fflush(stdout);
  std::fprintf(stderr, answer.status == 201 ? "submitted job %lld (%s)\n"
                                            : "job %lld (%s) was already submitted with this Idempotency-Key\n",
               static_cast<long long>(submitted.id), std::string(store::name_of(submitted.kind)).c_str());
  if (!flags.has("wait")) return exit_ok;
  return watch_job(api, submitted.id, watch);
}

}  // namespace flashnas::cli
