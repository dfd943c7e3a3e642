// Sweep request validation (see sweep_request.hpp).
#include "server/sweep_request.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/model/candidate_arch.hpp"
#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"
#include "server/json_fields.hpp"
#include "store/file_repository.hpp"

namespace flashnas::server {
namespace {

// Engine messages start with "<field>: "; the problem already names the field.
std::string strip_field(const InvalidInput& e) {
  const std::string what = e.what();
  const std::string prefix = e.field() + ": ";
  return what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what;
}

// The backbone's architecture, recorded in the model's metadata when it was added.
std::optional<ArchConfig> backbone_config(const store::StoredFile& model) {
  if (!model.metadata.contains("arch")) return std::nullopt;
  return arch_config_from_json(model.metadata.at("arch"));
}

}  // namespace

store::SweepRequest parse_sweep_request(pqxx::transaction_base& tx, int64_t project_id,
                                        const nlohmann::json& body) {
  FieldErrors errors;
  JsonObjectReader r(body, "", errors);
  const auto kind = r.string("kind", true, 64);
  if (kind && *kind != "sweep") {
    errors.add("kind", *kind == "search" || *kind == "latency_study"
                           ? "only \"sweep\" jobs can be submitted by this version"
                           : "must be \"sweep\"");
  }
  const auto name = r.string("name", true, 200);
  const auto backbone_id = r.integer("backbone", true, 1, INT64_MAX);
  const auto calibration_id = r.integer("calibration", true, 1, INT64_MAX);
  const auto eval_id = r.integer("eval", true, 1, INT64_MAX);
  const auto* candidates = r.array("candidates", true);
  const auto* latency = r.object("latency", true);
  r.finish();

  nlohmann::json latency_spec;
  if (latency) {
    JsonObjectReader l(*latency, "latency", errors);
    const auto device = l.string("device_kind", true, 64);
    if (device && *device != "local-cpu") {
      errors.add("latency.device_kind", "must be \"local-cpu\" (device agents come later)");
    }
    const auto prompt_len = l.integer("prompt_len", true, 1, 8192);
    const auto decode_tokens = l.integer("decode_tokens", true, 0, 4096);
    l.finish();
    if (device && prompt_len && decode_tokens) {
      latency_spec = {{"device_kind", *device}, {"prompt_len", *prompt_len},
                      {"decode_tokens", *decode_tokens}};
    }
  }

  // References: ids of another project are reported exactly like missing ones.
  std::optional<ArchConfig> backbone;
  if (backbone_id) {
    const auto model = store::file_get(tx, store::FileKind::model, project_id, *backbone_id);
    if (!model) {
      errors.add("backbone", fmt::format("no model {} in this project", *backbone_id));
    } else {
      backbone = backbone_config(*model);
      if (!backbone) errors.add("backbone", "the model has no recorded architecture");
    }
  }
  for (const auto& [field, id] : {std::pair{"calibration", calibration_id}, std::pair{"eval", eval_id}}) {
    if (id && !store::file_get(tx, store::FileKind::dataset, project_id, *id)) {
      errors.add(field, fmt::format("no dataset {} in this project", *id));
    }
  }

  store::SweepRequest request;
  nlohmann::json canonical = nlohmann::json::array();
  if (candidates) {
    if (candidates->empty() || static_cast<int64_t>(candidates->size()) > kMaxSweepCandidates) {
      errors.add("candidates", fmt::format("must hold 1 to {} architectures", kMaxSweepCandidates));
    }
    for (size_t i = 0; i < candidates->size() && static_cast<int64_t>(i) < kMaxSweepCandidates; ++i) {
      const std::string prefix = fmt::format("candidates[{}]", i);
      try {
        const CandidateArch arch = candidate_arch_from_json((*candidates)[i], prefix);
        if (backbone) validate_against_backbone(arch, *backbone, prefix);
        const nlohmann::json arch_json = candidate_arch_to_json(arch);
        canonical.push_back(arch_json);
        request.candidates.push_back({arch_json, candidate_arch_hash(arch)});
      } catch (const InvalidInput& e) {
        errors.add(e.field().empty() ? prefix : e.field(), strip_field(e));
      }
    }
  }
  errors.throw_if_any();

  request.project_id = project_id;
  request.name = *name;
  request.spec = {{"backbone", *backbone_id}, {"calibration", *calibration_id}, {"eval", *eval_id},
                  {"candidates", canonical},  {"latency", latency_spec}};
  // A retry is recognised by the request itself (keys sorted by nlohmann::json).
  request.request_hash = sha256_hex(body.dump());
  return request;
}

}  // namespace flashnas::server
