// JobApi: project-scoped job and latency-model operations over the app layer.
#include "server/job_api.hpp"

#include <nlohmann/json.hpp>

#include "app/job_binding.hpp"
#include "app/job_service.hpp"
#include "app/job_status.hpp"
#include "app/latency_model_view.hpp"
#include "engine/util/sha256.hpp"
#include "server/problem.hpp"
#include "store/database.hpp"
#include "store/event_repository.hpp"
#include "store/frontier_repository.hpp"
#include "store/job_repository.hpp"
#include "store/latency_repository.hpp"
#include "store/trial_repository.hpp"

namespace flashnas::server {
namespace {

nlohmann::json job_view(pqxx::transaction_base& tx, const store::Job& job) {
  return app::job_json(job, app::job_status(tx, job));
}

// One extra row tells whether another page exists, so the last page has no cursor.
template <class T, class Id>
Page page_of(const std::vector<T>& rows, int limit, Id id_of) {
  Page page;
  for (size_t i = 0; i < rows.size() && static_cast<int>(i) < limit; ++i) page.items.push_back(rows[i]);
  if (static_cast<int>(rows.size()) > limit) page.next_before_id = id_of(rows[static_cast<size_t>(limit) - 1]);
  return page;
}

}  // namespace

JobApi::JobApi(store::ConnectionPool& pool, store::QueueOptions queue) : pool_(pool), queue_(queue) {}

SubmitOutcome JobApi::submit(int64_t project_id, const nlohmann::json& body,
                             const std::optional<std::string>& idempotency_key) {
  app::JobRequest request = app::parse_job_request(body);
  return pool_.transact([&](pqxx::transaction_base& tx) {
    const app::BoundJob bound = app::bind_job_request(tx, project_id, request);
    // A retry is recognised by the request itself (keys sorted by nlohmann::json).
    const app::SubmitOptions options{idempotency_key, sha256_hex(body.dump()), 0};
    const app::SubmitResult result = app::submit_job(tx, project_id, bound, options, queue_);
    if (!result.created && result.job.request_hash != options.request_hash) {
      throw conflict("this Idempotency-Key was already used for a different request");
    }
    return SubmitOutcome{job_view(tx, result.job), result.job.id, result.created};
  });
}

std::optional<nlohmann::json> JobApi::get(int64_t project_id, int64_t job_id) {
  return pool_.read([&](pqxx::transaction_base& tx) -> std::optional<nlohmann::json> {
    const auto job = store::job_get(tx, project_id, job_id);
    if (!job) return std::nullopt;
    return job_view(tx, *job);
  });
}

Page JobApi::list(int64_t project_id, std::optional<store::JobState> state, std::optional<store::JobKind> kind,
                  std::optional<int64_t> before_id, int limit) {
  const store::JobFilter filter{project_id, state, kind, before_id, limit + 1};
  const auto jobs = pool_.read([&](pqxx::transaction_base& tx) { return store::job_list(tx, filter); });
  return page_of(jobs, limit, [](const store::Job& j) { return j.id; });
}

std::optional<nlohmann::json> JobApi::cancel(int64_t project_id, int64_t job_id) {
  return pool_.transact([&](pqxx::transaction_base& tx) -> std::optional<nlohmann::json> {
    const auto result = app::cancel_job(tx, project_id, job_id);
    if (!result) return std::nullopt;
    return job_view(tx, result->job);
  });
}

std::optional<std::vector<store::Trial>> JobApi::trials(int64_t project_id, int64_t job_id, int64_t after,
                                                        int limit) {
  return pool_.read([&](pqxx::transaction_base& tx) -> std::optional<std::vector<store::Trial>> {
    if (!store::job_get(tx, project_id, job_id)) return std::nullopt;
    return store::trial_list(tx, project_id, job_id, after, limit);
  });
}

std::optional<std::vector<store::JobEvent>> JobApi::events(int64_t project_id, int64_t job_id,
                                                           int64_t after, int limit) {
  return pool_.read([&](pqxx::transaction_base& tx) -> std::optional<std::vector<store::JobEvent>> {
    if (!store::job_get(tx, project_id, job_id)) return std::nullopt;
    return store::event_list(tx, project_id, job_id, after, limit);
  });
}

std::optional<nlohmann::json> JobApi::frontier(int64_t project_id, int64_t job_id, std::optional<int32_t> version) {
  return pool_.read([&](pqxx::transaction_base& tx) -> std::optional<nlohmann::json> {
    const auto job = store::job_get(tx, project_id, job_id);
    if (!job) return std::nullopt;
    const auto frontier = version ? store::frontier_get(tx, job_id, *version) : store::frontier_latest(tx, job_id);
    if (version && !frontier) throw not_found("no such frontier version");
    nlohmann::json out = {{"job_id", job_id},
                          {"job_state", job->state},
                          {"version", nullptr},
                          {"points", nlohmann::json::array()},
                          {"reference_point", job->reference_point.value_or(nullptr)}};
    if (frontier) {
      out["version"] = frontier->version;
      out["points"] = frontier->points;
      out["created_at"] = frontier->created_at;
    }
    if (const auto latest = store::frontier_latest(tx, job_id)) out["latest_version"] = latest->version;
    return out;
  });
}

std::optional<app::CheckpointStatus> JobApi::checkpoint(int64_t project_id, int64_t job_id, int64_t trial_id,
                                                        store::CheckpointFormat format) {
  return pool_.transact([&](pqxx::transaction_base& tx) {
    return app::request_checkpoint(tx, project_id, job_id, trial_id, format);
  });
}

std::optional<nlohmann::json> JobApi::hypervolume(int64_t project_id, int64_t job_id) {
  return pool_.read([&](pqxx::transaction_base& tx) -> std::optional<nlohmann::json> {
    const auto job = store::job_get(tx, project_id, job_id);
    if (!job) return std::nullopt;
    return nlohmann::json{{"job_id", job_id},
                          {"reference_point", job->reference_point.value_or(nullptr)},
                          {"items", store::hypervolume_list(tx, job_id)}};
  });
}

Page JobApi::latency_models(int64_t project_id, std::optional<std::string> device_kind,
                            std::optional<int64_t> before_id, int limit) {
  const store::LatencyModelFilter filter{project_id, std::move(device_kind), before_id, limit + 1};
  const auto rows = pool_.read([&](pqxx::transaction_base& tx) { return store::latency_model_list(tx, filter); });
  return page_of(rows, limit, [](const store::LatencyModelRecord& m) { return m.id; });
}

std::optional<nlohmann::json> JobApi::latency_model(int64_t project_id, int64_t id) {
  const auto record = pool_.read([&](pqxx::transaction_base& tx) { return store::latency_model_get(tx, project_id, id); });
  if (!record) return std::nullopt;
  return app::latency_model_detail_json(*record);
}

std::optional<nlohmann::json> JobApi::predict(int64_t project_id, int64_t id, const nlohmann::json& body) {
  const auto record = pool_.read([&](pqxx::transaction_base& tx) { return store::latency_model_get(tx, project_id, id); });
  if (!record) return std::nullopt;
  return app::predict_latency_json(*record, body);
}

}  // namespace flashnas::server
