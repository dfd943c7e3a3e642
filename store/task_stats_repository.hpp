// Task duration statistics for /metrics: histograms of how long finished tasks
// ran (finished_at - started_at of their last attempt), by kind and final state.
// Owned by the server side (server/); SQL here because SQL lives only in store/.
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <string>
#include <vector>

namespace flashnas::store {

struct TaskDurationHistogram {
  std::string kind, state;
  std::vector<int64_t> cumulative;  // tasks with duration <= bounds[i]
  int64_t count = 0;
  double sum_seconds = 0;
};

// One histogram per (kind, final state) over every finished task that started.
// Cost: one scan of the finished tasks per call (a scrape every few seconds).
std::vector<TaskDurationHistogram> task_duration_histograms(pqxx::transaction_base& tx,
                                                            const std::vector<double>& bounds);

}  // namespace flashnas::store
