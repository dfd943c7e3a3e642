#include "cli/frontier_gate.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <regex>

#include "engine/util/error.hpp"

namespace flashnas::cli {
namespace {

const char* symbol(Comparison c) {
  switch (c) {
    case Comparison::at_most: return "<=";
    case Comparison::below: return "<";
    case Comparison::at_least: return ">=";
    case Comparison::above: return ">";
  }
  return "?";
}

bool meets(double value, const Requirement& r) {
  switch (r.comparison) {
    case Comparison::at_most: return value <= r.bound;
    case Comparison::below: return value < r.bound;
    case Comparison::at_least: return value >= r.bound;
    case Comparison::above: return value > r.bound;
  }
  return false;
}

// How far `value` misses the bound, relative to the bound's size (0 when met).
double shortfall(double value, const Requirement& r) {
  if (meets(value, r)) return 0.0;
  const double scale = std::max(std::abs(r.bound), 1e-12);
  return std::abs(value - r.bound) / scale;
}

}  // namespace

std::vector<Requirement> parse_requirements(const std::string& text) {
  static const std::regex part(R"(\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*)");
  std::vector<Requirement> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string piece = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    std::smatch m;
    if (!std::regex_match(piece, m, part)) {
      throw InvalidInput(fmt::format("--require: cannot read '{}' (expected METRIC<=NUMBER, <, >= or >, "
                                     "comma-separated)", piece), "--require");
    }
    Requirement r;
    r.metric = m[1];
    const std::string op = m[2];
    r.comparison = op == "<=" ? Comparison::at_most : op == "<" ? Comparison::below
                 : op == ">=" ? Comparison::at_least : Comparison::above;
    char* end = nullptr;
    const std::string number = m[3];
    r.bound = std::strtod(number.c_str(), &end);
    if (end != number.c_str() + number.size() || !std::isfinite(r.bound)) {
      throw InvalidInput(fmt::format("--require: '{}' is not a number", number), "--require");
    }
    r.text = fmt::format("{}{}{}", r.metric, symbol(r.comparison), number);
    out.push_back(std::move(r));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::optional<double> point_metric(const nlohmann::json& point, const std::string& metric) {
  for (const nlohmann::json* source : {point.contains("metrics") ? &point["metrics"] : nullptr, &point}) {
    if (!source || !source->is_object()) continue;
    const auto it = source->find(metric);
    if (it != source->end() && it->is_number()) return it->get<double>();
  }
  return std::nullopt;
}

GateResult check_gate(const nlohmann::json& points, const std::vector<Requirement>& requirements) {
  for (const Requirement& r : requirements) {
    bool known = points.empty();
    for (const auto& p : points) known = known || point_metric(p, r.metric).has_value();
    if (!known) {
      throw InvalidInput(fmt::format("--require: the frontier's points have no metric '{}' (they have latency "
                                     "and {})", r.metric, points[0].contains("metrics") ? points[0]["metrics"].dump() : "{}"),
                         "--require");
    }
  }
  GateResult result;
  for (size_t i = 0; i < points.size(); ++i) {
    bool all_met = true;
    double total = 0.0;
    for (const Requirement& r : requirements) {
      const auto value = point_metric(points[i], r.metric);
      all_met = all_met && value && meets(*value, r);
      total += value ? shortfall(*value, r) : std::numeric_limits<double>::infinity();
    }
    if (all_met) {
      const double nll = point_metric(points[i], "eval_nll").value_or(std::numeric_limits<double>::infinity());
      if (!result.met || nll < point_metric(points[*result.point], "eval_nll").value_or(nll)) result = {true, i, 0.0};
      continue;
    }
    if (!result.met && (!result.point || total < result.shortfall)) {
      result.point = i;
      result.shortfall = total;
    }
  }
  return result;
}

std::string describe_against(const nlohmann::json& point, const std::vector<Requirement>& requirements) {
  std::string out;
  for (const Requirement& r : requirements) {
    if (!out.empty()) out += ", ";
    const auto value = point_metric(point, r.metric);
    if (!value) {
      out += r.metric + " missing";
    } else if (meets(*value, r)) {
      out += fmt::format("{} {:.6g} ok", r.metric, *value);
    } else {
      out += fmt::format("{} {:.6g} misses {} by {:.1f}%", r.metric, *value, r.text, 100.0 * shortfall(*value, r));
    }
  }
  return out;
}

}  // namespace flashnas::cli
