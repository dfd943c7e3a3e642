// flashnas frontier JOB: a job's quality-latency frontier from a flashnas server,
// as a table, JSON or CSV; with --require, the CI gate (cli/frontier_gate.hpp):
// exit 0 when a frontier point meets every requirement, 8 when none does
// (the closest point is printed).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <set>

#include "cli/client_flags.hpp"
#include "cli/commands.hpp"
#include "cli/exit_code.hpp"
#include "cli/frontier_gate.hpp"
#include "engine/util/error.hpp"

namespace flashnas::cli {
namespace {

std::string joined(const nlohmann::json& array, const char* separator) {
  std::string out;
  for (const auto& v : array) {
    if (!out.empty()) out += separator;
    out += v.is_string() ? v.get<std::string>() : v.dump();
  }
  return out;
}

// "F S W F" from ["full", "skip", "swa", "full"].
std::string pattern(const nlohmann::json& layer_types) {
  std::string out;
  for (const auto& t : layer_types) {
    if (!out.empty()) out += ' ';
    const std::string kind = t.get<std::string>();
    out += kind == "full" ? 'F' : kind == "swa" ? 'W' : kind == "skip" ? 'S' : '?';
  }
  return out;
}

std::string trial_name(const nlohmann::json& point) {
  return fmt::format("trial {} (#{})", point.value("ordinal", int64_t{0}), point.value("trial_id", int64_t{0}));
}

void print_table(const nlohmann::json& points) {
  std::printf("%-7s %-12s %-8s %-10s %-20s %12s %10s\n", "trial", "latency", "eval_nll", "params", "layers", "d_model",
              "d_ffn");
  for (const auto& p : points) {
    const nlohmann::json& arch = p.at("arch");
    std::printf("%-7lld %-12.5g %-8.4f %-10lld %-20s %12lld %10s\n", static_cast<long long>(p.value("ordinal", int64_t{0})),
                p.at("latency").get<double>(), p.at("eval_nll").get<double>(),
                static_cast<long long>(p.contains("metrics") ? p["metrics"].value("params", int64_t{0}) : 0),
                pattern(arch.at("layer_types")).c_str(), static_cast<long long>(arch.at("d_model").get<int64_t>()),
                joined(arch.at("d_ffn"), "/").c_str());
  }
}

void print_csv(const nlohmann::json& points) {
  std::set<std::string> metrics;
  for (const auto& p : points) {
    if (p.contains("metrics")) for (const auto& [k, v] : p["metrics"].items()) metrics.insert(k);
  }
  metrics.erase("eval_nll");
  std::string header = "trial_id,ordinal,n_layers,d_model,d_ffn,layer_types,sliding_window,latency,eval_nll";
  for (const auto& m : metrics) header += "," + m;
  std::printf("%s\n", header.c_str());
  for (const auto& p : points) {
    const nlohmann::json& arch = p.at("arch");
    std::string row = fmt::format("{},{},{},{},{},{},{},{:.17g},{:.17g}", p.value("trial_id", int64_t{0}),
                                  p.value("ordinal", int64_t{0}), arch.value("n_layers", int64_t{0}),
                                  arch.value("d_model", int64_t{0}), joined(arch.at("d_ffn"), " "),
                                  joined(arch.at("layer_types"), " "), arch.value("sliding_window", int64_t{0}),
                                  p.at("latency").get<double>(), p.at("eval_nll").get<double>());
    for (const auto& m : metrics) {
      const auto v = point_metric(p, m);
      row += v ? fmt::format(",{:.17g}", *v) : std::string(",");
    }
    std::printf("%s\n", row.c_str());
  }
}

}  // namespace

int run_frontier(const Args& args) {
  const std::vector<FlagSpec> spec = with_client_flags({
      {"json", false, "print the server's JSON"},
      {"csv", false, "print one CSV row per frontier point (every metric as a column)"},
      {"version", true, "an earlier frontier version (default: the latest)"},
      {"require", true, "gate: e.g. \"prefill_ms<=3.0,eval_nll<=1.2\"; exit 8 when no frontier point meets it all"},
      {"best", false, "with --require: print only the trial id of the best point meeting it (lowest eval_nll)"},
  });
  const auto [operands, flag_args] = split_operands(args);
  const Flags flags(flag_args, spec);
  if (print_help_if_asked(flags, spec, "flashnas frontier JOB --server URL [--json|--csv] [--require R]")) return exit_ok;
  if (operands.size() != 1) throw InvalidInput("expected one job id: flashnas frontier JOB ...", "JOB");
  if (flags.has("json") && flags.has("csv")) throw InvalidInput("--json and --csv exclude each other", "--csv");
  const int64_t job_id = parse_id_operand(operands[0], "JOB");
  // Read before asking the server, so a malformed gate is a bad flag whatever the job.
  const auto requirements = flags.get("require") ? parse_requirements(*flags.get("require"))
                                                 : std::vector<Requirement>{};
  std::string path = fmt::format("/v1/jobs/{}/frontier", job_id);
  if (flags.has("version")) path += fmt::format("?version={}", flags.integer("version", 1, 1, INT32_MAX));

  client::ApiClient api(client_options(flags));
  const nlohmann::json frontier = api.get(path);
  const nlohmann::json& points = frontier.at("points");
  if (flags.has("best")) {
    if (requirements.empty()) throw InvalidInput("--best needs --require", "--best");
  } else if (flags.has("json")) {
    std::printf("%s\n", frontier.dump(2).c_str());
  } else if (flags.has("csv")) {
    print_csv(points);
  } else {
    print_table(points);
  }
  const std::string state = frontier.value("job_state", std::string("?"));
  if (state != "succeeded") {
    std::fprintf(stderr, "note: job %lld is %s; this frontier may still change\n", static_cast<long long>(job_id),
                 state.c_str());
  }
  if (requirements.empty()) return exit_ok;

  const GateResult gate = check_gate(points, requirements);
  const std::string wanted = flags.get("require").value_or("");
  if (gate.met) {
    if (flags.has("best")) std::printf("%lld\n", static_cast<long long>(points[*gate.point].value("trial_id", int64_t{0})));
    std::fprintf(stderr, "gate met: %s meets %s (%s)\n", trial_name(points[*gate.point]).c_str(), wanted.c_str(),
                 describe_against(points[*gate.point], requirements).c_str());
    return exit_ok;
  }
  if (!gate.point) {
    std::fprintf(stderr, "gate not met: job %lld has no frontier yet\n", static_cast<long long>(job_id));
  } else {
    std::fprintf(stderr, "gate not met: no frontier point meets %s; closest: %s: %s\n", wanted.c_str(),
                 trial_name(points[*gate.point]).c_str(), describe_against(points[*gate.point], requirements).c_str());
  }
  return exit_gate_unmet;
}

}  // namespace flashnas::cli
