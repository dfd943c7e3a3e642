// The per-process engine cache of a worker: backbones loaded from the storage
// directory, calibration statistics, tokenized texts, healing windows with the
// backbone's logits on them (within a byte budget) and latency models, each
// kept after first use so that a job's many tasks pay for them once.
// Thread-safe (worker threads share it). Not the task runners (task_runners.hpp).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "engine/latency/latency_model.hpp"
#include "engine/model/model.hpp"
#include "engine/prune/calibration_stats.hpp"
#include "engine/runtime/runtime_context.hpp"
#include "engine/train/train_data.hpp"
#include "store/records.hpp"

namespace flashnas::app {

// What every candidate of a job heals on: the training windows and, when they
// were computed, the backbone's logits on each (the distillation teacher's,
// computed once; read-only afterwards, so shared by concurrent heals).
struct HealData {
  HealData(std::vector<int32_t> tokens, int64_t ctx) : windows(std::move(tokens), ctx) {}
  TokenWindows windows;
  std::unique_ptr<TeacherLogits> logits;  // null: each heal computes the teacher's logits step by step
};

class EngineCache {
 public:
  // calibration_cache_dir: where calibration artifacts are kept on disk (empty: memory only).
  // heal_cache_bytes: the most teacher logits kept at once (least recently used dropped first).
  EngineCache(std::string storage_dir, std::string calibration_cache_dir,
              int64_t heal_cache_bytes = int64_t{1} << 30);

  // The path of a stored file under the storage directory; throws Error if the
  // row's path leaves the directory or the file is missing.
  std::string path_of(const store::StoredFile& file) const;
  const std::string& storage_dir() const { return storage_dir_; }

  std::shared_ptr<const Model> backbone(const store::StoredFile& model);
  std::shared_ptr<const CalibrationStats> calibration(const store::StoredFile& model, const Model& backbone,
                                                      const store::StoredFile& text, int64_t max_tokens,
                                                      RuntimeContext& context);
  // BOS + encode(text), cut to max_tokens, with the backbone's tokenizer.
  std::shared_ptr<const std::vector<int32_t>> tokens(const store::StoredFile& model, const Model& backbone,
                                                     const store::StoredFile& text, int64_t max_tokens);
  // The windows of ctx + 1 tokens of `text` (BOS + encode, cut to max_tokens),
  // with the backbone's logits on them when `with_logits` and they fit the
  // budget (else `logits` is null). Throws InvalidInput (field) when the text
  // holds no window.
  std::shared_ptr<HealData> heal_data(const store::StoredFile& model, const Model& backbone,
                                      const store::StoredFile& text, int64_t max_tokens, int64_t ctx,
                                      bool with_logits, RuntimeContext& context, const std::string& field);
  // A stored latency model, rebuilt from its JSON once per id (rows never change).
  std::shared_ptr<const latency::LatencyModel> latency_model(const store::LatencyModelRecord& record);

 private:
  std::shared_ptr<const std::vector<int32_t>> tokens_locked(const store::StoredFile& model, const Model& backbone,
                                                            const store::StoredFile& text, int64_t max_tokens);

  std::string storage_dir_, calibration_cache_dir_;
  std::mutex mutex_;  // held while loading: first uses queue up, later ones hit the maps
  std::map<int64_t, std::shared_ptr<const Model>> models_;
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::shared_ptr<const CalibrationStats>> calibrations_;
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::shared_ptr<const std::vector<int32_t>>> tokens_;
  std::map<int64_t, std::shared_ptr<const latency::LatencyModel>> latency_models_;
  struct HealEntry {
    std::shared_ptr<HealData> data;
    uint64_t last_use = 0;
  };
  int64_t heal_cache_bytes_ = 0;
  uint64_t heal_clock_ = 0;
  std::map<std::tuple<int64_t, int64_t, int64_t, int64_t>, HealEntry> heal_data_;  // (model, text, max_tokens, ctx)
};

}  // namespace flashnas::app
