// Pruning plan (what to keep) and its application (repacking the kept weights
// into a new one-block model).
#include "engine/prune/prune_to_arch.hpp"

#include <numeric>

#include "engine/util/error.hpp"

namespace flashnas {
namespace {

[[noreturn]] void fail(const std::string& field, const std::string& message) {
  throw InvalidInput(field + ": " + message, field);
}

std::vector<int64_t> all_indices(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// dst (rows.size(), cols.size()) = src[rows, cols]; src row-major with src_cols columns.
void gather(float* dst, const float* src, int64_t src_cols, const std::vector<int64_t>& rows,
            const std::vector<int64_t>& cols) {
  for (int64_t r : rows) {
    const float* s = src + r * src_cols;
    for (int64_t c : cols) *dst++ = s[c];
  }
}

// A vector (norm weight) cut to the kept channels.
void gather_vector(float* dst, const float* src, const std::vector<int64_t>& keep) {
  for (int64_t c : keep) *dst++ = src[c];
}

void check_scores(const ImportanceScores& s, const ArchConfig& b) {
  FLASHNAS_CHECK(static_cast<int64_t>(s.layer.size()) == b.n_layers() &&
                     static_cast<int64_t>(s.channel.size()) == b.d_model &&
                     static_cast<int64_t>(s.neuron.size()) == b.n_layers(),
                 "importance scores do not fit the backbone");
  for (int64_t l = 0; l < b.n_layers(); ++l) {
    FLASHNAS_CHECK(static_cast<int64_t>(s.neuron[static_cast<size_t>(l)].size()) ==
                       b.layers[static_cast<size_t>(l)].d_ffn,
                   "neuron scores of layer {} do not fit", l);
  }
}

}  // namespace

PrunePlan plan_pruning(const ArchConfig& backbone, const ImportanceScores& scores, const BoundArch& bound) {
  const CandidateArch& arch = bound.arch();
  FLASHNAS_CHECK(arch.n_layers <= backbone.n_layers() && arch.d_model <= backbone.d_model &&
                     bound.config().vocab_size == backbone.vocab_size,
                 "the architecture is bound to another backbone");
  check_scores(scores, backbone);
  PrunePlan plan;
  plan.layers = top_k_indices(scores.layer, arch.n_layers);
  plan.channels = top_k_indices(scores.channel, arch.d_model);
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    const size_t src = static_cast<size_t>(plan.layers[i]);
    const LayerConfig& kept = backbone.layers[src];
    // bind_arch bounds widths by the widest backbone layer; here it is the
    // layer actually kept that must supply them.
    if (arch.d_ffn[i] > kept.d_ffn) {
      fail(fmt::format("d_ffn[{}]", i),
           fmt::format("{} exceeds the width {} of backbone layer {} kept at this position",
                       arch.d_ffn[i], kept.d_ffn, src));
    }
    if (arch.layer_types[i] != LayerKind::skip && kept.kind == LayerKind::skip) {
      fail(fmt::format("layer_types[{}]", i),
           fmt::format("{} needs attention weights, but backbone layer {} is a skip layer",
                       layer_kind_name(arch.layer_types[i]), src));
    }
    plan.neurons.push_back(top_k_indices(scores.neuron[src], arch.d_ffn[i]));
  }
  return plan;
}

Model apply_prune_plan(const Model& backbone, const BoundArch& arch, const PrunePlan& plan) {
  const ArchConfig& b = backbone.config;
  Model out;
  out.config = arch.config();
  out.weights = allocate_weights(out.config);
  out.tokenizer = backbone.tokenizer;
  const ArchConfig& c = out.config;
  FLASHNAS_CHECK(static_cast<int64_t>(plan.channels.size()) == c.d_model &&
                     static_cast<int64_t>(plan.layers.size()) == c.n_layers() &&
                     plan.neurons.size() == plan.layers.size(),
                 "prune plan does not fit the candidate");

  const std::vector<int64_t>& ch = plan.channels;  // kept channels of C
  const std::vector<int64_t> vocab = all_indices(b.vocab_size);
  const std::vector<int64_t> q_rows = all_indices(b.q_dim());   // heads are kept whole
  const std::vector<int64_t> kv_rows = all_indices(b.kv_dim());
  const ModelWeights& bw = backbone.weights;
  ModelWeights& w = out.weights;

  gather(w.tok_embd, bw.tok_embd, b.d_model, vocab, ch);  // (V, C')
  gather_vector(w.out_norm, bw.out_norm, ch);
  if (!c.tied_embeddings) gather(w.output, bw.output, b.d_model, vocab, ch);  // (V, C')

  for (size_t i = 0; i < plan.layers.size(); ++i) {
    const LayerWeights& src = bw.layers[static_cast<size_t>(plan.layers[i])];
    LayerWeights& dst = w.layers[i];
    const int64_t src_ff = b.layers[static_cast<size_t>(plan.layers[i])].d_ffn;
    if (c.layers[i].kind != LayerKind::skip) {
      gather_vector(dst.attn_norm, src.attn_norm, ch);
      gather(dst.wq, src.wq, b.d_model, q_rows, ch);   // (NH*HS, C')
      gather(dst.wk, src.wk, b.d_model, kv_rows, ch);  // (KVH*HS, C')
      gather(dst.wv, src.wv, b.d_model, kv_rows, ch);  // (KVH*HS, C')
      gather(dst.wo, src.wo, b.q_dim(), ch, q_rows);   // (C', NH*HS)
    }
    const std::vector<int64_t>& ff = plan.neurons[i];
    gather_vector(dst.ffn_norm, src.ffn_norm, ch);
    gather(dst.w_gate, src.w_gate, b.d_model, ff, ch);  // (FF', C')
    gather(dst.w_up, src.w_up, b.d_model, ff, ch);      // (FF', C')
    gather(dst.w_down, src.w_down, src_ff, ch, ff);     // (C', FF')
  }
  return out;
}

PrunePlan plan_from_stats(const ArchConfig& backbone, const CalibrationStats& stats, const BoundArch& arch,
                          const PruneOptions& options) {
  const ImportanceScores scores = options.random_importance_seed
                                      ? random_importance(backbone, *options.random_importance_seed)
                                      : importance_from_stats(stats, backbone);
  return plan_pruning(backbone, scores, arch);
}

Model prune_to_arch(const Model& backbone, const CalibrationStats& stats, const BoundArch& arch,
                    const PruneOptions& options) {
  return apply_prune_plan(backbone, arch, plan_from_stats(backbone.config, stats, arch, options));
}

}  // namespace flashnas
