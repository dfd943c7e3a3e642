// Named prepared statements: every repository lists its SQL as (name, text)
// pairs, and each new connection prepares them all (open_connection). Internal
// to the store; callers use the repository functions instead.
#pragma once

#include <pqxx/pqxx>

#include <span>

namespace flashnas::store {

struct Statement {
  const char* name;  // "<table>_<verb>", e.g. "task_claim"
  const char* sql;
};

std::span<const Statement> project_statements();
std::span<const Statement> file_statements();
std::span<const Statement> job_statements();
std::span<const Statement> trial_statements();
std::span<const Statement> event_statements();
std::span<const Statement> task_statements();
std::span<const Statement> latency_statements();
std::span<const Statement> frontier_statements();
std::span<const Statement> checkpoint_statements();
std::span<const Statement> device_statements();

void prepare_statements(pqxx::connection_base& conn);

// SQL fragment: a timestamptz column as ISO-8601 text named like the column
// (the session is in UTC). Use in select lists: FLASHNAS_SQL_TS("created_at").
#define FLASHNAS_SQL_TS(col) "(to_json(" col ") #>> '{}') AS " col

}  // namespace flashnas::store
