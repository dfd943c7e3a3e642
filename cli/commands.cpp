// The table of `flashnas` subcommands and the one way each is run: errors become
// a one-line message on stderr and an exit code (cli/exit_code.hpp).
#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.hpp"
#include "cli/exit_code.hpp"
#include "client/api_client.hpp"
#include "engine/util/error.hpp"

namespace flashnas::cli {

const std::vector<Command>& all_commands() {
  static const std::vector<Command> commands = {
      {"version", "print the version", run_version},
      {"info", "show a model's config, parameter counts and per-layer table", run_info},
      {"migrate", "apply pending database migrations", run_migrate},
      {"admin", "create API keys; register models and datasets from an allowed folder", run_admin},
      {"bench-search", "benchmark the multi-objective optimisers on a test problem", run_bench_search},
      {"generate", "continue a prompt with a model (greedy or sampled)", run_generate},
      {"eval", "mean next-token NLL of a model on a text file", run_eval},
      {"bench-latency", "measure time to first token and decode ms/token of an architecture", run_bench_latency},
      {"latency-study", "stage 1: measure sampled architectures and fit the latency model", run_latency_study},
      {"prune", "prune the backbone to a candidate architecture and export it", run_prune},
      {"evaluate-candidate", "prune to a candidate and report its eval NLL and cost", run_evaluate_candidate},
      {"heal", "prune to a candidate, heal it by continued pretraining (CE or distillation), export it", run_heal},
      {"submit", "submit a job to a flashnas server; --wait follows it and exits with its outcome", run_submit},
      {"jobs", "list, show or cancel the jobs on a flashnas server", run_jobs},
      {"frontier", "a job's frontier from a flashnas server; --require gates CI on it", run_frontier},
      {"download", "a trial's model (safetensors or GGUF) from a flashnas server", run_download},
  };
  return commands;
}

int run_version(const Args&) {
  std::printf("flashnas 0.1.0\n");
  return 0;
}

namespace {

int exit_code_of(const client::ClientError& e) {
  switch (e.kind()) {
    case client::ClientErrorKind::refused: return exit_refused;
    case client::ClientErrorKind::unreachable: return exit_unreachable;
    case client::ClientErrorKind::server_error: return exit_error;
  }
  return exit_error;
}

}  // namespace

int run_command(const std::string& name, const Args& args) {
  for (const auto& c : all_commands()) {
    if (name != c.name) continue;
    try {
      return c.run(args);
    } catch (const InvalidInput& e) {
      std::fprintf(stderr, "flashnas %s: error: %s\n", name.c_str(), e.what());
      return exit_bad_input;
    } catch (const client::ClientError& e) {
      std::fprintf(stderr, "flashnas %s: error: %s\n", name.c_str(), e.what());
      return exit_code_of(e);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "flashnas %s: error: %s\n", name.c_str(), e.what());
      return exit_error;
    }
  }
  std::fprintf(stderr, "flashnas: unknown command '%s' (see 'flashnas --help')\n", name.c_str());
  return exit_bad_input;
}

}  // namespace flashnas::cli
