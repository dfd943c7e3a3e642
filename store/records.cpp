// JSON for the store's records (see records.hpp). Absent optional values are null.
#include "store/records.hpp"

#include <algorithm>

#include "engine/util/json_reader.hpp"

namespace flashnas::store {
bool ApiKey::has_scope(const std::string& scope) const {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

void to_json(nlohmann::json& j, const Project& v) {
  j = {{"id", v.id}, {"name", v.name}, {"created_at", v.created_at}};
}

void to_json(nlohmann::json& j, const ApiKey& v) {
  j = {{"id", v.id},         {"project_id", v.project_id}, {"project", v.project_name},
       {"prefix", v.key_prefix}, {"scopes", v.scopes},      {"label", v.label},
       {"created_at", v.created_at}, {"revoked_at", json_or_null(v.revoked_at)}};
}

void to_json(nlohmann::json& j, const StoredFile& v) {
  j = {{"id", v.id},
       {"name", v.name},
       {"format", v.format},
       {"sha256", v.sha256},
       {"size_bytes", v.size_bytes},
       {"metadata", v.metadata},
       {"created_at", v.created_at}};
}

void to_json(nlohmann::json& j, const JobProgress& v) {
  j = {{"total", v.total},         {"pending", v.pending}, {"running", v.running},
       {"succeeded", v.succeeded}, {"failed", v.failed},   {"cancelled", v.cancelled}};
}

void to_json(nlohmann::json& j, const Job& v) {
  j = {{"id", v.id},
       {"kind", v.kind},
       {"name", v.name},
       {"state", v.state},
       {"stage", v.stage ? nlohmann::json(*v.stage) : nlohmann::json(nullptr)},
       {"latency_model_id", json_or_null(v.latency_model_id)},
       {"reference_point", json_or_null(v.reference_point)},
       {"summary", json_or_null(v.summary)},
       {"spec", v.spec},
       {"error", json_or_null(v.error)},
       {"progress", v.progress},
       {"created_at", v.created_at},
       {"updated_at", v.updated_at},
       {"started_at", json_or_null(v.started_at)},
       {"finished_at", json_or_null(v.finished_at)}};
}

void to_json(nlohmann::json& j, const TrialMetrics& v) {
  j = {{"eval_nll", json_or_null(v.eval_nll)},
       {"zero_shot_nll", json_or_null(v.zero_shot_nll)},
       {"healed_nll", json_or_null(v.healed_nll)},
       {"heal", json_or_null(v.heal)},
       {"params", json_or_null(v.params)},
       {"non_embedding_params", json_or_null(v.non_embedding_params)},
       {"flops_per_token", json_or_null(v.flops_per_token)},
       {"kv_cache_bytes_per_token", json_or_null(v.kv_cache_bytes_per_token)},
       {"prefill_ms", json_or_null(v.prefill_ms)},
       {"decode_ms_per_token", json_or_null(v.decode_ms_per_token)}};
}

void to_json(nlohmann::json& j, const Trial& v) {
  j = {{"id", v.id},
       {"job_id", v.job_id},
       {"ordinal", v.ordinal},
       {"seq", v.seq},
       {"arch", v.arch},
       {"arch_hash", v.arch_hash},
       {"state", v.state},
       {"source", v.source},
       {"step", json_or_null(v.step)},
       {"proposal", json_or_null(v.proposal)},
       {"rung", json_or_null(v.rung)},
       {"fidelity", json_or_null(v.fidelity)},
       {"metrics", v.metrics},
       {"error", json_or_null(v.error)},
       {"created_at", v.created_at},
       {"updated_at", v.updated_at},
       {"finished_at", json_or_null(v.finished_at)}};
}

void to_json(nlohmann::json& j, const JobEvent& v) {
  j = {{"job_id", v.job_id}, {"seq", v.seq}, {"kind", v.kind}, {"payload", v.payload},
       {"created_at", v.created_at}};
}

void to_json(nlohmann::json& j, const Task& v) {
  j = {{"id", v.id},
       {"kind", v.kind},
       {"job_id", json_or_null(v.job_id)},
       {"trial_id", json_or_null(v.trial_id)},
       {"step", json_or_null(v.step)},
       {"payload", v.payload},
       {"state", v.state},
       {"priority", v.priority},
       {"attempts", v.attempts},
       {"max_attempts", v.max_attempts},
       {"lease_expires_at", json_or_null(v.lease_expires_at)},
       {"worker_id", json_or_null(v.worker_id)},
       {"run_after", v.run_after},
       {"last_error", json_or_null(v.last_error)},
       {"result", json_or_null(v.result)},
       {"created_at", v.created_at},
       {"updated_at", v.updated_at},
       {"started_at", json_or_null(v.started_at)},
       {"finished_at", json_or_null(v.finished_at)},
       {"device_kind", json_or_null(v.device_kind)}};
}

void to_json(nlohmann::json& j, const LatencyMeasurement& v) {
  j = {{"id", v.id},
       {"device_kind", v.device_kind},
       {"device_id", json_or_null(v.device_id)},
       {"arch", v.arch},
       {"arch_hash", v.arch_hash},
       {"prompt_len", v.prompt_len},
       {"decode_tokens", v.decode_tokens},
       {"prefill_ms", v.prefill_ms},
       {"decode_ms_per_token", json_or_null(v.decode_ms_per_token)},
       {"prefill_spread", json_or_null(v.prefill_spread)},
       {"decode_spread", json_or_null(v.decode_spread)},
       {"samples", v.samples},
       {"environment", v.environment},
       {"job_id", json_or_null(v.job_id)},
       {"trial_id", json_or_null(v.trial_id)},
       {"phase", v.phase ? nlohmann::json(*v.phase) : nlohmann::json(nullptr)},
       {"round", json_or_null(v.round)},
       {"source", v.imported ? "imported" : "measured"},
       {"created_at", v.created_at}};
}

void to_json(nlohmann::json& j, const LatencyModelRecord& v) {
  j = {{"id", v.id},
       {"device_kind", v.device_kind},
       {"job_id", json_or_null(v.job_id)},
       {"prompt_len", json_or_null(v.prompt_len)},
       {"shape", v.shape},
       {"n_points", v.n_points},
       {"base_model_id", json_or_null(v.base_model_id)},
       {"accuracy", v.accuracy},
       {"created_at", v.created_at}};
}

void to_json(nlohmann::json& j, const HypervolumePoint& v) {
  j = {{"evaluations", v.evaluations},
       {"hypervolume", v.hypervolume},
       {"trial_id", json_or_null(v.trial_id)},
       {"frontier_version", json_or_null(v.frontier_version)},
       {"created_at", v.created_at}};
}

void to_json(nlohmann::json& j, const Frontier& v) {
  j = {{"job_id", v.job_id}, {"version", v.version}, {"points", v.points}, {"created_at", v.created_at}};
}

void to_json(nlohmann::json& j, const Device& v) {
  j = {{"id", v.id},     {"kind", v.kind},
       {"name", v.name}, {"info", v.info},
       {"token_prefix", json_or_null(v.token_prefix)},
       {"created_at", v.created_at}, {"last_seen_at", json_or_null(v.last_seen_at)},
       {"revoked_at", json_or_null(v.revoked_at)}};
}

}  // namespace flashnas::store
