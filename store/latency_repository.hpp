// Latency measurements and latency models: SQL for the latency data
// that outlives a single job. Not the measuring or fitting (engine/latency/).
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "store/records.hpp"

namespace flashnas::store {


// Inserts a measurement (id and created_at of the argument are ignored); returns it stored.
LatencyMeasurement measurement_insert(pqxx::transaction_base& tx, const LatencyMeasurement& m);
// Measurements of one architecture on one device kind, newest first.
std::vector<LatencyMeasurement> measurement_find(pqxx::transaction_base& tx, const std::string& device_kind,
                                                 const std::string& arch_hash);
// What users imported for the project's devices of `device_kind` at that prompt
// length (not the copies studies made of them), in the order they were stored.
std::vector<LatencyMeasurement> measurement_list_imported(pqxx::transaction_base& tx, int64_t project_id,
                                                          const std::string& device_kind, int32_t prompt_len);
// A job's measurements in the order they were stored.
std::vector<LatencyMeasurement> measurement_list_for_job(pqxx::transaction_base& tx, int64_t job_id);
// The number of a job's measurements taken in `phase`.
int64_t measurement_count_for_job(pqxx::transaction_base& tx, int64_t job_id, MeasurementPhase phase);

// Inserts a latency model (id and created_at of the argument are ignored).
LatencyModelRecord latency_model_insert(pqxx::transaction_base& tx, const LatencyModelRecord& m);
// One model of the project, with its fitted JSON; nullopt when absent or another project's.
std::optional<LatencyModelRecord> latency_model_get(pqxx::transaction_base& tx, int64_t project_id, int64_t id);
std::optional<LatencyModelRecord> latency_model_get_any_project(pqxx::transaction_base& tx, int64_t id);
std::optional<LatencyModelRecord> latency_model_latest(pqxx::transaction_base& tx, const std::string& device_kind);

struct LatencyModelFilter {
  int64_t project_id = 0;
  std::optional<std::string> device_kind;
  std::optional<int64_t> before_id;  // keyset cursor
  int limit = 50;
};
// Newest first, without the fitted JSON (model is left empty).
std::vector<LatencyModelRecord> latency_model_list(pqxx::transaction_base& tx, const LatencyModelFilter& filter);

}  // namespace flashnas::store
