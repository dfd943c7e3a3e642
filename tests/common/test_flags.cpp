// common/flags.hpp: every program's flags are parsed here, so a bad one is
// refused with a message naming it, never a stray exception.
#include "common/flags.hpp"

#include <gtest/gtest.h>

#include "engine/util/error.hpp"

namespace flashnas {
namespace {

const std::vector<FlagSpec> kSpec = {
    {"steps", true, ""}, {"lr", true, ""}, {"sets", true, ""}, {"seeds", true, ""}, {"json", false, ""}};

// The message and field of the InvalidInput that `f` throws.
template <typename F>
std::pair<std::string, std::string> refusal(F&& f) {
  try {
    f();
  } catch (const InvalidInput& e) {
    return {e.errors().front().message, e.errors().front().field};
  }
  return {"(nothing thrown)", ""};
}

Flags parse(std::vector<std::string> args) { return Flags(args, kSpec); }

TEST(Flags, ValuesSwitchesAndTypedAccessors) {
  const Flags f = parse({"--steps", "20", "--lr=5e-4", "--json"});
  EXPECT_EQ(f.integer("steps", 0, 1, 100), 20);
  EXPECT_DOUBLE_EQ(f.number("lr", 0, 0, 1), 5e-4);
  EXPECT_TRUE(f.has("json"));
  EXPECT_EQ(f.integer("seeds", 7, 0, 10), 7) << "absent: the fallback";
  EXPECT_EQ(refusal([&] { f.integer("steps", 0, 1, 10); }),
            (std::pair<std::string, std::string>{"--steps must be in [1, 10], got 20", "--steps"}));
  EXPECT_EQ(refusal([&] { parse({"--steps", "2x"}).integer("steps", 0, 0, 100); }).first,
            "--steps must be an integer, got '2x'");
}

TEST(Flags, UnknownRepeatedAndValuelessFlagsAreRefusedByName) {
  EXPECT_EQ(refusal([] { parse({"--step", "3"}); }),
            (std::pair<std::string, std::string>{"unknown flag --step", "--step"}));
  EXPECT_EQ(refusal([] { parse({"--steps", "3", "--steps", "4"}); }).first, "--steps given twice");
  EXPECT_EQ(refusal([] { parse({"--steps"}); }).first, "--steps needs a value");
  EXPECT_EQ(refusal([] { parse({"--json=1"}); }).first, "--json takes no value");
  EXPECT_EQ(refusal([] { parse({"20"}); }).first, "unexpected argument '20' (flags start with --)");
}

TEST(Flags, CommaListsOfNamesAndOfIntegers) {
  const Flags f = parse({"--sets", "across_space,equal_size", "--seeds", "0,1,2"});
  EXPECT_EQ(f.list("sets", {}), (std::vector<std::string>{"across_space", "equal_size"}));
  EXPECT_EQ(f.integers("seeds", {}, 0, 10), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(f.list("lr", {"a"}), std::vector<std::string>{"a"}) << "absent: the fallback";
  EXPECT_EQ(f.integers("steps", {20, 100}, 0, 10), (std::vector<int64_t>{20, 100})) << "absent: the fallback";
  EXPECT_EQ(parse({"--sets", "one"}).list("sets", {}), std::vector<std::string>{"one"});

  EXPECT_EQ(refusal([] { parse({"--sets", "a,,b"}).list("sets", {}); }),
            (std::pair<std::string, std::string>{"--sets must be a comma list without empty items, got 'a,,b'",
                                                 "--sets"}));
  EXPECT_EQ(refusal([] { parse({"--sets", "a,"}).list("sets", {}); }).first,
            "--sets must be a comma list without empty items, got 'a,'");
  EXPECT_EQ(refusal([] { parse({"--seeds", "0,x"}).integers("seeds", {}, 0, 10); }),
            (std::pair<std::string, std::string>{"each item of --seeds must be an integer, got 'x'", "--seeds"}));
  EXPECT_EQ(refusal([] { parse({"--seeds", "0,11"}).integers("seeds", {}, 0, 10); }).first,
            "each item of --seeds must be in [0, 10], got 11");
  EXPECT_EQ(refusal([] { parse({"--seeds", "-1"}).integers("seeds", {}, 0, 10); }).first,
            "each item of --seeds must be in [0, 10], got -1");
}

}  // namespace
}  // namespace flashnas
