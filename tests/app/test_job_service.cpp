// The job service against a real database: sweep submission (dedup by arch
// hash, idempotency keys, also concurrent), a job's life through its tasks,
// failed trials that do not fail the job, cancellation, project scoping.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "app/job_service.hpp"
#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"
#include "store/store.hpp"
#include "tests/support/job_fixtures.hpp"
#include "tests/support/test_db.hpp"

namespace flashnas {
namespace {

using nlohmann::json;
using store::Failure;
using store::QueueOptions;

store::JobFilter filter_for(int64_t project_id) {
  store::JobFilter f;
  f.project_id = project_id;
  return f;
}

class JobService : public test::DbConnectionTest {
 protected:
  void SetUp() override {
    DbConnectionTest::SetUp();
    project_ = in_tx([](pqxx::work& tx) { return store::project_ensure(tx, "alpha").id; });
    other_project_ = in_tx([](pqxx::work& tx) { return store::project_ensure(tx, "beta").id; });
  }
  app::SubmitResult submit_to(pqxx::transaction_base& tx, int64_t project, const std::vector<int>& layer_counts,
                              std::optional<std::string> key = std::nullopt) {
    return app::submit_job(tx, project, test::sweep_job(layer_counts), {key, std::nullopt, 0}, opts_);
  }
  store::Job submit(const std::vector<int>& layer_counts) {
    return in_tx([&](pqxx::work& tx) { return submit_to(tx, project_, layer_counts).job; });
  }
  std::vector<store::Task> claim(store::TaskKind kind, int limit = 100) {
    return in_tx([&](pqxx::work& tx) {
      return app::claim_tasks(tx, {{kind}, "test", opts_.lease_seconds, limit, std::nullopt});
    });
  }
  store::Job job(int64_t id) {
    return *in_tx([&](pqxx::work& tx) { return store::job_get(tx, project_, id); });
  }
  std::vector<store::Trial> trials(int64_t job_id, int64_t after = 0) {
    return in_tx([&](pqxx::work& tx) { return store::trial_list(tx, project_, job_id, after, 100); });
  }
  std::vector<std::string> event_kinds(int64_t job_id) {
    std::vector<std::string> kinds;
    for (const auto& e : in_tx([&](pqxx::work& tx) { return store::event_list(tx, project_, job_id, 0, 100); })) {
      kinds.push_back(e.kind);
    }
    return kinds;
  }
  bool complete(const store::Task& t, const app::TaskResult& result) {
    return in_tx([&](pqxx::work& tx) { return app::complete_task(tx, t, *t.lease_token, result, opts_); });
  }
  const app::TaskResult kEval = test::eval_result();
  const app::TaskResult kLatency = test::latency_result();

  int64_t project_ = 0, other_project_ = 0;
  QueueOptions opts_;
};

TEST_F(JobService, ASweepHasOneTrialPerDistinctArchitectureWithTwoTasksEach) {
  const auto j = submit({1, 2, 1, 3});
  EXPECT_EQ(store::name_of(j.state), "queued");
  EXPECT_EQ(j.progress.total, 3);
  EXPECT_EQ(j.progress.pending, 3);
  const auto ts = trials(j.id);
  ASSERT_EQ(ts.size(), 3u);
  std::set<int32_t> ordinals;
  for (const auto& t : ts) ordinals.insert(t.ordinal);
  EXPECT_EQ(ordinals, (std::set<int32_t>{0, 1, 2}));
  const auto counts = in_tx([&](pqxx::work& tx) {
    return tx.exec_params1("SELECT count(*) FILTER (WHERE kind = 'evaluate'), count(*) FILTER (WHERE kind = 'latency') "
                           "FROM tasks WHERE job_id = $1", j.id);
  });
  EXPECT_EQ(counts[0].as<int>(), 3);
  EXPECT_EQ(counts[1].as<int>(), 3);
  EXPECT_EQ(event_kinds(j.id), std::vector<std::string>{"job.created"});
}

TEST_F(JobService, AnIdempotencyKeyReturnsTheFirstJob) {
  const auto first = in_tx([&](pqxx::work& tx) { return submit_to(tx, project_, {1, 2}, "key-1"); });
  const auto again = in_tx([&](pqxx::work& tx) { return submit_to(tx, project_, {1, 2}, "key-1"); });
  EXPECT_TRUE(first.created);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.job.id, first.job.id);
  // Another project may use the same key.
  const auto theirs = in_tx([&](pqxx::work& tx) { return submit_to(tx, other_project_, {1}, "key-1"); });
  EXPECT_TRUE(theirs.created);
  EXPECT_EQ(in_tx([&](pqxx::work& tx) { return tx.exec1("SELECT count(*) FROM tasks")[0].as<int>(); }), 6);
}

TEST_F(JobService, ConcurrentSubmissionsWithOneKeyCreateOneJob) {
  constexpr int kClients = 6;
  std::mutex mu;
  std::set<int64_t> ids;
  int created = 0;
  std::vector<std::string> errors;
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      try {
        auto conn = db_->connect();
        pqxx::work tx(*conn);
        const auto r = submit_to(tx, project_, {1, 2, 3}, "same-key");
        tx.commit();
        std::lock_guard<std::mutex> lock(mu);
        ids.insert(r.job.id);
        created += r.created;
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu);
        errors.push_back(e.what());
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(created, 1);
  EXPECT_EQ(in_tx([&](pqxx::work& tx) { return tx.exec1("SELECT count(*) FROM trials")[0].as<int>(); }), 3);
}

TEST_F(JobService, AJobRunsWhenClaimedAndSucceedsWhenEveryTrialIsDone) {
  const auto j = submit({1, 2});
  const auto evals = claim(store::TaskKind::evaluate);
  ASSERT_EQ(evals.size(), 2u);
  EXPECT_EQ(store::name_of(job(j.id).state), "running");
  EXPECT_TRUE(job(j.id).started_at.has_value());
  for (const auto& t : evals) ASSERT_TRUE(complete(t, kEval));
  EXPECT_EQ(job(j.id).progress.running, 2) << "a trial finished before its latency task";
  const int64_t seen = trials(j.id).back().seq;
  const auto lats = claim(store::TaskKind::latency);
  ASSERT_EQ(lats.size(), 2u);
  ASSERT_TRUE(complete(lats[0], kLatency));
  // Only the changed trial comes after `seen`.
  const auto changed = trials(j.id, seen);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].id, *lats[0].trial_id);
  EXPECT_EQ(store::name_of(changed[0].state), "succeeded");
  EXPECT_DOUBLE_EQ(*changed[0].metrics.eval_nll, 2.5);
  EXPECT_EQ(*changed[0].metrics.params, 1000);
  EXPECT_DOUBLE_EQ(*changed[0].metrics.prefill_ms, 3.0);
  EXPECT_DOUBLE_EQ(*changed[0].metrics.decode_ms_per_token, 0.5);
  EXPECT_EQ(store::name_of(job(j.id).state), "running");
  ASSERT_TRUE(complete(lats[1], kLatency));
  const auto done = job(j.id);
  EXPECT_EQ(store::name_of(done.state), "succeeded");
  EXPECT_EQ(done.progress.succeeded, 2);
  EXPECT_TRUE(done.finished_at.has_value());
  const auto measurements = in_tx([&](pqxx::work& tx) { return store::measurement_list_for_job(tx, j.id); });
  ASSERT_EQ(measurements.size(), 2u);
  EXPECT_EQ(measurements[0].device_kind, "local-cpu");
  EXPECT_EQ(measurements[0].prompt_len, 32);
  EXPECT_EQ(event_kinds(j.id), (std::vector<std::string>{"job.created", "job.running", "trial.succeeded",
                                                         "frontier.updated", "trial.succeeded", "frontier.updated",
                                                         "job.succeeded"}));
}

// A trial's two tasks ending at once, in two transactions (one fails, which
// locks no trial row; one completes): the second waits for the first to commit,
// then settles the trial and the job. Without the job lock each saw the other
// task still running and the job stayed running for ever.
TEST_F(JobService, TasksEndingConcurrentlyStillSettleTheJob) {
  const auto j = submit({1});
  const auto evals = claim(store::TaskKind::evaluate);
  const auto lats = claim(store::TaskKind::latency);
  ASSERT_EQ(evals.size(), 1u);
  ASSERT_EQ(lats.size(), 1u);
  auto first_conn = db_->connect();
  pqxx::work first(*first_conn);
  ASSERT_TRUE(app::fail_task(first, evals[0].id, *evals[0].lease_token, "unsupported",
                               Failure::permanent, opts_));
  std::thread second([&] { EXPECT_TRUE(complete(lats[0], kLatency)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the second is now inside
  first.commit();
  second.join();
  EXPECT_EQ(store::name_of(trials(j.id).at(0).state), "failed");
  EXPECT_EQ(store::name_of(job(j.id).state), "failed");
}

TEST_F(JobService, AFailedTrialKeepsItsReasonAndDoesNotFailTheJob) {
  const auto j = submit({1, 2});
  const auto evals = claim(store::TaskKind::evaluate);
  in_tx([&](pqxx::work& tx) {
    app::fail_task(tx, evals[0].id, *evals[0].lease_token, "d_model exceeds the backbone", Failure::permanent, opts_);
  });
  ASSERT_TRUE(complete(evals[1], kEval));
  for (const auto& t : claim(store::TaskKind::latency)) ASSERT_TRUE(complete(t, kLatency));
  const auto done = job(j.id);
  EXPECT_EQ(store::name_of(done.state), "succeeded");
  EXPECT_EQ(done.progress.failed, 1);
  EXPECT_EQ(done.progress.succeeded, 1);
  for (const auto& t : trials(j.id)) {
    if (t.id == *evals[0].trial_id) {
      EXPECT_EQ(store::name_of(t.state), "failed");
      EXPECT_NE(t.error->find("evaluate: d_model exceeds the backbone"), std::string::npos);
    }
  }
}

TEST_F(JobService, AJobFailsWhenEveryTrialFailed) {
  const auto j = submit({1});
  const auto e = claim(store::TaskKind::evaluate).at(0);
  const auto l = claim(store::TaskKind::latency).at(0);
  in_tx([&](pqxx::work& tx) { app::fail_task(tx, e.id, *e.lease_token, "unsupported", Failure::permanent, opts_); });
  in_tx([&](pqxx::work& tx) { app::fail_task(tx, l.id, *l.lease_token, "unsupported", Failure::permanent, opts_); });
  const auto done = job(j.id);
  EXPECT_EQ(store::name_of(done.state), "failed");
  EXPECT_EQ(done.error, "all 1 trials failed");
}

TEST_F(JobService, TasksThatDieFailTheirTrial) {
  opts_.default_max_attempts = 1;
  const auto j = submit({1});
  opts_.lease_seconds = 0.1;
  claim(store::TaskKind::evaluate);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto rescued = in_tx([&](pqxx::work& tx) { return app::rescue_expired_tasks(tx, opts_); });
  ASSERT_EQ(rescued.size(), 1u);
  EXPECT_EQ(store::name_of(rescued[0].state), "dead");
  opts_.lease_seconds = 30;
  for (const auto& t : claim(store::TaskKind::latency)) ASSERT_TRUE(complete(t, kLatency));
  const auto t = trials(j.id).at(0);
  EXPECT_EQ(store::name_of(t.state), "failed");
  EXPECT_NE(t.error->find("lease expired"), std::string::npos);
  EXPECT_EQ(store::name_of(job(j.id).state), "failed");
}

TEST_F(JobService, AResultThatDoesNotFitItsTaskIsRefusedAndChangesNothing) {
  const auto j = submit({1});
  const auto e = claim(store::TaskKind::evaluate).at(0);
  EXPECT_THROW(complete(e, kLatency), InvalidInput);  // another kind's result
  EXPECT_THROW(complete(e, test::eval_result(std::nan(""))), InvalidInput);
  EXPECT_THROW(complete(e, test::eval_result(-1.0)), InvalidInput);
  const auto task = in_tx([&](pqxx::work& tx) { return store::task_get(tx, e.id); });
  EXPECT_EQ(task->state, store::TaskState::running);
  EXPECT_TRUE(complete(e, kEval));
}

TEST_F(JobService, CancelStopsQueuedAndRunningWork) {
  const auto j = submit({1, 2});
  const auto running = claim(store::TaskKind::evaluate, 1).at(0);
  const auto result = in_tx([&](pqxx::work& tx) { return app::cancel_job(tx, project_, j.id); });
  ASSERT_TRUE(result.has_value());
  EXPECT_TRUE(result->changed);
  EXPECT_EQ(store::name_of(result->job.state), "cancelled");
  EXPECT_EQ(result->job.progress.cancelled, 2);
  EXPECT_TRUE(claim(store::TaskKind::evaluate).empty());
  EXPECT_TRUE(claim(store::TaskKind::latency).empty());
  EXPECT_FALSE(in_tx([&](pqxx::work& tx) { return store::task_heartbeat(tx, running.id, *running.lease_token, 30); }));
  EXPECT_FALSE(complete(running, kEval));
  EXPECT_EQ(store::name_of(job(j.id).state), "cancelled");
  // Cancelling again, or from another project, changes nothing.
  EXPECT_FALSE(in_tx([&](pqxx::work& tx) { return app::cancel_job(tx, project_, j.id); })->changed);
  EXPECT_FALSE(in_tx([&](pqxx::work& tx) { return app::cancel_job(tx, other_project_, j.id); }).has_value());
  EXPECT_EQ(event_kinds(j.id).back(), "job.cancelled");
}

TEST_F(JobService, AnotherProjectSeesNothing) {
  const auto j = submit({1});
  in_tx([&](pqxx::work& tx) {
    EXPECT_FALSE(store::job_get(tx, other_project_, j.id).has_value());
    EXPECT_TRUE(store::trial_list(tx, other_project_, j.id, 0, 10).empty());
    EXPECT_TRUE(store::event_list(tx, other_project_, j.id, 0, 10).empty());
    EXPECT_TRUE(store::job_list(tx, filter_for(other_project_)).empty());
  });
}

TEST_F(JobService, ListingFiltersAndPagesNewestFirst) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(submit({i + 1}).id);
  claim(store::TaskKind::evaluate, 1);  // the oldest job starts running
  store::JobFilter f = filter_for(project_);
  f.limit = 2;
  const auto page1 = in_tx([&](pqxx::work& tx) { return store::job_list(tx, f); });
  ASSERT_EQ(page1.size(), 2u);
  EXPECT_EQ(page1[0].id, ids[4]);
  EXPECT_EQ(page1[1].id, ids[3]);
  f.before_id = page1.back().id;
  const auto page2 = in_tx([&](pqxx::work& tx) { return store::job_list(tx, f); });
  ASSERT_EQ(page2.size(), 2u);
  EXPECT_EQ(page2[0].id, ids[2]);
  store::JobFilter running = filter_for(project_);
  running.state = store::JobState::running;
  const auto r = in_tx([&](pqxx::work& tx) { return store::job_list(tx, running); });
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].id, ids[0]);
  store::JobFilter bad = filter_for(project_);
  bad.limit = 0;
  EXPECT_THROW(in_tx([&](pqxx::work& tx) { return store::job_list(tx, bad); }), InvalidInput);
}

TEST_F(JobService, FrontiersAreVersioned) {
  const auto j = submit({1});
  in_tx([&](pqxx::work& tx) {
    EXPECT_EQ(store::frontier_insert(tx, j.id, json::array({1})).version, 1);
    EXPECT_EQ(store::frontier_insert(tx, j.id, json::array({1, 2})).version, 2);
    EXPECT_EQ(store::frontier_latest(tx, j.id)->points.size(), 2u);
  });
}

}  // namespace
}  // namespace flashnas
