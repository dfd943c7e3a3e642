// Cursor encoding for keyset pagination.
#include "server/pagination.hpp"

#include "server/problem.hpp"

namespace flashnas::server {

std::string encode_cursor(int64_t last_id) { return std::to_string(last_id); }

std::optional<int64_t> decode_cursor(const std::optional<std::string>& cursor) {
  if (!cursor) return std::nullopt;
  const std::string& c = *cursor;
  const bool ok = !c.empty() && c.size() <= 18 && c[0] != '0' &&
                  c.find_first_not_of("0123456789") == std::string::npos;
  if (!ok) throw validation_failed({{"cursor", "not a cursor from a previous page"}});
  return std::stoll(c);
}

}  // namespace flashnas::server
