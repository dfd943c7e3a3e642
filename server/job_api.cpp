// JobApi: project-scoped job operations over the store.
#include "server/job_api.hpp"

#include <nlohmann/json.hpp>

#include "server/db_read.hpp"
#include "server/problem.hpp"
#include "server/sweep_request.hpp"
#include "store/event_repository.hpp"
#include "store/job_repository.hpp"
#include "store/job_service.hpp"
#include "store/trial_repository.hpp"

namespace flashnas::server {

JobApi::JobApi(store::ConnectionPool& pool, store::QueueOptions queue) : pool_(pool), queue_(queue) {}

SubmitOutcome JobApi::submit(int64_t project_id, const nlohmann::json& body,
                             const std::optional<std::string>& idempotency_key) {
  return pool_.transact([&](pqxx::transaction_base& tx) {
    store::SweepRequest request = parse_sweep_request(tx, project_id, body);
    request.idempotency_key = idempotency_key;
    const auto result = store::submit_sweep(tx, request, queue_);
    if (!result.created && result.job.request_hash != request.request_hash) {
      throw conflict("this Idempotency-Key was already used for a different request");
    }
    return SubmitOutcome{result.job, result.created};
  });
}

std::optional<store::Job> JobApi::get(int64_t project_id, int64_t job_id) {
  return read_only(pool_, [&](pqxx::transaction_base& tx) { return store::job_get(tx, project_id, job_id); });
}

JobPage JobApi::list(int64_t project_id, std::optional<std::string> state, std::optional<std::string> kind,
                     std::optional<int64_t> before_id, int limit) {
  // One extra row tells whether another page exists, so the last page has no cursor.
  store::JobFilter filter{project_id, std::move(state), std::move(kind), before_id, limit + 1};
  JobPage page;
  page.items = read_only(pool_, [&](pqxx::transaction_base& tx) { return store::job_list(tx, filter); });
  if (static_cast<int>(page.items.size()) > limit) {
    page.items.resize(static_cast<size_t>(limit));
    page.next_before_id = page.items.back().id;
  }
  return page;
}

std::optional<store::Job> JobApi::cancel(int64_t project_id, int64_t job_id) {
  return pool_.transact([&](pqxx::transaction_base& tx) -> std::optional<store::Job> {
    const auto result = store::cancel_job(tx, project_id, job_id);
    if (!result) return std::nullopt;
    return result->job;
  });
}

std::optional<std::vector<store::Trial>> JobApi::trials(int64_t project_id, int64_t job_id, int64_t after,
                                                        int limit) {
  return read_only(pool_, [&](pqxx::transaction_base& tx) -> std::optional<std::vector<store::Trial>> {
    if (!store::job_get(tx, project_id, job_id)) return std::nullopt;
    return store::trial_list(tx, project_id, job_id, after, limit);
  });
}

std::optional<std::vector<store::JobEvent>> JobApi::events(int64_t project_id, int64_t job_id,
                                                           int64_t after, int limit) {
  return read_only(pool_, [&](pqxx::transaction_base& tx) -> std::optional<std::vector<store::JobEvent>> {
    if (!store::job_get(tx, project_id, job_id)) return std::nullopt;
    return store::event_list(tx, project_id, job_id, after, limit);
  });
}

}  // namespace flashnas::server
