// The worker's engine cache on the bundled stories260K files (no database): the
// healing windows and the backbone's logits on them are computed once per
// (backbone, text, cut, ctx) and shared, and the logits kept stay within the
// cache's byte budget (least recently used dropped first; too large: none kept).
#include <gtest/gtest.h>

#include <filesystem>

#include "app/engine_cache.hpp"
#include "tests/support/test_data.hpp"

namespace flashnas {
namespace {

store::StoredFile stored(int64_t id, const std::string& name) {
  store::StoredFile f;
  f.id = id;
  f.name = name;
  f.storage_path = name;
  f.sha256 = std::string(64, '0' + static_cast<char>(id));
  return f;
}

TEST(EngineCache, HealDataIsSharedAndItsLogitsStayWithinTheBudget) {
  const std::filesystem::path storage = test::data_dir();
  const store::StoredFile model = stored(1, "stories260K.gguf");
  const store::StoredFile text = stored(2, "tinystories-valid-sample.txt");
  RuntimeContext context(RuntimeOptions{1, false});
  // One text cut to 1025 tokens: 16 windows of 64, logits 16 * 64 * 512 floats = 2 MiB.
  const int64_t logits_bytes = int64_t{2} << 20;
  app::EngineCache cache(storage.string(), "", logits_bytes + logits_bytes / 2);  // room for one set
  const auto backbone = cache.backbone(model);
  ASSERT_EQ(TeacherLogits::cache_bytes(backbone->config, 16, 64), logits_bytes);

  const auto a = cache.heal_data(model, *backbone, text, 1025, 64, false, context, "heal.train");
  EXPECT_EQ(a->windows.count(), 16);
  EXPECT_EQ(a->logits, nullptr) << "not asked for";
  const auto b = cache.heal_data(model, *backbone, text, 1025, 64, true, context, "heal.train");
  ASSERT_NE(b->logits, nullptr);
  EXPECT_TRUE(b->logits->cached());
  EXPECT_EQ(b->logits->bytes(), logits_bytes);
  EXPECT_EQ(cache.heal_data(model, *backbone, text, 1025, 64, true, context, "heal.train"), b) << "computed once";
  EXPECT_EQ(cache.heal_data(model, *backbone, text, 1025, 64, false, context, "heal.train"), b);

  // Another cut: its logits push the first set out (heals holding it keep it).
  const auto c = cache.heal_data(model, *backbone, text, 1089, 64, true, context, "heal.train");
  ASSERT_NE(c->logits, nullptr);
  EXPECT_TRUE(b->logits->cached()) << "still usable by whoever holds it";
  const auto again = cache.heal_data(model, *backbone, text, 1025, 64, false, context, "heal.train");
  EXPECT_NE(again, b) << "dropped from the cache";
  EXPECT_EQ(again->logits, nullptr);

  // Logits larger than the whole budget are not kept at all.
  const auto big = cache.heal_data(model, *backbone, text, 4097, 64, true, context, "heal.train");
  EXPECT_EQ(big->windows.count(), 64);
  EXPECT_EQ(big->logits, nullptr);

  // A text without one window of ctx + 1 tokens is refused under the field given.
  try {
    cache.heal_data(model, *backbone, text, 40, 64, false, context, "spec.heal.train");
    FAIL() << "a text shorter than a window was accepted";
  } catch (const InvalidInput& e) {
    EXPECT_EQ(e.errors().front().field, "spec.heal.train");
  }
}

}  // namespace
}  // namespace flashnas
