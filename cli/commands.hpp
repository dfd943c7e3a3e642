// The `flashnas` subcommands. Each lives in its own cmd_<name>.cpp, takes the
// arguments after the subcommand name, and returns the process exit code.
// Errors are thrown (flashnas::Error and friends); main() prints them on one line.
#pragma once

#include <string>
#include <vector>

namespace flashnas::cli {

using Args = std::vector<std::string>;

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const Args& args);
};

// Defined in main.cpp: the table of every subcommand.
const std::vector<Command>& all_commands();

int run_version(const Args& args);
int run_info(const Args& args);  // cmd_info.cpp
int run_admin(const Args& args);  // cmd_admin.cpp
int run_generate(const Args& args);  // cmd_generate.cpp
int run_eval(const Args& args);  // cmd_eval.cpp
int run_bench_latency(const Args& args);  // cmd_bench_latency.cpp
int run_latency_study(const Args& args);  // cmd_latency_study.cpp
int run_prune(const Args& args);  // cmd_prune.cpp
int run_evaluate_candidate(const Args& args);  // cmd_evaluate_candidate.cpp
int run_heal(const Args& args);  // cmd_heal.cpp
int run_migrate(const Args& args);  // cmd_migrate.cpp
int run_bench_search(const Args& args);  // cmd_bench_search.cpp
// Clients of a flashnas server (HTTP only).
int run_submit(const Args& args);    // cmd_submit.cpp
int run_jobs(const Args& args);      // cmd_jobs.cpp
int run_frontier(const Args& args);  // cmd_frontier.cpp
int run_download(const Args& args);  // cmd_download.cpp
// What main() does with a command: runs it, turning errors into a message on
// stderr and an exit code (cli/exit_code.hpp). Tests call it too.
int run_command(const std::string& name, const Args& args);

}  // namespace flashnas::cli
