// Checkpoints: SQL for the exported models of trials (one per trial and format)
// and for the export task that makes one (at most one in flight per trial and
// format, by a partial unique index). Not the export itself (app/task_runners).
#pragma once

#include <pqxx/pqxx>

#include <optional>

#include "store/records.hpp"

namespace flashnas::store {

std::optional<Checkpoint> checkpoint_get(pqxx::transaction_base& tx, int64_t trial_id, CheckpointFormat format);

// Records an export's file; a checkpoint already recorded for the trial and
// format wins (a retried export lands nothing new). Returns the recorded one.
Checkpoint checkpoint_insert(pqxx::transaction_base& tx, const Checkpoint& checkpoint);

// Enqueues an export task for the trial unless one is in flight; true when enqueued.
bool export_enqueue(pqxx::transaction_base& tx, int64_t job_id, int64_t trial_id, CheckpointFormat format,
                    int priority);

}  // namespace flashnas::store
