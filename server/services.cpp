// Services wiring, readiness and queue metrics.
#include "server/services.hpp"

#include <fmt/format.h>

#include "server/http_metrics.hpp"
#include "store/database.hpp"
#include "store/device_repository.hpp"
#include "store/project_repository.hpp"
#include "store/task_queue.hpp"
#include "store/task_stats_repository.hpp"

namespace flashnas::server {

Principal principal_of(const store::ApiKey& key) {
  Principal p{key.project_id, key.id, 0, std::nullopt};
  for (const auto& s : key.scopes) {
    if (s == "read") p.scopes |= static_cast<uint8_t>(Scope::read);
    if (s == "submit") p.scopes |= static_cast<uint8_t>(Scope::submit);
    if (s == "admin") p.scopes |= static_cast<uint8_t>(Scope::admin);
  }
  return p;
}

Principal principal_of(const store::Device& device) {
  return Principal{*device.project_id, device.id, static_cast<uint8_t>(Scope::device), device};
}

Services::Services(store::ConnectionPool& pool, const ServerOptions& options)
    : keys(
          [&pool](const std::string& hash) -> std::optional<Principal> {
            // A write (last_used_at / last_seen_at, throttled): a real transaction.
            return pool.transact([&](pqxx::transaction_base& tx) -> std::optional<Principal> {
              if (const auto key = store::api_key_authenticate(tx, hash)) return principal_of(*key);
              if (const auto device = store::device_authenticate(tx, hash)) return principal_of(*device);
              return std::nullopt;
            });
          },
          std::chrono::seconds(options.auth_cache_seconds)),
      files(pool, app::FileStorage(options.storage_dir)),
      jobs(pool, store::QueueOptions{}),
      devices(pool, store::QueueOptions{}, options.agent_lease_seconds),
      pool_(pool) {}

store::SchemaStatus Services::schema_status() {
  const auto files = store::load_migrations(store::migrations_dir());
  return pool_.read([&](pqxx::transaction_base& tx) { return store::schema_status(tx, files); });
}

std::string Services::queue_metrics() {
  static const std::vector<double> kBounds = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
  const auto [counts, durations] = pool_.read([&](pqxx::transaction_base& tx) {
    return std::pair{store::task_counts(tx), store::task_duration_histograms(tx, kBounds)};
  });
  std::string out;
  out += "# HELP flashnas_tasks Tasks in the queue by kind and state.\n# TYPE flashnas_tasks gauge\n";
  for (const auto& c : counts) {
    out += fmt::format("flashnas_tasks{{kind=\"{}\",state=\"{}\"}} {}\n", prometheus_label(c.kind),
                       prometheus_label(c.state), c.count);
  }
  out += "# HELP flashnas_task_duration_seconds Run time of finished tasks (last attempt) by kind and "
         "final state.\n# TYPE flashnas_task_duration_seconds histogram\n";
  for (const auto& h : durations) {
    const std::string labels = fmt::format("kind=\"{}\",state=\"{}\"", prometheus_label(h.kind),
                                           prometheus_label(h.state));
    for (size_t i = 0; i < kBounds.size(); ++i) {
      out += fmt::format("flashnas_task_duration_seconds_bucket{{{},le=\"{}\"}} {}\n", labels, kBounds[i],
                         h.cumulative[i]);
    }
    out += fmt::format("flashnas_task_duration_seconds_bucket{{{},le=\"+Inf\"}} {}\n", labels, h.count);
    out += fmt::format("flashnas_task_duration_seconds_sum{{{}}} {}\n", labels, h.sum_seconds);
    out += fmt::format("flashnas_task_duration_seconds_count{{{}}} {}\n", labels, h.count);
  }
  return out;
}

}  // namespace flashnas::server
