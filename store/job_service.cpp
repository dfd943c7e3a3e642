// The job service (see job_service.hpp): job, trial and task bookkeeping on top
// of the repositories. No SQL here.
#include "store/job_service.hpp"

#include <algorithm>
#include <cmath>

#include "engine/util/error.hpp"
#include "store/event_repository.hpp"
#include "store/job_repository.hpp"
#include "store/latency_repository.hpp"
#include "store/trial_repository.hpp"

namespace flashnas::store {
namespace {

using nlohmann::json;

bool task_state_is_terminal(const std::string& state) {
  return state == "succeeded" || state == "failed" || state == "dead" || state == "cancelled";
}

// result[key] as a finite number >= min (exclusive when `strict`), or nullopt when absent.
std::optional<double> result_number(const json& result, const char* key, bool required, double min, bool strict) {
  const auto it = result.find(key);
  if (it == result.end() || it->is_null()) {
    if (required) throw InvalidInput(std::string("the task result lacks ") + key, std::string("result.") + key);
    return std::nullopt;
  }
  if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < min ||
      (strict && it->get<double>() == min)) {
    throw InvalidInput(std::string("must be a finite number ") + (strict ? "> " : ">= ") + std::to_string(min),
                       std::string("result.") + key);
  }
  return it->get<double>();
}

std::optional<int64_t> result_integer(const json& result, const char* key, int64_t min) {
  const auto it = result.find(key);
  if (it == result.end() || it->is_null()) return std::nullopt;
  // Integral doubles (64.0) count as integers: engine figures may be computed in double.
  const bool integral = it->is_number_integer() ||
                        (it->is_number_float() && std::isfinite(it->get<double>()) &&
                         std::floor(it->get<double>()) == it->get<double>() && std::fabs(it->get<double>()) < 9e15);
  if (!integral || it->get<int64_t>() < min) {
    throw InvalidInput("must be an integer >= " + std::to_string(min), std::string("result.") + key);
  }
  return it->get<int64_t>();
}

json result_object(const json& result, const char* key) {
  const auto it = result.find(key);
  if (it == result.end() || it->is_null()) return json::object();
  if (!it->is_object()) throw InvalidInput("must be a JSON object", std::string("result.") + key);
  return *it;
}

// What a finished task reports, written into its trial:
//  evaluate: {"eval_nll" (required), "params", "non_embedding_params", "flops_per_token",
//             "kv_cache_bytes_per_token"}
//  latency:  {"prefill_ms" (required), "decode_ms_per_token", and, to keep the measurement,
//             "device_kind", "prompt_len", "decode_tokens", "prefill_spread", "decode_spread",
//             "samples", "environment", "arch" (full shape) and "arch_hash"}
void apply_result(pqxx::transaction_base& tx, const Task& task, const Trial& trial, const json& result) {
  TrialMetrics m;
  if (task.kind == "evaluate") {
    m.eval_nll = result_number(result, "eval_nll", true, 0, false);
    m.params = result_integer(result, "params", 1);
    m.non_embedding_params = result_integer(result, "non_embedding_params", 0);
    m.flops_per_token = result_number(result, "flops_per_token", false, 0, true);
    m.kv_cache_bytes_per_token = result_integer(result, "kv_cache_bytes_per_token", 0);
  } else if (task.kind == "latency") {
    m.prefill_ms = result_number(result, "prefill_ms", true, 0, true);
    m.decode_ms_per_token = result_number(result, "decode_ms_per_token", false, 0, true);
    if (result.contains("device_kind")) {
      LatencyMeasurement lm;
      if (!result["device_kind"].is_string()) throw InvalidInput("must be a string", "result.device_kind");
      lm.device_kind = result["device_kind"].get<std::string>();
      lm.arch = result.contains("arch") ? result_object(result, "arch") : trial.arch;
      lm.arch_hash = result.value("arch_hash", trial.arch_hash);
      const auto prompt_len = result_integer(result, "prompt_len", 1);
      if (!prompt_len) throw InvalidInput("the measurement lacks prompt_len", "result.prompt_len");
      lm.prompt_len = static_cast<int32_t>(std::min<int64_t>(*prompt_len, INT32_MAX));
      lm.decode_tokens = static_cast<int32_t>(std::min<int64_t>(result_integer(result, "decode_tokens", 0).value_or(0), INT32_MAX));
      lm.prefill_ms = *m.prefill_ms;
      lm.decode_ms_per_token = m.decode_ms_per_token;
      lm.prefill_spread = result_number(result, "prefill_spread", false, 0, false);
      lm.decode_spread = result_number(result, "decode_spread", false, 0, false);
      lm.samples = result_object(result, "samples");
      lm.environment = result_object(result, "environment");
      lm.job_id = task.job_id;
      lm.trial_id = task.trial_id;
      measurement_insert(tx, lm);
    }
  } else {
    return;  // other kinds report to their own tables
  }
  trial_set_metrics(tx, trial.id, m);
}

// A job whose trials are all settled: succeeded, or failed when every trial failed.
void settle_job(pqxx::transaction_base& tx, int64_t job_id) {
  const auto job = job_get_any_project(tx, job_id);
  if (!job || job_state_is_terminal(job->state)) return;
  const JobProgress& p = job->progress;
  if (p.pending + p.running > 0) return;
  if (p.total > 0 && p.failed == p.total) {
    const std::string error = "all " + std::to_string(p.total) + " trials failed";
    if (job_finish(tx, job_id, "failed", error)) event_append(tx, job_id, "job.failed", {{"error", error}});
  } else {
    if (job_finish(tx, job_id, "succeeded", std::nullopt)) {
      event_append(tx, job_id, "job.succeeded", {{"succeeded", p.succeeded}, {"failed", p.failed}});
    }
  }
}

// A trial whose tasks have all finished: failed (with every task's reason) if any
// task failed or died, else succeeded. Then maybe the job.
// The job row is locked first: two transactions finishing a job's last tasks
// would otherwise each see the other's task still running (read committed) and
// neither would settle the trial or the job. Behind the lock, the later one's
// reads see the earlier one's commit. (Job before trial, as the claim locks.)
void settle_trial(pqxx::transaction_base& tx, int64_t trial_id, int64_t job_id) {
  job_lock(tx, job_id);
  const auto tasks = task_list_for_trial(tx, trial_id);
  std::string errors;
  bool all_cancelled = !tasks.empty();
  for (const auto& t : tasks) {
    if (!task_state_is_terminal(t.state)) return;
    if (t.state == "failed" || t.state == "dead") {
      errors += (errors.empty() ? "" : "; ") + t.kind + ": " + t.last_error.value_or(t.state);
    }
    all_cancelled = all_cancelled && t.state == "cancelled";
  }
  if (!errors.empty()) {
    if (trial_finish(tx, trial_id, "failed", errors)) {
      event_append(tx, job_id, "trial.failed", {{"trial_id", trial_id}, {"error", errors}});
    }
  } else if (all_cancelled) {
    trial_finish(tx, trial_id, "cancelled", std::nullopt);
  } else if (trial_finish(tx, trial_id, "succeeded", std::nullopt)) {
    event_append(tx, job_id, "trial.succeeded", {{"trial_id", trial_id}});
  }
  settle_job(tx, job_id);
}

// Visit tasks in job order, so concurrent callers lock job rows in the same order.
std::vector<Task> by_job(std::vector<Task> tasks) {
  std::stable_sort(tasks.begin(), tasks.end(),
                   [](const Task& a, const Task& b) { return a.job_id.value_or(0) < b.job_id.value_or(0); });
  return tasks;
}

}  // namespace

SubmitResult submit_sweep(pqxx::transaction_base& tx, const SweepRequest& request, const QueueOptions& options) {
  if (request.candidates.empty()) throw InvalidInput("a sweep needs at least one candidate", "candidates");
  NewJob nj{request.project_id, "sweep", request.name, request.spec, request.idempotency_key, request.request_hash};
  auto inserted = job_insert(tx, nj);
  if (!inserted) {
    auto existing = job_find_by_key(tx, request.project_id, *request.idempotency_key);
    if (!existing) throw Error("idempotency key conflict without a visible job (retry the request)");
    return {*existing, false};
  }
  const int64_t job_id = inserted->id;
  int32_t ordinal = 0;
  for (const auto& c : request.candidates) {
    const auto trial = trial_insert(tx, job_id, ordinal, c.arch, c.arch_hash);
    if (!trial) continue;  // the same architecture twice: one trial
    ++ordinal;
    const json payload = {{"arch", c.arch}, {"arch_hash", c.arch_hash}};
    for (const char* kind : {"evaluate", "latency"}) {
      task_enqueue(tx, NewTask{kind, job_id, trial->id, payload, request.priority, options.default_max_attempts});
    }
  }
  event_append(tx, job_id, "job.created", {{"kind", "sweep"}, {"trials", ordinal}});
  return {*job_get_any_project(tx, job_id), true};
}

std::vector<Task> claim_tasks(pqxx::transaction_base& tx, const std::vector<std::string>& kinds,
                              const std::string& worker_id, const QueueOptions& options, int limit) {
  // One statement does the claim and the job/trial bookkeeping (task_queue.hpp).
  return task_claim_and_start(tx, kinds, worker_id, options.lease_seconds, limit);
}

bool complete_task(pqxx::transaction_base& tx, int64_t task_id, const std::string& token, const json& result) {
  const auto task = task_complete(tx, task_id, token, result);
  if (!task) return false;
  if (task->trial_id && task->job_id) {
    const auto trial = trial_get(tx, *task->trial_id);
    if (trial) apply_result(tx, *task, *trial, result);
    settle_trial(tx, *task->trial_id, *task->job_id);
  }
  return true;
}

std::optional<Task> fail_task(pqxx::transaction_base& tx, int64_t task_id, const std::string& token,
                              const std::string& error, Failure failure, const QueueOptions& options) {
  auto task = task_fail(tx, task_id, token, error, failure, options);
  if (!task || !task->job_id) return task;
  if (task->state == "available") {
    event_append(tx, *task->job_id, "task.retrying",
                 {{"task_id", task->id}, {"kind", task->kind}, {"attempts", task->attempts}, {"error", error}});
  } else if (task->trial_id) {
    settle_trial(tx, *task->trial_id, *task->job_id);
  }
  return task;
}

std::vector<Task> rescue_expired_tasks(pqxx::transaction_base& tx, const QueueOptions& options) {
  auto tasks = by_job(task_rescue_expired(tx, options));
  for (const auto& t : tasks) {
    if (!t.job_id) continue;
    event_append(tx, *t.job_id, t.state == "dead" ? "task.dead" : "task.lease_expired",
                 {{"task_id", t.id}, {"kind", t.kind}, {"attempts", t.attempts}, {"error", t.last_error.value_or("")}});
    if (t.state == "dead" && t.trial_id) settle_trial(tx, *t.trial_id, *t.job_id);
  }
  return tasks;
}

std::optional<CancelResult> cancel_job(pqxx::transaction_base& tx, int64_t project_id, int64_t job_id) {
  const auto job = job_get(tx, project_id, job_id);
  if (!job) return std::nullopt;
  if (job_state_is_terminal(job->state)) return CancelResult{*job, false};
  const auto tasks = task_cancel_for_job(tx, job_id);  // tasks first: the lock order
  if (!job_finish(tx, job_id, "cancelled", std::nullopt)) {
    return CancelResult{*job_get(tx, project_id, job_id), false};  // it finished meanwhile
  }
  trial_cancel_for_job(tx, job_id);
  event_append(tx, job_id, "job.cancelled", {{"tasks_cancelled", tasks.size()}});
  return CancelResult{*job_get(tx, project_id, job_id), true};
}

}  // namespace flashnas::store
