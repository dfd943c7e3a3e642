// Routes for /v1/jobs (submit, read, list, cancel, trial and event feeds, frontier,
// hypervolume history) and /v1/latency-models (list, detail, predict).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "server/api_server.hpp"
#include "server/file_response.hpp"
#include "server/pagination.hpp"
#include "server/problem.hpp"
#include "server/services.hpp"
#include "store/states.hpp"

namespace flashnas::server {
namespace {

// A filter value must name one of the enum's values; the error lists them.
template <class E>
std::optional<E> enum_query(RequestContext& ctx, const std::string& name) {
  const auto v = ctx.query(name);
  if (!v) return std::nullopt;
  return store::parse_enum_or_throw<E>(*v, name);
}

nlohmann::json page_json(const Page& page) {
  return {{"items", page.items},
          {"next_cursor", page.next_before_id ? nlohmann::json(encode_cursor(*page.next_before_id))
                                              : nlohmann::json(nullptr)}};
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
    ctx.response().set_header("Location", "/v1/jobs/" + std::to_string(outcome.job_id));
    ctx.send_json(outcome.created ? 201 : 200, outcome.job);
  });

  add({"GET", "/v1/jobs", Scope::read, 0, {"state", "kind", "limit", "cursor"}}, [this](RequestContext& ctx) {
    const auto state = enum_query<store::JobState>(ctx, "state");
    const auto kind = enum_query<store::JobKind>(ctx, "kind");
    const int limit = static_cast<int>(ctx.query_integer("limit", 50, 1, 500));
    const auto before = decode_cursor(ctx.query("cursor"));
    ctx.send_json(200, page_json(services_->jobs.list(ctx.principal().project_id, state, kind, before, limit)));
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

  add({"GET", "/v1/jobs/{id}/frontier", Scope::read, 0, {"version"}}, [this](RequestContext& ctx) {
    const auto version = ctx.query("version") ? std::optional<int32_t>(static_cast<int32_t>(
                                                    ctx.query_integer("version", 1, 1, INT32_MAX)))
                                              : std::nullopt;
    const auto frontier = services_->jobs.frontier(ctx.principal().project_id, ctx.path_id(0, "id"), version);
    if (!frontier) throw not_found("no such job");
    ctx.send_json(200, *frontier);
  });

  // A trial's model: the file when exported (streamed, with Range and an ETag of
  // its content hash), else 202 while the export it starts runs.
  add({"GET", "/v1/jobs/{id}/trials/{trial}/checkpoint", Scope::read, 0, {"format"}}, [this](RequestContext& ctx) {
    const auto format = enum_query<store::CheckpointFormat>(ctx, "format").value_or(store::CheckpointFormat::safetensors);
    const int64_t trial_id = ctx.path_id(1, "trial");
    const auto status = services_->jobs.checkpoint(ctx.principal().project_id, ctx.path_id(0, "id"), trial_id, format);
    if (!status) throw not_found("no such job or trial");
    switch (status->availability) {
      case app::CheckpointAvailability::not_evaluated:
        throw conflict(fmt::format("trial {} is {}: only a succeeded trial has a model to export", trial_id,
                                   store::name_of(status->trial_state)));
      case app::CheckpointAvailability::exporting:
        ctx.response().set_header("Retry-After", "2");
        ctx.send_json(202, {{"state", "exporting"}, {"trial_id", trial_id}, {"format", format}, {"retry_after_seconds", 2}});
        return;
      case app::CheckpointAvailability::ready:
        break;
    }
    const store::Checkpoint& c = *status->checkpoint;
    const bool gguf = c.format == store::CheckpointFormat::gguf;
    send_stored_file(ctx, {options_.storage_dir / c.path, c.sha256, gguf ? "application/octet-stream" : "application/x-tar",
                           fmt::format("flashnas-job{}-trial{}.{}", c.job_id, c.trial_id, gguf ? "gguf" : "tar")});
  });

  add({"GET", "/v1/jobs/{id}/hypervolume", Scope::read}, [this](RequestContext& ctx) {
    const auto history = services_->jobs.hypervolume(ctx.principal().project_id, ctx.path_id(0, "id"));
    if (!history) throw not_found("no such job");
    ctx.send_json(200, *history);
  });
}

void ApiServer::add_latency_model_routes() {
  add({"GET", "/v1/latency-models", Scope::read, 0, {"device_kind", "limit", "cursor"}}, [this](RequestContext& ctx) {
    const int limit = static_cast<int>(ctx.query_integer("limit", 50, 1, 500));
    const auto before = decode_cursor(ctx.query("cursor"));
    ctx.send_json(200, page_json(services_->jobs.latency_models(ctx.principal().project_id, ctx.query("device_kind"),
                                                                before, limit)));
  });

  add({"GET", "/v1/latency-models/{id}", Scope::read}, [this](RequestContext& ctx) {
    const auto model = services_->jobs.latency_model(ctx.principal().project_id, ctx.path_id(0, "id"));
    if (!model) throw not_found("no such latency model");
    ctx.send_json(200, *model);
  });

  add({"POST", "/v1/latency-models/{id}/predict", Scope::read, options_.json_body_limit}, [this](RequestContext& ctx) {
    const auto body = ctx.json_body();
    const auto predictions = services_->jobs.predict(ctx.principal().project_id, ctx.path_id(0, "id"), body);
    if (!predictions) throw not_found("no such latency model");
    ctx.send_json(200, *predictions);
  });
}

}  // namespace flashnas::server
