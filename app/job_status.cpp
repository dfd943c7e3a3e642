// The status of a job for clients (see job_status.hpp).
#include "app/job_status.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/job_spec.hpp"
#include "engine/util/json_reader.hpp"
#include "store/device_repository.hpp"
#include "store/frontier_repository.hpp"
#include "store/latency_repository.hpp"
#include "store/task_queue.hpp"

namespace flashnas::app {
namespace {

std::optional<std::string> waiting_for_agent(pqxx::transaction_base& tx, const store::Job& job, const JobSpec& spec) {
  const std::string& kind = latency_spec_of(spec).device_kind;
  if (store::is_terminal(job.state) || kind == kLocalDeviceKind) return std::nullopt;
  int64_t queued = 0;
  for (const auto& t : store::task_tally(tx, job.id)) {
    if (t.kind == store::TaskKind::latency && t.state == store::TaskState::available) queued += t.count;
  }
  if (queued == 0 || store::device_kind_live(tx, job.project_id, kind, kAgentLiveSeconds)) return std::nullopt;
  return fmt::format("waiting for a device agent of kind {}: {} latency tasks queued, and no agent of the kind "
                     "has called in the last {:.0f} s",
                     kind, queued, kAgentLiveSeconds);
}

}  // namespace

JobStatus job_status(pqxx::transaction_base& tx, const store::Job& job) {
  JobStatus s;
  if (const auto latest = store::frontier_latest(tx, job.id)) s.frontier_version = latest->version;
  const JobSpec spec = job_spec_from_json(job.kind, job.spec);
  s.waiting = waiting_for_agent(tx, job, spec);
  if (job.kind == store::JobKind::sweep) return s;
  const auto* search = std::get_if<SearchSpec>(&spec);
  if (const Stage1Spec* stage1 = stage1_spec_of(spec)) {
    s.stage1_planned = stage1->samples + stage1->holdout;
    int64_t measured = 0;
    for (auto phase : {store::MeasurementPhase::design, store::MeasurementPhase::adaptive,
                       store::MeasurementPhase::holdout}) {
      measured += store::measurement_count_for_job(tx, job.id, phase);
    }
    s.stage1_measured = measured;
  }
  if (search) {
    s.budget = search->stage2.budget;
    s.evaluated = job.progress.succeeded + job.progress.failed;
    if (const auto hv = store::hypervolume_latest(tx, job.id)) s.hypervolume = hv->hypervolume;
  }
  return s;
}

nlohmann::json job_json(const store::Job& job, const JobStatus& status) {
  nlohmann::json j = job;
  auto& p = j["progress"];
  p["stage1_planned"] = json_or_null(status.stage1_planned);
  p["stage1_measured"] = json_or_null(status.stage1_measured);
  p["evaluated"] = json_or_null(status.evaluated);
  p["budget"] = json_or_null(status.budget);
  j["hypervolume"] = json_or_null(status.hypervolume);
  j["frontier_version"] = json_or_null(status.frontier_version);
  j["waiting"] = json_or_null(status.waiting);
  return j;
}

}  // namespace flashnas::app
