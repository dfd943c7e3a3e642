// Stage 1 from imported measurements: a latency study (or a search's stage 1)
// whose device kind's measurements were imported earlier
// (POST /v1/devices/{id}/measurements) fits its model from those alone. The
// usable ones (the job's prompt length, the backbone's shape, one per
// architecture: the newest) are copied into the job as its stage-1 points, every
// k-th held out so `holdout` of them score the model, and the final fit is
// queued at once. Internal to app/.
#pragma once

#include <pqxx/pqxx>

#include <vector>

#include "app/job_context.hpp"
#include "app/job_spec.hpp"
#include "engine/latency/model_shape.hpp"
#include "store/records.hpp"

namespace flashnas::app {

// The imported measurements a stage 1 of `latency` on a backbone of `shape` can use.
std::vector<store::LatencyMeasurement> usable_imported(pqxx::transaction_base& tx, int64_t project_id,
                                                       const LatencySpec& latency, const latency::ModelShape& shape);

// The fewest a study needs: its held-out points and as many to train on.
int64_t min_imported(const Stage1Spec& stage1);

// Copies them into the job (design and holdout phases) and queues the final fit.
void start_imported_stage1(JobContext& ctx, const latency::ModelShape& shape);

}  // namespace flashnas::app
