// The worker loop against a real database, with test handlers standing in for
// the engine: a sweep runs to completion exactly once per task, handler errors
// become failed trials, a cancelled job stops its running handler, a task
// abandoned by a dead worker is rescued and finished, and shutdown releases
// what is still held.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "app/job_service.hpp"
#include "engine/util/error.hpp"
#include "store/store.hpp"
#include "tests/support/job_fixtures.hpp"
#include "tests/support/test_db.hpp"
#include "workers/worker_pool.hpp"

namespace flashnas {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

class WorkerPoolTest : public test::DbConnectionTest {
 protected:
  void SetUp() override {
    DbConnectionTest::SetUp();
    project_ = in_tx([](pqxx::work& tx) { return store::project_ensure(tx, "p").id; });
    options_.database_url = db_->url();
    options_.roles = {store::TaskKind::evaluate, store::TaskKind::latency};
    options_.concurrency = 3;
    options_.worker_id = "test";
    options_.queue.lease_seconds = 2;
    options_.queue.backoff_base_seconds = 0;
    options_.heartbeat_seconds = 0.2;
    options_.rescue_seconds = 0.2;
    options_.poll_seconds = 0.1;
    options_.grace_seconds = 5;
  }
  // A sweep of candidates with 1..n_trials layers.
  int64_t submit(int n_trials) {
    std::vector<int> layers;
    for (int i = 1; i <= n_trials; ++i) layers.push_back(i);
    return submit_layers(layers);
  }
  int64_t submit_layers(const std::vector<int>& layers) {
    return in_tx([&](pqxx::work& tx) {
      return app::submit_job(tx, project_, test::sweep_job(layers), {}, store::QueueOptions{}).job.id;
    });
  }
  store::Job job(int64_t id) {
    return *in_tx([&](pqxx::work& tx) { return store::job_get(tx, project_, id); });
  }
  bool wait_until(const std::function<bool()>& done, double seconds = 20) {
    const auto until = Clock::now() + std::chrono::milliseconds(static_cast<int>(seconds * 1000));
    while (Clock::now() < until) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return done();
  }
  // Handlers that report what the job service expects, from the arch in the payload;
  // latency tasks are taken in batches of up to 4 (as the engine's are).
  void register_fake_engine(worker::HandlerRegistry& h) {
    h.add(store::TaskKind::evaluate, [](worker::TaskContext& ctx) {
      const int layers = ctx.task().payload.at("arch").at("n_layers").get<int>();
      if (layers == 9) throw InvalidInput("the kept layers cannot supply this width", "arch.d_ffn[0]");
      app::EvaluateResult r = test::eval_result(1.0 + layers);
      r.params = 100 * layers;
      return std::vector<app::TaskResult>{r};
    });
    h.add(
        store::TaskKind::latency,
        [this](worker::TaskContext& ctx) {
          batch_sizes_.push_back(static_cast<int>(ctx.tasks.size()));
          std::vector<app::TaskResult> out;
          for (const auto& t : ctx.tasks) {
            const int layers = t.payload.at("arch").at("n_layers").get<int>();
            out.push_back(test::latency_result(0.5 * layers, 0.1 * layers));
          }
          return out;
        },
        4);
  }

  int64_t project_ = 0;
  worker::WorkerOptions options_;
  std::vector<int> batch_sizes_;  // of the fake latency handler's calls (one thread at a time below)
};

TEST_F(WorkerPoolTest, RunsASweepToCompletionOncePerTask) {
  worker::HandlerRegistry handlers;
  register_fake_engine(handlers);
  const int64_t id = submit(8);
  worker::WorkerPool pool(options_, handlers);
  pool.start();
  ASSERT_TRUE(wait_until([&] { return job(id).state == store::JobState::succeeded; })) << store::name_of(job(id).state);
  EXPECT_TRUE(pool.shutdown());
  EXPECT_EQ(pool.stats().succeeded, 16);
  EXPECT_EQ(pool.stats().lost, 0);
  const auto trials = in_tx([&](pqxx::work& tx) { return store::trial_list_all(tx, id); });
  ASSERT_EQ(trials.size(), 8u);
  for (const auto& t : trials) {
    const int layers = t.arch.at("n_layers").get<int>();
    EXPECT_DOUBLE_EQ(*t.metrics.eval_nll, 1.0 + layers);
    EXPECT_DOUBLE_EQ(*t.metrics.prefill_ms, 0.5 * layers);
  }
  EXPECT_EQ(in_tx([&](pqxx::work& tx) { return tx.exec1("SELECT max(attempts) FROM tasks")[0].as<int>(); }), 1);
}

// With one worker thread, the latency tasks of a job are claimed and measured
// four at a time, and each lands on its own trial.
TEST_F(WorkerPoolTest, LatencyTasksOfOneJobAreClaimedInBatches) {
  worker::HandlerRegistry handlers;
  register_fake_engine(handlers);
  options_.concurrency = 1;
  options_.roles = {store::TaskKind::latency};
  const int64_t id = submit(10);
  worker::WorkerPool pool(options_, handlers);
  pool.start();
  ASSERT_TRUE(wait_until([&] {
    return in_tx([&](pqxx::work& tx) {
      return tx.exec_params1("SELECT count(*) FROM tasks WHERE job_id = $1 AND kind = 'latency' AND state = 'succeeded'",
                             id)[0].as<int>();
    }) == 10;
  }));
  EXPECT_TRUE(pool.shutdown());
  EXPECT_EQ(batch_sizes_, (std::vector<int>{4, 4, 2}));
  for (const auto& t : in_tx([&](pqxx::work& tx) { return store::trial_list_all(tx, id); })) {
    EXPECT_DOUBLE_EQ(*t.metrics.prefill_ms, 0.5 * t.arch.at("n_layers").get<int>());
  }
}

TEST_F(WorkerPoolTest, InvalidInputFailsTheTrialNotTheJob) {
  worker::HandlerRegistry handlers;
  register_fake_engine(handlers);
  const int64_t id = submit_layers({1, 9});
  worker::WorkerPool pool(options_, handlers);
  pool.start();
  ASSERT_TRUE(wait_until([&] { return job(id).state == store::JobState::succeeded; })) << store::name_of(job(id).state);
  pool.shutdown();
  for (const auto& t : in_tx([&](pqxx::work& tx) { return store::trial_list_all(tx, id); })) {
    if (t.arch.at("n_layers") == 9) {
      EXPECT_EQ(t.state, store::TrialState::failed);
      EXPECT_NE(t.error->find("arch.d_ffn[0]: the kept layers cannot supply this width"), std::string::npos) << *t.error;
    } else {
      EXPECT_EQ(t.state, store::TrialState::succeeded);
    }
  }
  // Not retried: bad input stays bad.
  EXPECT_EQ(in_tx([&](pqxx::work& tx) { return tx.exec1("SELECT max(attempts) FROM tasks")[0].as<int>(); }), 1);
}

// An unexpected failure reaches clients (through the trial) as a public message
// with an error id; the raw text (here a database-looking message) stays in the log.
TEST_F(WorkerPoolTest, UnexpectedErrorsReachTheTrialAsAnErrorIdOnly) {
  worker::HandlerRegistry handlers;
  handlers.add(store::TaskKind::evaluate, [](worker::TaskContext&) -> std::vector<app::TaskResult> {
    throw std::runtime_error("ERROR:  relation \"calibration_cache\" does not exist (engine.cpp:42)");
  });
  options_.roles = {store::TaskKind::evaluate};
  options_.concurrency = 1;
  options_.queue.default_max_attempts = 1;
  const int64_t id = submit(1);
  worker::WorkerPool pool(options_, handlers);
  pool.start();
  ASSERT_TRUE(wait_until([&] {
    return in_tx([&](pqxx::work& tx) {
      return tx.exec_params1("SELECT count(*) FROM tasks WHERE job_id = $1 AND kind = 'evaluate' AND state = 'available'",
                             id)[0].as<int>();
    }) == 0;
  }));
  pool.shutdown();
  const auto task = in_tx([&](pqxx::work& tx) {
    return tx.exec_params1("SELECT last_error FROM tasks WHERE job_id = $1 AND kind = 'evaluate'", id)[0].as<std::string>();
  });
  EXPECT_EQ(task.find("relation"), std::string::npos) << task;
  EXPECT_EQ(task.rfind("internal error (id ", 0), 0u) << task;
}

TEST_F(WorkerPoolTest, CancellingAJobStopsItsRunningHandler) {
  std::atomic<int> started{0};
  worker::HandlerRegistry handlers;
  handlers.add(store::TaskKind::evaluate, [&](worker::TaskContext& ctx) {
    ++started;
    while (!ctx.should_stop()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return std::vector<app::TaskResult>{test::eval_result()};
  });
  options_.roles = {store::TaskKind::evaluate};
  options_.concurrency = 1;
  const int64_t id = submit(2);
  worker::WorkerPool pool(options_, handlers);
  pool.start();
  ASSERT_TRUE(wait_until([&] { return started == 1; }));
  in_tx([&](pqxx::work& tx) { app::cancel_job(tx, project_, id); });
  // The heartbeat notices the lost lease and the handler returns; its result is dropped.
  ASSERT_TRUE(wait_until([&] { return pool.stats().lost == 1; }));
  EXPECT_TRUE(pool.shutdown());
  EXPECT_EQ(started.load(), 1) << "a task of a cancelled job was started";
  EXPECT_EQ(store::name_of(job(id).state), "cancelled");
  EXPECT_EQ(in_tx([&](pqxx::work& tx) { return tx.exec1("SELECT count(*) FROM tasks WHERE result IS NOT NULL")[0].as<int>(); }), 0);
}

TEST_F(WorkerPoolTest, ATaskAbandonedByADeadWorkerIsRescuedAndFinishedOnce) {
  const int64_t id = submit(1);
  // A worker that claims the evaluate task and dies (never heartbeats).
  const auto abandoned = in_tx([&](pqxx::work& tx) {
    return app::claim_tasks(tx, {{store::TaskKind::evaluate}, "dead-worker", 0.3, 1, std::nullopt});
  });
  ASSERT_EQ(abandoned.size(), 1u);
  worker::HandlerRegistry handlers;
  register_fake_engine(handlers);
  worker::WorkerPool pool(options_, handlers);
  pool.start();
  ASSERT_TRUE(wait_until([&] { return job(id).state == store::JobState::succeeded; })) << store::name_of(job(id).state);
  pool.shutdown();
  // The dead worker's late result changes nothing.
  EXPECT_FALSE(in_tx([&](pqxx::work& tx) {
    return app::complete_task(tx, abandoned[0], *abandoned[0].lease_token, test::eval_result(100.0),
                              store::QueueOptions{});
  }));
  const auto t = in_tx([&](pqxx::work& tx) { return store::task_get(tx, abandoned[0].id); });
  EXPECT_EQ(t->attempts, 2);
  EXPECT_EQ(store::name_of(t->state), "succeeded");
  EXPECT_DOUBLE_EQ(in_tx([&](pqxx::work& tx) { return store::trial_list_all(tx, id); }).at(0).metrics.eval_nll.value(), 2.0);
}

TEST_F(WorkerPoolTest, ShutdownPastTheGracePeriodReleasesHeldTasks) {
  std::atomic<int> started{0};
  worker::HandlerRegistry handlers;
  handlers.add(store::TaskKind::latency, [&](worker::TaskContext& ctx) {
    ++started;
    while (!ctx.should_stop()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return std::vector<app::TaskResult>{test::latency_result()};
  });
  options_.roles = {store::TaskKind::latency};
  options_.concurrency = 2;
  options_.grace_seconds = 0.2;
  submit(2);
  worker::WorkerPool pool(options_, handlers);
  pool.start();
  ASSERT_TRUE(wait_until([&] { return started == 2; }));
  EXPECT_TRUE(pool.shutdown());
  const auto r = in_tx([&](pqxx::work& tx) {
    return tx.exec1("SELECT count(*) FILTER (WHERE state = 'available' AND attempts = 0), count(*) "
                    "FROM tasks WHERE kind = 'latency'");
  });
  EXPECT_EQ(r[0].as<int>(), 2) << "held tasks were not released untouched";
}

TEST_F(WorkerPoolTest, OptionsAreValidated) {
  worker::HandlerRegistry handlers;
  register_fake_engine(handlers);
  auto bad = options_;
  bad.roles = {store::TaskKind::export_checkpoint};
  EXPECT_THROW(worker::validate(bad, handlers), InvalidInput);
  bad = options_;
  bad.heartbeat_seconds = 1.5;  // more than half the 2 s lease
  EXPECT_THROW(worker::validate(bad, handlers), InvalidInput);
  EXPECT_THROW(handlers.add(store::TaskKind::evaluate,
                            [](worker::TaskContext&) { return std::vector<app::TaskResult>{}; }),
               InvalidInput);
}

}  // namespace
}  // namespace flashnas
