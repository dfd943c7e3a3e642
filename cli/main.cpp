// flashnas: the command line. Dispatches to one subcommand; any error becomes a
// one-line message on stderr and a non-zero exit code (2 for bad input).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <string>

#include "cli/commands.hpp"
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
  };
  return commands;
}

int run_version(const Args&) {
  std::printf("flashnas 0.1.0\n");
  return 0;
}

}  // namespace flashnas::cli

namespace {

void print_help() {
  std::fprintf(stderr, "usage: flashnas <command> [flags]\n\ncommands:\n");
  for (const auto& c : flashnas::cli::all_commands()) {
    std::fprintf(stderr, "  %-20s %s\n", c.name, c.summary);
  }
  std::fprintf(stderr, "\nRun 'flashnas <command> --help' for a command's flags.\n");
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("flashnas"));
  spdlog::set_level(spdlog::level::warn);
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "help") {
    print_help();
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  flashnas::cli::Args args(argv + 2, argv + argc);
  for (const auto& c : flashnas::cli::all_commands()) {
    if (name != c.name) continue;
    try {
      return c.run(args);
    } catch (const flashnas::InvalidInput& e) {
      std::fprintf(stderr, "flashnas %s: error: %s\n", name.c_str(), e.what());
      return 2;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "flashnas %s: error: %s\n", name.c_str(), e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "flashnas: unknown command '%s' (see 'flashnas --help')\n", name.c_str());
  return 2;
}
