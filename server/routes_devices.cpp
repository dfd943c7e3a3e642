// Routes for /v1/devices (registration with admin keys, reads, revocation,
// measurement imports) and /v1/agent (the device protocol, device tokens only).
#include <nlohmann/json.hpp>

#include "server/api_server.hpp"
#include "server/problem.hpp"
#include "server/services.hpp"

namespace flashnas::server {
namespace {

// Imports can be large: a few thousand measurements with their architectures.
constexpr int64_t kImportBodyLimit = int64_t{16} << 20;

// The lease calls answer the same way: 200, 409 when the lease was lost (the
// agent must drop the task), 404 when the task is not the device's.
void send_lease_outcome(RequestContext& ctx, app::LeaseOutcome outcome) {
  switch (outcome) {
    case app::LeaseOutcome::done: ctx.send_json(200, {{"ok", true}}); return;
    case app::LeaseOutcome::lost:
      throw conflict("the lease on this task no longer holds (it expired and was taken back, or the job ended)");
    case app::LeaseOutcome::not_found: throw not_found("no such task for this device");
  }
}

}  // namespace

void ApiServer::add_device_routes() {
  add({"POST", "/v1/devices", Scope::admin, options_.json_body_limit}, [this](RequestContext& ctx) {
    const auto added = services_->devices.add(ctx.principal().project_id, ctx.json_body());
    if (!added) throw conflict("this project already has a device of that kind and name");
    ctx.response().set_header("Location", "/v1/devices/" + std::to_string(added->at("device").at("id").get<int64_t>()));
    ctx.send_json(201, *added);
  });

  add({"GET", "/v1/devices", Scope::read}, [this](RequestContext& ctx) {
    ctx.send_json(200, services_->devices.list(ctx.principal().project_id));
  });

  add({"GET", "/v1/devices/{id}", Scope::read}, [this](RequestContext& ctx) {
    const auto device = services_->devices.get(ctx.principal().project_id, ctx.path_id(0, "id"));
    if (!device) throw not_found("no such device");
    ctx.send_json(200, *device);
  });

  add({"POST", "/v1/devices/{id}/revoke", Scope::admin, options_.json_body_limit}, [this](RequestContext& ctx) {
    const auto device = services_->devices.revoke(ctx.principal().project_id, ctx.path_id(0, "id"));
    if (!device) throw not_found("no such device");
    services_->keys.clear();  // its token stops working now, not after the cache's lifetime
    ctx.send_json(200, *device);
  });

  add({"POST", "/v1/devices/{id}/measurements", Scope::submit, kImportBodyLimit}, [this](RequestContext& ctx) {
    const auto out = services_->devices.import(ctx.principal().project_id, ctx.path_id(0, "id"), ctx.json_body());
    if (!out) throw not_found("no such device");
    ctx.send_json(201, *out);
  });

  add({"POST", "/v1/agent/claim", Scope::device, options_.json_body_limit}, [this](RequestContext& ctx) {
    ctx.send_json(200, services_->devices.claim(*ctx.principal().device, ctx.json_body()));
  });
  add({"POST", "/v1/agent/tasks/{id}/heartbeat", Scope::device, options_.json_body_limit},
      [this](RequestContext& ctx) {
        send_lease_outcome(ctx, services_->devices.heartbeat(*ctx.principal().device, ctx.path_id(0, "id"),
                                                             ctx.json_body()));
      });
  add({"POST", "/v1/agent/tasks/{id}/result", Scope::device, kImportBodyLimit}, [this](RequestContext& ctx) {
    send_lease_outcome(ctx,
                       services_->devices.result(*ctx.principal().device, ctx.path_id(0, "id"), ctx.json_body()));
  });
  add({"POST", "/v1/agent/tasks/{id}/release", Scope::device, options_.json_body_limit},
      [this](RequestContext& ctx) {
        send_lease_outcome(ctx,
                           services_->devices.release(*ctx.principal().device, ctx.path_id(0, "id"), ctx.json_body()));
      });
  add({"POST", "/v1/agent/tasks/{id}/fail", Scope::device, options_.json_body_limit}, [this](RequestContext& ctx) {
    send_lease_outcome(ctx, services_->devices.fail(*ctx.principal().device, ctx.path_id(0, "id"), ctx.json_body()));
  });
}

}  // namespace flashnas::server
