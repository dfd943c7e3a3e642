// ApiServer: the flashnas REST API as an object: binds, serves on a thread pool,
// stops. Owns the HTTP server, the router and the services; used by
// flashnas-server's main() and in-process by the service tests.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "server/http_metrics.hpp"
#include "server/router.hpp"

namespace flashnas::store {
class ConnectionPool;
}

namespace flashnas::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                        // 0: any free port (see bind())
  std::filesystem::path storage_dir;      // content-addressed models and datasets
  int threads = 16;                       // one per concurrently served keep-alive connection
  int64_t json_body_limit = 1 << 20;      // 1 MiB: job specs and other JSON bodies
  int64_t upload_body_limit = 512 << 20;  // model uploads (held in memory while validated)
  int64_t dataset_body_limit = 64 << 20;  // dataset text uploads
  int auth_cache_seconds = 10;            // a key revoked elsewhere keeps working at most this long
  double agent_lease_seconds = 60;        // a device agent's claim or heartbeat holds its task this long
};

class Services;  // services.hpp

class ApiServer {
 public:
  ApiServer(ServerOptions options, store::ConnectionPool& pool);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the listening socket; returns the port (the chosen one when port is 0).
  // Throws flashnas::Error when the address cannot be bound.
  int bind();
  // Serves until stop(); returns false if the server failed.
  bool serve();
  // Thread-safe; in-flight requests finish first.
  void stop();

  // Every route registered, for the OpenAPI consistency test.
  const std::vector<RouteSpec>& routes() const { return specs_; }

 private:
  void add(RouteSpec spec, RouteHandler handler);
  void add_system_routes();
  void add_model_routes();
  void add_dataset_routes();
  void add_job_routes();
  void add_latency_model_routes();
  void add_device_routes();

  ServerOptions options_;
  store::ConnectionPool& pool_;
  httplib::Server http_;
  HttpMetrics metrics_;
  std::unique_ptr<Services> services_;
  std::unique_ptr<Router> router_;
  std::vector<RouteSpec> specs_;
};

}  // namespace flashnas::server
