// flashnas-agent: runs on a device (a phone, a Raspberry Pi, another server)
// and measures latency for the service over HTTP alone, with a device token
// from POST /v1/devices. SIGTERM/SIGINT: give back held tasks and exit 0.
#include <sched.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "agent/agent_loop.hpp"
#include "common/flags.hpp"
#include "common/log_setup.hpp"
#include "engine/util/error.hpp"

namespace {

using flashnas::FlagSpec;
using flashnas::Flags;
using flashnas::InvalidInput;

std::vector<int> parse_cpus(const std::string& text) {
  std::vector<int> cpus;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    char* end = nullptr;
    const long cpu = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || cpu < 0 || cpu >= CPU_SETSIZE) {
      throw InvalidInput("--pin takes CPU numbers separated by commas, e.g. 2 or 4,5", "--pin");
    }
    cpus.push_back(static_cast<int>(cpu));
  }
  return cpus;
}

// Every thread the agent starts (the engine's included) inherits this mask.
void pin_process(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) {
    throw InvalidInput("cannot run on the CPUs given (offline or not allowed here)", "--pin");
  }
}

int run(int argc, char** argv) {
  const std::vector<FlagSpec> spec = {
      {"server", true, "flashnas-server URL, e.g. http://10.0.0.2:8080"},
      {"ca-cert", true, "PEM file of the CA that signs an https server's certificate (default: the system's; "
                        "Android has none that OpenSSL finds)"},
      {"token", true, "device token from POST /v1/devices (default $FLASHNAS_DEVICE_TOKEN)"},
      {"threads", true, "engine threads per measurement, overriding the job's (this device's cores)"},
      {"pin", true, "CPUs to run on, comma-separated (e.g. 4,5,6,7 for a phone's big cores)"},
      {"batch", true, "tasks of one job measured together, interleaved (default 8)"},
      {"name", true, "this agent's name on claimed tasks (default host:pid)"},
      {"idle-seconds", true, "re-claim interval when there is no work (default 1)"},
      {"retry-seconds", true, "how long one lease call is retried while the server is unreachable (default 60)"},
      {"once", false, "measure one batch (or none if the queue is empty) and exit"},
      {"log-format", true, "text | json (default text)"},
      {"log-level", true, "trace | debug | info | warn | error (default info)"},
      {"help", false, "show this help"},
  };
  const Flags flags(std::vector<std::string>(argv + 1, argv + argc), spec);
  if (print_help_if_asked(flags, spec, "flashnas-agent --server URL --token TOKEN [flags]")) return 0;
  flashnas::setup_logging(flags.get("log-format").value_or("text"), flags.get("log-level").value_or("info"),
                          "flashnas-agent");
  flashnas::agent::AgentOptions o;
  o.client.server = flags.require("server");
  o.client.ca_cert = flags.get("ca-cert").value_or("");
  if (auto token = flags.get("token")) {
    o.client.key = *token;
  } else if (const char* env = std::getenv("FLASHNAS_DEVICE_TOKEN"); env && *env) {
    o.client.key = env;
  } else {
    throw InvalidInput("give the device token with --token or FLASHNAS_DEVICE_TOKEN", "--token");
  }
  o.client.retry_seconds = flags.number("retry-seconds", 60, 0, 86400);
  if (flags.has("threads")) o.threads = static_cast<int>(flags.integer("threads", 1, 1, 256));
  if (auto pin = flags.get("pin")) o.pin_cpus = parse_cpus(*pin);
  o.batch = static_cast<int>(flags.integer("batch", 8, 1, 64));
  o.idle_seconds = flags.number("idle-seconds", 1, 0.05, 3600);
  o.once = flags.has("once");
  char host[256] = "host";
  ::gethostname(host, sizeof host - 1);
  o.name = flags.get("name").value_or(std::string(host) + ":" + std::to_string(::getpid()));
  if (!o.pin_cpus.empty()) pin_process(o.pin_cpus);

  // Signals are taken by one thread with sigwait (no async-signal-safety
  // concerns); every other thread inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  flashnas::agent::StopFlag stop;
  std::thread([&signals, &stop] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("signal {}: giving back held tasks and stopping", sig);
    stop.request();
  }).detach();

  spdlog::info("agent {} serving {}", o.name, o.client.server);
  const int code = flashnas::agent::run_agent(o, stop);
  spdlog::shutdown();
  // A measurement left running after a stop cannot be joined: leave without
  // running destructors under it.
  std::fflush(nullptr);
  std::_Exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const flashnas::InvalidInput& e) {
    std::fprintf(stderr, "flashnas-agent: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flashnas-agent: %s\n", e.what());
    return 1;
  }
}
