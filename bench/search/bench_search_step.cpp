// bench_search_step: the service's own time per search step of a search job
// with 200 completed trials, in a scratch PostgreSQL database. Prints one JSON
// object. Issue target: read state + fit + propose + write under 1 s.
//
// Set-up per problem (through the store repositories and the job service):
// a project; the stage-1 latency model (app/study_policy.hpp: Sobol design and
// held-out set, final fit) and its refit with the 200 trials' latencies, as the
// service holds it late in a job (stage 1's 100 points + 200 trial
// measurements); a search job submitted with that model (app::submit_job: the
// reference point and step 1); 200 succeeded trials with eval NLL and latency
// and batch - q pending ones; step 1 completed empty, so the job enqueues step 2,
// which is claimed. Then, per repeat:
//   read + propose: app::run_search_step (job, trials and latency model read in
//     one read transaction, then the policy: quality GP fit + qNEHVI for q);
//   write: app::complete_task in a transaction (new trials, their evaluate and
//     latency tasks, the event, the next-step bookkeeping), rolled back so every
//     repeat starts from the same state; the last repeat commits.
// The worker's engine cache keeps latency models by id, so the first repeat
// also parses the model's JSON (a cold step, once per refit); the others reuse it.
// Problems:
//   stories: bench_search_job's stories260K sub-space (E = 17 encoding dims), NLLs
//     and latencies from its table (run bench_search_job first);
//   mobile: bench/latency/space_mobile.json on shape_mobile.json (4..16 layers,
//     E = 39), synthetic NLL (the arch benchmark problem's loss) and latencies
//     (FLOPs and weight bytes at fixed rates, +-3% deterministic noise).
// Usage: bench_search_step [flags] (--help lists them)
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <fstream>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <unistd.h>
#include <unordered_set>
#include <vector>

#include "app/engine_cache.hpp"
#include "app/job_service.hpp"
#include "app/search_policy.hpp"
#include "app/study_policy.hpp"
#include "app/task_runners.hpp"
#include "bench/search/search_table.hpp"
#include "common/flags.hpp"
#include "engine/model/arch_cost.hpp"
#include "engine/search/benchmark_problems.hpp"
#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"
#include "store/database.hpp"
#include "store/job_repository.hpp"
#include "store/latency_repository.hpp"
#include "store/migrate.hpp"
#include "store/project_repository.hpp"
#include "store/trial_repository.hpp"

namespace {

using namespace flashnas;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Options {
  std::optional<std::string> database;
  std::string table_path = std::string(FLASHNAS_BINARY_DIR) + "/bench-search-job/table.json";
  int repeats = 7;
  std::vector<std::string> problems = {"stories", "mobile"};
  int64_t observations = 200, batch = 8;
  std::vector<int64_t> qs;  // empty: 1 and batch
};

// A database created on the cluster of `admin_url` for this run, migrated, and
// dropped at exit (tests/support/test_db.hpp does the same for the db tests).
class ScratchDatabase {
 public:
  explicit ScratchDatabase(std::string admin_url) : admin_url_(std::move(admin_url)) {
    static const std::regex uri(R"(^(postgres(?:ql)?://[^/?]*)(/[^?]*)?(\?.*)?$)");
    std::smatch m;
    if (!std::regex_match(admin_url_, m, uri)) throw InvalidInput("not a postgresql:// URL", "--database");
    name_ = fmt::format("flashnas_bench_step_{}", ::getpid());
    {
      pqxx::connection admin(admin_url_);
      pqxx::nontransaction tx(admin);
      tx.exec0("CREATE DATABASE " + tx.quote_name(name_));
    }
    url_ = m[1].str() + "/" + name_ + m[3].str();
    store::migrate(url_, std::string(FLASHNAS_SOURCE_DIR) + "/migrations");
  }
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;
  ~ScratchDatabase() {
    try {
      pqxx::connection admin(admin_url_);
      pqxx::nontransaction tx(admin);
      tx.exec0("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "could not drop %s: %s\n", name_.c_str(), e.what());
    }
  }
  const std::string& url() const { return url_; }

 private:
  std::string admin_url_, url_, name_;
};

// What the bench needs of a problem: the space, the backbone shape, and an
// architecture's NLL and measured latencies.
struct Problem {
  std::string name;
  search::ArchSpaceOptions space;
  latency::ModelShape shape;
  int64_t prompt_len = 64;
  std::function<double(const CandidateArch&)> nll;
  std::function<std::pair<double, double>(const CandidateArch&)> latency;  // ttft ms, decode ms/token
};

Problem stories_problem(const bench::SearchTable& table) {
  Problem p;
  p.name = "stories";
  p.space = search::arch_space_options_from_json(table.settings.at("space"));
  p.shape = bench::stories_shape();
  p.prompt_len = table.settings.at("latency").at("prompt_len").get<int64_t>();
  p.nll = [&table](const CandidateArch& a) { return table.at(a).eval_nll; };
  p.latency = [&table](const CandidateArch& a) {
    const bench::TableRow& r = table.at(a);
    return std::make_pair(r.ttft_ms, r.decode_ms_per_token);
  };
  return p;
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read " + path);
  return json::parse(in);
}

Problem mobile_problem() {
  Problem p;
  p.name = "mobile";
  const std::string dir = std::string(FLASHNAS_SOURCE_DIR) + "/bench/latency/";
  p.space = search::arch_space_options_from_json(read_json(dir + "space_mobile.json"));
  p.shape = latency::model_shape_from_json(read_json(dir + "shape_mobile.json"));
  p.prompt_len = 256;
  p.nll = [](const CandidateArch& a) { return search::ArchProblem::evaluate_arch(a)(0); };
  const latency::ModelShape shape = p.shape;
  const int64_t prompt = p.prompt_len;
  p.latency = [shape, prompt](const CandidateArch& a) {
    const ArchConfig c = latency::shape_to_config(shape, a);
    // +-3%, fixed per architecture: the first bytes of its hash.
    const double u = static_cast<double>(std::stoul(candidate_arch_hash(a).substr(0, 6), nullptr, 16)) / 16777215.0;
    const double noise = 1.0 + 0.06 * (u - 0.5);
    return std::make_pair(noise * (0.2 + prefill_flops(c, prompt) / 40e9 * 1e3),
                          noise * (0.05 + weight_bytes_per_decode_token(c) / 8e9 * 1e3));
  };
  return p;
}

app::SearchSpec search_spec(const Problem& p, int64_t batch) {
  app::SearchSpec spec;
  spec.evaluation.backbone = 1;  // ids of files the step never reads
  spec.evaluation.calibration = 2;
  spec.evaluation.eval = 3;
  spec.latency.options.prompt_len = p.prompt_len;
  spec.space = p.space;
  spec.stage2 = {app::kMaxSearchBudget, batch, 8};
  spec.seed = 1;
  return spec;
}

store::LatencyModelRecord model_record(int64_t project_id, const Problem& p, const app::FitResult& fit) {
  store::LatencyModelRecord m;
  m.project_id = project_id;
  m.device_kind = "local-cpu";
  m.prompt_len = static_cast<int32_t>(p.prompt_len);
  m.shape = latency::model_shape_to_json(p.shape);
  m.n_points = fit.n_points;
  m.base_model_id = fit.base_model_id;
  m.model = fit.model;
  m.accuracy = fit.accuracy;
  return m;
}

// Distinct valid architectures of the space, seeded.
std::vector<CandidateArch> sample_archs(const search::ArchSpace& space, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<CandidateArch> out;
  std::unordered_set<std::string> seen;
  for (int tries = 0; out.size() < n && tries < 100000; ++tries) {
    CandidateArch a = space.sample_arch(rng);
    if (seen.insert(candidate_arch_hash(a)).second) out.push_back(std::move(a));
  }
  FLASHNAS_CHECK(out.size() == n, "the space has fewer than {} architectures", n);
  return out;
}

json bench_problem(const std::string& url, const Problem& p, const Options& o, int64_t q) {
  const search::ArchSpace space(p.space);
  const app::SearchSpec spec = search_spec(p, o.batch);
  auto conn = store::open_connection(url);
  const store::QueueOptions queue;

  // Stage 1's model (100 Sobol points, 20 held out) and its refit with the trials.
  app::Stage1Spec stage1;
  stage1.samples = 100;
  stage1.holdout = 20;
  stage1.initial = 100;
  const app::StudyProblem study = app::make_study_problem(stage1, p.space, p.shape, spec.latency, spec.seed);
  std::vector<app::StudyMeasurement> measured;
  for (const app::LatencyPayload& t : app::study_initial_tasks(study)) {
    const auto [ttft, decode] = p.latency(t.arch);
    measured.push_back({t.arch, *t.phase, 0, ttft, decode});
  }
  const app::FitResult root_fit = app::study_final_fit(study, measured);
  const int64_t pending = o.batch - q;
  const std::vector<CandidateArch> archs =
      sample_archs(space, static_cast<size_t>(o.observations + pending), 1000 + static_cast<uint64_t>(q));
  std::vector<app::TrialMeasurement> trial_latencies;
  for (int64_t i = 0; i < o.observations; ++i) {
    const auto [ttft, decode] = p.latency(archs[static_cast<size_t>(i)]);
    trial_latencies.push_back({latency::shape_to_config(p.shape, archs[static_cast<size_t>(i)]), ttft, decode});
  }
  const auto root_model = latency::LatencyModel::from_json(root_fit.model);
  app::FitResult refit = app::refit_latency_model(root_model, p.shape, p.prompt_len, trial_latencies, space,
                                                  spec.latency.objective);

  store::Task task;
  std::string token;
  int64_t job_id = 0, latency_model_points = refit.n_points;
  store::in_transaction(*conn, [&](pqxx::work& tx) {
    const int64_t project = store::project_ensure(tx, "bench").id;
    const store::LatencyModelRecord root = store::latency_model_insert(tx, model_record(project, p, root_fit));
    app::SearchSpec s = spec;
    s.latency_model = root.id;
    app::BoundJob job;
    job.request = {fmt::format("bench-step-{}-q{}", p.name, q), s};
    job.shape = p.shape;
    const app::SubmitResult submitted = app::submit_job(tx, project, job, {}, queue);
    job_id = submitted.job.id;
    refit.base_model_id = root.id;
    const store::LatencyModelRecord current = store::latency_model_insert(tx, model_record(project, p, refit));
    store::job_set_latency_model(tx, job_id, current.id);
    for (int64_t i = 0; i < o.observations + pending; ++i) {
      const CandidateArch& a = archs[static_cast<size_t>(i)];
      const store::NewTrial t{candidate_arch_to_json(a), candidate_arch_hash(a),
                              i < 8 ? store::TrialSource::design : store::TrialSource::search,
                              static_cast<int32_t>(i < 8 ? 1 : i - 6), std::nullopt, std::nullopt, std::nullopt};
      const auto trial = store::trial_insert(tx, job_id, static_cast<int32_t>(i), t);
      FLASHNAS_CHECK(trial.has_value(), "trial {} not inserted", i);
      if (i >= o.observations) continue;  // pending: in flight
      store::TrialMetrics m;
      m.eval_nll = p.nll(a);
      m.prefill_ms = trial_latencies[static_cast<size_t>(i)].ttft_ms;
      m.decode_ms_per_token = trial_latencies[static_cast<size_t>(i)].decode_ms_per_token;
      store::trial_set_metrics(tx, trial->id, m);
      store::trial_finish(tx, trial->id, store::TrialState::succeeded, std::nullopt);
    }
  });
  // Step 1 lands empty: the job then enqueues step 2 (batch - pending in flight).
  auto claim = [&]() {
    pqxx::nontransaction tx(*conn);
    store::ClaimRequest request{{store::TaskKind::search_step}, "bench", 600, 1, job_id};
    auto tasks = app::claim_tasks(tx, request);
    FLASHNAS_CHECK(tasks.size() == 1, "no search step to claim");
    return tasks.front();
  };
  {
    const store::Task first = claim();
    store::in_transaction(*conn, [&](pqxx::work& tx) {
      app::complete_task(tx, first, *first.lease_token, app::SearchStepResult{}, queue);
    });
  }
  task = claim();
  token = *task.lease_token;
  FLASHNAS_CHECK(task.step == 2, "expected step 2, got {}", task.step.value_or(0));

  app::EngineCache cache("", "");
  std::vector<double> read_propose, read, write, total, policy, propose, cpu;
  json first_step;
  int64_t proposed = 0;
  for (int r = 0; r < o.repeats; ++r) {
    const double c0 = cpu_seconds();
    const auto t0 = Clock::now();
    const app::TaskResult result = app::run_search_step(*conn, task, cache);
    const double rp = seconds_since(t0);
    const auto& step = std::get<app::SearchStepResult>(result);
    FLASHNAS_CHECK(step.requested == q, "the step asked for {} proposals, expected {}", step.requested, q);
    const bool last = r + 1 == o.repeats;
    const auto t1 = Clock::now();
    {
      pqxx::work tx(*conn);
      FLASHNAS_CHECK(app::complete_task(tx, task, token, result, queue), "lost the step's lease");
      if (last) tx.commit();  // else rolled back: the next repeat sees the same state
    }
    const double w = seconds_since(t1);
    cpu.push_back(cpu_seconds() - c0);
    proposed = static_cast<int64_t>(step.proposals.size());
    const json row = {{"read_propose_s", rp}, {"write_s", w}, {"total_s", rp + w},
                      {"policy_s", step.total_seconds}, {"propose_s", step.propose_seconds}};
    if (r == 0) {
      first_step = row;  // cold: the latency model's JSON is parsed once per model id
      continue;
    }
    read_propose.push_back(rp);
    read.push_back(rp - step.total_seconds);
    write.push_back(w);
    total.push_back(rp + w);
    policy.push_back(step.total_seconds);
    propose.push_back(step.propose_seconds);
  }
  return {{"problem", p.name},
          {"encoding_dims", space.encoding_dims()},
          {"observations", o.observations},
          {"pending", pending},
          {"q", q},
          {"proposed", proposed},
          {"latency_model_points", latency_model_points},
          {"warm_repeats", read_propose.size()},
          {"median_read_propose_s", median(read_propose)},
          {"median_read_s", median(read)},
          {"median_policy_s", median(policy)},
          {"median_propose_s", median(propose)},
          {"median_write_s", median(write)},
          {"median_total_s", median(total)},
          {"median_cpu_s", median(cpu)},
          {"first_step", first_step},
          {"total_s", total}};
}

Options parse(int argc, char** argv) {
  static const std::vector<FlagSpec> spec = {
      {"database", true, "PostgreSQL URL of a cluster to create the scratch database on (default: as the service)"},
      {"table", true, "bench_search_job's table (the stories problem)"},
      {"repeats", true, "timed steps per problem and q (default 7)"},
      {"problems", true, "comma list of stories, mobile (default both)"},
      {"observations", true, "completed trials (default 200)"},
      {"batch", true, "trials in flight (default 8)"},
      {"q", true, "comma list of proposals per step (default 1 and the batch)"},
      {"help", false, "show this help"},
  };
  const Flags flags(std::vector<std::string>(argv + 1, argv + argc), spec);
  if (print_help_if_asked(flags, spec, "bench_search_step [flags]")) std::exit(0);
  Options o;
  o.database = flags.get("database");
  o.table_path = flags.get("table").value_or(o.table_path);
  o.repeats = static_cast<int>(flags.integer("repeats", o.repeats, 2, 1000));
  o.problems = flags.list("problems", o.problems);
  o.observations = flags.integer("observations", o.observations, 1, 100000);
  o.batch = flags.integer("batch", o.batch, 1, 64);
  o.qs = flags.integers("q", {}, 1, o.batch);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    spdlog::set_level(spdlog::level::warn);
    const ScratchDatabase db(store::database_url(o.database));
    std::optional<bench::SearchTable> table;
    json results = json::array();
    for (const std::string& name : o.problems) {
      std::optional<Problem> p;
      if (name == "stories") {
        if (!std::filesystem::exists(o.table_path)) {
          throw Error("no table at " + o.table_path + ": run bench_search_job first (or pass --table)");
        }
        table = bench::table_from_json(read_json(o.table_path));
        p = stories_problem(*table);
      } else if (name == "mobile") {
        p = mobile_problem();
      } else {
        throw InvalidInput("problems are stories and mobile, got " + name, "--problems");
      }
      for (int64_t q : o.qs.empty() ? std::vector<int64_t>{1, o.batch} : o.qs) {
        results.push_back(bench_problem(db.url(), *p, o, q));
        std::fprintf(stderr, "%s q=%lld: total %.3f s (read+propose %.3f, write %.3f)\n", name.c_str(),
                     static_cast<long long>(q), results.back().at("median_total_s").get<double>(),
                     results.back().at("median_read_propose_s").get<double>(),
                     results.back().at("median_write_s").get<double>());
      }
    }
    std::printf("%s\n", json({{"bench", "search_step"}, {"repeats", o.repeats}, {"results", results}}).dump(2).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_search_step: %s\n", e.what());
    return 1;
  }
  return 0;
}
