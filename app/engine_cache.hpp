// The per-process engine cache of a worker: backbones loaded from the storage
// directory, calibration statistics, tokenized texts and latency models, each
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
#include "store/records.hpp"

namespace flashnas::app {

class EngineCache {
 public:
  // calibration_cache_dir: where calibration artifacts are kept on disk (empty: memory only).
  EngineCache(std::string storage_dir, std::string calibration_cache_dir);

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
  // A stored latency model, rebuilt from its JSON once per id (rows never change).
  std::shared_ptr<const latency::LatencyModel> latency_model(const store::LatencyModelRecord& record);

 private:
  std::string storage_dir_, calibration_cache_dir_;
  std::mutex mutex_;  // held while loading: first uses queue up, later ones hit the maps
  std::map<int64_t, std::shared_ptr<const Model>> models_;
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::shared_ptr<const CalibrationStats>> calibrations_;
  std::map<std::tuple<int64_t, int64_t, int64_t>, std::shared_ptr<const std::vector<int32_t>>> tokens_;
  std::map<int64_t, std::shared_ptr<const latency::LatencyModel>> latency_models_;
};

}  // namespace flashnas::app
