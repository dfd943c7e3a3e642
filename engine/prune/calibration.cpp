// Calibration run: a ForwardObserver that accumulates channel energies, neuron
// energies and block influence in double over windows of calibration tokens, and
// the cached entry point.
#include "engine/prune/calibration.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>

#include "engine/prune/prune_to_arch.hpp"
#include "engine/runtime/evaluate.hpp"
#include "engine/runtime/forward_observer.hpp"
#include "engine/runtime/inference_session.hpp"
#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"

namespace flashnas {
namespace {

// Running sums of x^2 per column and how many rows went in.
struct EnergySum {
  std::vector<double> sum;
  int64_t rows = 0;

  void add(const ActivationView& x) {
    if (sum.empty()) sum.assign(static_cast<size_t>(x.cols), 0.0);
    FLASHNAS_CHECK(static_cast<int64_t>(sum.size()) == x.cols, "activation width changed");
    for (int64_t r = 0; r < x.rows; ++r) {
      const float* row = x.row(r);
      for (int64_t c = 0; c < x.cols; ++c) sum[static_cast<size_t>(c)] += double(row[c]) * row[c];
    }
    rows += x.rows;
  }
  std::vector<double> mean(int64_t cols) const {
    std::vector<double> m(static_cast<size_t>(cols), 0.0);
    if (rows == 0) return m;  // e.g. no attention layer at all
    for (size_t c = 0; c < m.size(); ++c) m[c] = sum[c] / static_cast<double>(rows);
    return m;
  }
};

// Running sum of 1 - cos(in[t], out[t]) over rows.
struct InfluenceSum {
  double sum = 0.0;
  int64_t rows = 0;

  void add(const ActivationView& in, const ActivationView& out) {
    FLASHNAS_CHECK(in.rows == out.rows && in.cols == out.cols, "influence views differ in shape");
    for (int64_t r = 0; r < in.rows; ++r) {
      const float* a = in.row(r);
      const float* b = out.row(r);
      double ab = 0, aa = 0, bb = 0;
      for (int64_t c = 0; c < in.cols; ++c) {
        ab += double(a[c]) * b[c];
        aa += double(a[c]) * a[c];
        bb += double(b[c]) * b[c];
      }
      // A zero vector has no direction: count it as unchanged (influence 0).
      const double denom = std::sqrt(aa) * std::sqrt(bb);
      sum += denom > 0 ? 1.0 - ab / denom : 0.0;
    }
    rows += in.rows;
  }
  double mean() const { return rows > 0 ? sum / static_cast<double>(rows) : 0.0; }
};

class StatsObserver final : public ForwardObserver {
 public:
  explicit StatsObserver(const ArchConfig& c)
      : neurons_(c.layers.size()), block_(c.layers.size()), attention_(c.layers.size()) {}

  void layer_input(int64_t layer, const ActivationView& x) override {
    if (layer == 0) residual_.add(x);  // the embedding output; later points are layer outputs
  }
  void attention_norm(int64_t, const ActivationView& xn) override { attn_in_.add(xn); }
  void attention_residual(int64_t layer, const ActivationView& in, const ActivationView& out) override {
    attention_[static_cast<size_t>(layer)].add(in, out);
  }
  void ffn_norm(int64_t, const ActivationView& xn) override { ffn_in_.add(xn); }
  void ffn_hidden(int64_t layer, const ActivationView& h) override {
    neurons_[static_cast<size_t>(layer)].add(h);
  }
  void layer_output(int64_t layer, const ActivationView& in, const ActivationView& out) override {
    block_[static_cast<size_t>(layer)].add(in, out);
    residual_.add(out);
  }

  CalibrationStats finish(const ArchConfig& c) const {
    CalibrationStats s;
    s.d_model = c.d_model;
    s.n_layers = c.n_layers();
    s.residual_energy = residual_.mean(c.d_model);
    s.attn_input_energy = attn_in_.mean(c.d_model);
    s.ffn_input_energy = ffn_in_.mean(c.d_model);
    for (int64_t l = 0; l < c.n_layers(); ++l) {
      const size_t i = static_cast<size_t>(l);
      s.ffn_neuron_energy.push_back(neurons_[i].mean(c.layers[i].d_ffn));
      s.block_influence.push_back(block_[i].mean());
      s.attn_influence.push_back(attention_[i].mean());
    }
    return s;
  }

 private:
  EnergySum residual_, attn_in_, ffn_in_;  // (C) each
  std::vector<EnergySum> neurons_;         // (L) of (FF_l)
  std::vector<InfluenceSum> block_, attention_;  // (L)
};

void check_options(const CalibrationOptions& o) {
  if (o.max_tokens < 2) {
    throw InvalidInput(fmt::format("calibration tokens must be at least 2, got {}", o.max_tokens),
                       "calib_tokens");
  }
  if (o.window < 1) {
    throw InvalidInput(fmt::format("calibration window must be positive, got {}", o.window), "ctx");
  }
}

// The backbone restricted to the layers in `keep` (ascending), every channel and
// neuron kept.
Model backbone_with_layers(const Model& backbone, const std::vector<int64_t>& keep) {
  const ArchConfig& c = backbone.config;
  const CandidateArch all = backbone_as_candidate(c);
  CandidateArch arch = all;
  arch.n_layers = static_cast<int64_t>(keep.size());
  arch.d_ffn.clear();
  arch.layer_types.clear();
  PrunePlan plan;
  plan.channels.resize(static_cast<size_t>(c.d_model));
  std::iota(plan.channels.begin(), plan.channels.end(), 0);
  for (int64_t k : keep) {
    const size_t i = static_cast<size_t>(k);
    arch.d_ffn.push_back(all.d_ffn[i]);
    arch.layer_types.push_back(all.layer_types[i]);
    plan.layers.push_back(k);
    std::vector<int64_t> neurons(static_cast<size_t>(c.layers[i].d_ffn));
    std::iota(neurons.begin(), neurons.end(), 0);
    plan.neurons.push_back(std::move(neurons));
  }
  return apply_prune_plan(backbone, bind_arch(arch, c), plan);
}

// Depth importance by loss, in two forms (Minitron's LM-loss depth importance,
// and a greedy iterative version of it):
//  - removal_nll[l]: calibration NLL without layer l minus the full model's
//    (the first round of the elimination below);
//  - elimination_order: greedy backward elimination, each round dropping the
//    layer whose removal raises the NLL least. Keeping the last k eliminated
//    layers is what pruning to k layers wants; a one-shot ranking is not, since
//    a layer that matters next to its neighbours (layer 0 of stories260K) can be
//    useless alone, where the last layer that maps into the head's space is not.
// Costs L(L+1)/2 - 1 forwards over the calibration tokens, once per backbone
// (the stats are cached).
struct DepthImportance {
  std::vector<double> removal_nll;         // (L)
  std::vector<int64_t> elimination_order;  // (L) first eliminated first
};

DepthImportance depth_importance(const Model& backbone, const std::vector<int32_t>& tokens,
                                 int64_t window, RuntimeContext& context) {
  const int64_t L = backbone.config.n_layers();
  DepthImportance out;
  out.removal_nll.assign(static_cast<size_t>(L), 0.0);
  std::vector<int64_t> kept(static_cast<size_t>(L));
  std::iota(kept.begin(), kept.end(), 0);
  if (tokens.size() < 2) {
    out.elimination_order = kept;
    return out;
  }
  EvalOptions eval;
  eval.ctx = window;
  const double full = evaluate_nll(backbone.config, backbone.weights, tokens, eval, &context).nll;
  while (kept.size() > 1) {
    size_t best = 0;
    double best_nll = 0.0;
    for (size_t i = 0; i < kept.size(); ++i) {
      std::vector<int64_t> without = kept;
      without.erase(without.begin() + static_cast<std::ptrdiff_t>(i));
      const Model m = backbone_with_layers(backbone, without);
      const double nll = evaluate_nll(m.config, m.weights, tokens, eval, &context).nll;
      if (static_cast<int64_t>(kept.size()) == L) out.removal_nll[i] = nll - full;
      if (i == 0 || nll < best_nll) {  // ties go to the lower layer index
        best = i;
        best_nll = nll;
      }
    }
    out.elimination_order.push_back(kept[best]);
    kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(best));
  }
  out.elimination_order.push_back(kept.front());
  return out;
}

CalibrationKey make_key(const CalibrationSource& source, size_t n_tokens,
                        const CalibrationOptions& options) {
  CalibrationKey key;
  key.backbone_sha256 = source.backbone_sha256;
  key.text_sha256 = sha256_hex(source.text);
  key.n_tokens = static_cast<int64_t>(n_tokens);
  key.window = options.window;
  return key;
}

}  // namespace

std::vector<int32_t> tokens_for_text(const Tokenizer& tokenizer, const std::string& text,
                                     int64_t max_tokens, const std::string& field) {
  // The evaluation protocol's tokenisation (CRLF normalised to LF), shared so
  // calibration and evaluation see text the same way.
  std::vector<int32_t> tokens = tokenize_eval_text(tokenizer, text, max_tokens);
  if (tokens.size() < 2) {
    throw InvalidInput(fmt::format("{}: text gives {} tokens, need at least 2", field, tokens.size()),
                       field);
  }
  return tokens;
}

CalibrationStats run_calibration(const Model& backbone, const std::vector<int32_t>& tokens,
                                 const CalibrationOptions& options, RuntimeContext* context) {
  check_options(options);
  if (tokens.empty()) throw InvalidInput("calibration needs at least one token", "calib");
  std::unique_ptr<RuntimeContext> own;
  if (!context) {
    own = std::make_unique<RuntimeContext>(RuntimeOptions{options.threads, false});
    context = own.get();
  }
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t window = std::min(options.window, n);
  InferenceSession session(backbone, *context, SessionOptions{window, window});
  StatsObserver observer(backbone.config);
  PrefillOptions prefill;
  prefill.observer = &observer;
  for (int64_t start = 0; start < n; start += window) {
    const int64_t len = std::min(window, n - start);
    session.reset();
    session.prefill(std::span<const int32_t>(tokens.data() + start, static_cast<size_t>(len)), prefill);
  }
  CalibrationStats stats = observer.finish(backbone.config);
  DepthImportance depth = depth_importance(backbone, tokens, options.window, *context);
  stats.layer_removal_nll = std::move(depth.removal_nll);
  stats.layer_elimination_order = std::move(depth.elimination_order);
  stats.key.n_tokens = n;
  stats.key.window = options.window;
  return stats;
}

CalibrationKey calibration_key(const Model& backbone, const CalibrationSource& source,
                               const CalibrationOptions& options) {
  check_options(options);
  if (!backbone.tokenizer) throw InvalidInput("the backbone has no tokenizer", "model");
  return make_key(source, tokens_for_text(*backbone.tokenizer, source.text, options.max_tokens,
                                          "calib").size(),
                  options);
}

CalibrationStats load_or_run_calibration(const Model& backbone, const CalibrationSource& source,
                                         const CalibrationOptions& options,
                                         const std::string& cache_dir, RuntimeContext* context,
                                         bool* loaded_from_cache) {
  if (loaded_from_cache) *loaded_from_cache = false;
  if (!backbone.tokenizer) throw InvalidInput("the backbone has no tokenizer", "model");
  const std::vector<int32_t> tokens =
      tokens_for_text(*backbone.tokenizer, source.text, options.max_tokens, "calib");
  const CalibrationKey key = make_key(source, tokens.size(), options);
  if (!cache_dir.empty()) {
    if (auto cached = find_cached_calibration(cache_dir, key)) {
      cached->check_matches(backbone.config);
      if (loaded_from_cache) *loaded_from_cache = true;
      return *std::move(cached);
    }
  }
  CalibrationStats stats = run_calibration(backbone, tokens, options, context);
  stats.key = key;
  if (!cache_dir.empty()) {
    save_calibration_stats(stats, calibration_cache_path(cache_dir, key));
    spdlog::info("calibration stats saved to {}", calibration_cache_path(cache_dir, key));
  }
  return stats;
}

}  // namespace flashnas
