// The stages of search and latency-study jobs, as transitions applied when a
// task's outcome lands (called by job_service.cpp inside its transaction, with
// the job row locked):
//   measuring (stage 1): latency tasks of the study design and held-out set;
//     when none is left unfinished, a fit_latency_model task for the next
//     adaptive round, whose picks become latency tasks, until the training
//     samples are measured; then the final fit stores the latency model. A
//     latency study ends there; a search sets its reference point and moves on.
//   searching (stage 2): one search_step task at a time proposes trials (each
//     with an evaluate and a latency task) so that `batch` evaluations stay in
//     flight, until `budget` trials exist or the space is exhausted; every
//     `batch` trial measurements, a refit extends the latency model.
//   done: nothing more is proposed; the job ends when its last trials settle,
//     with the final frontier and its design principles in the summary.
// Step numbers are unique per job and kind (tasks_job_kind_step), so racing
// completions or a retried step never make a second batch.
#pragma once

#include "app/job_binding.hpp"
#include "app/job_context.hpp"
#include "app/task_contract.hpp"

namespace flashnas::app {

// At submission, after the job row exists: stage 1's tasks, or (a search with a
// fitted latency model) the reference point and the first search step.
void start_staged_job(JobContext& ctx, const BoundJob& job);

// A stage-1 latency measurement landed (already stored), or a stage-1 latency
// task ended without one: maybe fit next.
void after_study_latency(JobContext& ctx);

void apply_fit_result(JobContext& ctx, const store::Task& task, const FitResult& result);
void apply_search_step(JobContext& ctx, const store::Task& task, const SearchStepResult& result);

// A search trial's latency was measured: maybe refit the latency model.
void after_trial_latency(JobContext& ctx);
// A search trial settled (frontier and hypervolume already updated): propose
// more, or finish.
void after_search_trial(JobContext& ctx);

// A search step or fit failed for good: the job fails with `error`.
void fail_staged_job(JobContext& ctx, const store::Task& task, const std::string& error);

}  // namespace flashnas::app
