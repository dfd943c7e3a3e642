// Frontiers and hypervolume: SQL (see frontier_repository.hpp).
#include "store/frontier_repository.hpp"

#include "engine/util/error.hpp"
#include "store/row_reader.hpp"
#include "store/statements.hpp"

namespace flashnas::store {
namespace {

#define FRONTIER_COLUMNS "job_id, version, points::text AS points, " FLASHNAS_SQL_TS("created_at")
#define HYPERVOLUME_COLUMNS "evaluations, hypervolume, trial_id, frontier_version, " FLASHNAS_SQL_TS("created_at")

const Statement kStatements[] = {
    // The job row lock serialises writers, so max(version) + 1 cannot collide.
    {"frontier_insert",
     "WITH lock AS (SELECT id FROM jobs WHERE id = $1 FOR UPDATE) "
     "INSERT INTO frontiers (job_id, version, points) "
     "SELECT $1, coalesce((SELECT max(version) FROM frontiers WHERE job_id = $1), 0) + 1, $2::jsonb FROM lock "
     "RETURNING " FRONTIER_COLUMNS},
    {"frontier_latest",
     "SELECT " FRONTIER_COLUMNS " FROM frontiers WHERE job_id = $1 ORDER BY version DESC LIMIT 1"},
    {"frontier_get", "SELECT " FRONTIER_COLUMNS " FROM frontiers WHERE job_id = $1 AND version = $2"},
    {"hypervolume_append",
     "INSERT INTO job_hypervolume (job_id, evaluations, hypervolume, trial_id, frontier_version) "
     "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id, evaluations) DO NOTHING"},
    {"hypervolume_list",
     "SELECT " HYPERVOLUME_COLUMNS " FROM job_hypervolume WHERE job_id = $1 ORDER BY evaluations"},
    {"hypervolume_latest",
     "SELECT " HYPERVOLUME_COLUMNS " FROM job_hypervolume WHERE job_id = $1 ORDER BY evaluations DESC LIMIT 1"},
};

Frontier read_frontier(const pqxx::row& r) {
  return Frontier{r["job_id"].as<int64_t>(), r["version"].as<int32_t>(), row::json(r, "points"),
                  row::str(r, "created_at")};
}

std::optional<Frontier> read_optional_frontier(const pqxx::result& res) {
  if (res.empty()) return std::nullopt;
  return read_frontier(res[0]);
}

HypervolumePoint read_hypervolume(const pqxx::row& r) {
  return HypervolumePoint{r["evaluations"].as<int32_t>(), r["hypervolume"].as<double>(),
                          row::opt<int64_t>(r, "trial_id"), row::opt<int32_t>(r, "frontier_version"),
                          row::str(r, "created_at")};
}

}  // namespace

std::span<const Statement> frontier_statements() { return kStatements; }

Frontier frontier_insert(pqxx::transaction_base& tx, int64_t job_id, const nlohmann::json& points) {
  FLASHNAS_CHECK(points.is_array(), "frontier points are a JSON array");
  const auto res = tx.exec_prepared("frontier_insert", job_id, points.dump());
  if (res.empty()) throw Error("job " + std::to_string(job_id) + " does not exist");
  return read_frontier(res[0]);
}

std::optional<Frontier> frontier_latest(pqxx::transaction_base& tx, int64_t job_id) {
  return read_optional_frontier(tx.exec_prepared("frontier_latest", job_id));
}

std::optional<Frontier> frontier_get(pqxx::transaction_base& tx, int64_t job_id, int32_t version) {
  return read_optional_frontier(tx.exec_prepared("frontier_get", job_id, version));
}

void hypervolume_append(pqxx::transaction_base& tx, int64_t job_id, const HypervolumePoint& p) {
  tx.exec_prepared("hypervolume_append", job_id, p.evaluations, p.hypervolume, p.trial_id, p.frontier_version);
}

std::vector<HypervolumePoint> hypervolume_list(pqxx::transaction_base& tx, int64_t job_id) {
  std::vector<HypervolumePoint> out;
  for (const auto& r : tx.exec_prepared("hypervolume_list", job_id)) out.push_back(read_hypervolume(r));
  return out;
}

std::optional<HypervolumePoint> hypervolume_latest(pqxx::transaction_base& tx, int64_t job_id) {
  const auto res = tx.exec_prepared("hypervolume_latest", job_id);
  if (res.empty()) return std::nullopt;
  return read_hypervolume(res[0]);
}

}  // namespace flashnas::store
