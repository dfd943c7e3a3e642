// Reads without BEGIN/COMMIT: a pooled connection in autocommit mode, so a one-
// statement read costs one round trip instead of three. Each statement is atomic
// on its own; use ConnectionPool::transact when several must agree.
#pragma once

#include <pqxx/pqxx>

#include "store/database.hpp"

namespace flashnas::server {

template <class F>
auto read_only(store::ConnectionPool& pool, F&& fn) {
  auto lease = pool.acquire();
  try {
    pqxx::nontransaction tx(*lease);
    return fn(static_cast<pqxx::transaction_base&>(tx));
  } catch (const pqxx::broken_connection&) {
    lease.discard();
    throw;
  }
}

}  // namespace flashnas::server
