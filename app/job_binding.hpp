// Binding a parsed job request to the caller's project, once, at submission:
// the backbone model and datasets must be the project's (another project's ids
// are reported exactly like missing ones), the texts long enough for the token
// budgets, every sweep candidate and the search space within the backbone, and
// a named latency model fitted for the same device kind, prompt length and
// backbone shape. Every problem is reported at once, by field.
#pragma once

#include <pqxx/pqxx>

#include <vector>

#include "app/job_spec.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/model/bound_arch.hpp"

namespace flashnas::app {

struct BoundJob {
  JobRequest request;
  ArchConfig backbone;                // as recorded when the model was added
  latency::ModelShape shape;          // what the backbone leaves to its candidates
  std::vector<BoundArch> candidates;  // a sweep's, in order
};

// Throws InvalidInput listing every bad field.
BoundJob bind_job_request(pqxx::transaction_base& tx, int64_t project_id, JobRequest request);

// The backbone's architecture recorded in a model row's metadata (InvalidInput
// naming `field` when the row has none).
ArchConfig recorded_backbone(const nlohmann::json& model_metadata, const std::string& field);

}  // namespace flashnas::app
