// flashnas-worker: claims tasks of the given roles from PostgreSQL and runs
// them with the engine. SIGTERM/SIGINT: stop claiming, let running tasks finish
// within --grace-seconds, release the rest, exit 0.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "app/file_storage.hpp"
#include "common/flags.hpp"
#include "common/log_setup.hpp"
#include "engine/util/error.hpp"
#include "store/database.hpp"
#include "workers/engine_handlers.hpp"
#include "workers/worker_pool.hpp"

namespace {

using flashnas::FlagSpec;
using flashnas::Flags;

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Blocks SIGTERM and SIGINT in every thread and returns when one arrives: the
// signal is handled synchronously in main, so no async-signal-safety concerns.
int wait_for_stop_signal(sigset_t& signals) {
  int sig = 0;
  sigwait(&signals, &sig);
  return sig;
}

int run(int argc, char** argv) {
  const std::vector<FlagSpec> spec = {
      {"roles", true, "task kinds to run, comma-separated: evaluate, latency, search_step, fit_latency_model, export"},
      {"concurrency", true, "worker threads, each with its own connection (default 1)"},
      {"database", true, "PostgreSQL URL (default: $FLASHNAS_DATABASE_URL)"},
      {"storage", true, "flashnas-server's storage directory (default $FLASHNAS_STORAGE_DIR)"},
      {"worker-id", true, "name recorded on claimed tasks (default host:pid)"},
      {"lease-seconds", true, "lease length per claim and heartbeat (default 60)"},
      {"heartbeat-seconds", true, "lease renewal interval (default 10)"},
      {"rescue-seconds", true, "interval of the expired-lease rescuer, 0 = off (default 15)"},
      {"poll-seconds", true, "idle re-check interval without a NOTIFY (default 2)"},
      {"grace-seconds", true, "on SIGTERM, time running tasks get before release (default 30)"},
      {"threads", true, "engine threads per task (default 1)"},
      {"latency-batch", true, "latency tasks of one job measured together, interleaved (default 8)"},
      {"calibration-cache", true, "calibration artifacts directory (default <storage>/cache/calibration)"},
      {"heal-cache-mb", true, "the backbone's logits on healing texts kept for distillation, at most (default 1024)"},
      {"log-format", true, "text | json: one JSON object per line (default text)"},
      {"log-level", true, "trace | debug | info | warn | error (default warn; info logs every task)"},
      {"verbose", false, "log every task (same as --log-level info)"},
      {"help", false, "show this help"},
  };
  const Flags flags(std::vector<std::string>(argv + 1, argv + argc), spec);
  if (print_help_if_asked(flags, spec,
                          "flashnas-worker --roles evaluate,latency,search_step,fit_latency_model,export [flags]")) {
    return 0;
  }
  flashnas::setup_logging(flags.get("log-format").value_or("text"),
                                  flags.get("log-level").value_or(flags.has("verbose") ? "info" : "warn"),
                                  "flashnas-worker");

  flashnas::worker::WorkerOptions o;
  o.database_url = flashnas::store::database_url(flags.get("database"));
  for (const std::string& role : split_commas(flags.require("roles"))) {
    o.roles.push_back(flashnas::store::parse_enum_or_throw<flashnas::store::TaskKind>(role, "--roles"));
  }
  o.concurrency = static_cast<int>(flags.integer("concurrency", 1, 1, 256));
  o.worker_id = flags.get("worker-id").value_or("");
  o.queue.lease_seconds = flags.number("lease-seconds", 60, 1, 86400);
  o.heartbeat_seconds = flags.number("heartbeat-seconds", 10, 0.1, 43200);
  o.rescue_seconds = flags.number("rescue-seconds", 15, 0, 86400);
  o.poll_seconds = flags.number("poll-seconds", 2, 0.05, 3600);
  o.grace_seconds = flags.number("grace-seconds", 30, 0, 86400);

  flashnas::worker::HandlerRegistry handlers;
  flashnas::worker::EngineHandlerOptions engine;
  engine.storage_dir = flashnas::app::storage_dir(flags.get("storage"));
  engine.calibration_cache_dir = flags.get("calibration-cache").value_or("");
  engine.threads = static_cast<int>(flags.integer("threads", 1, 1, 256));
  engine.latency_batch = static_cast<int>(flags.integer("latency-batch", 8, 1, 256));
  engine.heal_cache_bytes = flags.integer("heal-cache-mb", 1024, 0, int64_t{1} << 24) << 20;
  flashnas::worker::register_engine_handlers(handlers, engine);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts: they inherit it

  flashnas::worker::WorkerPool pool(o, handlers);
  pool.start();
  spdlog::warn("flashnas-worker {}: roles {}, concurrency {}", o.worker_id.empty() ? flashnas::worker::default_worker_id() : o.worker_id,
               flags.require("roles"), o.concurrency);
  const int sig = wait_for_stop_signal(signals);
  spdlog::warn("signal {}: stopping (grace {} s)", sig, o.grace_seconds);
  const bool clean = pool.shutdown();
  const auto s = pool.stats();
  spdlog::warn("stopped: {} claimed, {} succeeded, {} failed, {} lost", s.claimed, s.succeeded, s.failed, s.lost);
  spdlog::shutdown();
  if (!clean) std::_Exit(0);  // a handler is still computing; its task was released
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("flashnas-worker"));
  try {
    return run(argc, argv);
  } catch (const flashnas::InvalidInput& e) {
    std::fprintf(stderr, "flashnas-worker: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    // Through the logger, so a --log-format json process stays one JSON object per line.
    spdlog::critical("{}: error: {}", "flashnas-worker", e.what());
    return 1;
  }
}
