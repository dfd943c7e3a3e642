// Latency models as clients see them: the detail of one model (its accuracy
// report, its training measurements, and the measured-against-predicted pairs
// of the held-out set) and predictions for architectures a client names.
// Reads only.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "store/records.hpp"

namespace flashnas::app {

nlohmann::json latency_model_detail_json(const store::LatencyModelRecord& record);

// body: {"archs": [ARCH, ...]} (1 to 1000). Each architecture takes the model's
// backbone shape and is predicted at the model's prompt length. Throws
// InvalidInput naming each bad field.
nlohmann::json predict_latency_json(const store::LatencyModelRecord& record, const nlohmann::json& body);

}  // namespace flashnas::app
