// Strict flag parsing: --name VALUE or --name=VALUE; switches take no value.
#include "common/flags.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "engine/util/error.hpp"

namespace flashnas {

Flags::Flags(const std::vector<std::string>& args, const std::vector<FlagSpec>& spec) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      throw InvalidInput(fmt::format("unexpected argument '{}' (flags start with --)", arg), arg);
    }
    std::string name = arg.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    const FlagSpec* found = nullptr;
    for (const FlagSpec& s : spec) {
      if (s.name == name) found = &s;
    }
    const std::string field = "--" + name;
    if (!found) throw InvalidInput(fmt::format("unknown flag {}", field), field);
    if (values_.count(name)) throw InvalidInput(fmt::format("{} given twice", field), field);
    if (!found->takes_value) {
      if (inline_value) throw InvalidInput(fmt::format("{} takes no value", field), field);
      values_[name] = "";
      continue;
    }
    if (inline_value) {
      values_[name] = *inline_value;
    } else {
      if (i + 1 >= args.size()) throw InvalidInput(fmt::format("{} needs a value", field), field);
      values_[name] = args[++i];
    }
  }
}

std::optional<std::string> Flags::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string Flags::require(const std::string& name) const {
  auto value = get(name);
  if (!value) throw InvalidInput(fmt::format("--{} is required", name), "--" + name);
  return *value;
}

namespace {

// `text` as an integer in [min, max]; `what` names it in the message ("--seeds",
// "each item of --seeds").
int64_t parse_integer(const std::string& text, const std::string& what, const std::string& field, int64_t min,
                      int64_t max) {
  int64_t v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end) {
    throw InvalidInput(fmt::format("{} must be an integer, got '{}'", what, text), field);
  }
  if (v < min || v > max) throw InvalidInput(fmt::format("{} must be in [{}, {}], got {}", what, min, max, v), field);
  return v;
}

}  // namespace

int64_t Flags::integer(const std::string& name, int64_t fallback, int64_t min, int64_t max) const {
  auto value = get(name);
  if (!value) return fallback;
  return parse_integer(*value, "--" + name, "--" + name, min, max);
}

std::vector<std::string> Flags::list(const std::string& name, std::vector<std::string> fallback) const {
  auto value = get(name);
  if (!value) return fallback;
  std::vector<std::string> items;
  size_t start = 0;
  while (true) {
    const size_t comma = value->find(',', start);
    items.push_back(value->substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (items.back().empty()) {
      throw InvalidInput(fmt::format("--{} must be a comma list without empty items, got '{}'", name, *value),
                         "--" + name);
    }
    if (comma == std::string::npos) return items;
    start = comma + 1;
  }
}

std::vector<int64_t> Flags::integers(const std::string& name, std::vector<int64_t> fallback, int64_t min,
                                     int64_t max) const {
  if (!has(name)) return fallback;
  std::vector<int64_t> out;
  for (const std::string& item : list(name, {})) {
    out.push_back(parse_integer(item, fmt::format("each item of --{}", name), "--" + name, min, max));
  }
  return out;
}

int64_t Flags::require_integer(const std::string& name, int64_t min, int64_t max) const {
  require(name);
  return integer(name, 0, min, max);
}

double Flags::number(const std::string& name, double fallback, double min, double max) const {
  auto value = get(name);
  if (!value) return fallback;
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(value->c_str(), &end);
  if (value->empty() || errno != 0 || end != value->c_str() + value->size() || !std::isfinite(v)) {
    throw InvalidInput(fmt::format("--{} must be a number, got '{}'", name, *value), "--" + name);
  }
  if (v < min || v > max) {
    throw InvalidInput(fmt::format("--{} must be in [{}, {}], got {}", name, min, max, v),
                       "--" + name);
  }
  return v;
}

std::string Flags::usage(const std::vector<FlagSpec>& spec) {
  std::string out;
  for (const FlagSpec& s : spec) {
    out += fmt::format("  --{}{}\n      {}\n", s.name, s.takes_value ? " VALUE" : "", s.help);
  }
  return out;
}

OperandsAndFlags split_operands(const std::vector<std::string>& args) {
  OperandsAndFlags out;
  size_t i = 0;
  for (; i < args.size() && args[i].rfind("--", 0) != 0; ++i) out.operands.push_back(args[i]);
  out.flags.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  return out;
}

bool print_help_if_asked(const Flags& flags, const std::vector<FlagSpec>& spec, const std::string& synopsis) {
  if (!flags.has("help")) return false;
  std::printf("usage: %s\n%s", synopsis.c_str(), Flags::usage(spec).c_str());
  return true;
}

}  // namespace flashnas
