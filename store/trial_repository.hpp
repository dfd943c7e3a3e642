// Trials: SQL for the architectures evaluated inside a job. Every change gives
// the trial a new sequence number from its job's counter, so a poller asking
// for ?after=SEQ gets the trials created or changed since.
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "store/records.hpp"

namespace flashnas::store {

struct NewTrial {
  nlohmann::json arch;    // the candidate architecture (canonical JSON)
  std::string arch_hash;  // its identity in the job, e.g. candidate_arch_hash()
  TrialSource source = TrialSource::candidate;
  std::optional<int32_t> step;             // the search step proposing it (design and search trials)
  std::optional<nlohmann::json> proposal;  // what the step predicted for it
  std::optional<int32_t> rung;             // multi-fidelity searches: rung 0 ...
  std::optional<int32_t> fidelity;         // ... and its heal steps
};

// Inserts a pending trial. Nullopt when the job already has this arch_hash.
std::optional<Trial> trial_insert(pqxx::transaction_base& tx, int64_t job_id, int32_t ordinal, const NewTrial& trial);
// The number of trials of the job (the next ordinal).
int32_t trial_count(pqxx::transaction_base& tx, int64_t job_id);

std::optional<Trial> trial_get(pqxx::transaction_base& tx, int64_t trial_id);

// A job's trials with seq > after, in seq order (the job must belong to the project).
std::vector<Trial> trial_list(pqxx::transaction_base& tx, int64_t project_id, int64_t job_id, int64_t after,
                              int limit);
// Every trial of a job in ordinal order (for workers and job logic).
std::vector<Trial> trial_list_all(pqxx::transaction_base& tx, int64_t job_id);

// Merges the metrics given (absent ones are kept). False when the trial is finished.
bool trial_set_metrics(pqxx::transaction_base& tx, int64_t trial_id, const TrialMetrics& metrics);
// A non-terminal trial -> succeeded | failed | cancelled. False when already finished.
bool trial_finish(pqxx::transaction_base& tx, int64_t trial_id, TrialState state,
                  const std::optional<std::string>& error);
// Records a trial's result at `rung` (once: a repeat changes nothing).
void trial_rung_insert(pqxx::transaction_base& tx, const TrialRung& result);
// Every rung result of the job's trials, by trial then rung.
std::vector<TrialRung> trial_rung_list(pqxx::transaction_base& tx, int64_t job_id);
// Promotes a succeeded trial from rung - 1 to `rung` (heal steps `fidelity`):
// back to pending, unfinished. False when it is not a succeeded trial at rung - 1
// (so a promotion happens once).
bool trial_promote(pqxx::transaction_base& tx, int64_t trial_id, int32_t rung, int32_t fidelity);

// Cancels every unfinished trial of the job; returns how many.
int64_t trial_cancel_for_job(pqxx::transaction_base& tx, int64_t job_id);

}  // namespace flashnas::store
