// The worker loop against a real database, with test handlers standing in for
// the engine: a sweep runs to completion exactly once per task, handler errors
// become failed trials, a cancelled job stops its running handler, a task
// abandoned by a dead worker is rescued and finished, and shutdown releases
// what is still held.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"
#include "store/store.hpp"
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
    options_.roles = {"evaluate", "latency"};
    options_.concurrency = 3;
    options_.worker_id = "test";
    options_.queue.lease_seconds = 2;
    options_.queue.backoff_base_seconds = 0;
    options_.heartbeat_seconds = 0.2;
    options_.rescue_seconds = 0.2;
    options_.poll_seconds = 0.1;
    options_.grace_seconds = 5;
  }
  int64_t submit(int n_trials) {
    store::SweepRequest r;
    r.project_id = project_;
    r.name = "sweep";
    for (int i = 0; i < n_trials; ++i) {
      const json arch = {{"n_layers", i + 1}};
      r.candidates.push_back({arch, sha256_hex(arch.dump())});
    }
    return in_tx([&](pqxx::work& tx) { return store::submit_sweep(tx, r, store::QueueOptions{}).job.id; });
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
  // Handlers that report what the job service expects, from the arch in the payload.
  void register_fake_engine(worker::HandlerRegistry& h) {
    h.add("evaluate", [](worker::TaskContext& ctx) {
      const int layers = ctx.task.payload.at("arch").at("n_layers").get<int>();
      if (layers == 99) throw InvalidInput("the backbone has fewer layers", "arch.n_layers");
      return json{{"eval_nll", 1.0 + layers}, {"params", 100 * layers}};
    });
    h.add("latency", [](worker::TaskContext& ctx) {
      const int layers = ctx.task.payload.at("arch").at("n_layers").get<int>();
      return json{{"prefill_ms", 0.5 * layers}, {"decode_ms_per_token", 0.1 * layers}};
    });
  }

  int64_t project_ = 0;
  worker::WorkerOptions options_;
};

TEST_F(WorkerPoolTest, RunsASweepToCompletionOncePerTask) {
  worker::HandlerRegistry handlers;
  register_fake_engine(handlers);
  const int64_t id = submit(8);
  worker::WorkerPool pool(options_, handlers);
  pool.start();
  ASSERT_TRUE(wait_until([&] { return job(id).state == "succeeded"; })) << job(id).state;
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

TEST_F(WorkerPoolTest, InvalidInputFailsTheTrialNotTheJob) {
  worker::HandlerRegistry handlers;
  register_fake_engine(handlers);
  store::SweepRequest r;
  r.project_id = project_;
  r.name = "mixed";
  for (int layers : {1, 99}) {
    const json arch = {{"n_layers", layers}};
    r.candidates.push_back({arch, sha256_hex(arch.dump())});
  }
  const int64_t id = in_tx([&](pqxx::work& tx) { return store::submit_sweep(tx, r, store::QueueOptions{}).job.id; });
  worker::WorkerPool pool(options_, handlers);
  pool.start();
  ASSERT_TRUE(wait_until([&] { return job(id).state == "succeeded"; })) << job(id).state;
  pool.shutdown();
  for (const auto& t : in_tx([&](pqxx::work& tx) { return store::trial_list_all(tx, id); })) {
    if (t.arch.at("n_layers") == 99) {
      EXPECT_EQ(t.state, "failed");
      EXPECT_NE(t.error->find("arch.n_layers: the backbone has fewer layers"), std::string::npos) << *t.error;
    } else {
      EXPECT_EQ(t.state, "succeeded");
    }
  }
  // Not retried: bad input stays bad.
  EXPECT_EQ(in_tx([&](pqxx::work& tx) { return tx.exec1("SELECT max(attempts) FROM tasks")[0].as<int>(); }), 1);
}

TEST_F(WorkerPoolTest, CancellingAJobStopsItsRunningHandler) {
  std::atomic<int> started{0};
  worker::HandlerRegistry handlers;
  handlers.add("evaluate", [&](worker::TaskContext& ctx) -> json {
    ++started;
    while (!ctx.should_stop()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return {{"eval_nll", 1.0}};
  });
  options_.roles = {"evaluate"};
  options_.concurrency = 1;
  const int64_t id = submit(2);
  worker::WorkerPool pool(options_, handlers);
  pool.start();
  ASSERT_TRUE(wait_until([&] { return started == 1; }));
  in_tx([&](pqxx::work& tx) { store::cancel_job(tx, project_, id); });
  // The heartbeat notices the lost lease and the handler returns; its result is dropped.
  ASSERT_TRUE(wait_until([&] { return pool.stats().lost == 1; }));
  EXPECT_TRUE(pool.shutdown());
  EXPECT_EQ(started.load(), 1) << "a task of a cancelled job was started";
  EXPECT_EQ(job(id).state, "cancelled");
  EXPECT_EQ(in_tx([&](pqxx::work& tx) { return tx.exec1("SELECT count(*) FROM tasks WHERE result IS NOT NULL")[0].as<int>(); }), 0);
}

TEST_F(WorkerPoolTest, ATaskAbandonedByADeadWorkerIsRescuedAndFinishedOnce) {
  const int64_t id = submit(1);
  // A worker that claims the evaluate task and dies (never heartbeats).
  const auto abandoned = in_tx([&](pqxx::work& tx) {
    store::QueueOptions q;
    q.lease_seconds = 0.3;
    return store::claim_tasks(tx, {"evaluate"}, "dead-worker", q, 1);
  });
  ASSERT_EQ(abandoned.size(), 1u);
  worker::HandlerRegistry handlers;
  register_fake_engine(handlers);
  worker::WorkerPool pool(options_, handlers);
  pool.start();
  ASSERT_TRUE(wait_until([&] { return job(id).state == "succeeded"; })) << job(id).state;
  pool.shutdown();
  // The dead worker's late result changes nothing.
  EXPECT_FALSE(in_tx([&](pqxx::work& tx) {
    return store::complete_task(tx, abandoned[0].id, *abandoned[0].lease_token, {{"eval_nll", 100.0}});
  }));
  const auto t = in_tx([&](pqxx::work& tx) { return store::task_get(tx, abandoned[0].id); });
  EXPECT_EQ(t->attempts, 2);
  EXPECT_EQ(t->state, "succeeded");
  EXPECT_DOUBLE_EQ(in_tx([&](pqxx::work& tx) { return store::trial_list_all(tx, id); }).at(0).metrics.eval_nll.value(), 2.0);
}

TEST_F(WorkerPoolTest, ShutdownPastTheGracePeriodReleasesHeldTasks) {
  std::atomic<int> started{0};
  worker::HandlerRegistry handlers;
  handlers.add("latency", [&](worker::TaskContext& ctx) -> json {
    ++started;
    while (!ctx.should_stop()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return {{"prefill_ms", 1.0}};
  });
  options_.roles = {"latency"};
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
  bad.roles = {"export"};
  EXPECT_THROW(worker::validate(bad, handlers), InvalidInput);
  bad = options_;
  bad.heartbeat_seconds = 1.5;  // more than half the 2 s lease
  EXPECT_THROW(worker::validate(bad, handlers), InvalidInput);
  EXPECT_THROW(handlers.add("evaluate", [](worker::TaskContext&) { return json::object(); }), InvalidInput);
}

}  // namespace
}  // namespace flashnas
