// Stage 1 from imported measurements (see imported_study.hpp).
#include "app/imported_study.hpp"

#include <algorithm>
#include <set>

#include "app/task_contract.hpp"
#include "store/event_repository.hpp"
#include "store/latency_repository.hpp"

namespace flashnas::app {

std::vector<store::LatencyMeasurement> usable_imported(pqxx::transaction_base& tx, int64_t project_id,
                                                       const LatencySpec& latency, const latency::ModelShape& shape) {
  auto all = store::measurement_list_imported(tx, project_id, latency.device_kind,
                                              static_cast<int32_t>(latency.options.prompt_len));
  std::vector<store::LatencyMeasurement> out;
  std::set<std::string> seen;
  for (auto it = all.rbegin(); it != all.rend(); ++it) {  // newest first: a re-import replaces
    if (!it->decode_ms_per_token || !seen.insert(it->arch_hash).second) continue;
    if (latency::shape_of(arch_config_from_json(it->arch)) != shape) continue;
    out.push_back(std::move(*it));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

int64_t min_imported(const Stage1Spec& stage1) { return 2 * stage1.holdout; }

void start_imported_stage1(JobContext& ctx, const latency::ModelShape& shape) {
  const LatencySpec& latency = latency_spec_of(ctx.spec);
  const Stage1Spec& stage1 = *stage1_spec_of(ctx.spec);
  std::vector<store::LatencyMeasurement> points = usable_imported(ctx.tx, ctx.job.project_id, latency, shape);
  const int64_t n = static_cast<int64_t>(points.size());
  FLASHNAS_CHECK(n >= min_imported(stage1), "binding let through {} imported points", n);
  // Every k-th point held out (k = n / holdout), so both sets span the whole import.
  const double stride = static_cast<double>(n) / static_cast<double>(stage1.holdout);
  int64_t next_holdout = 0, held = 0;
  for (int64_t i = 0; i < n; ++i) {
    store::LatencyMeasurement m = points[static_cast<size_t>(i)];
    const bool holdout = held < stage1.holdout && i == next_holdout;
    if (holdout) next_holdout = static_cast<int64_t>(static_cast<double>(++held) * stride);
    m.phase = holdout ? store::MeasurementPhase::holdout : store::MeasurementPhase::design;
    m.round = 0;
    m.job_id = ctx.id();
    store::measurement_insert(ctx.tx, m);
  }
  enqueue(ctx, store::TaskKind::fit_latency_model, fit_payload_to_json({FitPurpose::final, std::nullopt}),
          std::nullopt, 1);
  store::event_append(ctx.tx, ctx.id(), "job.created",
                      {{"kind", store::name_of(ctx.job.kind)}, {"stage", "measuring"},
                       {"imported_measurements", n}, {"holdout", held}});
}

}  // namespace flashnas::app
