// The task queue against a real database: leases, heartbeats, exactly-once
// completion, the rescuer, dead tasks, SKIP LOCKED under concurrent claimers, NOTIFY.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "engine/util/error.hpp"
#include "store/job_repository.hpp"
#include "store/project_repository.hpp"
#include "store/task_queue.hpp"
#include "tests/support/test_db.hpp"

namespace flashnas {
namespace {

using store::Failure;
using store::NewTask;
using store::QueueOptions;
using store::Task;

class TaskQueue : public test::DbConnectionTest {
 protected:
  void SetUp() override {
    DbConnectionTest::SetUp();
  }
  // Runs fn in its own committed transaction.
  int64_t enqueue(const std::string& kind, int max_attempts = 3, int priority = 0) {
    return in_tx([&](pqxx::work& tx) {
      NewTask t = plain(kind);
      t.max_attempts = max_attempts;
      t.priority = priority;
      return *store::task_enqueue(tx, t);
    });
  }
  std::vector<Task> claim(const std::vector<std::string>& kinds, double lease = 30, int limit = 1) {
    return in_tx([&](pqxx::work& tx) { return store::task_claim(tx, request(kinds, "test-worker", lease, limit)); });
  }
  static NewTask plain(const std::string& kind) {
    NewTask t;
    t.kind = store::parse_enum_or_throw<store::TaskKind>(kind, "kind");
    return t;
  }
  static store::ClaimRequest request(const std::vector<std::string>& kinds, const std::string& worker, double lease,
                                     int limit) {
    store::ClaimRequest r{{}, worker, lease, limit, std::nullopt};
    for (const auto& k : kinds) r.kinds.push_back(store::parse_enum_or_throw<store::TaskKind>(k, "kinds"));
    return r;
  }
  Task get(int64_t id) {
    return *in_tx([&](pqxx::work& tx) { return store::task_get(tx, id); });
  }
};


const std::string kForeignToken = "00000000-0000-4000-8000-000000000000";

TEST_F(TaskQueue, ClaimLeasesWithATokenAndCountsTheAttempt) {
  const int64_t id = enqueue("evaluate");
  EXPECT_TRUE(claim({"latency"}).empty()) << "a task of another kind was claimed";
  const auto claimed = claim({"evaluate", "latency"});
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].id, id);
  EXPECT_EQ(store::name_of(claimed[0].state), "running");
  EXPECT_EQ(claimed[0].attempts, 1);
  ASSERT_TRUE(claimed[0].lease_token.has_value());
  EXPECT_TRUE(claimed[0].lease_expires_at.has_value());
  EXPECT_TRUE(claim({"evaluate"}).empty()) << "a leased task was claimed twice";
}

TEST_F(TaskQueue, CompletionNeedsTheCurrentTokenAndLandsOnce) {
  const int64_t id = enqueue("latency");
  const auto t = claim({"latency"}).at(0);
  const std::string token = *t.lease_token;
  EXPECT_TRUE(in_tx([&](pqxx::work& tx) { return store::task_heartbeat(tx, id, token, 30); }));
  EXPECT_FALSE(in_tx([&](pqxx::work& tx) { return store::task_heartbeat(tx, id, kForeignToken, 30); }));
  EXPECT_FALSE(in_tx([&](pqxx::work& tx) { return store::task_complete(tx, id, kForeignToken, {{"x", 1}}); }));
  EXPECT_FALSE(in_tx([&](pqxx::work& tx) { return store::task_complete(tx, id, "not-a-uuid", {{"x", 1}}); }));
  const auto done = in_tx([&](pqxx::work& tx) { return store::task_complete(tx, id, token, {{"x", 1}}); });
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(store::name_of(done->state), "succeeded");
  EXPECT_EQ(done->result->at("x"), 1);
  EXPECT_FALSE(done->lease_token.has_value());
  // A second (late, duplicate) completion changes nothing.
  EXPECT_FALSE(in_tx([&](pqxx::work& tx) { return store::task_complete(tx, id, token, {{"x", 2}}); }));
  EXPECT_FALSE(in_tx([&](pqxx::work& tx) { return store::task_heartbeat(tx, id, token, 30); }));
  EXPECT_EQ(get(id).result->at("x"), 1);
}

TEST_F(TaskQueue, PriorityThenAgeDecideTheClaimOrder) {
  const int64_t low = enqueue("evaluate", 3, 0);
  const int64_t high = enqueue("evaluate", 3, 5);
  const int64_t low2 = enqueue("evaluate", 3, 0);
  const auto claimed = claim({"evaluate"}, 30, 3);
  ASSERT_EQ(claimed.size(), 3u);
  std::vector<int64_t> ids;
  for (const auto& t : claimed) ids.push_back(t.id);
  EXPECT_EQ(ids[0], high);
  // RETURNING order is not guaranteed; the set is.
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()), (std::set<int64_t>{low, high, low2}));
}

TEST_F(TaskQueue, AnExpiredLeaseIsRescuedAndReleasedWithANewToken) {
  const int64_t id = enqueue("evaluate", 3);
  const auto first = claim({"evaluate"}, /*lease=*/0.2).at(0);
  QueueOptions opts;
  opts.backoff_base_seconds = 0;  // retry immediately
  EXPECT_TRUE(in_tx([&](pqxx::work& tx) { return store::task_rescue_expired(tx, opts); }).empty())
      << "a live lease was rescued";
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const auto rescued = in_tx([&](pqxx::work& tx) { return store::task_rescue_expired(tx, opts); });
  ASSERT_EQ(rescued.size(), 1u);
  EXPECT_EQ(store::name_of(rescued[0].state), "available");
  EXPECT_NE(rescued[0].last_error->find("lease expired"), std::string::npos);
  const auto second = claim({"evaluate"}).at(0);
  EXPECT_EQ(second.id, id);
  EXPECT_EQ(second.attempts, 2);
  EXPECT_NE(*second.lease_token, *first.lease_token);
  // The first holder's late result is refused; the second lands.
  EXPECT_FALSE(in_tx([&](pqxx::work& tx) { return store::task_complete(tx, id, *first.lease_token, {{"who", 1}}); }));
  EXPECT_TRUE(in_tx([&](pqxx::work& tx) { return store::task_complete(tx, id, *second.lease_token, {{"who", 2}}); }));
  EXPECT_EQ(get(id).result->at("who"), 2);
}

TEST_F(TaskQueue, RetryableFailuresBackOffThenTheTaskDiesKeepingTheError) {
  const int64_t id = enqueue("latency", /*max_attempts=*/2);
  QueueOptions opts;
  opts.backoff_base_seconds = 30;
  auto t = claim({"latency"}).at(0);
  const auto retried = in_tx([&](pqxx::work& tx) {
    return store::task_fail(tx, id, *t.lease_token, "first failure", Failure::retryable, opts);
  });
  ASSERT_TRUE(retried.has_value());
  EXPECT_EQ(store::name_of(retried->state), "available");
  EXPECT_TRUE(claim({"latency"}).empty()) << "claimed before its back-off ran out";
  // Skip the back-off, then fail the last attempt.
  in_tx([&](pqxx::work& tx) { tx.exec_params0("UPDATE tasks SET run_after = now() WHERE id = $1", id); });
  t = claim({"latency"}).at(0);
  EXPECT_EQ(t.attempts, 2);
  const auto dead = in_tx([&](pqxx::work& tx) {
    return store::task_fail(tx, id, *t.lease_token, "second failure", Failure::retryable, opts);
  });
  ASSERT_TRUE(dead.has_value());
  EXPECT_EQ(store::name_of(dead->state), "dead");
  EXPECT_EQ(dead->last_error, "second failure");
  EXPECT_TRUE(dead->finished_at.has_value());
  in_tx([&](pqxx::work& tx) { tx.exec_params0("UPDATE tasks SET run_after = now() WHERE id = $1", id); });
  EXPECT_TRUE(claim({"latency"}).empty()) << "a dead task was claimed";
}

TEST_F(TaskQueue, AnExpiredLeaseOnTheLastAttemptMakesTheTaskDead) {
  const int64_t id = enqueue("evaluate", /*max_attempts=*/1);
  claim({"evaluate"}, 0.1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto rescued = in_tx([&](pqxx::work& tx) { return store::task_rescue_expired(tx, QueueOptions{}); });
  ASSERT_EQ(rescued.size(), 1u);
  EXPECT_EQ(store::name_of(get(id).state), "dead");
  EXPECT_NE(get(id).last_error->find("attempt 1 of 1"), std::string::npos);
}

TEST_F(TaskQueue, PermanentFailureAndReleaseOnShutdown) {
  const int64_t a = enqueue("evaluate");
  const int64_t b = enqueue("evaluate");
  const auto claimed = claim({"evaluate"}, 30, 2);
  ASSERT_EQ(claimed.size(), 2u);
  for (const auto& t : claimed) {
    if (t.id == a) {
      const auto f = in_tx([&](pqxx::work& tx) {
        return store::task_fail(tx, a, *t.lease_token, "bad architecture", Failure::permanent, QueueOptions{});
      });
      EXPECT_EQ(store::name_of(f->state), "failed");
    } else {
      const auto r = in_tx([&](pqxx::work& tx) { return store::task_release(tx, b, *t.lease_token); });
      ASSERT_TRUE(r.has_value());
      EXPECT_EQ(store::name_of(r->state), "available");
      EXPECT_EQ(r->attempts, 0) << "a released task's attempt still counts";
    }
  }
  EXPECT_EQ(get(a).last_error, "bad architecture");
  EXPECT_EQ(claim({"evaluate"}).at(0).id, b);
}

TEST_F(TaskQueue, ConcurrentClaimersNeverShareATaskAndEachIsCompletedOnce) {
  constexpr int kTasks = 300;
  constexpr int kWorkers = 4;
  in_tx([&](pqxx::work& tx) {
    for (int i = 0; i < kTasks; ++i) store::task_enqueue(tx, plain(i % 2 ? "evaluate" : "latency"));
  });
  std::mutex mu;
  std::vector<int64_t> completed;
  std::vector<std::string> errors;
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      try {
        auto conn = db_->connect();
        for (;;) {
          pqxx::work tx(*conn);
          const auto got = store::task_claim(tx, request({"evaluate", "latency"}, "w" + std::to_string(w), 30, 2));
          tx.commit();
          if (got.empty()) break;
          for (const auto& t : got) {
            pqxx::work done(*conn);
            const bool ok = store::task_complete(done, t.id, *t.lease_token, {{"by", w}}).has_value();
            done.commit();
            std::lock_guard<std::mutex> lock(mu);
            if (ok) completed.push_back(t.id);
            else errors.push_back("completion refused for task " + std::to_string(t.id));
          }
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu);
        errors.push_back(e.what());
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(completed.size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(std::set<int64_t>(completed.begin(), completed.end()).size(), static_cast<size_t>(kTasks))
      << "a task was completed twice";
  const auto counts = in_tx([&](pqxx::work& tx) {
    return tx.exec1("SELECT count(*) FILTER (WHERE state = 'succeeded'), max(attempts) FROM tasks");
  });
  EXPECT_EQ(counts[0].as<int>(), kTasks);
  EXPECT_EQ(counts[1].as<int>(), 1) << "a task was claimed more than once";
}

class Wakeup : public pqxx::notification_receiver {
 public:
  Wakeup(pqxx::connection_base& c) : pqxx::notification_receiver(c, store::kTaskChannel) {}
  void operator()(const std::string& payload, int) override { payloads.push_back(payload); }
  std::vector<std::string> payloads;
};

TEST_F(TaskQueue, EnqueueNotifiesListenersAtCommit) {
  auto listener = db_->connect();
  Wakeup wakeup(*listener);
  listener->get_notifs();
  {
    pqxx::work tx(*conn_);
    store::task_enqueue(tx, plain("latency"));
    listener->await_notification(0, 200000);
    EXPECT_TRUE(wakeup.payloads.empty()) << "notified before commit";
    tx.commit();
  }
  for (int i = 0; i < 50 && wakeup.payloads.empty(); ++i) listener->await_notification(0, 100000);
  ASSERT_EQ(wakeup.payloads.size(), 1u);
  EXPECT_EQ(wakeup.payloads[0], "latency");
}

TEST_F(TaskQueue, RejectsUnknownKindsAndBadPayloads) {
  EXPECT_THROW(enqueue("train"), InvalidInput);
  EXPECT_THROW(claim({"train"}), InvalidInput);
  NewTask t = plain("evaluate");
  t.payload = nlohmann::json::array();
  EXPECT_THROW(in_tx([&](pqxx::work& tx) { return store::task_enqueue(tx, t); }), Error);
}

// A search step (or latency-model fit) exists once per job and step number, so
// completions that race to enqueue the next step make one task between them.
TEST_F(TaskQueue, AStepIsEnqueuedOncePerJobAndKind) {
  const int64_t project = in_tx([](pqxx::work& tx) { return store::project_ensure(tx, "p").id; });
  store::NewJob job;
  job.project_id = project;
  job.kind = store::JobKind::search;
  job.stage = store::JobStage::searching;
  job.name = "search";
  const int64_t job_id = in_tx([&](pqxx::work& tx) { return store::job_insert(tx, job)->id; });
  auto step = [&](const std::string& kind, int32_t n) {
    NewTask t = plain(kind);
    t.job_id = job_id;
    t.step = n;
    return in_tx([&](pqxx::work& tx) { return store::task_enqueue(tx, t); });
  };
  EXPECT_TRUE(step("search_step", 1).has_value());
  EXPECT_FALSE(step("search_step", 1).has_value());
  EXPECT_TRUE(step("search_step", 2).has_value());
  EXPECT_TRUE(step("fit_latency_model", 1).has_value()) << "steps are numbered per kind";
  // Tasks without a step are never merged.
  NewTask plain_task = plain("latency");
  plain_task.job_id = job_id;
  EXPECT_TRUE(in_tx([&](pqxx::work& tx) { return store::task_enqueue(tx, plain_task); }).has_value());
  EXPECT_TRUE(in_tx([&](pqxx::work& tx) { return store::task_enqueue(tx, plain_task); }).has_value());
}

TEST_F(TaskQueue, CountsByKindAndState) {
  enqueue("evaluate");
  enqueue("evaluate");
  enqueue("latency");
  claim({"latency"});
  const auto counts = in_tx([&](pqxx::work& tx) { return store::task_counts(tx); });
  std::map<std::string, int64_t> by;
  for (const auto& c : counts) by[c.kind + "/" + c.state] = c.count;  // names, for Prometheus labels
  EXPECT_EQ(by["evaluate/available"], 2);
  EXPECT_EQ(by["latency/running"], 1);
}

}  // namespace
}  // namespace flashnas
