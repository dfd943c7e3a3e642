// Services: what the routes call, built once per server: key authentication,
// the model/dataset catalog, job operations, and the database-side health and
// queue metrics. Each service owns its rules; the SQL stays in store/.
#pragma once

#include <optional>
#include <string>

#include "server/api_server.hpp"
#include "app/file_catalog.hpp"
#include "server/device_api.hpp"
#include "server/job_api.hpp"
#include "server/key_cache.hpp"
#include "store/migrate.hpp"

namespace flashnas::server {

class Services {
 public:
  Services(store::ConnectionPool& pool, const ServerOptions& options);

  KeyCache keys;
  app::FileCatalog files;
  JobApi jobs;
  DeviceApi devices;

  // Throws when the database cannot be reached or the migrations folder is missing.
  store::SchemaStatus schema_status();

  // Prometheus text: queue depth by task kind and state, task duration histograms.
  std::string queue_metrics();

 private:
  store::ConnectionPool& pool_;
};

// The principal for a stored key (scopes as a bit set), or a registered device.
Principal principal_of(const store::ApiKey& key);
Principal principal_of(const store::Device& device);

}  // namespace flashnas::server
