// UTF-8 validation against hand-built sequences from the Unicode well-formedness table.
#include <gtest/gtest.h>

#include "app/utf8.hpp"

namespace flashnas::app {
namespace {

TEST(Utf8, AcceptsWellFormedText) {
  EXPECT_FALSE(find_invalid_utf8(""));
  EXPECT_FALSE(find_invalid_utf8("plain ASCII\r\n"));
  EXPECT_FALSE(find_invalid_utf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));  // é € 😀
  EXPECT_FALSE(find_invalid_utf8("\xEF\xBF\xBF\xF4\x8F\xBF\xBF"));              // U+FFFF, U+10FFFF
}

TEST(Utf8, ReportsTheOffsetOfTheFirstBadSequence) {
  EXPECT_EQ(find_invalid_utf8("ab\x80"), 2);                 // lone continuation
  EXPECT_EQ(find_invalid_utf8("abc\xC3"), 3);                // truncated 2-byte
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0);               // overlong '/'
  EXPECT_EQ(find_invalid_utf8("x\xE0\x80\xAF"), 1);          // overlong 3-byte
  EXPECT_EQ(find_invalid_utf8("\xED\xA0\x80"), 0);           // surrogate U+D800
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0);       // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("\xF5\x80\x80\x80"), 0);
  EXPECT_EQ(find_invalid_utf8("\xE2\x82"), 0);               // truncated at the end
  EXPECT_EQ(find_invalid_utf8("\xE2\x28\xA1"), 0);           // bad second byte
}

}  // namespace
}  // namespace flashnas::app
