// Frontiers and hypervolume: SQL for the versions of a job's Pareto frontier
// (a new version each time it changes) and the hypervolume after each
// evaluation. Not how a frontier is computed (app/frontier.hpp).
#pragma once

#include <pqxx/pqxx>

#include <optional>
#include <vector>

#include "store/records.hpp"

namespace flashnas::store {

// Stores the next version of a job's frontier (points: a JSON array).
Frontier frontier_insert(pqxx::transaction_base& tx, int64_t job_id, const nlohmann::json& points);
std::optional<Frontier> frontier_latest(pqxx::transaction_base& tx, int64_t job_id);
std::optional<Frontier> frontier_get(pqxx::transaction_base& tx, int64_t job_id, int32_t version);

// Appends the job's next hypervolume entry (evaluations must be the next count;
// a repeated count is ignored, so a retried completion cannot add it twice).
void hypervolume_append(pqxx::transaction_base& tx, int64_t job_id, const HypervolumePoint& point);
std::vector<HypervolumePoint> hypervolume_list(pqxx::transaction_base& tx, int64_t job_id);
std::optional<HypervolumePoint> hypervolume_latest(pqxx::transaction_base& tx, int64_t job_id);

}  // namespace flashnas::store
