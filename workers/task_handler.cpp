// The handler registry (see task_handler.hpp).
#include "workers/task_handler.hpp"

#include "engine/util/error.hpp"
#include "store/task_queue.hpp"

namespace flashnas::worker {

void HandlerRegistry::add(const std::string& kind, TaskHandler handler) {
  store::check_task_kind(kind, "roles");
  if (!handler) throw InvalidInput("no handler given for '" + kind + "'", "roles");
  if (!handlers_.emplace(kind, std::move(handler)).second) {
    throw InvalidInput("a handler for '" + kind + "' is already registered", "roles");
  }
}

const TaskHandler* HandlerRegistry::find(const std::string& kind) const {
  auto it = handlers_.find(kind);
  return it == handlers_.end() ? nullptr : &it->second;
}

std::vector<std::string> HandlerRegistry::kinds() const {
  std::vector<std::string> out;
  for (const auto& [kind, handler] : handlers_) out.push_back(kind);
  return out;
}

}  // namespace flashnas::worker
