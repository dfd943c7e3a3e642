// Running one optimiser on one benchmark problem for one seed: ask/tell until the
// budget is spent, recording log10(max HV - HV so far) after every evaluation.
// The CLI (`flashnas bench-search`) and bench/search call this.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/search/benchmark_problems.hpp"
#include "engine/search/optimizers.hpp"

namespace flashnas::search {

inline constexpr double kHvGapFloor = 1e-12;  // gaps are floored here before log10

struct BenchmarkRunOptions {
  std::string algo = "nehvi";  // nehvi | random | nsga2 | tpe
  int64_t budget = 64;         // total evaluations
  int64_t batch = 4;           // points per ask after the initial design
  int64_t initial = 10;        // initial design size (asked in one batch)
  NehviProposalOptions nehvi;
  Nsga2Options nsga2;
  TpeOptions tpe;
};

struct BenchmarkRun {
  uint64_t seed = 0;
  std::vector<double> log10_hv_gap;  // one per evaluation
  double seconds = 0.0;
};

BenchmarkRun run_benchmark(const BenchmarkProblem& problem, const BenchmarkRunOptions& options, uint64_t seed);

}  // namespace flashnas::search
