// Routes for /v1/models and /v1/datasets: uploads as raw bodies, reads and lists.
#include <nlohmann/json.hpp>

#include "server/api_server.hpp"
#include "server/pagination.hpp"
#include "server/problem.hpp"
#include "server/services.hpp"

namespace flashnas::server {
namespace {

std::string required_query(RequestContext& ctx, const std::string& name) {
  auto v = ctx.query(name);
  if (!v || v->empty()) throw validation_failed({{name, "required query parameter"}});
  return *v;
}

nlohmann::json file_page(const std::vector<store::StoredFile>& items, int limit) {
  nlohmann::json out = {{"items", items}, {"next_cursor", nullptr}};
  if (static_cast<int>(items.size()) > limit) {
    out["items"].erase(out["items"].end() - 1);
    out["next_cursor"] = encode_cursor(items[static_cast<size_t>(limit) - 1].id);
  }
  return out;
}

}  // namespace

void ApiServer::add_model_routes() {
  add({"POST", "/v1/models", Scope::submit, options_.upload_body_limit, {"name", "format"}},
      [this](RequestContext& ctx) {
        const std::string name = required_query(ctx, "name");
        const std::string format = required_query(ctx, "format");
        const auto& body = ctx.body();
        ctx.send_json(201, services_->files.add_model(ctx.principal().project_id, name, format, body));
      });
  add({"GET", "/v1/models", Scope::read, 0, {"limit", "cursor"}}, [this](RequestContext& ctx) {
    const int limit = static_cast<int>(ctx.query_integer("limit", 50, 1, 500));
    const auto before = decode_cursor(ctx.query("cursor"));
    ctx.send_json(200, file_page(services_->files.list(store::FileKind::model, ctx.principal().project_id,
                                                       before, limit + 1), limit));
  });
  add({"GET", "/v1/models/{id}", Scope::read}, [this](RequestContext& ctx) {
    const auto model = services_->files.get(store::FileKind::model, ctx.principal().project_id,
                                            ctx.path_id(0, "id"));
    if (!model) throw not_found("no such model");
    ctx.send_json(200, *model);
  });
}

void ApiServer::add_dataset_routes() {
  add({"POST", "/v1/datasets", Scope::submit, options_.dataset_body_limit, {"name"}},
      [this](RequestContext& ctx) {
        const std::string name = required_query(ctx, "name");
        const auto& body = ctx.body();
        ctx.send_json(201, services_->files.add_dataset(ctx.principal().project_id, name, body));
      });
  add({"GET", "/v1/datasets", Scope::read, 0, {"limit", "cursor"}}, [this](RequestContext& ctx) {
    const int limit = static_cast<int>(ctx.query_integer("limit", 50, 1, 500));
    const auto before = decode_cursor(ctx.query("cursor"));
    ctx.send_json(200, file_page(services_->files.list(store::FileKind::dataset,
                                                       ctx.principal().project_id, before, limit + 1),
                                 limit));
  });
  add({"GET", "/v1/datasets/{id}", Scope::read}, [this](RequestContext& ctx) {
    const auto dataset = services_->files.get(store::FileKind::dataset, ctx.principal().project_id,
                                              ctx.path_id(0, "id"));
    if (!dataset) throw not_found("no such dataset");
    ctx.send_json(200, *dataset);
  });
}

}  // namespace flashnas::server
