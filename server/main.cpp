// flashnas-server: the REST API process. Reads flags, opens the connection pool,
// serves until SIGTERM/SIGINT, then lets in-flight requests finish.
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <exception>
#include <thread>

#include "common/flags.hpp"
#include "engine/util/error.hpp"
#include "server/api_server.hpp"
#include "server/listen_address.hpp"
#include "app/file_storage.hpp"
#include "common/log_setup.hpp"
#include "store/database.hpp"

namespace {

const std::vector<flashnas::FlagSpec> kFlags = {
    {"database", true, "PostgreSQL URL (default: $FLASHNAS_DATABASE_URL)"},
    {"listen", true, "HOST:PORT to listen on (default 127.0.0.1:8080; port 0 picks a free one)"},
    {"storage", true, "directory for uploaded models and datasets (default $FLASHNAS_STORAGE_DIR)"},
    {"threads", true, "HTTP worker threads = concurrently served connections (default 16)"},
    {"max-upload-mb", true, "largest model upload in MiB (default 512)"},
    {"max-dataset-mb", true, "largest dataset upload in MiB (default 64)"},
    {"agent-lease-seconds", true, "how long a device agent's claim or heartbeat holds its task (default 60)"},
    {"log-format", true, "text | json (default text)"},
    {"log-level", true, "trace | debug | info | warn | error (default info)"},
    {"help", false, "show this help"},
};

// Signals only set a flag; a watcher thread calls stop() outside signal context.
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

int run(int argc, char** argv) {
  const flashnas::Flags flags(std::vector<std::string>(argv + 1, argv + argc), kFlags);
  if (flashnas::print_help_if_asked(flags, kFlags, "flashnas-server [flags]")) return 0;
  flashnas::setup_logging(flags.get("log-format").value_or("text"),
                                  flags.get("log-level").value_or("info"));

  flashnas::server::ServerOptions options;
  const auto address =
      flashnas::server::parse_listen_address(flags.get("listen").value_or("127.0.0.1:8080"));
  options.host = address.host;
  options.port = address.port;
  options.storage_dir = flashnas::app::storage_dir(flags.get("storage"));
  options.threads = static_cast<int>(flags.integer("threads", options.threads, 1, 1024));
  options.upload_body_limit = flags.integer("max-upload-mb", 512, 1, 1 << 16) << 20;
  options.dataset_body_limit = flags.integer("max-dataset-mb", 64, 1, 1 << 16) << 20;
  options.agent_lease_seconds = flags.number("agent-lease-seconds", 60, 1, 86400);

  const std::string url = flashnas::store::database_url(flags.get("database"));
  // One connection per HTTP thread, plus one for /metrics and /readyz under load.
  flashnas::store::ConnectionPool pool(url, {.size = options.threads + 1});

  flashnas::server::ApiServer server(options, pool);
  const int port = server.bind();
  spdlog::info("flashnas-server listening on {}:{} (storage {}, {} threads, database {})",
               options.host, port, options.storage_dir.string(), options.threads,
               flashnas::store::redact_url(url));

  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::thread watcher([&] {
    while (!g_stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    spdlog::info("stopping: finishing in-flight requests");
    server.stop();
  });
  const bool ok = server.serve();
  g_stop.store(true);
  watcher.join();
  spdlog::info("flashnas-server stopped");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const flashnas::InvalidInput& e) {
    std::fprintf(stderr, "flashnas-server: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    // Through the logger, so a --log-format json process stays one JSON object per line.
    spdlog::critical("{}: error: {}", "flashnas-server", e.what());
    return 1;
  }
}
