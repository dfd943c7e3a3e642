// Strict JSON parsing and the field reader: every error names its field.
#include <gtest/gtest.h>

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
  EXPECT_EQ(by_field["extra"], "unknown field");
  EXPECT_EQ(by_field["nested.y"], "unknown field");
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
}

}  // namespace
}  // namespace flashnas
