// The search step as a stateless policy call, as OSS Vizier's Pythia policies are:
// (problem, completed trials, pending trials, step, q) -> up to q proposals.
// Nothing survives between steps but what the database holds, so any worker can
// take the next step, and a step retried after a crash proposes from the same
// state. Stage 2 of the paper: the quality objective (eval NLL) is learned by a
// GP on the completed trials; the latency objective is the fixed latency model
// of stage 1 (linearised, engine/latency/latency_objective.hpp); qNEHVI chooses
// the batch with the pending trials as fantasies (engine/search/nehvi_proposal.hpp).
// Candidates are drawn from TuRBO trust regions around the non-dominated points
// (engine/search/trust_region.hpp); the region's size is not kept between steps
// but replayed from the order in which trials completed.
// The first step, and any step with fewer than two completed trials, proposes
// from the scrambled Sobol design instead, keeping only points that meet the
// outcome constraints (exactly for parameters and KV bytes, by the predicted
// mean for latencies). Not the bookkeeping around a step (job_service.hpp).
#pragma once

#include <memory>
#include <vector>

#include "app/job_spec.hpp"
#include "app/task_contract.hpp"
#include "engine/latency/latency_model.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/search/arch_space.hpp"
#include "engine/search/nehvi_proposal.hpp"

namespace flashnas::app {

// Everything fixed for the whole search.
struct SearchProblem {
  search::ArchSpace space;
  latency::ModelShape shape;  // heads, head size, vocabulary of the backbone
  std::shared_ptr<const latency::LatencyModel> latency_model;
  int64_t prompt_len = 256;   // the latency model's workload
  int64_t ctx = 256;          // the evaluation context (KV bytes are counted at it)
  LatencyObjective objective;
  std::vector<OutcomeConstraintSpec> constraints;
  ReferencePoint reference;
  int64_t initial = 8;        // size of the initial design
  int64_t batch = 8;          // evaluations in flight: the trust region judges groups of this many
  uint64_t seed = 0;
  search::NehviProposalOptions nehvi;
};

SearchProblem make_search_problem(const SearchSpec& spec, const latency::ModelShape& shape,
                                  std::shared_ptr<const latency::LatencyModel> latency_model,
                                  const ReferencePoint& reference);

struct CompletedTrial {
  CandidateArch arch;
  double eval_nll = 0.0;
};

// What a step reads from the database.
struct SearchState {
  std::vector<CompletedTrial> completed;  // succeeded, with an eval NLL, in the order they completed
  std::vector<CandidateArch> pending;     // proposed, not yet evaluated
  std::vector<CandidateArch> failed;      // never proposed again
};

// Up to q proposals, distinct from every trial of the state. `step` (1, 2, ...)
// seeds the step's random choices.
SearchStepResult propose_search_step(const SearchProblem& problem, const SearchState& state, int64_t step,
                                     int64_t q);

// The latency objective's prediction for `arch`: mean and sd in ms.
std::pair<double, double> predict_latency_objective(const SearchProblem& problem, const CandidateArch& arch);

// 1.1 x the predicted latency objective of the costliest architecture of the space
// (most layers, widest, all full attention): the default reference latency.
double default_reference_latency(const search::ArchSpace& space, const latency::ModelShape& shape,
                                 const latency::LatencyModel& model, int64_t prompt_len,
                                 const LatencyObjective& objective);

}  // namespace flashnas::app
