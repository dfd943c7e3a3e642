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

bool trial_state_is_terminal(const std::string& state);

// Inserts a pending trial. Nullopt when the job already has this arch_hash.
std::optional<Trial> trial_insert(pqxx::transaction_base& tx, int64_t job_id, int32_t ordinal,
                                  const nlohmann::json& arch, const std::string& arch_hash);

std::optional<Trial> trial_get(pqxx::transaction_base& tx, int64_t trial_id);

// A job's trials with seq > after, in seq order (the job must belong to the project).
std::vector<Trial> trial_list(pqxx::transaction_base& tx, int64_t project_id, int64_t job_id, int64_t after,
                              int limit);
// Every trial of a job in ordinal order (for workers and job logic).
std::vector<Trial> trial_list_all(pqxx::transaction_base& tx, int64_t job_id);

// Merges the metrics given (absent ones are kept). False when the trial is finished.
bool trial_set_metrics(pqxx::transaction_base& tx, int64_t trial_id, const TrialMetrics& metrics);
// A non-terminal trial -> succeeded | failed | cancelled. False when already finished.
bool trial_finish(pqxx::transaction_base& tx, int64_t trial_id, const std::string& state,
                  const std::optional<std::string>& error);
// Cancels every unfinished trial of the job; returns how many.
int64_t trial_cancel_for_job(pqxx::transaction_base& tx, int64_t job_id);

}  // namespace flashnas::store
