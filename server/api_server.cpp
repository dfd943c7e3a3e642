// ApiServer: wiring of the HTTP server, router, services and system routes
// (/healthz, /readyz, /metrics, /openapi.json, the dashboard at /). The /v1 routes live in routes_*.cpp.
#include "server/api_server.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "engine/util/error.hpp"
#include "server/openapi_document.hpp"
#include "server/web_assets.hpp"
#include "server/problem.hpp"
#include "server/services.hpp"
#include "store/database.hpp"
#include "store/migrate.hpp"

namespace flashnas::server {

ApiServer::ApiServer(ServerOptions options, store::ConnectionPool& pool)
    : options_(std::move(options)), pool_(pool) {
  if (options_.storage_dir.empty()) throw InvalidInput("a storage directory is required", "--storage");
  services_ = std::make_unique<Services>(pool_, options_);
  router_ = std::make_unique<Router>(http_, metrics_, [this](const std::string& token) {
    return services_->keys.authenticate(token);
  });

  // Connections are served by a fixed pool; each keep-alive connection holds one
  // thread while open, so `threads` bounds concurrent clients.
  const int threads = options_.threads;
  http_.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http_.set_keep_alive_max_count(1000);
  http_.set_keep_alive_timeout(5);
  http_.set_read_timeout(30);
  http_.set_write_timeout(30);
  http_.set_tcp_nodelay(true);
  // The router enforces each route's own limit; this is the outer bound.
  http_.set_payload_max_length(static_cast<size_t>(
      std::max({options_.json_body_limit, options_.upload_body_limit, options_.dataset_body_limit})));

  add_system_routes();
  add_model_routes();
  add_dataset_routes();
  add_job_routes();
  add_device_routes();
  add_latency_model_routes();
  router_->install_fallbacks();
}

ApiServer::~ApiServer() { stop(); }

void ApiServer::add(RouteSpec spec, RouteHandler handler) {
  specs_.push_back(spec);
  router_->add(std::move(spec), std::move(handler));
}

int ApiServer::bind() {
  int port = options_.port;
  if (port == 0) {
    port = http_.bind_to_any_port(options_.host);
    if (port < 0) port = 0;
  } else if (!http_.bind_to_port(options_.host, port)) {
    port = 0;
  }
  if (port <= 0) {
    throw Error("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                " (address in use or not local?)");
  }
  return port;
}

bool ApiServer::serve() { return http_.listen_after_bind(); }

void ApiServer::stop() {
  if (http_.is_running()) http_.stop();
}

void ApiServer::add_system_routes() {
  // Liveness: the process answers; says nothing about the database.
  add({"GET", "/healthz"}, [](RequestContext& ctx) { ctx.send_json(200, {{"status", "ok"}}); });

  // Readiness: the database answers and its schema is the one this binary expects.
  add({"GET", "/readyz"}, [this](RequestContext& ctx) {
    nlohmann::json body;
    int status = 200;
    try {
      const auto s = services_->schema_status();
      body = {{"status", s.current() ? "ready" : "not ready"},
              {"database", "ok"},
              {"schema_version", s.applied_version},
              {"expected_schema_version", s.latest_version}};
      if (!s.current()) status = 503;
    } catch (const std::exception& e) {
      spdlog::warn("readyz: database check failed: {}", e.what());
      body = {{"status", "not ready"}, {"database", "unreachable"}};
      status = 503;
    }
    ctx.send_json(status, body);
  });

  add({"GET", "/metrics"}, [this](RequestContext& ctx) {
    std::string text = metrics_.render();
    // The HTTP series are always served; the queue series need the database.
    try {
      text += services_->queue_metrics();
      text += "# HELP flashnas_database_up Whether /metrics could read the queue.\n"
              "# TYPE flashnas_database_up gauge\nflashnas_database_up 1\n";
    } catch (const std::exception& e) {
      spdlog::warn("metrics: queue figures unavailable: {}", e.what());
      text += "# HELP flashnas_database_up Whether /metrics could read the queue.\n"
              "# TYPE flashnas_database_up gauge\nflashnas_database_up 0\n";
    }
    ctx.response().status = 200;
    ctx.response().set_content(text, "text/plain; version=0.0.4");
  });

  // The dashboard: public files (the key is entered in the page and sent by its
  // requests), allowed to load nothing but this origin's scripts and styles.
  for (const std::string path : {"/", "/web/app.js", "/web/style.css"}) {
    // ?poll=MS sets the page's polling interval (the browser test polls fast).
    const std::vector<std::string> query = path == "/" ? std::vector<std::string>{"poll"} : std::vector<std::string>{};
    add({"GET", path, Scope::none, 0, query}, [path](RequestContext& ctx) {
      const auto asset = web_asset(path);
      auto& res = ctx.response();
      res.status = 200;
      res.set_header("Cache-Control", "no-cache");
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
      res.set_content(asset->body.data(), asset->body.size(), std::string(asset->content_type).c_str());
    });
  }

  add({"GET", "/openapi.json"}, [](RequestContext& ctx) {
    const auto doc = openapi_document();
    ctx.response().status = 200;
    ctx.response().set_content(doc.data(), doc.size(), "application/json");
  });
}

}  // namespace flashnas::server
