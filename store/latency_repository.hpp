// Devices, latency measurements, latency models and frontiers: SQL for the
// results that outlive a single trial. Not the measuring or fitting (engine/).
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <string>
#include <vector>

#include "store/records.hpp"

namespace flashnas::store {

// Creates or updates (info, last_seen_at) the device with this kind and name.
Device device_upsert(pqxx::transaction_base& tx, const std::string& kind, const std::string& name,
                     const nlohmann::json& info);

// Inserts a measurement (id and created_at of the argument are ignored); returns it stored.
LatencyMeasurement measurement_insert(pqxx::transaction_base& tx, const LatencyMeasurement& m);
// Measurements of one architecture on one device kind, newest first.
std::vector<LatencyMeasurement> measurement_find(pqxx::transaction_base& tx, const std::string& device_kind,
                                                 const std::string& arch_hash);
std::vector<LatencyMeasurement> measurement_list_for_job(pqxx::transaction_base& tx, int64_t job_id);

LatencyModelRecord latency_model_insert(pqxx::transaction_base& tx, const std::string& device_kind,
                                        std::optional<int64_t> job_id, const nlohmann::json& model,
                                        const nlohmann::json& accuracy);
std::optional<LatencyModelRecord> latency_model_latest(pqxx::transaction_base& tx, const std::string& device_kind);

// Stores the next version of a job's frontier (points: a JSON array).
Frontier frontier_insert(pqxx::transaction_base& tx, int64_t job_id, const nlohmann::json& points);
std::optional<Frontier> frontier_latest(pqxx::transaction_base& tx, int64_t job_id);

}  // namespace flashnas::store
