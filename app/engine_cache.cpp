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

EngineCache::EngineCache(std::string storage_dir, std::string calibration_cache_dir)
    : storage_dir_(std::move(storage_dir)), calibration_cache_dir_(std::move(calibration_cache_dir)) {}

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
  const auto key = std::make_tuple(model.id, text.id, max_tokens);
  auto it = tokens_.find(key);
  if (it != tokens_.end()) return it->second;
  auto out = std::make_shared<const std::vector<int32_t>>(
      tokens_for_text(*backbone.tokenizer, read_text_file(path_of(text), "eval"), max_tokens, "eval"));
  tokens_[key] = out;
  return out;
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
