// The worker's engine cache (see engine_cache.hpp).
#include "app/engine_cache.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "engine/model/model_io.hpp"
#include "engine/prune/calibration.hpp"
#include "engine/prune/prune_inputs.hpp"
#include "engine/util/error.hpp"

namespace flashnas::app {

namespace fs = std::filesystem;

EngineCache::EngineCache(std::string storage_dir, std::string calibration_cache_dir, int64_t heal_cache_bytes)
    : storage_dir_(std::move(storage_dir)),
      calibration_cache_dir_(std::move(calibration_cache_dir)),
      heal_cache_bytes_(heal_cache_bytes) {}

std::string EngineCache::path_of(const store::StoredFile& file) const {
  // The schema already refuses absolute paths and "..", but a worker reads files
  // on a row's word, so check again where the path really leads.
  const fs::path root = fs::weakly_canonical(storage_dir_);
  const fs::path full = fs::weakly_canonical(root / file.storage_path);
  const auto rel = full.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") {
    throw Error("stored file " + std::to_string(file.id) + " points outside the storage directory");
  }
  if (!fs::exists(full)) {
    throw Error(fmt::format("stored file {} ({}) is missing from {}: run flashnas-worker with --storage (or "
                            "FLASHNAS_STORAGE) naming the storage directory of flashnas-server",
                            file.id, file.storage_path, root.string()));
  }
  return full.string();
}

std::shared_ptr<const Model> EngineCache::backbone(const store::StoredFile& model) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = models_.find(model.id);
  if (it != models_.end()) return it->second;
  auto loaded = std::make_shared<const Model>(load_model(path_of(model)));
  if (!loaded->tokenizer) throw InvalidInput("the backbone has no tokenizer", "backbone");
  models_[model.id] = loaded;
  return loaded;
}

std::shared_ptr<const CalibrationStats> EngineCache::calibration(const store::StoredFile& model,
                                                                 const Model& backbone,
                                                                 const store::StoredFile& text, int64_t max_tokens,
                                                                 RuntimeContext& context) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto key = std::make_tuple(model.id, text.id, max_tokens);
  auto it = calibrations_.find(key);
  if (it != calibrations_.end()) return it->second;
  CalibrationOptions options;
  options.max_tokens = max_tokens;
  // Keyed like `flashnas evaluate-candidate`: sha256 of the backbone file and of the text.
  const CalibrationSource source{model.sha256, read_text_file(path_of(text), "calibration")};
  auto stats = std::make_shared<const CalibrationStats>(
      load_or_run_calibration(backbone, source, options, calibration_cache_dir_, &context));
  calibrations_[key] = stats;
  return stats;
}

std::shared_ptr<const std::vector<int32_t>> EngineCache::tokens(const store::StoredFile& model,
                                                                const Model& backbone,
                                                                const store::StoredFile& text,
                                                                int64_t max_tokens) {
  std::lock_guard<std::mutex> lock(mutex_);
  return tokens_locked(model, backbone, text, max_tokens);
}

std::shared_ptr<const std::vector<int32_t>> EngineCache::tokens_locked(const store::StoredFile& model,
                                                                       const Model& backbone,
                                                                       const store::StoredFile& text,
                                                                       int64_t max_tokens) {
  const auto key = std::make_tuple(model.id, text.id, max_tokens);
  auto it = tokens_.find(key);
  if (it != tokens_.end()) return it->second;
  auto out = std::make_shared<const std::vector<int32_t>>(
      tokens_for_text(*backbone.tokenizer, read_text_file(path_of(text), "eval"), max_tokens, "eval"));
  tokens_[key] = out;
  return out;
}

std::shared_ptr<HealData> EngineCache::heal_data(const store::StoredFile& model, const Model& backbone,
                                                 const store::StoredFile& text, int64_t max_tokens, int64_t ctx,
                                                 bool with_logits, RuntimeContext& context,
                                                 const std::string& field) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto key = std::make_tuple(model.id, text.id, max_tokens, ctx);
  auto it = heal_data_.find(key);
  if (it == heal_data_.end()) {
    const auto tokens = tokens_locked(model, backbone, text, max_tokens);
    if (static_cast<int64_t>(tokens->size()) < ctx + 1) {
      throw InvalidInput(fmt::format("dataset {} holds {} tokens; healing needs at least one window of ctx + 1 = {}",
                                     text.id, tokens->size(), ctx + 1),
                         field);
    }
    it = heal_data_.emplace(key, HealEntry{std::make_shared<HealData>(*tokens, ctx), 0}).first;
  }
  HealEntry& entry = it->second;
  entry.last_use = ++heal_clock_;
  const int64_t bytes = TeacherLogits::cache_bytes(backbone.config, entry.data->windows.count(), ctx);
  if (with_logits && !entry.data->logits && bytes <= heal_cache_bytes_) {
    // Drop the least recently used logits until these fit (heals still using them keep theirs).
    auto held = [&] {
      int64_t total = 0;
      for (const auto& [k, e] : heal_data_) total += e.data->logits ? e.data->logits->bytes() : 0;
      return total;
    };
    while (held() + bytes > heal_cache_bytes_) {
      auto oldest = heal_data_.end();
      for (auto e = heal_data_.begin(); e != heal_data_.end(); ++e) {
        if (e->second.data->logits && (oldest == heal_data_.end() || e->second.last_use < oldest->second.last_use)) {
          oldest = e;
        }
      }
      heal_data_.erase(oldest);
    }
    // A fresh entry: heals already running on the old one keep it as it was.
    auto data = std::make_shared<HealData>(entry.data->windows.tokens(), ctx);
    data->logits = std::make_unique<TeacherLogits>(backbone, data->windows, /*cache=*/true, context);
    entry.data = std::move(data);
  }
  return entry.data;
}

std::shared_ptr<const latency::LatencyModel> EngineCache::latency_model(const store::LatencyModelRecord& record) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = latency_models_.find(record.id);
  if (it != latency_models_.end()) return it->second;
  auto model = std::make_shared<const latency::LatencyModel>(latency::LatencyModel::from_json(record.model));
  latency_models_[record.id] = model;
  return model;
}

}  // namespace flashnas::app
