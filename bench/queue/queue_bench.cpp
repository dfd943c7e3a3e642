// bench_queue: empty tasks claimed and completed per second with 1, 2 and 4
// workers through the store (claim_tasks + complete_task, each its own
// statement in autocommit, exactly what flashnas-worker does per job-less task), next to pgbench
// running the same two statements from C as the ceiling. Prints JSON.
// Needs a running cluster (scripts/pg-start); works in a scratch database.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "common/flags.hpp"
#include "engine/util/error.hpp"
#include "store/statements.hpp"
#include "store/store.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// The store's own claim and complete statements (store/task_queue.cpp, taken from
// the store at run time so the ceiling runs exactly the same SQL), as a pgbench
// script for one empty task: the claim's parameters become literals, its final
// select returns just the id and token (\gset stores them), and the complete
// statement takes them as :task_id and :token (bound parameters under -M prepared).
std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

std::string store_sql(const char* name) {
  for (const auto& s : flashnas::store::task_statements()) {
    if (std::string(s.name) == name) return s.sql;
  }
  throw flashnas::Error(std::string("the store has no statement ") + name);
}

std::string pgbench_script() {
  std::string claim = store_sql("task_claim_and_start");
  const size_t tail = claim.rfind("SELECT id, kind::text");
  if (tail == std::string::npos) throw flashnas::Error("unexpected shape of task_claim_and_start");
  claim = claim.substr(0, tail) + "SELECT id AS task_id, lease_token AS token FROM claimed";
  claim = replace_all(claim, "$1", "'{evaluate}'");
  claim = replace_all(claim, "$2", "'pgbench'");
  claim = replace_all(claim, "$3", "60");
  claim = replace_all(claim, "$4", "1");
  std::string complete = store_sql("task_complete");
  complete = replace_all(complete, "$1", ":task_id");
  complete = replace_all(complete, "$2", ":token");
  complete = replace_all(complete, "$3", "'{}'");
  return claim + "\n\\gset\n" + complete + ";\n";
}

std::string url_with_database(const std::string& url, const std::string& dbname) {
  static const std::regex uri(R"(^(postgres(?:ql)?://[^/?]*)(/[^?]*)?(\?.*)?$)");
  std::smatch m;
  if (!std::regex_match(url, m, uri)) throw flashnas::InvalidInput("not a postgresql:// URL", "--database");
  return m[1].str() + "/" + dbname + m[3].str();
}

void exec(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  tx.exec0(sql);
}

// Empties the queue and fills it with n available empty tasks.
void seed(const std::string& url, int64_t n) {
  exec(url, "TRUNCATE tasks RESTART IDENTITY CASCADE");
  exec(url, "INSERT INTO tasks (kind) SELECT 'evaluate' FROM generate_series(1, " + std::to_string(n) + ")");
  exec(url, "VACUUM ANALYZE tasks");
}

double run_store(const std::string& url, int workers, int64_t n) {
  seed(url, n);
  std::atomic<int64_t> done{0};
  std::atomic<bool> failed{false};
  const flashnas::store::QueueOptions options;
  std::vector<std::unique_ptr<pqxx::connection>> conns;
  for (int w = 0; w < workers; ++w) conns.push_back(flashnas::store::open_connection(url));
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      pqxx::connection& conn = *conns[w];
      const std::string id = "bench/" + std::to_string(w);
      try {
        for (;;) {
          // As flashnas-worker (workers/worker_pool.cpp): the claim is one atomic
          // statement in autocommit; a job-less task completes in autocommit too.
          std::vector<flashnas::store::Task> tasks;
          {
            pqxx::nontransaction tx(conn);
            tasks = flashnas::store::task_claim_and_start(
                tx, {{flashnas::store::TaskKind::evaluate}, id, options.lease_seconds, 1, std::nullopt});
          }
          if (tasks.empty()) return;
          pqxx::nontransaction tx(conn);
          if (flashnas::store::task_complete(tx, tasks[0].id, *tasks[0].lease_token, json::object())) ++done;
        }
      } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_queue: worker %d: %s\n", w, e.what());
        failed = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (failed || done != n) throw flashnas::Error("store run completed " + std::to_string(done.load()) + " of " + std::to_string(n));
  return static_cast<double>(n) / seconds;
}

double run_pgbench(const std::string& pgbench, const std::string& url, int clients, int64_t n) {
  seed(url, n);
  const std::string script = "/tmp/flashnas_bench_queue_" + std::to_string(::getpid()) + ".sql";
  std::ofstream(script) << pgbench_script();
  // -n: no vacuum of pgbench's own tables; -M prepared like our named statements;
  // -t: every client runs its share, so each transaction finds an available task.
  const std::string cmd = pgbench + " -n -M prepared -c " + std::to_string(clients) + " -j " +
                          std::to_string(clients) + " -t " + std::to_string(n / clients) + " -f " + script +
                          " '" + url + "' 2>&1";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw flashnas::Error("cannot run " + pgbench);
  std::string out;
  char buf[4096];
  while (fgets(buf, sizeof(buf), pipe)) out += buf;
  const int status = pclose(pipe);
  std::remove(script.c_str());
  std::smatch m;
  static const std::regex tps(R"(tps = ([0-9.]+) \(without initial connection time\))");
  if (status != 0 || !std::regex_search(out, m, tps)) throw flashnas::Error("pgbench failed:\n" + out);
  return std::stod(m[1].str());
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

int run(int argc, char** argv) {
  using flashnas::FlagSpec;
  const std::vector<FlagSpec> spec = {
      {"database", true, "cluster URL (default $FLASHNAS_DATABASE_URL); a scratch database is created on it"},
      {"tasks", true, "tasks per run (default 20000)"},
      {"runs", true, "runs per configuration; the median is reported (default 3)"},
      {"pgbench", true, "pgbench binary (default /usr/lib/postgresql/15/bin/pgbench)"},
  };
  const flashnas::Flags flags(std::vector<std::string>(argv + 1, argv + argc), spec);
  const std::string admin_url = flashnas::store::database_url(flags.get("database"));
  const int64_t n = flags.integer("tasks", 20000, 100, 10000000);
  const int runs = static_cast<int>(flags.integer("runs", 3, 1, 100));
  const std::string pgbench = flags.get("pgbench").value_or("/usr/lib/postgresql/15/bin/pgbench");

  const std::string dbname = "flashnas_bench_queue_" + std::to_string(::getpid());
  exec(admin_url, "CREATE DATABASE " + dbname);
  const std::string url = url_with_database(admin_url, dbname);
  json results = json::array();
  try {
    flashnas::store::migrate(url, std::string(FLASHNAS_SOURCE_DIR) + "/migrations");
    for (int workers : {1, 2, 4}) {
      std::vector<double> store_rates, pgbench_rates;
      for (int r = 0; r < runs; ++r) {
        store_rates.push_back(run_store(url, workers, n));
        pgbench_rates.push_back(run_pgbench(pgbench, url, workers, n));
      }
      const double s = median(store_rates), p = median(pgbench_rates);
      results.push_back({{"workers", workers},
                         {"store_tasks_per_s", std::round(s)},
                         {"pgbench_tasks_per_s", std::round(p)},
                         {"ratio", std::round(1000 * s / p) / 1000},
                         {"store_runs", store_rates},
                         {"pgbench_runs", pgbench_rates}});
      std::fprintf(stderr, "workers %d: store %.0f tasks/s, pgbench %.0f tasks/s (%.2f)\n", workers, s, p, s / p);
    }
  } catch (...) {
    exec(admin_url, "DROP DATABASE IF EXISTS " + dbname + " WITH (FORCE)");
    throw;
  }
  exec(admin_url, "DROP DATABASE IF EXISTS " + dbname + " WITH (FORCE)");
  const json out = {{"benchmark", "queue_claim_complete"},
                    {"tasks_per_run", n},
                    {"runs", runs},
                    {"statistic", "median"},
                    {"target", "store >= 0.5 x pgbench"},
                    {"cpus", std::thread::hardware_concurrency()},
                    {"results", results}};
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_queue: error: %s\n", e.what());
    return 1;
  }
}
