// flashnas: the command line. Dispatches to one subcommand (cli/commands.cpp).
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <string>

#include "cli/commands.hpp"

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
  return flashnas::cli::run_command(argv[1], flashnas::cli::Args(argv + 2, argv + argc));
}
