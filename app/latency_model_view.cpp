// Latency models for clients (see latency_model_view.hpp).
#include "app/latency_model_view.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/latency/latency_model.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/util/json_reader.hpp"

namespace flashnas::app {
namespace {

constexpr size_t kMaxPredictions = 1000;

}  // namespace

nlohmann::json latency_model_detail_json(const store::LatencyModelRecord& record) {
  nlohmann::json j = record;  // id, device kind, job, workload, shape, accuracy, ...
  const nlohmann::json& metadata = record.model.value("metadata", nlohmann::json::object());
  j["measurement"] = metadata.value("measurement", nlohmann::json::object());
  j["train_points"] = metadata.value("train_points", nlohmann::json::array());
  j["holdout_points"] = metadata.value("holdout_points", nlohmann::json::array());
  j["refit_trials"] = metadata.value("refit_trials", 0);
  return j;
}

nlohmann::json predict_latency_json(const store::LatencyModelRecord& record, const nlohmann::json& body) {
  FieldErrors errors;
  JsonObjectReader r(body, "", errors);
  const nlohmann::json* archs = r.array("archs", true);
  r.finish();
  if (archs && (archs->empty() || archs->size() > kMaxPredictions)) {
    errors.add("archs", fmt::format("must hold 1 to {} architectures", kMaxPredictions));
  }
  errors.throw_if_any();
  const latency::ModelShape shape = latency::model_shape_from_json(record.shape);
  std::vector<ArchConfig> configs;
  for (size_t i = 0; i < archs->size(); ++i) {
    const std::string field = fmt::format("archs[{}]", i);
    try {
      configs.push_back(latency::shape_to_config(shape, candidate_arch_from_json((*archs)[i], field)));
    } catch (const InvalidInput& e) {
      errors.add(e, field);
    }
  }
  errors.throw_if_any();
  const latency::LatencyModel model = latency::LatencyModel::from_json(record.model);
  const int64_t prompt_len = record.prompt_len.value_or(256);
  nlohmann::json out = nlohmann::json::array();
  for (const ArchConfig& c : configs) {
    const latency::LatencyPrediction p = model.predict(c, prompt_len);
    out.push_back({{"prefill_ms", p.ttft_ms},
                   {"prefill_log_sd", p.ttft_log_sd},
                   {"decode_ms_per_token", p.decode_ms_per_token},
                   {"decode_log_sd", p.decode_log_sd}});
  }
  return {{"latency_model_id", record.id}, {"prompt_len", prompt_len}, {"predictions", out}};
}

}  // namespace flashnas::app
