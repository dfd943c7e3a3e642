// flashnas jobs list|show|cancel: the project's jobs on a flashnas server.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "cli/client_flags.hpp"
#include "cli/commands.hpp"
#include "cli/exit_code.hpp"
#include "client/job_view.hpp"
#include "engine/util/error.hpp"

namespace flashnas::cli {
namespace {

void print_job_row(const client::JobView& job) {
  std::printf("%-6lld %-14s %-10s %-36s %-20.19s %s\n", static_cast<long long>(job.id),
              std::string(store::name_of(job.kind)).c_str(), std::string(store::name_of(job.state)).c_str(),
              client::progress_line(job).detail.c_str(),
              job.created_at.c_str(), job.name.c_str());
}

int list_jobs(client::ApiClient& api, const Flags& flags) {
  std::string query = "?limit=" + std::to_string(flags.integer("limit", 50, 1, 500));
  // Checked here so a typo is a bad flag, not a server refusal.
  if (auto state = flags.get("state")) query += "&state=" + std::string(store::name_of(store::parse_enum_or_throw<store::JobState>(*state, "--state")));
  if (auto kind = flags.get("kind")) query += "&kind=" + std::string(store::name_of(store::parse_enum_or_throw<store::JobKind>(*kind, "--kind")));
  const nlohmann::json page = api.get("/v1/jobs" + query);
  if (flags.has("json")) {
    std::printf("%s\n", page.dump(2).c_str());
    return exit_ok;
  }
  std::printf("%-6s %-14s %-10s %-36s %-20s %s\n", "id", "kind", "state", "progress", "created", "name");
  for (const auto& item : page.at("items")) print_job_row(client::job_view_from_json(item));
  return exit_ok;
}

int show_job(client::ApiClient& api, const Flags& flags, int64_t id) {
  const nlohmann::json job = api.get("/v1/jobs/" + std::to_string(id));
  if (flags.has("json")) {
    std::printf("%s\n", job.dump(2).c_str());
    return exit_ok;
  }
  const client::JobView view = client::job_view_from_json(job);
  std::printf("%s\n", client::progress_line(view).text.c_str());
  std::printf("kind %s, name '%s', created %s\n", std::string(store::name_of(view.kind)).c_str(), view.name.c_str(),
              view.created_at.c_str());
  if (view.error) std::printf("error: %s\n", view.error->c_str());
  return exit_ok;
}

}  // namespace

int run_jobs(const Args& args) {
  const std::vector<FlagSpec> spec = with_client_flags({
      {"state", true, "list: only jobs in this state (queued, running, succeeded, failed, cancelled)"},
      {"kind", true, "list: only jobs of this kind (search, latency_study, sweep)"},
      {"limit", true, "list: at most this many jobs, newest first (default 50)"},
      {"json", false, "print the server's JSON"},
  });
  const auto [operands, flag_args] = split_operands(args);
  const Flags flags(flag_args, spec);
  if (print_help_if_asked(flags, spec, "flashnas jobs list|show ID|cancel ID --server URL")) return exit_ok;
  const std::string action = operands.empty() ? "" : operands[0];
  const size_t want = action == "list" ? 1 : 2;
  if ((action != "list" && action != "show" && action != "cancel") || operands.size() != want) {
    throw InvalidInput("expected 'jobs list', 'jobs show ID' or 'jobs cancel ID'", "jobs");
  }
  client::ApiClient api(client_options(flags));
  if (action == "list") return list_jobs(api, flags);
  const int64_t id = parse_id_operand(operands[1], "ID");
  if (action == "show") return show_job(api, flags, id);
  // Cancelling twice is harmless, so the request may be retried.
  const client::Response answer = api.post("/v1/jobs/" + std::to_string(id) + "/cancel", nlohmann::json::object(),
                                           {.idempotency_key = "", .idempotent = true});
  std::fprintf(stderr, "%s\n", client::progress_line(client::job_view_from_json(answer.body)).text.c_str());
  return exit_ok;
}

}  // namespace flashnas::cli
