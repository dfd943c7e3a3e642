// Strict JSON parsing and the field reader: every error names its field.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "engine/util/json_reader.hpp"

namespace flashnas {
namespace {

// 0 when the text parses, 400 when it is refused as JSON syntax.
int status_of(std::string_view body) {
  try {
    parse_json_object(body);
    return 0;
  } catch (const JsonSyntaxError& e) {
    EXPECT_EQ(e.field(), "body");
    return 400;
  }
}

TEST(ParseJsonObject, RefusesMalformedDuplicateDeepAndNonObjects) {
  EXPECT_EQ(status_of(R"({"a": 1})"), 0);
  EXPECT_EQ(status_of(R"({"a": 1)"), 400);
  EXPECT_EQ(status_of(R"({"a": 1, "a": 2})"), 400);
  EXPECT_EQ(status_of(R"({"o": {"a": 1}, "p": {"a": 1}})"), 0);  // same key, different objects
  EXPECT_EQ(status_of(R"([1, 2])"), 400);
  EXPECT_EQ(status_of(""), 400);
  EXPECT_EQ(status_of("{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}"), 400);
  EXPECT_EQ(status_of("{\"a\": \"\xC3\"}"), 400);  // invalid UTF-8 inside a string
}

TEST(JsonObjectReader, NamesWrongTypesMissingAndUnknownFields) {
  const auto j = nlohmann::json::parse(
      R"({"name": 5, "count": "3", "ratio": 1.5, "extra": true, "nested": {"x": 1, "y": 2}})");
  FieldErrors errors;
  JsonObjectReader r(j, "", errors);
  EXPECT_FALSE(r.string("name", true, 100));
  EXPECT_FALSE(r.integer("count", true, 0, 10));
  EXPECT_FALSE(r.integer("ratio", true, 0, 10));
  EXPECT_FALSE(r.integer("missing", true, 0, 10));
  EXPECT_FALSE(r.integer("optional", false, 0, 10));
  const auto* nested = r.object("nested", true);
  ASSERT_NE(nested, nullptr);
  JsonObjectReader n(*nested, "nested", errors);
  EXPECT_EQ(n.integer("x", true, 0, 10), 1);
  n.finish();
  r.finish();

  std::map<std::string, std::string> by_field;
  for (const auto& e : errors.list()) by_field[e.field] = e.message;
  EXPECT_EQ(by_field.size(), 6u);
  EXPECT_EQ(by_field["name"], "expected a string, got a number");
  EXPECT_EQ(by_field["count"], "expected an integer, got a string");
  EXPECT_EQ(by_field["ratio"], "expected an integer, got a number with a fraction");
  EXPECT_EQ(by_field["missing"], "required");
  // An unknown field's message lists the fields the object has.
  EXPECT_EQ(by_field["extra"], "unknown field (expected one of count, missing, name, nested, optional, ratio)");
  EXPECT_EQ(by_field["nested.y"], "unknown field (expected one of x)");
  try {
    errors.throw_if_any();
    ADD_FAILURE() << "no exception";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.errors().size(), 6u) << "every field error travels with the exception";
  }
}

// Errors of a nested parser keep their fields under the caller's prefix, once.
TEST(FieldErrors, AddsNestedErrorsUnderAPrefix) {
  FieldErrors errors;
  errors.add(InvalidInput("d_model.max: must be >= min (64), got 32", "d_model.max"), "space");
  errors.add(InvalidInput("already named", "space.rules"), "space");
  errors.add(InvalidInput(std::vector<FieldError>{{"a", "x"}, {"b[1]", "y"}}), "p");
  ASSERT_EQ(errors.list().size(), 4u);
  EXPECT_EQ(errors.list()[0], (FieldError{"space.d_model.max", "must be >= min (64), got 32"}));
  EXPECT_EQ(errors.list()[1], (FieldError{"space.rules", "already named"}));
  EXPECT_EQ(errors.list()[2].field, "p.a");
  EXPECT_EQ(errors.list()[3].field, "p.b[1]");
}

TEST(JsonObjectReader, ChecksIntegerRangesIncludingHugeValues) {
  const auto j = nlohmann::json::parse(R"({"a": 11, "b": -1, "c": 18446744073709551615, "d": 7})");
  FieldErrors errors;
  JsonObjectReader r(j, "p", errors);
  EXPECT_FALSE(r.integer("a", true, 0, 10));
  EXPECT_FALSE(r.integer("b", true, 0, 10));
  EXPECT_FALSE(r.integer("c", true, 0, 10));
  EXPECT_EQ(r.integer("d", true, 0, 10), 7);
  r.finish();
  ASSERT_EQ(errors.list().size(), 3u);
  EXPECT_EQ(errors.list()[0].field, "p.a");
  EXPECT_EQ(errors.list()[0].message, "must be between 0 and 10, got 11");
  EXPECT_EQ(errors.list()[2].message, "must be between 0 and 10, got 18446744073709551615");
}

// Strict types: an integer is a JSON integer, a boolean true or false, a seed a
// non-negative integer up to 2^64 - 1; numbers are finite.
TEST(JsonObjectReader, NumericTypesAreStrict) {
  nlohmann::json j = nlohmann::json::parse(
      R"({"i": 3.0, "b": 1, "s": -1, "big": 18446744073709551615, "w": 9223372036854775808, "x": 2.5})");
  j["nan"] = std::nan("");
  FieldErrors errors;
  JsonObjectReader r(j, "", errors);
  EXPECT_FALSE(r.integer("i", true));
  EXPECT_FALSE(r.boolean("b", true));
  EXPECT_FALSE(r.unsigned_integer("s", true));
  EXPECT_EQ(r.unsigned_integer("big", true), UINT64_MAX);
  EXPECT_FALSE(r.integer("w", true)) << "above INT64_MAX: refused, not wrapped";
  EXPECT_EQ(r.number("x", true), 2.5);
  EXPECT_FALSE(r.number("nan", true));
  r.finish();
  std::map<std::string, std::string> by_field;
  for (const auto& e : errors.list()) by_field[e.field] = e.message;
  EXPECT_EQ(by_field.size(), 5u);
  EXPECT_EQ(by_field["i"], "expected an integer, got a number with a fraction");
  EXPECT_EQ(by_field["b"], "expected true or false, got a number");
  EXPECT_EQ(by_field["s"], "must be between 0 and 18446744073709551615, got -1");
  EXPECT_EQ(by_field["nan"], "must be a finite number");
  EXPECT_TRUE(by_field.count("w"));
}

// Arrays name each bad element and keep the indices of the document; a long
// list is refused once rather than element by element.
TEST(JsonObjectReader, ArraysNameEachBadElement) {
  const auto j = nlohmann::json::parse(R"({"w": [1, "2", 3.5, 4], "long": [1, 2, 3], "n": [0.5, true]})");
  FieldErrors errors;
  JsonObjectReader r(j, "p", errors);
  EXPECT_EQ(r.integers("w", true, 8), (std::vector<int64_t>{1, 0, 0, 4}));
  EXPECT_FALSE(r.integers("long", true, 2));
  EXPECT_EQ(r.numbers("n", true, 8), (std::vector<double>{0.5, 0.0}));
  r.finish();
  std::vector<std::string> fields;
  for (const auto& e : errors.list()) fields.push_back(e.field);
  EXPECT_EQ(fields, (std::vector<std::string>{"p.w[1]", "p.w[2]", "p.long", "p.n[1]"}));
}

// Nested objects are read with their own reader under "prefix.key", and report
// their own unknown fields; read_object reads a whole document and throws once.
TEST(JsonObjectReader, NestedObjectsAndWholeDocuments) {
  const auto j = nlohmann::json::parse(R"({"inner": {"a": "x", "b": 1}, "c": "wall", "d": "cycles"})");
  auto parse_clock = [](std::string_view text, const std::string& field) {
    if (text != "wall") throw InvalidInput(fmt::format("{}: must be wall, got '{}'", field, text), field);
    return 1;
  };
  try {
    read_object(j, "opts", "options", [&](JsonObjectReader& r) {
      const auto inner = r.nested("inner", true, [](JsonObjectReader& n) { return n.integer("a", true); });
      EXPECT_TRUE(inner.has_value());  // the object was there, its field was not an integer
      EXPECT_EQ(r.parsed("c", true, parse_clock), 1);
      EXPECT_FALSE(r.parsed("d", true, parse_clock));
      return 0;
    });
    ADD_FAILURE() << "no exception";
  } catch (const InvalidInput& e) {
    std::vector<std::string> fields;
    for (const auto& f : e.errors()) fields.push_back(f.field);
    EXPECT_EQ(fields, (std::vector<std::string>{"opts.inner.a", "opts.inner.b", "opts.d"}));
    EXPECT_EQ(e.errors()[2].message, "must be wall, got 'cycles'");
  }
  try {
    read_object(nlohmann::json::array(), "", "options", [](JsonObjectReader&) { return 0; });
    ADD_FAILURE() << "no exception";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.field(), "options");
    EXPECT_EQ(e.errors().front().message, "expected an object, got an array");
  }
}

// A field that already has an error holds a placeholder: checks of it, or of a
// rule that depends on it, record nothing more.
TEST(FieldChecks, SkipFieldsThatAlreadyHaveAnError) {
  FieldErrors errors;
  errors.add("s.max", "expected an integer, got a string");
  FieldChecks c(errors, "s");
  EXPECT_FALSE(c.range("max", 0, 1, 10));         // skipped: s.max already has an error
  EXPECT_FALSE(c.require(false, "step", "x", {"max"}));  // skipped: depends on s.max
  EXPECT_FALSE(c.at_least("min", 0, 1));          // recorded
  EXPECT_FALSE(c.require(false, "min", "again"));  // skipped: s.min has its error now
  EXPECT_TRUE(c.require(true, "other", "never"));
  ASSERT_EQ(errors.list().size(), 2u);
  EXPECT_EQ(errors.list()[1], (FieldError{"s.min", "must be >= 1, got 0"}));
  EXPECT_TRUE(errors.has("s"));
  EXPECT_TRUE(errors.has("s.max.deeper"));  // inside a field with an error
  EXPECT_FALSE(errors.has("s.ma"));
  EXPECT_FALSE(errors.has("t"));
}

}  // namespace
}  // namespace flashnas
