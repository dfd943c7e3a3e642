// Latency measurements and latency models: SQL (see latency_repository.hpp).
#include "store/latency_repository.hpp"

#include "engine/util/error.hpp"
#include "store/row_reader.hpp"
#include "store/statements.hpp"

namespace flashnas::store {
namespace {

#define MEASUREMENT_COLUMNS                                                                       \
  "id, device_kind, device_id, arch::text AS arch, arch_hash, prompt_len, decode_tokens, prefill_ms, " \
  "decode_ms_per_token, prefill_spread, decode_spread, samples::text AS samples, "                \
  "environment::text AS environment, job_id, trial_id, phase, round, source, " FLASHNAS_SQL_TS("created_at")
#define LATENCY_MODEL_SUMMARY_COLUMNS                                                               \
  "id, project_id, device_kind, job_id, prompt_len, coalesce(shape, '{}')::text AS shape, "        \
  "coalesce(n_points, 0) AS n_points, base_model_id, accuracy::text AS accuracy, " FLASHNAS_SQL_TS("created_at")
#define LATENCY_MODEL_COLUMNS LATENCY_MODEL_SUMMARY_COLUMNS ", model::text AS model"

const Statement kStatements[] = {
    {"measurement_insert",
     "INSERT INTO latency_measurements (device_kind, device_id, arch, arch_hash, prompt_len, decode_tokens,"
     " prefill_ms, decode_ms_per_token, prefill_spread, decode_spread, samples, environment, job_id, trial_id,"
     " phase, round, source) "
     "VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12::jsonb, $13, $14, $15, $16, $17) "
     "RETURNING " MEASUREMENT_COLUMNS},
    {"measurement_count_for_job",
     "SELECT count(*) FROM latency_measurements WHERE job_id = $1 AND phase = $2"},
    {"measurement_find",
     "SELECT " MEASUREMENT_COLUMNS " FROM latency_measurements WHERE device_kind = $1 AND arch_hash = $2 "
     "ORDER BY id DESC"},
    {"measurement_list_imported",
     "SELECT " MEASUREMENT_COLUMNS " FROM latency_measurements WHERE source = 'imported' AND job_id IS NULL"
     " AND device_kind = $2"
     " AND prompt_len = $3 AND device_id IN (SELECT id FROM devices WHERE project_id = $1) ORDER BY id"},
    {"measurement_list_for_job",
     "SELECT " MEASUREMENT_COLUMNS " FROM latency_measurements WHERE job_id = $1 ORDER BY id"},
    {"latency_model_insert",
     "INSERT INTO latency_models (project_id, device_kind, job_id, prompt_len, shape, n_points, base_model_id,"
     " model, accuracy) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8::jsonb, $9::jsonb) "
     "RETURNING " LATENCY_MODEL_COLUMNS},
    {"latency_model_get",
     "SELECT " LATENCY_MODEL_COLUMNS " FROM latency_models WHERE id = $1 AND project_id = $2"},
    {"latency_model_get_any_project", "SELECT " LATENCY_MODEL_COLUMNS " FROM latency_models WHERE id = $1"},
    {"latency_model_latest",
     "SELECT " LATENCY_MODEL_COLUMNS " FROM latency_models WHERE device_kind = $1 ORDER BY id DESC LIMIT 1"},
    {"latency_model_list",
     "SELECT " LATENCY_MODEL_SUMMARY_COLUMNS " FROM latency_models WHERE project_id = $1"
     " AND ($2::text IS NULL OR device_kind = $2) AND ($3::bigint IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"},
};

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
  m.phase = row::opt_enumeration<MeasurementPhase>(r, "phase");
  m.round = row::opt<int32_t>(r, "round");
  m.imported = row::str(r, "source") == "imported";
  m.created_at = row::str(r, "created_at");
  return m;
}

std::vector<LatencyMeasurement> read_measurements(const pqxx::result& res) {
  std::vector<LatencyMeasurement> out;
  for (const auto& r : res) out.push_back(read_measurement(r));
  return out;
}

LatencyModelRecord read_latency_model(const pqxx::row& r, bool with_model) {
  LatencyModelRecord m;
  m.id = r["id"].as<int64_t>();
  m.project_id = row::opt<int64_t>(r, "project_id");
  m.device_kind = row::str(r, "device_kind");
  m.job_id = row::opt<int64_t>(r, "job_id");
  m.prompt_len = row::opt<int32_t>(r, "prompt_len");
  m.shape = row::json(r, "shape");
  m.n_points = r["n_points"].as<int32_t>();
  m.base_model_id = row::opt<int64_t>(r, "base_model_id");
  m.accuracy = row::json(r, "accuracy");
  m.created_at = row::str(r, "created_at");
  if (with_model) m.model = row::json(r, "model");
  return m;
}

std::optional<LatencyModelRecord> read_optional_model(const pqxx::result& res) {
  if (res.empty()) return std::nullopt;
  return read_latency_model(res[0], true);
}

void check_object(const nlohmann::json& j, const char* field) {
  if (!j.is_object()) throw InvalidInput(std::string(field) + " must be a JSON object", field);
}

}  // namespace

std::span<const Statement> latency_statements() { return kStatements; }

LatencyMeasurement measurement_insert(pqxx::transaction_base& tx, const LatencyMeasurement& m) {
  check_object(m.arch, "arch");
  check_object(m.samples, "samples");
  check_object(m.environment, "environment");
  return read_measurement(tx.exec_prepared1(
      "measurement_insert", m.device_kind, m.device_id, m.arch.dump(), m.arch_hash, m.prompt_len,
      m.decode_tokens, m.prefill_ms, m.decode_ms_per_token, m.prefill_spread, m.decode_spread,
      m.samples.dump(), m.environment.dump(), m.job_id, m.trial_id,
      m.phase ? std::optional<std::string>(name_of(*m.phase)) : std::nullopt, m.round,
      m.imported ? "imported" : "measured"));
}

std::vector<LatencyMeasurement> measurement_find(pqxx::transaction_base& tx, const std::string& device_kind,
                                                 const std::string& arch_hash) {
  return read_measurements(tx.exec_prepared("measurement_find", device_kind, arch_hash));
}

std::vector<LatencyMeasurement> measurement_list_imported(pqxx::transaction_base& tx, int64_t project_id,
                                                          const std::string& device_kind, int32_t prompt_len) {
  return read_measurements(tx.exec_prepared("measurement_list_imported", project_id, device_kind, prompt_len));
}

std::vector<LatencyMeasurement> measurement_list_for_job(pqxx::transaction_base& tx, int64_t job_id) {
  return read_measurements(tx.exec_prepared("measurement_list_for_job", job_id));
}

int64_t measurement_count_for_job(pqxx::transaction_base& tx, int64_t job_id, MeasurementPhase phase) {
  return tx.exec_prepared1("measurement_count_for_job", job_id, std::string(name_of(phase)))[0].as<int64_t>();
}

LatencyModelRecord latency_model_insert(pqxx::transaction_base& tx, const LatencyModelRecord& m) {
  check_object(m.model, "model");
  check_object(m.accuracy, "accuracy");
  check_object(m.shape, "shape");
  return read_latency_model(tx.exec_prepared1("latency_model_insert", m.project_id, m.device_kind, m.job_id,
                                              m.prompt_len, m.shape.dump(), m.n_points, m.base_model_id,
                                              m.model.dump(), m.accuracy.dump()),
                            true);
}

std::optional<LatencyModelRecord> latency_model_get(pqxx::transaction_base& tx, int64_t project_id, int64_t id) {
  return read_optional_model(tx.exec_prepared("latency_model_get", id, project_id));
}

std::optional<LatencyModelRecord> latency_model_get_any_project(pqxx::transaction_base& tx, int64_t id) {
  return read_optional_model(tx.exec_prepared("latency_model_get_any_project", id));
}

std::optional<LatencyModelRecord> latency_model_latest(pqxx::transaction_base& tx, const std::string& device_kind) {
  return read_optional_model(tx.exec_prepared("latency_model_latest", device_kind));
}

std::vector<LatencyModelRecord> latency_model_list(pqxx::transaction_base& tx, const LatencyModelFilter& f) {
  if (f.limit < 1 || f.limit > 1000) throw InvalidInput("limit must be in [1, 1000]", "limit");
  std::vector<LatencyModelRecord> out;
  for (const auto& r : tx.exec_prepared("latency_model_list", f.project_id, f.device_kind, f.before_id, f.limit)) {
    out.push_back(read_latency_model(r, false));
  }
  return out;
}

}  // namespace flashnas::store
