// Flags: strict command-line flag parsing shared by every flashnas program (the
// `flashnas` subcommands, flashnas-server, flashnas-worker, the benchmarks).
// Each program declares the flags it accepts; anything else is refused with a
// one-line message naming the flag. Values are range-checked on access.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace flashnas {

struct FlagSpec {
  std::string name;        // without the leading "--"
  bool takes_value = true;  // false: a boolean switch such as --json
  std::string help;
};

class Flags {
 public:
  // Throws InvalidInput (field "--name") for unknown flags, missing values and repeats.
  Flags(const std::vector<std::string>& args, const std::vector<FlagSpec>& spec);

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> get(const std::string& name) const;
  std::string require(const std::string& name) const;  // throws if absent

  // Typed accessors: absent -> fallback; present but malformed or out of range -> throws.
  int64_t integer(const std::string& name, int64_t fallback, int64_t min, int64_t max) const;
  int64_t require_integer(const std::string& name, int64_t min, int64_t max) const;
  double number(const std::string& name, double fallback, double min, double max) const;
  // Comma lists ("--sets a,b"): absent -> fallback; an empty item or, for
  // integers, a malformed or out-of-range one -> throws.
  std::vector<std::string> list(const std::string& name, std::vector<std::string> fallback) const;
  std::vector<int64_t> integers(const std::string& name, std::vector<int64_t> fallback, int64_t min,
                                int64_t max) const;

  static std::string usage(const std::vector<FlagSpec>& spec);

 private:
  std::map<std::string, std::string> values_;
};

// A subcommand's leading operands (`flashnas jobs show 12 --json`: "show", "12")
// and the flags after them; an operand after the first flag is refused by Flags.
struct OperandsAndFlags {
  std::vector<std::string> operands;
  std::vector<std::string> flags;
};
OperandsAndFlags split_operands(const std::vector<std::string>& args);

// When --help was given, prints "usage: <synopsis>" (the program name first) and the flag list
// to standard output and returns true (the command then returns 0).
bool print_help_if_asked(const Flags& flags, const std::vector<FlagSpec>& spec, const std::string& synopsis);

}  // namespace flashnas
