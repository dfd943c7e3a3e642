// Routes for /v1/jobs: submit (idempotent), read, list, cancel, trial and event feeds.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "server/api_server.hpp"
#include "server/pagination.hpp"
#include "server/problem.hpp"
#include "server/services.hpp"
#include "store/job_repository.hpp"

namespace flashnas::server {
namespace {

// A filter value must be one of `allowed`; the error lists them.
std::optional<std::string> enum_query(RequestContext& ctx, const std::string& name,
                                      const std::vector<std::string>& allowed) {
  auto v = ctx.query(name);
  if (v && std::find(allowed.begin(), allowed.end(), *v) == allowed.end()) {
    std::string list;
    for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw validation_failed({{name, "must be one of " + list}});
  }
  return v;
}

std::optional<std::string> idempotency_key(RequestContext& ctx) {
  if (!ctx.request().has_header("Idempotency-Key")) return std::nullopt;
  std::string key = ctx.request().get_header_value("Idempotency-Key");
  const bool printable = std::all_of(key.begin(), key.end(), [](unsigned char c) { return c >= 0x21 && c < 0x7F; });
  if (key.empty() || key.size() > 255 || !printable) {
    throw validation_failed({{"Idempotency-Key", "must be 1 to 255 printable ASCII characters"}});
  }
  return key;
}

template <class T>
nlohmann::json seq_page(const std::vector<T>& items, int64_t after) {
  int64_t last = after;
  for (const auto& i : items) last = std::max(last, i.seq);
  return {{"items", items}, {"last_seq", last}};
}

}  // namespace

void ApiServer::add_job_routes() {
  add({"POST", "/v1/jobs", Scope::submit, options_.json_body_limit}, [this](RequestContext& ctx) {
    const auto key = idempotency_key(ctx);
    const auto body = ctx.json_body();
    const auto outcome = services_->jobs.submit(ctx.principal().project_id, body, key);
    // 201 for a new job; 200 when an Idempotency-Key retry returns the original.
    ctx.response().set_header("Location", "/v1/jobs/" + std::to_string(outcome.job.id));
    ctx.send_json(outcome.created ? 201 : 200, outcome.job);
  });

  add({"GET", "/v1/jobs", Scope::read, 0, {"state", "kind", "limit", "cursor"}}, [this](RequestContext& ctx) {
    const auto state = enum_query(ctx, "state", store::job_states());
    const auto kind = enum_query(ctx, "kind", store::job_kinds());
    const int limit = static_cast<int>(ctx.query_integer("limit", 50, 1, 500));
    const auto before = decode_cursor(ctx.query("cursor"));
    const auto page = services_->jobs.list(ctx.principal().project_id, state, kind, before, limit);
    ctx.send_json(200, {{"items", page.items},
                        {"next_cursor", page.next_before_id ? nlohmann::json(encode_cursor(*page.next_before_id))
                                                            : nlohmann::json(nullptr)}});
  });

  add({"GET", "/v1/jobs/{id}", Scope::read}, [this](RequestContext& ctx) {
    const auto job = services_->jobs.get(ctx.principal().project_id, ctx.path_id(0, "id"));
    if (!job) throw not_found("no such job");
    ctx.send_json(200, *job);
  });

  add({"POST", "/v1/jobs/{id}/cancel", Scope::submit, options_.json_body_limit}, [this](RequestContext& ctx) {
    const auto job = services_->jobs.cancel(ctx.principal().project_id, ctx.path_id(0, "id"));
    if (!job) throw not_found("no such job");
    ctx.send_json(200, *job);
  });

  add({"GET", "/v1/jobs/{id}/trials", Scope::read, 0, {"after", "limit"}}, [this](RequestContext& ctx) {
    const int64_t after = ctx.query_integer("after", 0, 0, INT64_MAX / 2);
    const int limit = static_cast<int>(ctx.query_integer("limit", 500, 1, 1000));
    const auto trials = services_->jobs.trials(ctx.principal().project_id, ctx.path_id(0, "id"), after, limit);
    if (!trials) throw not_found("no such job");
    ctx.send_json(200, seq_page(*trials, after));
  });

  add({"GET", "/v1/jobs/{id}/events", Scope::read, 0, {"after", "limit"}}, [this](RequestContext& ctx) {
    const int64_t after = ctx.query_integer("after", 0, 0, INT64_MAX / 2);
    const int limit = static_cast<int>(ctx.query_integer("limit", 500, 1, 1000));
    const auto events = services_->jobs.events(ctx.principal().project_id, ctx.path_id(0, "id"), after, limit);
    if (!events) throw not_found("no such job");
    ctx.send_json(200, seq_page(*events, after));
  });
}

}  // namespace flashnas::server
