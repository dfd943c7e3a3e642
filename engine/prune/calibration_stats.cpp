// CalibrationStats JSON form, shape checks and the on-disk cache.
#include "engine/prune/calibration_stats.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/util/atomic_file.hpp"
#include "engine/util/error.hpp"

namespace flashnas {
namespace {

// The format version is also part of the cache file name, so artifacts of an
// older version are recomputed instead of refused.
constexpr const char* kFormat = "flashnas-calibration-v3";
constexpr const char* kCacheTag = "v3";

[[noreturn]] void bad(const std::string& what) {
  throw InvalidInput("calibration: " + what, "calibration");
}

void require_size(const std::vector<double>& v, int64_t n, const char* name) {
  if (static_cast<int64_t>(v.size()) != n) {
    bad(fmt::format("{} has {} entries, expected {}", name, v.size(), n));
  }
  for (double x : v) {
    if (!std::isfinite(x)) bad(fmt::format("{} holds a non-finite value", name));
  }
}

// `order` must be a permutation of 0..n-1.
void require_permutation(const std::vector<int64_t>& order, int64_t n, const char* name) {
  if (static_cast<int64_t>(order.size()) != n) {
    bad(fmt::format("{} has {} entries, expected {}", name, order.size(), n));
  }
  std::vector<bool> seen(static_cast<size_t>(n), false);
  for (int64_t i : order) {
    if (i < 0 || i >= n || seen[static_cast<size_t>(i)]) {
      bad(fmt::format("{} must be a permutation of 0..{}", name, n - 1));
    }
    seen[static_cast<size_t>(i)] = true;
  }
}

std::vector<double> get_vector(const nlohmann::json& j, const char* name) {
  if (!j.contains(name) || !j.at(name).is_array()) bad(fmt::format("{} must be an array", name));
  std::vector<double> out;
  for (const auto& x : j.at(name)) {
    if (!x.is_number()) bad(fmt::format("{} must hold numbers", name));
    out.push_back(x.get<double>());
  }
  return out;
}

}  // namespace

void CalibrationStats::check_matches(const ArchConfig& b) const {
  if (d_model != b.d_model) bad(fmt::format("d_model {} but the backbone has {}", d_model, b.d_model));
  if (n_layers != b.n_layers()) {
    bad(fmt::format("n_layers {} but the backbone has {}", n_layers, b.n_layers()));
  }
  require_size(residual_energy, d_model, "residual_energy");
  require_size(attn_input_energy, d_model, "attn_input_energy");
  require_size(ffn_input_energy, d_model, "ffn_input_energy");
  require_size(block_influence, n_layers, "block_influence");
  require_size(attn_influence, n_layers, "attn_influence");
  require_size(layer_removal_nll, n_layers, "layer_removal_nll");
  require_permutation(layer_elimination_order, n_layers, "layer_elimination_order");
  if (static_cast<int64_t>(ffn_neuron_energy.size()) != n_layers) {
    bad(fmt::format("ffn_neuron_energy has {} layers, expected {}", ffn_neuron_energy.size(), n_layers));
  }
  for (int64_t l = 0; l < n_layers; ++l) {
    require_size(ffn_neuron_energy[static_cast<size_t>(l)], b.layers[static_cast<size_t>(l)].d_ffn,
                 "ffn_neuron_energy[layer]");
  }
}

nlohmann::json calibration_stats_to_json(const CalibrationStats& s) {
  // nlohmann writes doubles in shortest round-trip form: a reload is bit-exact.
  return {{"format", kFormat},
          {"key",
           {{"backbone_sha256", s.key.backbone_sha256},
            {"text_sha256", s.key.text_sha256},
            {"n_tokens", s.key.n_tokens},
            {"window", s.key.window}}},
          {"d_model", s.d_model},
          {"n_layers", s.n_layers},
          {"residual_energy", s.residual_energy},
          {"attn_input_energy", s.attn_input_energy},
          {"ffn_input_energy", s.ffn_input_energy},
          {"ffn_neuron_energy", s.ffn_neuron_energy},
          {"block_influence", s.block_influence},
          {"attn_influence", s.attn_influence},
          {"layer_removal_nll", s.layer_removal_nll},
          {"layer_elimination_order", s.layer_elimination_order}};
}

CalibrationStats calibration_stats_from_json(const nlohmann::json& j) {
  if (!j.is_object() || j.value("format", "") != kFormat) bad(fmt::format("format must be {}", kFormat));
  CalibrationStats s;
  try {
    const auto& k = j.at("key");
    s.key.backbone_sha256 = k.at("backbone_sha256").get<std::string>();
    s.key.text_sha256 = k.at("text_sha256").get<std::string>();
    s.key.n_tokens = k.at("n_tokens").get<int64_t>();
    s.key.window = k.at("window").get<int64_t>();
    s.d_model = j.at("d_model").get<int64_t>();
    s.n_layers = j.at("n_layers").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    bad(fmt::format("bad key or dimensions ({})", e.what()));
  }
  if (s.d_model <= 0 || s.n_layers <= 0) bad("d_model and n_layers must be positive");
  s.residual_energy = get_vector(j, "residual_energy");
  s.attn_input_energy = get_vector(j, "attn_input_energy");
  s.ffn_input_energy = get_vector(j, "ffn_input_energy");
  s.block_influence = get_vector(j, "block_influence");
  s.attn_influence = get_vector(j, "attn_influence");
  s.layer_removal_nll = get_vector(j, "layer_removal_nll");
  for (const double x : get_vector(j, "layer_elimination_order")) {
    if (x != std::floor(x) || x < 0 || x >= static_cast<double>(s.n_layers)) {
      bad("layer_elimination_order must hold layer indices");
    }
    s.layer_elimination_order.push_back(static_cast<int64_t>(x));
  }
  const auto& neurons = j.at("ffn_neuron_energy");
  if (!neurons.is_array()) bad("ffn_neuron_energy must be an array of arrays");
  for (const auto& row : neurons) {
    if (!row.is_array()) bad("ffn_neuron_energy must be an array of arrays");
    std::vector<double> v;
    for (const auto& x : row) {
      if (!x.is_number()) bad("ffn_neuron_energy must hold numbers");
      v.push_back(x.get<double>());
    }
    s.ffn_neuron_energy.push_back(std::move(v));
  }
  // Shapes that do not need the backbone; check_matches does the rest.
  require_size(s.residual_energy, s.d_model, "residual_energy");
  require_size(s.attn_input_energy, s.d_model, "attn_input_energy");
  require_size(s.ffn_input_energy, s.d_model, "ffn_input_energy");
  require_size(s.block_influence, s.n_layers, "block_influence");
  require_size(s.attn_influence, s.n_layers, "attn_influence");
  require_size(s.layer_removal_nll, s.n_layers, "layer_removal_nll");
  require_permutation(s.layer_elimination_order, s.n_layers, "layer_elimination_order");
  if (static_cast<int64_t>(s.ffn_neuron_energy.size()) != s.n_layers) {
    bad("ffn_neuron_energy must have one entry per layer");
  }
  return s;
}

void save_calibration_stats(const CalibrationStats& stats, const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  // Concurrent workers computing the same stats each rename a complete file
  // into place; the last one wins, and they are equal.
  write_file_atomically(
      path, [&](std::ostream& out) { out << calibration_stats_to_json(stats).dump() << "\n"; }, "cache_dir");
}

CalibrationStats load_calibration_stats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidInput(fmt::format("cannot read calibration stats {}", path), "calibration");
  std::stringstream buffer;
  buffer << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad(fmt::format("{} is not valid JSON", path));
  return calibration_stats_from_json(j);
}

std::string calibration_cache_path(const std::string& cache_dir, const CalibrationKey& key) {
  auto prefix = [](const std::string& hex) { return hex.substr(0, std::min<size_t>(16, hex.size())); };
  const std::string name = fmt::format("calib-{}-{}-{}-{}-w{}.json", kCacheTag, prefix(key.backbone_sha256),
                                       prefix(key.text_sha256), key.n_tokens, key.window);
  return (std::filesystem::path(cache_dir) / name).string();
}

std::optional<CalibrationStats> find_cached_calibration(const std::string& cache_dir,
                                                        const CalibrationKey& key) {
  const std::string path = calibration_cache_path(cache_dir, key);
  if (!std::filesystem::exists(path)) return std::nullopt;
  CalibrationStats stats = load_calibration_stats(path);
  if (!(stats.key == key)) return std::nullopt;  // a 16-hex-digit prefix collision
  return stats;
}

}  // namespace flashnas
