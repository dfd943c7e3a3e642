// Devices, latency measurements, latency models and frontiers: SQL (see latency_repository.hpp).
#include "store/latency_repository.hpp"

#include "engine/util/error.hpp"
#include "store/row_reader.hpp"
#include "store/statements.hpp"

namespace flashnas::store {
namespace {

#define DEVICE_COLUMNS                                                                       \
  "id, kind, name, info::text AS info, " FLASHNAS_SQL_TS("created_at") ", " FLASHNAS_SQL_TS("last_seen_at") \
  ", " FLASHNAS_SQL_TS("revoked_at")
#define MEASUREMENT_COLUMNS                                                                       \
  "id, device_kind, device_id, arch::text AS arch, arch_hash, prompt_len, decode_tokens, prefill_ms, " \
  "decode_ms_per_token, prefill_spread, decode_spread, samples::text AS samples, "                \
  "environment::text AS environment, job_id, trial_id, " FLASHNAS_SQL_TS("created_at")
#define LATENCY_MODEL_COLUMNS \
  "id, device_kind, job_id, model::text AS model, accuracy::text AS accuracy, " FLASHNAS_SQL_TS("created_at")
#define FRONTIER_COLUMNS "job_id, version, points::text AS points, " FLASHNAS_SQL_TS("created_at")

const Statement kStatements[] = {
    {"device_upsert",
     "INSERT INTO devices (kind, name, info, last_seen_at) VALUES ($1, $2, $3::jsonb, now()) "
     "ON CONFLICT (kind, name) DO UPDATE SET info = EXCLUDED.info, last_seen_at = now() "
     "RETURNING " DEVICE_COLUMNS},
    {"measurement_insert",
     "INSERT INTO latency_measurements (device_kind, device_id, arch, arch_hash, prompt_len, decode_tokens,"
     " prefill_ms, decode_ms_per_token, prefill_spread, decode_spread, samples, environment, job_id, trial_id) "
     "VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12::jsonb, $13, $14) "
     "RETURNING " MEASUREMENT_COLUMNS},
    {"measurement_find",
     "SELECT " MEASUREMENT_COLUMNS " FROM latency_measurements WHERE device_kind = $1 AND arch_hash = $2 "
     "ORDER BY id DESC"},
    {"measurement_list_for_job",
     "SELECT " MEASUREMENT_COLUMNS " FROM latency_measurements WHERE job_id = $1 ORDER BY id"},
    {"latency_model_insert",
     "INSERT INTO latency_models (device_kind, job_id, model, accuracy) VALUES ($1, $2, $3::jsonb, $4::jsonb) "
     "RETURNING " LATENCY_MODEL_COLUMNS},
    {"latency_model_latest",
     "SELECT " LATENCY_MODEL_COLUMNS " FROM latency_models WHERE device_kind = $1 ORDER BY id DESC LIMIT 1"},
    // The job row lock serialises writers, so max(version) + 1 cannot collide.
    {"frontier_insert",
     "WITH lock AS (SELECT id FROM jobs WHERE id = $1 FOR UPDATE) "
     "INSERT INTO frontiers (job_id, version, points) "
     "SELECT $1, coalesce((SELECT max(version) FROM frontiers WHERE job_id = $1), 0) + 1, $2::jsonb FROM lock "
     "RETURNING " FRONTIER_COLUMNS},
    {"frontier_latest",
     "SELECT " FRONTIER_COLUMNS " FROM frontiers WHERE job_id = $1 ORDER BY version DESC LIMIT 1"},
};

Device read_device(const pqxx::row& r) {
  Device d;
  d.id = r["id"].as<int64_t>();
  d.kind = row::str(r, "kind");
  d.name = row::str(r, "name");
  d.info = row::json(r, "info");
  d.created_at = row::str(r, "created_at");
  d.last_seen_at = row::opt<std::string>(r, "last_seen_at");
  d.revoked_at = row::opt<std::string>(r, "revoked_at");
  return d;
}

LatencyMeasurement read_measurement(const pqxx::row& r) {
  LatencyMeasurement m;
  m.id = r["id"].as<int64_t>();
  m.device_kind = row::str(r, "device_kind");
  m.device_id = row::opt<int64_t>(r, "device_id");
  m.arch = row::json(r, "arch");
  m.arch_hash = row::str(r, "arch_hash");
  m.prompt_len = r["prompt_len"].as<int32_t>();
  m.decode_tokens = r["decode_tokens"].as<int32_t>();
  m.prefill_ms = r["prefill_ms"].as<double>();
  m.decode_ms_per_token = row::opt<double>(r, "decode_ms_per_token");
  m.prefill_spread = row::opt<double>(r, "prefill_spread");
  m.decode_spread = row::opt<double>(r, "decode_spread");
  m.samples = row::json(r, "samples");
  m.environment = row::json(r, "environment");
  m.job_id = row::opt<int64_t>(r, "job_id");
  m.trial_id = row::opt<int64_t>(r, "trial_id");
  m.created_at = row::str(r, "created_at");
  return m;
}

std::vector<LatencyMeasurement> read_measurements(const pqxx::result& res) {
  std::vector<LatencyMeasurement> out;
  for (const auto& r : res) out.push_back(read_measurement(r));
  return out;
}

LatencyModelRecord read_latency_model(const pqxx::row& r) {
  return LatencyModelRecord{r["id"].as<int64_t>(), row::str(r, "device_kind"), row::opt<int64_t>(r, "job_id"),
                            row::json(r, "model"), row::json(r, "accuracy"), row::str(r, "created_at")};
}

Frontier read_frontier(const pqxx::row& r) {
  return Frontier{r["job_id"].as<int64_t>(), r["version"].as<int32_t>(), row::json(r, "points"),
                  row::str(r, "created_at")};
}

void check_object(const nlohmann::json& j, const char* field) {
  if (!j.is_object()) throw InvalidInput(std::string(field) + " must be a JSON object", field);
}

}  // namespace

std::span<const Statement> latency_statements() { return kStatements; }

Device device_upsert(pqxx::transaction_base& tx, const std::string& kind, const std::string& name,
                     const nlohmann::json& info) {
  check_object(info, "info");
  return read_device(tx.exec_prepared1("device_upsert", kind, name, info.dump()));
}

LatencyMeasurement measurement_insert(pqxx::transaction_base& tx, const LatencyMeasurement& m) {
  check_object(m.arch, "arch");
  check_object(m.samples, "samples");
  check_object(m.environment, "environment");
  return read_measurement(tx.exec_prepared1(
      "measurement_insert", m.device_kind, m.device_id, m.arch.dump(), m.arch_hash, m.prompt_len,
      m.decode_tokens, m.prefill_ms, m.decode_ms_per_token, m.prefill_spread, m.decode_spread,
      m.samples.dump(), m.environment.dump(), m.job_id, m.trial_id));
}

std::vector<LatencyMeasurement> measurement_find(pqxx::transaction_base& tx, const std::string& device_kind,
                                                 const std::string& arch_hash) {
  return read_measurements(tx.exec_prepared("measurement_find", device_kind, arch_hash));
}

std::vector<LatencyMeasurement> measurement_list_for_job(pqxx::transaction_base& tx, int64_t job_id) {
  return read_measurements(tx.exec_prepared("measurement_list_for_job", job_id));
}

LatencyModelRecord latency_model_insert(pqxx::transaction_base& tx, const std::string& device_kind,
                                        std::optional<int64_t> job_id, const nlohmann::json& model,
                                        const nlohmann::json& accuracy) {
  check_object(model, "model");
  check_object(accuracy, "accuracy");
  return read_latency_model(
      tx.exec_prepared1("latency_model_insert", device_kind, job_id, model.dump(), accuracy.dump()));
}

std::optional<LatencyModelRecord> latency_model_latest(pqxx::transaction_base& tx, const std::string& device_kind) {
  const auto res = tx.exec_prepared("latency_model_latest", device_kind);
  if (res.empty()) return std::nullopt;
  return read_latency_model(res[0]);
}

Frontier frontier_insert(pqxx::transaction_base& tx, int64_t job_id, const nlohmann::json& points) {
  if (!points.is_array()) throw InvalidInput("frontier points must be a JSON array", "points");
  const auto res = tx.exec_prepared("frontier_insert", job_id, points.dump());
  if (res.empty()) throw Error("job " + std::to_string(job_id) + " does not exist");
  return read_frontier(res[0]);
}

std::optional<Frontier> frontier_latest(pqxx::transaction_base& tx, int64_t job_id) {
  const auto res = tx.exec_prepared("frontier_latest", job_id);
  if (res.empty()) return std::nullopt;
  return read_frontier(res[0]);
}

}  // namespace flashnas::store
