// Reading and validating POST /v1/jobs bodies of kind "sweep" into the store's
// SweepRequest: types and unknown fields, references (backbone model, calibration
// and eval datasets of the caller's project) and every candidate architecture
// against the backbone. All problems are collected and reported together.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <pqxx/pqxx>

#include <cstdint>

#include "store/job_service.hpp"

namespace flashnas::server {

// The largest sweep one request may ask for.
inline constexpr int64_t kMaxSweepCandidates = 256;

// Throws ApiError 400 listing every bad field (e.g. "candidates[2].layer_types").
// The job spec stored is normalised: candidates in canonical form, defaults filled.
store::SweepRequest parse_sweep_request(pqxx::transaction_base& tx, int64_t project_id,
                                        const nlohmann::json& body);

}  // namespace flashnas::server
