// Database connections: the URL convention, opening a ready-to-use connection
// (session settings and every named prepared statement), and a small blocking
// connection pool for request handlers. Not the SQL itself (the repositories).
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace flashnas::store {

// The database URL: the --database flag when given, else FLASHNAS_DATABASE_URL.
// Throws InvalidInput (field "--database") when neither is set or it is empty.
std::string database_url(const std::optional<std::string>& flag_value);

// Connects and sets the session time zone to UTC (timestamps come back as
// ISO-8601 "...+00:00"). Throws flashnas::Error naming the host (never the
// password) when it fails.
std::unique_ptr<pqxx::connection> connect(const std::string& url);

// connect() and define every named statement of the store (they are prepared
// on the server lazily, at first use). What the repositories need.
std::unique_ptr<pqxx::connection> open_connection(const std::string& url);

// Runs fn(tx) in one read-committed transaction on `conn` and commits it,
// returning what fn returns; on an exception the transaction rolls back and the
// exception propagates.
template <class F>
auto in_transaction(pqxx::connection& conn, F&& fn) {
  pqxx::work tx(conn);
  if constexpr (std::is_void_v<decltype(fn(tx))>) {
    fn(tx);
    tx.commit();
  } else {
    auto out = fn(tx);
    tx.commit();
    return out;
  }
}

struct PoolOptions {
  int size = 8;                                    // connections kept open at most
  std::chrono::milliseconds acquire_timeout{5000};  // then acquire() throws
};

// A fixed-size pool. Connections are opened lazily, handed out one per caller,
// and dropped (reopened later) when they turn out broken.
class ConnectionPool {
 public:
  ConnectionPool(std::string url, PoolOptions options = {});
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;
  ~ConnectionPool();

  // A borrowed connection; returned to the pool when destroyed.
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> conn);
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& operator*() { return *conn_; }
    pqxx::connection* operator->() { return conn_.get(); }
    void discard() { discard_ = true; }  // do not return it (it failed mid-use)

   private:
    ConnectionPool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
    bool discard_ = false;
  };

  // Blocks until a connection is free (or opens a new one below `size`).
  // Throws flashnas::Error after acquire_timeout.
  Lease acquire();

  // Runs fn(tx) in one read-committed transaction and commits it; on an exception
  // the transaction rolls back and the exception propagates. A broken connection
  // is discarded rather than returned to the pool.
  template <class F>
  auto transact(F&& fn) {
    Lease lease = acquire();
    try {
      return in_transaction(*lease, std::forward<F>(fn));
    } catch (const pqxx::broken_connection&) {
      lease.discard();
      throw;
    }
  }

  // Runs fn(tx) without BEGIN/COMMIT, in autocommit mode: a one-statement read
  // costs one round trip instead of three. Each statement is atomic on its own;
  // use transact() when several must agree.
  template <class F>
  auto read(F&& fn) {
    Lease lease = acquire();
    try {
      pqxx::nontransaction tx(*lease);
      return fn(static_cast<pqxx::transaction_base&>(tx));
    } catch (const pqxx::broken_connection&) {
      lease.discard();
      throw;
    }
  }

  const std::string& url() const { return url_; }

 private:
  void give_back(std::unique_ptr<pqxx::connection> conn, bool discard);

  std::string url_;
  PoolOptions options_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  int open_ = 0;  // connections handed out or idle
};

// The host:port/dbname part of a URL, without user or password, for messages.
std::string redact_url(const std::string& url);

}  // namespace flashnas::store
