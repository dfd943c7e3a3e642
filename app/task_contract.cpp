// Task payloads and results: JSON (see task_contract.hpp).
#include "app/task_contract.hpp"

#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"

namespace flashnas::app {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 3> kFitPurposes = {"adaptive", "final", "refit"};

json proposal_to_json(const Proposal& p) {
  return {{"arch", candidate_arch_to_json(p.arch)},
          {"source", p.source},
          {"predicted_latency", p.predicted_latency},
          {"predicted_latency_sd", p.predicted_latency_sd}};
}

}  // namespace

std::string_view fit_purpose_name(FitPurpose purpose) { return kFitPurposes.at(static_cast<size_t>(purpose)); }

json evaluate_payload_to_json(const EvaluatePayload& p) {
  json j = {{"arch", candidate_arch_to_json(p.arch)}};
  if (p.heal) j["heal"] = heal_spec_to_json(*p.heal);
  if (p.rung) j["rung"] = *p.rung;
  return j;
}

json latency_payload_to_json(const LatencyPayload& p) {
  json j = {{"arch", candidate_arch_to_json(p.arch)}};
  if (p.phase) {
    j["phase"] = *p.phase;
    j["round"] = p.round;
  }
  return j;
}

json fit_payload_to_json(const FitPayload& p) {
  json j = {{"purpose", fit_purpose_name(p.purpose)}};
  if (p.base_model_id) j["base_model_id"] = *p.base_model_id;
  return j;
}

namespace {

CandidateArch payload_arch(const json& j) {
  if (!j.is_object() || !j.contains("arch")) throw InvalidInput("the task payload has no architecture", "payload.arch");
  return candidate_arch_from_json(j.at("arch"), "payload.arch");
}

}  // namespace

EvaluatePayload evaluate_payload_from_json(const json& j) {
  EvaluatePayload p{payload_arch(j), std::nullopt, std::nullopt};
  if (j.contains("heal")) p.heal = heal_spec_from_json(j.at("heal"), "payload.heal");
  if (j.contains("rung")) {
    if (!j.at("rung").is_number_integer() || j.at("rung").get<int64_t>() < 0) {
      throw InvalidInput("must be a rung number", "payload.rung");
    }
    p.rung = j.at("rung").get<int32_t>();
  }
  return p;
}

LatencyPayload latency_payload_from_json(const json& j) {
  LatencyPayload p;
  p.arch = payload_arch(j);
  if (j.contains("phase")) {
    p.phase = store::parse_enum_or_throw<store::MeasurementPhase>(j.at("phase").get<std::string>(), "payload.phase");
    p.round = j.value("round", 0);
  }
  return p;
}

FitPayload fit_payload_from_json(const json& j) {
  const std::string purpose = j.is_object() ? j.value("purpose", "") : "";
  for (size_t i = 0; i < kFitPurposes.size(); ++i) {
    if (kFitPurposes[i] != purpose) continue;
    FitPayload p{static_cast<FitPurpose>(i), std::nullopt};
    if (j.contains("base_model_id")) p.base_model_id = j.at("base_model_id").get<int64_t>();
    return p;
  }
  throw InvalidInput("unknown fit purpose '" + purpose + "'", "payload.purpose");
}

ExportPayload export_payload_from_json(const json& j) {
  const std::string format = j.is_object() ? j.value("format", "") : "";
  return {store::parse_enum_or_throw<store::CheckpointFormat>(format, "payload.format")};
}

json heal_outcome_to_json(const HealOutcome& h) {
  return {{"healed_nll", h.healed_nll},
          {"steps", h.steps},
          {"tokens", h.tokens},
          {"seconds", h.seconds},
          {"setup_seconds", h.setup_seconds},
          {"tokens_per_second", h.tokens_per_second},
          {"first_loss", h.first_loss},
          {"final_loss", h.final_loss},
          {"memory_bytes", h.memory_bytes},
          {"teacher_cached", h.teacher_cached}};
}

store::TaskKind task_kind_of(const TaskResult& result) {
  switch (result.index()) {
    case 0: return store::TaskKind::evaluate;
    case 1: return store::TaskKind::latency;
    case 2: return store::TaskKind::search_step;
    case 3: return store::TaskKind::fit_latency_model;
    default: return store::TaskKind::export_checkpoint;
  }
}

json task_result_to_json(const TaskResult& result) {
  if (const auto* r = std::get_if<EvaluateResult>(&result)) {
    return {{"eval_nll", r->eval_nll},
            {"zero_shot_nll", r->zero_shot_nll},
            {"heal", r->heal ? heal_outcome_to_json(*r->heal) : json(nullptr)},
            {"eval_tokens", r->eval_tokens},
            {"params", r->params},
            {"non_embedding_params", r->non_embedding_params},
            {"flops_per_token", r->flops_per_token},
            {"kv_cache_bytes_per_token", r->kv_cache_bytes_per_token},
            {"seconds", r->seconds}};
  }
  if (const auto* r = std::get_if<LatencyResult>(&result)) {
    return {{"device_kind", r->device_kind},       {"prompt_len", r->prompt_len},
            {"decode_tokens", r->decode_tokens},   {"prefill_ms", r->prefill_ms},
            {"decode_ms_per_token", r->decode_ms_per_token}, {"prefill_spread", r->prefill_spread},
            {"decode_spread", r->decode_spread},   {"arch", r->arch},
            {"arch_hash", r->arch_hash},           {"samples", r->samples},
            {"environment", r->environment},       {"device_id", r->device_id ? json(*r->device_id) : json(nullptr)}};
  }
  if (const auto* r = std::get_if<SearchStepResult>(&result)) {
    json proposals = json::array();
    for (const auto& p : r->proposals) proposals.push_back(proposal_to_json(p));
    return {{"requested", r->requested},       {"proposals", proposals},
            {"exhausted", r->exhausted},       {"observations", r->observations},
            {"pending", r->pending},           {"propose_seconds", r->propose_seconds},
            {"total_seconds", r->total_seconds}};
  }
  if (const auto* r = std::get_if<ExportResult>(&result)) {
    return {{"format", r->format}, {"sha256", r->sha256}, {"bytes", r->bytes}, {"path", r->path},
            {"seconds", r->seconds}};
  }
  const auto& r = std::get<FitResult>(result);
  json picks = json::array();
  for (const auto& [arch, sd] : r.picks) picks.push_back({{"arch", candidate_arch_to_json(arch)}, {"selection_log_sd", sd}});
  // The model itself goes to latency_models; the task keeps what identifies it.
  return {{"purpose", fit_purpose_name(r.purpose)}, {"picks", picks},
          {"accuracy", r.accuracy},                  {"n_points", r.n_points},
          {"reference_latency", r.reference_latency}, {"seconds", r.seconds}};
}

std::string measured_arch_hash(const nlohmann::json& arch_config) { return sha256_hex(arch_config.dump()); }

}  // namespace flashnas::app
