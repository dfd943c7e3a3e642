// Database connections and the connection pool (see database.hpp).
#include "store/database.hpp"

#include <cstdlib>
#include <regex>

#include "engine/util/error.hpp"
#include "store/statements.hpp"

namespace flashnas::store {

std::string database_url(const std::optional<std::string>& flag_value) {
  if (flag_value) {
    if (flag_value->empty()) throw InvalidInput("the database URL is empty", "--database");
    return *flag_value;
  }
  const char* env = std::getenv("FLASHNAS_DATABASE_URL");
  if (env == nullptr || *env == '\0') {
    throw InvalidInput("no database: pass --database URL or set FLASHNAS_DATABASE_URL", "--database");
  }
  return env;
}

std::string redact_url(const std::string& url) {
  // postgresql://user:secret@host:port/db?x -> host:port/db
  static const std::regex uri(R"(^postgres(?:ql)?://(?:[^@/]*@)?([^?]*).*$)");
  std::smatch m;
  if (std::regex_match(url, m, uri)) return m[1].str();
  return "(keyword/value connection string)";
}

std::unique_ptr<pqxx::connection> connect(const std::string& url) {
  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(url);
  } catch (const std::exception& e) {
    // libpq's message may quote the connection string; keep only its first line.
    std::string why = e.what();
    why = why.substr(0, why.find('\n'));
    throw Error("cannot connect to PostgreSQL at " + redact_url(url) + ": " + why);
  }
  {
    pqxx::nontransaction tx(*conn);
    tx.exec0("SET TIME ZONE 'UTC'");
  }
  return conn;
}

std::unique_ptr<pqxx::connection> open_connection(const std::string& url) {
  auto conn = connect(url);
  prepare_statements(*conn);
  return conn;
}

ConnectionPool::ConnectionPool(std::string url, PoolOptions options)
    : url_(std::move(url)), options_(options) {
  if (options_.size < 1) throw InvalidInput("the pool needs at least one connection", "pool_size");
}

ConnectionPool::~ConnectionPool() = default;

ConnectionPool::Lease::Lease(ConnectionPool* pool, std::unique_ptr<pqxx::connection> conn)
    : pool_(pool), conn_(std::move(conn)) {}

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), conn_(std::move(other.conn_)), discard_(other.discard_) {
  other.pool_ = nullptr;
}

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr && conn_) pool_->give_back(std::move(conn_), discard_);
}

ConnectionPool::Lease ConnectionPool::acquire() {
  std::unique_lock<std::mutex> lock(mutex_);
  const auto ready = [&] { return !idle_.empty() || open_ < options_.size; };
  if (!freed_.wait_for(lock, options_.acquire_timeout, ready)) {
    throw Error("no database connection free after " +
                std::to_string(options_.acquire_timeout.count()) + " ms (pool size " +
                std::to_string(options_.size) + ")");
  }
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(conn));
  }
  ++open_;  // reserve the slot, connect without holding the lock
  lock.unlock();
  try {
    return Lease(this, open_connection(url_));
  } catch (...) {
    lock.lock();
    --open_;
    freed_.notify_one();
    throw;
  }
}

void ConnectionPool::give_back(std::unique_ptr<pqxx::connection> conn, bool discard) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (discard || !conn->is_open()) {
    --open_;
  } else {
    idle_.push_back(std::move(conn));
  }
  freed_.notify_one();
}

}  // namespace flashnas::store
