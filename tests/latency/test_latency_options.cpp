// LatencyOptions validation names the offending field; JSON round-trips.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <map>

#include "engine/latency/latency_options.hpp"
#include "engine/util/error.hpp"
#include "tests/support/field_errors.hpp"

using namespace flashnas;
using namespace flashnas::latency;

namespace {

std::string field_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const flashnas::InvalidInput& e) {
    return e.field();
  }
  return "<no error>";
}

using test::field_error_map_of;

}  // namespace

TEST(LatencyOptions, DefaultsAreValid) { EXPECT_NO_THROW(LatencyOptions{}.validate()); }

TEST(LatencyOptions, ValidationNamesTheField) {
  auto with = [](auto change) {
    return [change] {
      LatencyOptions o;
      change(o);
      o.validate();
    };
  };
  EXPECT_EQ(field_of(with([](LatencyOptions& o) { o.prompt_len = 0; })), "prompt_len");
  EXPECT_EQ(field_of(with([](LatencyOptions& o) { o.decode_tokens = 0; })), "decode_tokens");
  EXPECT_EQ(field_of(with([](LatencyOptions& o) { o.threads = 0; })), "threads");
  EXPECT_EQ(field_of(with([](LatencyOptions& o) { o.repeats = 0; })), "repeats");
  EXPECT_EQ(field_of(with([](LatencyOptions& o) { o.warmup = -1; })), "warmup");
  EXPECT_EQ(field_of(with([](LatencyOptions& o) { o.cv_threshold = 0.0; })), "cv_threshold");
  EXPECT_EQ(field_of(with([](LatencyOptions& o) { o.max_extra_rounds = -1; })), "max_extra_rounds");
  // Thread CPU time only measures the calling thread.
  EXPECT_EQ(field_of(with([](LatencyOptions& o) {
              o.clock = LatencyClock::thread_cpu;
              o.threads = 2;
            })),
            "clock");
}

TEST(LatencyOptions, WeightFormatParsing) {
  EXPECT_EQ(parse_weight_format("f32", "--weights"), WeightFormat::f32);
  EXPECT_EQ(parse_weight_format("q8_0", "--weights"), WeightFormat::q8_0);
  EXPECT_EQ(field_of([] { parse_weight_format("f16", "--weights"); }), "--weights");
}

TEST(LatencyOptions, JsonRoundTripAndRefusals) {
  LatencyOptions o;
  o.prompt_len = 64;
  o.decode_tokens = 3;
  o.threads = 1;
  o.clock = LatencyClock::thread_cpu;
  o.pin_threads = false;
  o.repeats = 4;
  o.warmup = 0;
  o.weights = WeightFormat::q8_0;
  o.cv_threshold = 0.1;
  o.max_extra_rounds = 1;
  o.token_seed = 99;
  const nlohmann::json j = latency_options_to_json(o);
  const LatencyOptions back = latency_options_from_json(j);
  EXPECT_EQ(latency_options_to_json(back), j);

  EXPECT_EQ(field_of([] { latency_options_from_json({{"prompt_lenn", 3}}); }), "prompt_lenn");
  EXPECT_EQ(field_of([] { latency_options_from_json({{"repeats", "3"}}); }), "repeats");
  EXPECT_EQ(field_of([] { latency_options_from_json({{"threads", 5000000000LL}}); }), "threads");
  EXPECT_EQ(field_of([] { latency_options_from_json({{"token_seed", -1}}); }), "token_seed");
  EXPECT_EQ(field_of([] { latency_options_from_json({{"weights", "int4"}}); }), "weights");
  EXPECT_EQ(field_of([] { latency_options_from_json({{"clock", "cycles"}}); }), "clock");
  // Missing fields keep their defaults.
  EXPECT_EQ(latency_options_from_json(nlohmann::json::object()).prompt_len, LatencyOptions{}.prompt_len);
}

TEST(LatencyOptions, EveryBadFieldOfADocumentIsReportedAtOnce) {
  const auto errors = field_error_map_of([] {
    latency_options_from_json(nlohmann::json::parse(R"({
      "prompt_len": 0, "decode_tokens": 2.5, "threads": 5000000000, "pin_threads": 1,
      "repeats": "3", "warmup": -1, "weights": "int4", "cv_threshold": 0,
      "max_extra_rounds": 101, "token_seed": -1, "clock": "cycles", "colour": "red"})"));
  });
  const std::map<std::string, std::string> expected = {
      {"prompt_len", "must be between 1 and 1048576, got 0"},
      {"decode_tokens", "expected an integer, got a number with a fraction"},
      {"threads", "must be between 1 and 1024, got 5000000000"},
      {"pin_threads", "expected true or false, got a number"},
      {"repeats", "expected an integer, got a string"},
      {"warmup", "must be between 0 and 10000, got -1"},
      {"weights", "must be f32 or q8_0, got 'int4'"},
      {"cv_threshold", "must be positive, got 0"},
      {"max_extra_rounds", "must be between 0 and 100, got 101"},
      {"token_seed", "must be between 0 and 18446744073709551615, got -1"},
      {"clock", "must be wall or thread_cpu, got 'cycles'"},
      {"colour", "unknown field (expected one of clock, cv_threshold, decode_tokens, max_extra_rounds, "
                 "pin_threads, prompt_len, repeats, threads, token_seed, warmup, weights)"}};
  EXPECT_EQ(errors, expected);
  // The full unsigned range of the seed is a seed.
  EXPECT_EQ(latency_options_from_json(nlohmann::json::parse(R"({"token_seed": 18446744073709551615})")).token_seed,
            UINT64_MAX);
}

// validate() (flags, code) states the same rules, and reports all of them too.
TEST(LatencyOptions, ValidateReportsEveryBrokenRule) {
  LatencyOptions o;
  o.prompt_len = 0;
  o.repeats = 0;
  o.cv_threshold = -1.0;
  o.clock = LatencyClock::thread_cpu;
  o.threads = 2;
  const auto errors = field_error_map_of([&] { o.validate(); });
  const std::map<std::string, std::string> expected = {
      {"prompt_len", "must be between 1 and 1048576, got 0"},
      {"repeats", "must be between 1 and 10000, got 0"},
      {"cv_threshold", "must be positive, got -1"},
      {"clock", "thread_cpu measures one thread: use threads 1 or clock wall"}};
  EXPECT_EQ(errors, expected);
  // A rule that depends on a bad field says nothing more.
  o = LatencyOptions{};
  o.clock = LatencyClock::thread_cpu;
  o.threads = 0;
  EXPECT_EQ(field_error_map_of([&] { o.validate(); }), (std::map<std::string, std::string>{
                                                  {"threads", "must be between 1 and 1024, got 0"}}));
}
