// The exhaustive table behind bench_search_job and bench_search_step: every
// architecture of a stories260K sub-space small enough to enumerate, with its
// eval NLL computed as the service's evaluate task computes it (calibrated
// importance pruning + evaluate_candidate, app/task_runners.cpp run_evaluate,
// with the caches of app/engine_cache.cpp) and its latency measured as the
// service's latency task measures it (engine/latency/study.hpp local_measurer,
// interleaved within batches). Built once, saved as JSON, reused by reruns.
// Not the search arms (bench_search_job.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/support/data_file.hpp"
#include "engine/latency/latency_options.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/model/candidate_arch.hpp"
#include "engine/search/arch_space.hpp"

namespace flashnas::bench {

// The sub-space of stories260K (5 layers, d_model 64, FFN 172, 8 heads / 4 KV
// heads of size 8, vocabulary 512): n_layers 2..5, d_model {32, 48, 64}, one
// d_ffn {64, 100, 136, 172}, kinds full/swa/skip, windows {16, 32}, first layer
// full, at most 2 consecutive non-full layers, at least 1 full: 1,608 architectures.
search::ArchSpaceOptions stories_subspace();

// Every admissible architecture of `space` (shared FFN widths only), in a fixed
// order: n_layers, then the kind pattern, window, d_model, d_ffn.
std::vector<CandidateArch> enumerate_space(const search::ArchSpace& space);

struct TableSettings {
  int64_t calib_tokens = 8192;  // calibration: tinystories-train-sample, the service's default
  int64_t eval_tokens = 4096;   // evaluation: tinystories-valid-sample (the service's default is 16384)
  int64_t ctx = 256;
  int threads = 1;
  latency::LatencyOptions latency;  // prompt_len 64, thread CPU clock (see table_settings_default)
  int64_t measure_batch = 64;       // architectures interleaved per local_measurer call
  uint64_t order_seed = 1;          // measuring order (shuffled so drift spreads over the space)
};
TableSettings table_settings_default();
nlohmann::json table_settings_to_json(const TableSettings& s);

struct TableRow {
  CandidateArch arch;
  double eval_nll = 0.0;
  double ttft_ms = 0.0;              // median TTFT at prompt_len
  double decode_ms_per_token = 0.0;  // median decode ms/token at context prompt_len
  double ttft_spread = 0.0;          // MAD / median of the TTFT runs
  bool noisy = false;                // the measurer's noise gate flagged it
  int64_t params = 0;
};

class SearchTable {
 public:
  nlohmann::json settings;  // table_settings_to_json + the space + environment
  std::vector<TableRow> rows;
  double eval_seconds = 0.0, latency_seconds = 0.0;

  void index();  // after rows change
  const TableRow& at(const CandidateArch& arch) const;  // throws Error when not in the table
  bool contains(const CandidateArch& arch) const { return by_hash_.count(candidate_arch_hash(arch)) > 0; }

 private:
  std::unordered_map<std::string, size_t> by_hash_;
};

// The backbone's shape (what its candidates keep), from stories260K.gguf.
latency::ModelShape stories_shape();

// Evaluates and measures every architecture of the space; calibration statistics
// are cached in `cache_dir` (empty: memory only). Progress goes to stderr.
SearchTable build_table(const search::ArchSpace& space, const TableSettings& settings, const std::string& cache_dir);

nlohmann::json table_to_json(const SearchTable& table);
SearchTable table_from_json(const nlohmann::json& j);

// The table at `path` if it exists and was built with the same settings and
// space, else a new build saved there.
SearchTable load_or_build_table(const std::string& path, const search::ArchSpace& space,
                                const TableSettings& settings, const std::string& cache_dir);

}  // namespace flashnas::bench
