// bench_search_propose: time to propose a batch of q points with qNEHVI given N
// observations, on the arch problem (mixed discrete) and on ZDT1 (continuous).
// Prints one JSON object. Reported separately: fitting the two GP surrogates (done
// when results arrive, incrementally in the service) and the proposal itself with
// fitted models. Target (issue 5): q = 8, N = 200, proposal under 1 s.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "engine/search/benchmark_problems.hpp"
#include "engine/search/nehvi_proposal.hpp"

namespace {

using flashnas::search::BenchmarkProblem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
// Process CPU time: on a shared, oversubscribed machine it shows the work itself.
double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

nlohmann::json bench_problem(const BenchmarkProblem& problem, int64_t n, int64_t q, int repeats, double region) {
  namespace fs = flashnas::search;
  std::mt19937_64 rng(7);
  fs::ProposalInputs in;
  in.observed_x = problem.space().initial_design(n, 7);
  in.observed_y.resize(n, 2);
  for (int64_t i = 0; i < n; ++i) in.observed_y.row(i) = problem.evaluate(in.observed_x.row(i).transpose()).transpose();
  in.pending_x.resize(0, in.observed_x.cols());
  in.reference = problem.reference();
  in.trust_region_length = region;
  const fs::NehviProposalOptions options;
  std::vector<double> fit_s, propose_s, fit_cpu_s, propose_cpu_s;
  size_t proposed = 0;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    for (int k = 0; k < 2; ++k) {
      in.objectives[k] = std::make_shared<fs::GpObjectiveModel>(
          fs::fit_objective_gp(in.observed_x, in.observed_y.col(k), options.gp, nullptr));
    }
    fit_s.push_back(seconds_since(t0));
    fit_cpu_s.push_back(cpu_seconds() - c0);
    const auto t1 = Clock::now();
    const double c1 = cpu_seconds();
    const auto batch = fs::propose_nehvi_batch(problem.space(), in, q, options, 100 + static_cast<uint64_t>(r));
    propose_s.push_back(seconds_since(t1));
    propose_cpu_s.push_back(cpu_seconds() - c1);
    proposed = batch.size();
  }
  return {{"problem", problem.name()},      {"observations", n},
          {"batch", q},                     {"proposed", proposed},
          {"trust_region_length", region},
          {"encoding_dims", problem.space().encoding_dims()},
          {"samples", options.nehvi.samples}, {"pool_size", options.search.pool_size},
          {"median_fit_two_gps_s", median(fit_s)}, {"median_propose_s", median(propose_s)},
          {"median_fit_two_gps_cpu_s", median(fit_cpu_s)}, {"median_propose_cpu_s", median(propose_cpu_s)},
          {"fit_s", fit_s},                 {"propose_s", propose_s}};
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 200, q = 8;
  int repeats = 3;
  double region = 0.0;  // the optimiser's first trust region is 0.8
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const long value = std::strtol(argv[i + 1], nullptr, 10);
    if (flag == "--trust-region") {
      region = std::strtod(argv[i + 1], nullptr);
      continue;
    }
    if (flag == "--observations") n = value;
    else if (flag == "--batch") q = value;
    else if (flag == "--repeats") repeats = static_cast<int>(value);
    else {
      std::fprintf(stderr, "usage: bench_search_propose [--observations N] [--batch Q] [--repeats R] [--trust-region L]\n");
      return 2;
    }
  }
  nlohmann::json results = nlohmann::json::array();
  for (const char* name : {"arch", "zdt1"}) {
    results.push_back(bench_problem(*flashnas::search::make_benchmark_problem(name), n, q, repeats, region));
  }
  std::printf("%s\n", nlohmann::json{{"bench", "nehvi_propose"}, {"results", results}}.dump().c_str());
  return 0;
}
