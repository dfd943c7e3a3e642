// ArchSpace: rules, sampling, repair, moves and the encoding of architectures.
#include "engine/search/arch_space.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "engine/search/sobol.hpp"
#include "engine/util/error.hpp"

namespace flashnas::search {

namespace {

double normalise(int64_t index, int64_t count) {
  return count > 1 ? static_cast<double>(index) / static_cast<double>(count - 1) : 0.0;
}

int64_t snap(double u, int64_t count) {
  if (count <= 1 || !std::isfinite(u)) return 0;
  return std::clamp<int64_t>(std::llround(u * static_cast<double>(count - 1)), 0, count - 1);
}

int64_t pick_index(double u, int64_t count) {  // u in [0, 1) -> {0..count-1} uniformly
  return std::clamp<int64_t>(static_cast<int64_t>(u * static_cast<double>(count)), 0, count - 1);
}

bool has_swa(const CandidateArch& a) {
  return std::count(a.layer_types.begin(), a.layer_types.end(), LayerKind::swa) > 0;
}

}  // namespace

ArchSpace::ArchSpace(ArchSpaceOptions options) : options_(std::move(options)) {
  options_.validate();
  max_layers_ = options_.n_layers.max;
  ffn_slots_ = options_.per_layer_ffn ? max_layers_ : 1;
  encoding_dims_ = 2 + ffn_slots_ + 2 * max_layers_ + 3 + 1;
}

void ArchSpace::check(const CandidateArch& a) const {
  const auto& o = options_;
  auto fail = [](const std::string& field, const std::string& msg) { throw InvalidInput(field + ": " + msg, field); };
  if (!o.n_layers.contains(a.n_layers)) fail("n_layers", fmt::format("{} is not in the space's range", a.n_layers));
  if (!o.d_model.contains(a.d_model)) fail("d_model", fmt::format("{} is not in the space's range", a.d_model));
  if (static_cast<int64_t>(a.d_ffn.size()) != a.n_layers || static_cast<int64_t>(a.layer_types.size()) != a.n_layers) {
    fail("layer_types", "needs one entry per layer");
  }
  for (int64_t i = 0; i < a.n_layers; ++i) {
    if (!o.d_ffn.contains(a.d_ffn[i])) fail(fmt::format("d_ffn[{}]", i), fmt::format("{} is not in the space's range", a.d_ffn[i]));
    if (!o.per_layer_ffn && a.d_ffn[i] != a.d_ffn[0]) fail(fmt::format("d_ffn[{}]", i), "the space shares one FFN width");
    if (std::count(o.layer_kinds.begin(), o.layer_kinds.end(), a.layer_types[i]) == 0) {
      fail(fmt::format("layer_types[{}]", i), "kind not allowed in the space");
    }
  }
  const int64_t bad = first_rule_violation(a.layer_types);
  if (bad == a.n_layers) fail("layer_types", fmt::format("needs at least {} full layers", o.min_full_layers));
  if (bad == 0 && o.first_layer_full) fail("layer_types[0]", "the first layer must be full");
  if (bad >= 0) {
    fail(fmt::format("layer_types[{}]", bad),
         fmt::format("more than {} consecutive non-full layers", o.max_consecutive_non_full));
  }
  if (has_swa(a)) {
    if (std::count(o.sliding_windows.begin(), o.sliding_windows.end(), a.sliding_window) == 0) {
      fail("sliding_window", fmt::format("{} is not one of the space's windows", a.sliding_window));
    }
  } else if (a.sliding_window != 0) {
    fail("sliding_window", "must be 0 without swa layers");
  }
}

int64_t ArchSpace::first_rule_violation(const std::vector<LayerKind>& kinds) const {
  const auto& o = options_;
  const int64_t n = static_cast<int64_t>(kinds.size());
  if (n == 0) return 0;
  if (o.first_layer_full && kinds[0] != LayerKind::full) return 0;
  int64_t run = 0, full = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (kinds[i] == LayerKind::full) {
      run = 0;
      ++full;
    } else if (o.max_consecutive_non_full >= 0 && ++run > o.max_consecutive_non_full) {
      return i;
    }
  }
  return full < o.min_full_layers ? n : -1;
}

bool ArchSpace::contains(const CandidateArch& a) const {
  try {
    check(a);
    return true;
  } catch (const InvalidInput&) {
    return false;
  }
}

Eigen::VectorXd ArchSpace::encode(const CandidateArch& a) const {
  const auto& o = options_;
  Eigen::VectorXd x = Eigen::VectorXd::Zero(encoding_dims_);
  x(0) = normalise(o.n_layers.index_of(a.n_layers), o.n_layers.count());
  x(1) = normalise(o.d_model.index_of(a.d_model), o.d_model.count());
  for (int64_t s = 0; s < std::min(ffn_slots_, a.n_layers); ++s) {
    x(2 + s) = normalise(o.d_ffn.index_of(a.d_ffn[s]), o.d_ffn.count());
  }
  const int64_t kinds = 2 + ffn_slots_;
  double counts[3] = {0, 0, 0};
  for (int64_t i = 0; i < a.n_layers; ++i) {
    if (a.layer_types[i] == LayerKind::swa) x(kinds + 2 * i) = 1.0;
    if (a.layer_types[i] == LayerKind::skip) x(kinds + 2 * i + 1) = 1.0;
    counts[static_cast<int>(a.layer_types[i])] += 1.0;
  }
  const int64_t c = kinds + 2 * max_layers_;
  for (int k = 0; k < 3; ++k) x(c + k) = counts[k] / static_cast<double>(max_layers_);
  if (has_swa(a)) {
    const auto it = std::find(o.sliding_windows.begin(), o.sliding_windows.end(), a.sliding_window);
    const int64_t w = it == o.sliding_windows.end() ? 0 : it - o.sliding_windows.begin();
    x(c + 3) = normalise(w, static_cast<int64_t>(o.sliding_windows.size()));
  }
  return x;
}

CandidateArch ArchSpace::decode(const Eigen::VectorXd& x) const {
  FLASHNAS_CHECK(x.size() == encoding_dims_, "encoding has {} entries, the space {}", x.size(), encoding_dims_);
  const auto& o = options_;
  CandidateArch a;
  a.n_layers = o.n_layers.value(snap(x(0), o.n_layers.count()));
  a.d_model = o.d_model.value(snap(x(1), o.d_model.count()));
  const int64_t kinds = 2 + ffn_slots_;
  for (int64_t i = 0; i < a.n_layers; ++i) {
    a.d_ffn.push_back(o.d_ffn.value(snap(x(2 + (o.per_layer_ffn ? i : 0)), o.d_ffn.count())));
    LayerKind k = LayerKind::full;
    if (x(kinds + 2 * i) > 0.5) k = LayerKind::swa;
    if (x(kinds + 2 * i + 1) > 0.5) k = LayerKind::skip;
    a.layer_types.push_back(k);
  }
  if (has_swa(a)) {
    a.sliding_window = o.sliding_windows[snap(x(kinds + 2 * max_layers_ + 3), static_cast<int64_t>(o.sliding_windows.size()))];
  }
  return a;
}

void ArchSpace::repair(CandidateArch& a) const {
  const auto& o = options_;
  if (a.n_layers < 1) return;
  if (o.first_layer_full) a.layer_types[0] = LayerKind::full;
  if (o.max_consecutive_non_full >= 0) {
    int64_t run = 0;
    for (auto& k : a.layer_types) {
      if (k == LayerKind::full) {
        run = 0;
      } else if (++run > o.max_consecutive_non_full) {
        k = LayerKind::full;
        run = 0;
      }
    }
  }
  int64_t full = std::count(a.layer_types.begin(), a.layer_types.end(), LayerKind::full);
  for (auto& k : a.layer_types) {
    if (full >= o.min_full_layers) break;
    if (k != LayerKind::full) {
      k = LayerKind::full;
      ++full;
    }
  }
  if (!o.per_layer_ffn) std::fill(a.d_ffn.begin(), a.d_ffn.end(), a.d_ffn.empty() ? 0 : a.d_ffn[0]);
  if (!has_swa(a)) {
    a.sliding_window = 0;
  } else if (std::count(o.sliding_windows.begin(), o.sliding_windows.end(), a.sliding_window) == 0) {
    a.sliding_window = o.sliding_windows[0];
  }
}

CandidateArch ArchSpace::from_genes(const Eigen::VectorXd& u) const {
  const auto& o = options_;
  CandidateArch a;
  a.n_layers = o.n_layers.value(pick_index(u(0), o.n_layers.count()));
  a.d_model = o.d_model.value(pick_index(u(1), o.d_model.count()));
  const int64_t kinds = 2 + ffn_slots_;
  const int64_t nk = static_cast<int64_t>(o.layer_kinds.size());
  for (int64_t i = 0; i < a.n_layers; ++i) {
    a.d_ffn.push_back(o.d_ffn.value(pick_index(u(2 + (o.per_layer_ffn ? i : 0)), o.d_ffn.count())));
    a.layer_types.push_back(o.layer_kinds[pick_index(u(kinds + i), nk)]);
  }
  a.sliding_window = o.sliding_windows.empty()
                         ? 0
                         : o.sliding_windows[pick_index(u(kinds + max_layers_), static_cast<int64_t>(o.sliding_windows.size()))];
  repair(a);
  return a;
}

CandidateArch ArchSpace::sample_arch(std::mt19937_64& rng) const {
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  Eigen::VectorXd u(2 + ffn_slots_ + max_layers_ + 1);
  for (Eigen::Index i = 0; i < u.size(); ++i) u(i) = u01(rng);
  return from_genes(u);
}

Eigen::MatrixXd ArchSpace::initial_design(int64_t n, uint64_t seed) const {
  const int64_t genes = 2 + ffn_slots_ + max_layers_ + 1;
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ull);
  Eigen::MatrixXd u;
  if (genes <= kSobolMaxDims) {
    SobolSequence sobol(genes, /*scramble=*/true, seed);
    u = sobol.next(n);
  } else {  // too many genes for the Sobol table: plain uniform draws
    u.resize(n, genes);
    std::uniform_real_distribution<double> u01(0.0, 1.0);
    for (Eigen::Index i = 0; i < u.size(); ++i) u.data()[i] = u01(rng);
  }
  Eigen::MatrixXd out(n, encoding_dims_);
  std::unordered_set<std::string> seen;
  for (int64_t i = 0; i < n; ++i) {
    Eigen::VectorXd x = encode(from_genes(u.row(i).transpose()));
    // Repair can map two design points to one architecture: top up with random draws.
    for (int tries = 0; seen.count(key(x)) && tries < 100; ++tries) x = sample(rng);
    seen.insert(key(x));
    out.row(i) = x.transpose();
  }
  return out;
}

bool ArchSpace::try_mutate(CandidateArch& a, double scale, std::mt19937_64& rng) const {
  const auto& o = options_;
  std::uniform_int_distribution<int> move(0, 4);
  std::bernoulli_distribution up(0.5);
  // Step size in grid units: mostly 1, larger with `scale` (a fraction of the range).
  auto steps = [&](int64_t count) {
    std::normal_distribution<double> g(0.0, std::max(scale, 1e-9) * static_cast<double>(count));
    return std::max<int64_t>(1, std::llround(std::abs(g(rng))));
  };
  auto step_in = [&](int64_t v, const IntRange& r) {
    const int64_t k = steps(r.count());
    const int64_t idx = std::clamp<int64_t>(r.index_of(v) + (up(rng) ? k : -k), 0, r.count() - 1);
    return r.value(idx);
  };
  switch (move(rng)) {
    case 0: {  // one layer more or fewer (never the first)
      const bool add = up(rng);
      if (add && a.n_layers + o.n_layers.step <= o.n_layers.max) {
        std::uniform_int_distribution<size_t> kind(0, o.layer_kinds.size() - 1);
        for (int64_t r = 0; r < o.n_layers.step; ++r) {
          std::uniform_int_distribution<int64_t> pos(1, a.n_layers);
          const int64_t p = pos(rng);
          a.layer_types.insert(a.layer_types.begin() + p, o.layer_kinds[kind(rng)]);
          a.d_ffn.insert(a.d_ffn.begin() + p, a.d_ffn[p - 1]);
          a.n_layers += 1;
        }
      } else if (!add && a.n_layers - o.n_layers.step >= o.n_layers.min && a.n_layers > 1) {
        for (int64_t r = 0; r < o.n_layers.step; ++r) {
          std::uniform_int_distribution<int64_t> pos(1, a.n_layers - 1);
          const int64_t p = pos(rng);
          a.layer_types.erase(a.layer_types.begin() + p);
          a.d_ffn.erase(a.d_ffn.begin() + p);
          a.n_layers -= 1;
        }
      } else {
        return false;
      }
      break;
    }
    case 1:
      a.d_model = step_in(a.d_model, o.d_model);
      break;
    case 2: {
      if (o.per_layer_ffn) {
        std::uniform_int_distribution<int64_t> layer(0, a.n_layers - 1);
        auto& w = a.d_ffn[layer(rng)];
        w = step_in(w, o.d_ffn);
      } else {
        const int64_t w = step_in(a.d_ffn[0], o.d_ffn);
        std::fill(a.d_ffn.begin(), a.d_ffn.end(), w);
      }
      break;
    }
    case 3: {  // flip one layer's kind
      if (o.layer_kinds.size() < 2) return false;
      std::uniform_int_distribution<int64_t> layer(0, a.n_layers - 1);
      auto& k = a.layer_types[layer(rng)];
      std::uniform_int_distribution<size_t> other(0, o.layer_kinds.size() - 2);
      size_t idx = other(rng);
      if (o.layer_kinds[idx] == k) idx = o.layer_kinds.size() - 1;
      k = o.layer_kinds[idx];
      break;
    }
    default: {  // another sliding window
      if (!has_swa(a) || o.sliding_windows.size() < 2) return false;
      std::uniform_int_distribution<size_t> w(0, o.sliding_windows.size() - 1);
      a.sliding_window = o.sliding_windows[w(rng)];
      break;
    }
  }
  // A kind flip or a layer change can add the first or remove the last swa layer.
  if (has_swa(a) && a.sliding_window == 0) a.sliding_window = o.sliding_windows[0];
  if (!has_swa(a)) a.sliding_window = 0;
  return true;
}

Eigen::VectorXd ArchSpace::mutate(const Eigen::VectorXd& x, double scale, std::mt19937_64& rng) const {
  const CandidateArch base = decode(x);
  for (int attempt = 0; attempt < 30; ++attempt) {
    CandidateArch a = base;
    if (try_mutate(a, scale, rng) && !(a == base) && contains(a)) return encode(a);
  }
  return x;
}

Eigen::VectorXd ArchSpace::crossover(const Eigen::VectorXd& xa, const Eigen::VectorXd& xb,
                                     std::mt19937_64& rng) const {
  const CandidateArch a = decode(xa), b = decode(xb);
  std::bernoulli_distribution coin(0.5);
  CandidateArch c;
  c.n_layers = coin(rng) ? a.n_layers : b.n_layers;
  c.d_model = coin(rng) ? a.d_model : b.d_model;
  const bool ffn_from_a = coin(rng);
  for (int64_t i = 0; i < c.n_layers; ++i) {
    // Each layer slot from a parent that has it (uniform crossover on the genes).
    const bool in_a = i < a.n_layers, in_b = i < b.n_layers;
    const CandidateArch& p = (in_a && in_b) ? (coin(rng) ? a : b) : (in_a ? a : b);
    c.layer_types.push_back(p.layer_types[i]);
    const CandidateArch& f = options_.per_layer_ffn ? p : (ffn_from_a ? a : b);
    c.d_ffn.push_back(options_.per_layer_ffn ? f.d_ffn[i] : f.d_ffn[0]);
  }
  c.sliding_window = coin(rng) ? a.sliding_window : b.sliding_window;
  repair(c);
  return contains(c) ? encode(c) : xa;
}

Eigen::VectorXd ArchSpace::nearest_valid(const Eigen::VectorXd& x) const {
  CandidateArch a = decode(x);
  // decode reads the kind bits as given; a space without swa or skip can get them.
  for (auto& k : a.layer_types) {
    if (std::count(options_.layer_kinds.begin(), options_.layer_kinds.end(), k) == 0) k = LayerKind::full;
  }
  repair(a);
  FLASHNAS_CHECK(contains(a), "repair left an architecture outside the space");
  return encode(a);
}

bool ArchSpace::is_valid(const Eigen::VectorXd& x) const {
  if (x.size() != encoding_dims_ || !x.allFinite()) return false;
  const CandidateArch a = decode(x);
  return contains(a) && encode(a) == x;
}

std::string ArchSpace::key(const Eigen::VectorXd& x) const { return candidate_arch_hash(decode(x)); }

}  // namespace flashnas::search
