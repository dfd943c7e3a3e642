// The device protocol's wire types (see device_protocol.hpp).
#include "protocol/device_protocol.hpp"

#include "engine/latency/study.hpp"
#include "engine/util/json_reader.hpp"

namespace flashnas::protocol {

using nlohmann::json;

json device_task_to_json(const DeviceTask& t) {
  return {{"task_id", t.task_id},
          {"job_id", t.job_id},
          {"lease_token", t.lease_token},
          {"arch", arch_config_to_json(t.config)},
          {"options", latency::latency_options_to_json(t.options)}};
}

DeviceTask device_task_from_json(const json& j) {
  FieldErrors errors;
  JsonObjectReader r(j, "", errors);
  DeviceTask t;
  t.task_id = r.integer("task_id", true, 1, INT64_MAX).value_or(0);
  t.job_id = r.integer("job_id", true, 1, INT64_MAX).value_or(0);
  t.lease_token = r.string("lease_token", true, 64).value_or("");
  const json* arch = r.object("arch", true);
  const json* options = r.object("options", true);
  r.finish();
  errors.throw_if_any();
  t.config = arch_config_from_json(*arch);
  t.options = latency::latency_options_from_json(*options);
  return t;
}

json device_measurement_to_json(const DeviceMeasurement& m) {
  return {{"ttft_ms", m.ttft_ms},
          {"decode_ms_per_token", m.decode_ms_per_token},
          {"prefill_spread", m.prefill_spread},
          {"decode_spread", m.decode_spread},
          {"samples", m.samples},
          {"environment", m.environment}};
}

DeviceMeasurement device_measurement_from_json(const json& j) {
  FieldErrors errors;
  JsonObjectReader r(j, "measurement", errors);
  DeviceMeasurement m;
  m.ttft_ms = r.number("ttft_ms", true, 1e-9, 1e9).value_or(0.0);
  m.decode_ms_per_token = r.number("decode_ms_per_token", true, 1e-9, 1e9).value_or(0.0);
  m.prefill_spread = r.number("prefill_spread", false, 0, 100).value_or(0.0);
  m.decode_spread = r.number("decode_spread", false, 0, 100).value_or(0.0);
  if (const json* s = r.object("samples", false)) m.samples = *s;
  if (const json* e = r.object("environment", false)) m.environment = *e;
  r.finish();
  errors.throw_if_any();
  return m;
}

DeviceMeasurement measurement_of(const latency::MeasuredLatency& measured) {
  auto relative = [&](const char* target) {
    const json& s = measured.detail.at(target);
    const double median = s.at("median").get<double>();
    return median > 0 ? s.at("mad").get<double>() / median : 0.0;
  };
  return {measured.ttft_ms,
          measured.decode_ms_per_token,
          relative("ttft_ms"),
          relative("decode_ms_per_token"),
          measured.detail,
          measured.detail.value("environment", json::object())};
}

}  // namespace flashnas::protocol
