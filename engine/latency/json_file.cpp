// JSON files for the latency tools.
#include "engine/latency/json_file.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/util/error.hpp"

namespace flashnas::latency {

namespace {
constexpr std::uintmax_t kMaxJsonBytes = std::uintmax_t{256} << 20;
}  // namespace

nlohmann::json read_json_file(const std::string& path, const std::string& field) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw InvalidInput(fmt::format("{}: no such file '{}'", field, path), field);
  }
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxJsonBytes) {
    throw InvalidInput(fmt::format("{}: '{}' is larger than {} bytes", field, path, kMaxJsonBytes),
                       field);
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) throw InvalidInput(fmt::format("{}: cannot read '{}'", field, path), field);
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw InvalidInput(fmt::format("{}: '{}' is not valid JSON ({})", field, path, e.what()), field);
  }
}

void write_json_file(const std::string& path, const nlohmann::json& j, int indent) {
  const std::string part = path + ".part";
  {
    std::ofstream out(part, std::ios::binary | std::ios::trunc);
    if (!out) throw Error(fmt::format("cannot write '{}'", part));
    out << j.dump(indent) << '\n';
    if (!out) throw Error(fmt::format("cannot write '{}'", part));
  }
  std::error_code ec;
  std::filesystem::rename(part, path, ec);
  if (ec) throw Error(fmt::format("cannot rename '{}' to '{}': {}", part, path, ec.message()));
}

}  // namespace flashnas::latency
