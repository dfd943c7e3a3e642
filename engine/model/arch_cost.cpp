// Analytic FLOP, parameter and byte counts per layer kind (see arch_cost.hpp for
// the conventions).
#include "engine/model/arch_cost.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "engine/util/error.hpp"

namespace flashnas {
namespace {

void require_context(int64_t P, int64_t min, const char* what) {
  if (P < min) {
    throw InvalidInput(fmt::format("{}: context must be at least {}, got {}", what, min, P),
                       "context");
  }
}

const LayerConfig& layer_at(const ArchConfig& c, int64_t layer) {
  FLASHNAS_CHECK(layer >= 0 && layer < c.n_layers(), "layer {} of {}", layer, c.n_layers());
  return c.layers[static_cast<size_t>(layer)];
}

// Attention FLOPs per attended key in one layer: q.k and the value accumulation.
double attention_flops_per_key(const ArchConfig& c) {
  return 4.0 * static_cast<double>(c.n_heads) * static_cast<double>(c.head_dim);
}

// Positions a layer keeps in its cache after P positions.
int64_t cached_positions(const LayerConfig& layer, int64_t P) {
  switch (layer.kind) {
    case LayerKind::full: return P;
    case LayerKind::swa: return std::min(P, layer.window);
    case LayerKind::skip: return 0;
  }
  return 0;
}

// Sum over layers of attention FLOPs for all queries at positions 0..P-1.
double attention_flops_prefill(const ArchConfig& c, int64_t P) {
  double keys = 0;
  for (int64_t l = 0; l < c.n_layers(); ++l) keys += static_cast<double>(attended_keys_prefill(c, l, P));
  return keys * attention_flops_per_key(c);
}

}  // namespace

int64_t cost_parameters(const ArchConfig& c) { return count_parameters(c); }

int64_t cost_non_embedding_parameters(const ArchConfig& c) {
  return count_parameters(c) - count_embedding_parameters(c);
}

int64_t attended_keys(const ArchConfig& c, int64_t layer, int64_t p) {
  require_context(p, 0, "attended_keys");
  return cached_positions(layer_at(c, layer), p + 1);
}

int64_t attended_keys_prefill(const ArchConfig& c, int64_t layer, int64_t P) {
  require_context(P, 0, "attended_keys_prefill");
  const LayerConfig& lc = layer_at(c, layer);
  // sum_{p<P} min(p+1, M) = M(M+1)/2 + (P-M)*M with M = min(P, cap).
  const int64_t cap = lc.kind == LayerKind::full ? P : lc.kind == LayerKind::swa ? lc.window : 0;
  const int64_t M = std::min(P, cap);
  return M * (M + 1) / 2 + (P - M) * M;
}

double layer_matmul_flops_per_token(const ArchConfig& c) {
  const double C = static_cast<double>(c.d_model);
  double weights = 0;  // elements of every layer matrix a token is multiplied by
  for (const LayerConfig& layer : c.layers) {
    if (layer.kind != LayerKind::skip) {
      weights += 2.0 * static_cast<double>(c.q_dim()) * C     // wq, wo
                 + 2.0 * static_cast<double>(c.kv_dim()) * C; // wk, wv
    }
    weights += 3.0 * static_cast<double>(layer.d_ffn) * C;   // gate, up, down
  }
  return 2.0 * weights;
}

double head_flops_per_token(const ArchConfig& c) {
  return 2.0 * static_cast<double>(c.vocab_size) * static_cast<double>(c.d_model);
}

double flops_per_token(const ArchConfig& c, int64_t context) {
  require_context(context, 1, "flops_per_token");
  return layer_matmul_flops_per_token(c) + head_flops_per_token(c) +
         attention_flops_prefill(c, context) / static_cast<double>(context);
}

double prefill_flops(const ArchConfig& c, int64_t P, const ArchCostOptions& opt) {
  require_context(P, 0, "prefill_flops");
  const double positions = static_cast<double>(P);
  const double head_positions = opt.prefill_logits_every_position ? positions : std::min(positions, 1.0);
  return positions * layer_matmul_flops_per_token(c) + head_positions * head_flops_per_token(c) +
         attention_flops_prefill(c, P);
}

double decode_flops_per_token(const ArchConfig& c, int64_t P) {
  require_context(P, 0, "decode_flops_per_token");
  double keys = 0;
  for (int64_t l = 0; l < c.n_layers(); ++l) keys += static_cast<double>(attended_keys(c, l, P));
  return layer_matmul_flops_per_token(c) + head_flops_per_token(c) +
         keys * attention_flops_per_key(c);
}

double weight_bytes_per_decode_token(const ArchConfig& c, const ArchCostOptions& opt) {
  const int64_t VC = c.vocab_size * c.d_model;
  // Layers + final norm, then the head (V*C) and, if untied, one embedding row.
  const int64_t read = cost_non_embedding_parameters(c) + VC + (c.tied_embeddings ? 0 : c.d_model);
  return static_cast<double>(read) * opt.weight_bytes_per_element;
}

double kv_bytes_per_position(const ArchConfig& c, int64_t layer, const ArchCostOptions& opt) {
  if (layer_at(c, layer).kind == LayerKind::skip) return 0.0;
  return 2.0 * static_cast<double>(c.kv_dim()) * opt.kv_bytes_per_element;
}

double kv_cache_bytes(const ArchConfig& c, int64_t P, const ArchCostOptions& opt) {
  require_context(P, 0, "kv_cache_bytes");
  double bytes = 0;
  for (int64_t l = 0; l < c.n_layers(); ++l) {
    bytes += static_cast<double>(cached_positions(layer_at(c, l), P)) * kv_bytes_per_position(c, l, opt);
  }
  return bytes;
}

double kv_cache_bytes_per_token(const ArchConfig& c, int64_t P, const ArchCostOptions& opt) {
  require_context(P, 1, "kv_cache_bytes_per_token");
  return kv_cache_bytes(c, P, opt) / static_cast<double>(P);
}

double kv_bytes_read_per_decode(const ArchConfig& c, int64_t P, const ArchCostOptions& opt) {
  require_context(P, 0, "kv_bytes_read_per_decode");
  double bytes = 0;
  for (int64_t l = 0; l < c.n_layers(); ++l) {
    bytes += static_cast<double>(attended_keys(c, l, P)) * kv_bytes_per_position(c, l, opt);
  }
  return bytes;
}

ArchCost arch_cost(const ArchConfig& c, int64_t context, const ArchCostOptions& opt) {
  require_context(context, 1, "arch_cost");
  ArchCost r;
  r.context = context;
  r.params = cost_parameters(c);
  r.non_embedding_params = cost_non_embedding_parameters(c);
  r.flops_per_token = flops_per_token(c, context);
  r.prefill_flops = prefill_flops(c, context, opt);
  r.decode_flops_per_token = decode_flops_per_token(c, context);
  r.weight_bytes_per_decode_token = weight_bytes_per_decode_token(c, opt);
  r.kv_cache_bytes = kv_cache_bytes(c, context, opt);
  r.kv_cache_bytes_per_token = kv_cache_bytes_per_token(c, context, opt);
  r.kv_bytes_read_per_decode = kv_bytes_read_per_decode(c, context, opt);
  return r;
}

nlohmann::json arch_cost_to_json(const ArchCost& r) {
  return {{"context", r.context},
          {"params", r.params},
          {"non_embedding_params", r.non_embedding_params},
          {"flops_per_token", r.flops_per_token},
          {"prefill_flops", r.prefill_flops},
          {"decode_flops_per_token", r.decode_flops_per_token},
          {"weight_bytes_per_decode_token", r.weight_bytes_per_decode_token},
          {"kv_cache_bytes", r.kv_cache_bytes},
          {"kv_cache_bytes_per_token", r.kv_cache_bytes_per_token},
          {"kv_bytes_read_per_decode", r.kv_bytes_read_per_decode}};
}

}  // namespace flashnas
