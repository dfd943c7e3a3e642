// The exhaustive stories260K table (see search_table.hpp).
#include "bench/search/search_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "engine/latency/study.hpp"
#include "engine/model/bound_arch.hpp"
#include "engine/model/model_io.hpp"
#include "engine/prune/calibration.hpp"
#include "engine/prune/evaluate_candidate.hpp"
#include "engine/prune/prune_inputs.hpp"
#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"

namespace flashnas::bench {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

search::ArchSpaceOptions stories_subspace() {
  search::ArchSpaceOptions o;
  o.n_layers = {2, 5, 1};
  o.d_model = {32, 64, 16};
  o.d_ffn = {64, 172, 36};
  o.per_layer_ffn = false;
  o.layer_kinds = {LayerKind::full, LayerKind::swa, LayerKind::skip};
  o.sliding_windows = {16, 32};
  o.first_layer_full = true;
  o.max_consecutive_non_full = 2;
  o.min_full_layers = 1;
  return o;
}

std::vector<CandidateArch> enumerate_space(const search::ArchSpace& space) {
  const search::ArchSpaceOptions& o = space.options();
  FLASHNAS_CHECK(!o.per_layer_ffn, "enumerate_space: per-layer FFN widths are not enumerated");
  const int64_t k = static_cast<int64_t>(o.layer_kinds.size());
  std::vector<CandidateArch> out;
  for (int64_t n = o.n_layers.min; n <= o.n_layers.max; n += o.n_layers.step) {
    int64_t patterns = 1;
    for (int64_t i = 0; i < n; ++i) patterns *= k;
    std::vector<LayerKind> kinds(static_cast<size_t>(n));
    for (int64_t code = 0; code < patterns; ++code) {
      for (int64_t i = 0, c = code; i < n; ++i, c /= k) kinds[static_cast<size_t>(i)] = o.layer_kinds[static_cast<size_t>(c % k)];
      if (space.first_rule_violation(kinds) >= 0) continue;
      const bool swa = std::count(kinds.begin(), kinds.end(), LayerKind::swa) > 0;
      const std::vector<int64_t> windows = swa ? o.sliding_windows : std::vector<int64_t>{0};
      for (int64_t w : windows) {
        for (int64_t d = o.d_model.min; d <= o.d_model.max; d += o.d_model.step) {
          for (int64_t f = o.d_ffn.min; f <= o.d_ffn.max; f += o.d_ffn.step) {
            CandidateArch a;
            a.n_layers = n;
            a.d_model = d;
            a.d_ffn.assign(static_cast<size_t>(n), f);
            a.layer_types = kinds;
            a.sliding_window = w;
            space.check(a);
            out.push_back(std::move(a));
          }
        }
      }
    }
  }
  return out;
}

TableSettings table_settings_default() {
  TableSettings s;
  s.latency.prompt_len = 64;
  s.latency.decode_tokens = 16;
  s.latency.repeats = 20;  // the median of 20 interleaved runs: the table is the benchmark's truth
  s.latency.warmup = 1;
  // The build machine is shared: thread CPU time leaves out the slices other
  // work takes (measure_latency.hpp), and pinning one thread buys nothing then.
  s.latency.clock = latency::LatencyClock::thread_cpu;
  s.latency.pin_threads = false;
  return s;
}

json table_settings_to_json(const TableSettings& s) {
  return {{"calib_tokens", s.calib_tokens},   {"eval_tokens", s.eval_tokens},
          {"ctx", s.ctx},                     {"threads", s.threads},
          {"latency", latency::latency_options_to_json(s.latency)},
          {"measure_batch", s.measure_batch}, {"order_seed", s.order_seed}};
}

void SearchTable::index() {
  by_hash_.clear();
  for (size_t i = 0; i < rows.size(); ++i) by_hash_[candidate_arch_hash(rows[i].arch)] = i;
}

const TableRow& SearchTable::at(const CandidateArch& arch) const {
  const auto it = by_hash_.find(candidate_arch_hash(arch));
  if (it == by_hash_.end()) throw Error("architecture not in the table: " + candidate_arch_to_json(arch).dump());
  return rows[it->second];
}

latency::ModelShape stories_shape() { return latency::shape_of(load_model(data_file("stories260K.gguf")).config); }

SearchTable build_table(const search::ArchSpace& space, const TableSettings& s, const std::string& cache_dir) {
  SearchTable table;
  const std::vector<CandidateArch> archs = enumerate_space(space);
  table.rows.resize(archs.size());
  for (size_t i = 0; i < archs.size(); ++i) table.rows[i].arch = archs[i];

  // Quality, as run_evaluate: the backbone, calibration keyed by the file's
  // sha256 and the text (EngineCache::calibration), BOS + encode(eval text) cut
  // to eval_tokens (EngineCache::tokens), then prune + evaluate.
  const std::string model_path = data_file("stories260K.gguf");
  const Model backbone = load_model(model_path);
  RuntimeContext runtime(RuntimeOptions{s.threads, false});
  CalibrationOptions calibration;
  calibration.max_tokens = s.calib_tokens;
  const CalibrationSource source{sha256_file_hex(model_path),
                                 read_text_file(data_file("tinystories-train-sample.txt"), "calibration")};
  const CalibrationStats stats = load_or_run_calibration(backbone, source, calibration, cache_dir, &runtime);
  const std::vector<int32_t> tokens = tokens_for_text(
      *backbone.tokenizer, read_text_file(data_file("tinystories-valid-sample.txt"), "eval"), s.eval_tokens, "eval");
  CandidateEvalOptions eval;
  eval.ctx = s.ctx;
  eval.threads = s.threads;
  const auto t0 = Clock::now();
  for (size_t i = 0; i < archs.size(); ++i) {
    const CandidateResult r = evaluate_candidate(backbone, stats, bind_arch(archs[i], backbone.config, "arch"), tokens,
                                                 eval, &runtime);
    table.rows[i].eval_nll = r.eval_nll;
    table.rows[i].params = r.params;
    if ((i + 1) % 200 == 0) std::fprintf(stderr, "evaluated %zu / %zu\n", i + 1, archs.size());
  }
  table.eval_seconds = seconds_since(t0);

  // Latency, as run_latency: the full config on the backbone's shape, measured
  // by the local measurer in interleaved batches, in a shuffled order.
  const latency::ModelShape shape = latency::shape_of(backbone.config);
  std::vector<size_t> order(archs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::mt19937_64 rng(s.order_seed);
  std::shuffle(order.begin(), order.end(), rng);
  const latency::LatencyMeasurer measure = latency::local_measurer(s.latency);
  json environment;
  const auto t1 = Clock::now();
  for (size_t begin = 0; begin < order.size(); begin += static_cast<size_t>(s.measure_batch)) {
    const size_t end = std::min(order.size(), begin + static_cast<size_t>(s.measure_batch));
    std::vector<ArchConfig> configs;
    for (size_t j = begin; j < end; ++j) configs.push_back(latency::shape_to_config(shape, archs[order[j]]));
    const std::vector<latency::MeasuredLatency> measured = measure(configs);
    for (size_t j = begin; j < end; ++j) {
      const latency::MeasuredLatency& m = measured.at(j - begin);
      TableRow& row = table.rows[order[j]];
      row.ttft_ms = m.ttft_ms;
      row.decode_ms_per_token = m.decode_ms_per_token;
      const json& ttft = m.detail.at("ttft_ms");
      row.ttft_spread = ttft.at("mad").get<double>() / ttft.at("median").get<double>();
      row.noisy = m.noisy;
      if (environment.is_null()) environment = m.detail.value("environment", json::object());
    }
    std::fprintf(stderr, "measured %zu / %zu\n", end, order.size());
  }
  table.latency_seconds = seconds_since(t1);
  table.settings = table_settings_to_json(s);
  table.settings["space"] = search::arch_space_options_to_json(space.options());
  table.settings["environment"] = environment;
  table.index();
  return table;
}

json table_to_json(const SearchTable& t) {
  json rows = json::array();
  for (const TableRow& r : t.rows) {
    rows.push_back({{"arch", candidate_arch_to_json(r.arch)},
                    {"eval_nll", r.eval_nll},
                    {"ttft_ms", r.ttft_ms},
                    {"decode_ms_per_token", r.decode_ms_per_token},
                    {"ttft_spread", r.ttft_spread},
                    {"noisy", r.noisy},
                    {"params", r.params}});
  }
  return {{"settings", t.settings},
          {"eval_seconds", t.eval_seconds},
          {"latency_seconds", t.latency_seconds},
          {"rows", rows}};
}

SearchTable table_from_json(const json& j) {
  SearchTable t;
  t.settings = j.at("settings");
  t.eval_seconds = j.at("eval_seconds").get<double>();
  t.latency_seconds = j.at("latency_seconds").get<double>();
  for (const json& r : j.at("rows")) {
    t.rows.push_back({candidate_arch_from_json(r.at("arch")), r.at("eval_nll").get<double>(),
                      r.at("ttft_ms").get<double>(), r.at("decode_ms_per_token").get<double>(),
                      r.at("ttft_spread").get<double>(), r.at("noisy").get<bool>(), r.at("params").get<int64_t>()});
  }
  t.index();
  return t;
}

SearchTable load_or_build_table(const std::string& path, const search::ArchSpace& space, const TableSettings& s,
                                const std::string& cache_dir) {
  json expected = table_settings_to_json(s);
  expected["space"] = search::arch_space_options_to_json(space.options());
  if (std::filesystem::exists(path)) {
    std::ifstream in(path);
    SearchTable t = table_from_json(json::parse(in));
    json stored = t.settings;
    stored.erase("environment");
    if (stored == expected && t.rows.size() == enumerate_space(space).size()) {
      std::fprintf(stderr, "table: %zu architectures from %s\n", t.rows.size(), path.c_str());
      return t;
    }
    std::fprintf(stderr, "table: %s was built with other settings; rebuilding\n", path.c_str());
  }
  SearchTable t = build_table(space, s, cache_dir);
  if (const auto dir = std::filesystem::path(path).parent_path(); !dir.empty()) std::filesystem::create_directories(dir);
  std::ofstream out(path);
  out << table_to_json(t).dump() << "\n";
  if (!out) throw Error("could not write the table to " + path);
  std::fprintf(stderr, "table: %zu architectures saved to %s (eval %.1f s, latency %.1f s)\n", t.rows.size(),
               path.c_str(), t.eval_seconds, t.latency_seconds);
  return t;
}

}  // namespace flashnas::bench
