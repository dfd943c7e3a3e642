// Multi-fidelity search (beyond the paper): asynchronous successive halving
// (ASHA, Li et al. 2018, "A System for Massively Parallel Hyperparameter
// Tuning") over heal budgets. A search with "fidelities": [f0, f1, ..., fK]
// (heal steps; 0 = zero-shot) evaluates every new trial at rung 0 (f0 steps);
// when a rung-r result lands, every trial in the top 1/eta of rung r's results
// that has not yet gone further is promoted to rung r + 1, which heals the
// pruned model again from scratch for f(r+1) steps (nothing of the rung-r heal
// is kept: a task is self-contained, so a promotion survives any worker's crash
// and gives the same model as a trial healed for f(r+1) steps at once).
// "Top" is by non-dominated rank on (latency, quality at rung r), ties broken
// by quality: a multi-objective search keeps the fast trials of a rung as well
// as the good ones. The quality model of the search sees each trial at its
// highest rung, shifted to the top fidelity by the mean gap between adjacent
// rungs among trials measured at both (fidelity_offsets). Stateless functions
// of what the database holds; the bookkeeping is in search_job.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

namespace flashnas::app {

// One trial's result at one rung: its quality then and its measured latency objective.
struct RungResult {
  int64_t trial_id = 0;
  double quality = 0.0;  // eval NLL at the rung's fidelity
  double latency = 0.0;
};

// The trials of `results` (all of one rung) that are in its top floor(n / eta)
// by non-dominated rank on (latency, quality), ties by quality then trial id.
// In rank order.
std::vector<int64_t> asha_top(const std::vector<RungResult>& results, int64_t eta);

// One trial's results by rung (rung -> eval NLL at that rung's fidelity).
using RungHistory = std::map<int32_t, double>;

// offsets[r]: what to add to a rung-r NLL to estimate the top rung's (K =
// rungs - 1): offsets[K] = 0 and offsets[r] = offsets[r+1] + the mean of
// (NLL at r+1 - NLL at r) over the trials measured at both; 0 for a pair of
// rungs no trial has reached together yet. (An additive fidelity bias: the
// autoregressive multi-fidelity model of Kennedy & O'Hagan 2000 with rho = 1.)
std::vector<double> fidelity_offsets(const std::vector<RungHistory>& trials, int32_t rungs);

}  // namespace flashnas::app
