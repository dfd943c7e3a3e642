// Task duration histograms (see task_stats_repository.hpp). Not prepared: it runs
// once per scrape, not per request.
#include "store/task_stats_repository.hpp"

#include <fmt/format.h>

#include <map>
#include <utility>

namespace flashnas::store {

std::vector<TaskDurationHistogram> task_duration_histograms(pqxx::transaction_base& tx,
                                                            const std::vector<double>& bounds) {
  // Bounds become a float8[] literal built from numbers only (no client input).
  std::string array = "{";
  for (size_t i = 0; i < bounds.size(); ++i) array += fmt::format("{}{}", i ? "," : "", bounds[i]);
  array += "}";
  const auto rows = tx.exec_params(
      "WITH d AS ("
      "  SELECT kind::text AS kind, state::text AS state,"
      "         greatest(extract(epoch FROM finished_at - started_at), 0)::float8 AS s"
      "  FROM tasks WHERE finished_at IS NOT NULL AND started_at IS NOT NULL) "
      "SELECT d.kind, d.state, b.i::int AS i, count(*) FILTER (WHERE d.s <= b.le) AS n,"
      "       count(*) AS total, sum(d.s) AS sum_s "
      "FROM d CROSS JOIN unnest($1::float8[]) WITH ORDINALITY AS b(le, i) "
      "GROUP BY d.kind, d.state, b.i ORDER BY 1, 2, 3",
      array);
  std::map<std::pair<std::string, std::string>, TaskDurationHistogram> by_key;
  for (const auto& r : rows) {
    auto& h = by_key[{r[0].as<std::string>(), r[1].as<std::string>()}];
    h.kind = r[0].as<std::string>();
    h.state = r[1].as<std::string>();
    h.cumulative.resize(bounds.size());
    h.cumulative[static_cast<size_t>(r[2].as<int>() - 1)] = r[3].as<int64_t>();
    h.count = r[4].as<int64_t>();
    h.sum_seconds = r[5].as<double>();
  }
  std::vector<TaskDurationHistogram> out;
  for (auto& [_, h] : by_key) out.push_back(std::move(h));
  return out;
}

}  // namespace flashnas::store
