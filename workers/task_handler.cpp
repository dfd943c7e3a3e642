// The handler registry (see task_handler.hpp).
#include "workers/task_handler.hpp"

#include "engine/util/error.hpp"

namespace flashnas::worker {

void HandlerRegistry::add(store::TaskKind kind, TaskHandler handler, int max_batch) {
  FLASHNAS_CHECK(static_cast<bool>(handler) && max_batch >= 1, "a handler for {} needs a function and a batch >= 1",
                 store::name_of(kind));
  if (!handlers_.emplace(kind, Entry{std::move(handler), max_batch}).second) {
    throw InvalidInput("a handler for '" + std::string(store::name_of(kind)) + "' is already registered", "roles");
  }
}

const TaskHandler* HandlerRegistry::find(store::TaskKind kind) const {
  auto it = handlers_.find(kind);
  return it == handlers_.end() ? nullptr : &it->second.handler;
}

int HandlerRegistry::max_batch(store::TaskKind kind) const {
  auto it = handlers_.find(kind);
  return it == handlers_.end() ? 1 : it->second.max_batch;
}

std::vector<store::TaskKind> HandlerRegistry::kinds() const {
  std::vector<store::TaskKind> out;
  for (const auto& [kind, entry] : handlers_) out.push_back(kind);
  return out;
}

}  // namespace flashnas::worker
