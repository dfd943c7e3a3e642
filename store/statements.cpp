// Prepares every repository's named statements on a connection (see statements.hpp).
#include "store/statements.hpp"

namespace flashnas::store {

void prepare_statements(pqxx::connection_base& conn) {
  for (auto list : {project_statements(), file_statements(), job_statements(), trial_statements(),
                    event_statements(), task_statements(), latency_statements(),
                    frontier_statements(), checkpoint_statements(), device_statements()}) {
    for (const Statement& s : list) conn.prepare(s.name, s.sql);
  }
}

}  // namespace flashnas::store

// ---- row_reader.hpp helpers
#include "store/row_reader.hpp"

namespace flashnas::store::row {

std::string text_array(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::vector<std::string> simple_text_array(const std::string& literal) {
  std::vector<std::string> out;
  if (literal.size() < 2 || literal.front() != '{' || literal.back() != '}') return out;
  std::string item;
  for (size_t i = 1; i + 1 < literal.size(); ++i) {
    if (literal[i] == ',') {
      out.push_back(item);
      item.clear();
    } else if (literal[i] != '"') {
      item += literal[i];
    }
  }
  if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace flashnas::store::row
