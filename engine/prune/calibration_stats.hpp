// CalibrationStats: activation statistics of a backbone over calibration text
// (channel energies, FFN neuron energies, block influence), the small artifact
// pruning ranks weights by; its cache key, JSON form and on-disk cache.
// Not the forward run that collects them (calibration.hpp) nor the ranking
// (importance.hpp).
//
// Legend: C d_model, FF FFN width, L layers.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/model/arch_config.hpp"

namespace flashnas {

// What a set of statistics depends on. Two runs with equal keys give equal stats
// (the forward is deterministic), so the key names the cached artifact.
struct CalibrationKey {
  std::string backbone_sha256;  // of the backbone checkpoint file (or its weights)
  std::string text_sha256;      // of the calibration text's bytes
  int64_t n_tokens = 0;         // tokens actually used (BOS + encode(text), cut)
  int64_t window = 0;           // forward window: tokens per independent pass

  bool operator==(const CalibrationKey&) const = default;
};

struct CalibrationStats {
  CalibrationKey key;
  int64_t d_model = 0;   // C of the backbone
  int64_t n_layers = 0;  // L of the backbone

  // Mean over tokens of x^2 per model-dimension channel, in double:
  std::vector<double> residual_energy;    // (C) residual stream, averaged over the L+1
                                          // points (embedding output and every block output)
  std::vector<double> attn_input_energy;  // (C) attention input after RMSNorm (and its
                                          // weight), averaged over attention layers
  std::vector<double> ffn_input_energy;   // (C) FFN input after RMSNorm, averaged over layers
  std::vector<std::vector<double>> ffn_neuron_energy;  // (L, FF_l) mean h^2, h the input
                                                       // of the down projection
  // Mean over tokens of 1 - cos(input, output):
  std::vector<double> block_influence;  // (L) of the whole block
  std::vector<double> attn_influence;   // (L) of the attention sub-block alone (0 for skip)
  // Calibration NLL of the backbone with layer l removed, minus the full
  // backbone's (Minitron's LM-loss depth importance): what dropping it costs.
  std::vector<double> layer_removal_nll;  // (L)
  // Greedy backward elimination by calibration NLL: layer indices in the order
  // they were dropped, the most expendable first (a permutation of 0..L-1).
  std::vector<int64_t> layer_elimination_order;  // (L)

  // Throws InvalidInput (field "calibration") unless the shapes fit `backbone`.
  void check_matches(const ArchConfig& backbone) const;
};

nlohmann::json calibration_stats_to_json(const CalibrationStats& stats);
CalibrationStats calibration_stats_from_json(const nlohmann::json& j);  // validates shapes

// Files: JSON, written to a temporary name then renamed so a concurrent reader
// never sees half a file.
void save_calibration_stats(const CalibrationStats& stats, const std::string& path);
CalibrationStats load_calibration_stats(const std::string& path);  // throws on bad files

// The artifact's file name inside a cache directory:
// calib-<format tag>-<backbone sha[:16]>-<text sha[:16]>-<n_tokens>-w<window>.json
std::string calibration_cache_path(const std::string& cache_dir, const CalibrationKey& key);

// The cached stats for `key` if the file exists and its full key matches, else
// nullopt. A corrupt file is an error, not a miss.
std::optional<CalibrationStats> find_cached_calibration(const std::string& cache_dir,
                                                        const CalibrationKey& key);

}  // namespace flashnas
