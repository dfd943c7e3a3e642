// Benchmark problems: BoTorch's BraninCurrin, ZDT1, DTLZ2, and the arch problem.
#include "engine/search/benchmark_problems.hpp"

#include <cmath>
#include <numbers>
#include <set>
#include <tuple>

#include "engine/search/hypervolume_2d.hpp"
#include "engine/util/error.hpp"

namespace flashnas::search {

namespace {

constexpr double kPi = std::numbers::pi;

class BoxProblem : public BenchmarkProblem {
 public:
  explicit BoxProblem(int64_t dims) : space_(dims) {}
  const SearchSpace& space() const override { return space_; }

 protected:
  BoxSpace space_;
};

// Branin on [-5, 10] x [0, 15] rescaled from [0, 1]^2, and Currin's exponential function.
class BraninCurrin final : public BoxProblem {
 public:
  BraninCurrin() : BoxProblem(2) {}
  std::string name() const override { return "branincurrin"; }
  Eigen::Vector2d evaluate(const Eigen::VectorXd& x) const override {
    const double x0 = 15.0 * x(0) - 5.0, x1 = 15.0 * x(1);
    const double t = x1 - 5.1 / (4.0 * kPi * kPi) * x0 * x0 + 5.0 / kPi * x0 - 6.0;
    const double branin = t * t + 10.0 * (1.0 - 1.0 / (8.0 * kPi)) * std::cos(x0) + 10.0;
    const double u = x(0), v = x(1);
    // At v = 0, exp(-1 / 0) = exp(-inf) = 0, as in BoTorch's tensor arithmetic.
    const double factor = 1.0 - std::exp(-1.0 / (2.0 * v));
    const double currin = factor * (2300.0 * u * u * u + 1900.0 * u * u + 2092.0 * u + 60.0) /
                          (100.0 * u * u * u + 500.0 * u * u + 4.0 * u + 20.0);
    return {branin, currin};
  }
  Eigen::Vector2d reference() const override { return {18.0, 6.0}; }
  double max_hypervolume() const override { return 59.36011874867746; }
};

class Zdt1 final : public BoxProblem {
 public:
  Zdt1() : BoxProblem(6) {}
  std::string name() const override { return "zdt1"; }
  Eigen::Vector2d evaluate(const Eigen::VectorXd& x) const override {
    const double f0 = x(0);
    const double g = 1.0 + 9.0 / static_cast<double>(x.size() - 1) * x.tail(x.size() - 1).sum();
    return {f0, g * (1.0 - std::sqrt(f0 / g))};
  }
  Eigen::Vector2d reference() const override { return {11.0, 11.0}; }
  double max_hypervolume() const override { return 120.0 + 2.0 / 3.0; }
};

class Dtlz2 final : public BoxProblem {
 public:
  Dtlz2() : BoxProblem(6) {}
  std::string name() const override { return "dtlz2"; }
  Eigen::Vector2d evaluate(const Eigen::VectorXd& x) const override {
    const double g = (x.tail(x.size() - 1).array() - 0.5).square().sum();  // the last k = d - 1 variables
    return {(1.0 + g) * std::cos(x(0) * kPi / 2.0), (1.0 + g) * std::sin(x(0) * kPi / 2.0)};
  }
  Eigen::Vector2d reference() const override { return {1.1, 1.1}; }
  double max_hypervolume() const override { return 1.21 - kPi / 4.0; }
};

ArchSpaceOptions arch_problem_space() {
  ArchSpaceOptions o;
  o.n_layers = {2, 12, 1};
  o.d_model = {128, 768, 64};
  o.d_ffn = {256, 3072, 128};
  o.per_layer_ffn = false;
  o.layer_kinds = {LayerKind::full, LayerKind::swa, LayerKind::skip};
  o.sliding_windows = {64, 128, 256};
  o.first_layer_full = true;
  o.max_consecutive_non_full = 3;
  o.min_full_layers = 1;
  return o;
}

// The objectives as a function of the pattern summary (what they depend on).
Eigen::Vector2d arch_objectives(int64_t n_layers, int64_t n_full, int64_t n_swa, int64_t n_skip, bool last_full,
                                int64_t d_model, int64_t d_ffn, int64_t window) {
  const double d = static_cast<double>(d_model), f = static_cast<double>(d_ffn);
  const double w = static_cast<double>(window);
  const double ffn = 3.0 * d * f, attn = 4.0 * d * d;
  const double a_swa = 0.9 + 0.1 * std::min(w, 256.0) / 256.0;
  const double capacity = static_cast<double>(n_layers) * ffn + static_cast<double>(n_full) * attn +
                          static_cast<double>(n_swa) * a_swa * attn;
  const double loss = 1.5 + 40.0 * std::pow(capacity, -0.25) +
                      0.15 * static_cast<double>(n_skip) / static_cast<double>(n_layers) + (last_full ? 0.0 : 0.1);
  const double weight_bytes = 2.0 * (static_cast<double>(n_layers) * ffn + static_cast<double>(n_full + n_swa) * attn);
  const double kv_bytes = 4.0 * d * (static_cast<double>(n_full) * 1024.0 + static_cast<double>(n_swa) * std::min(w, 1024.0));
  const double latency_ms = weight_bytes / 1e6 + kv_bytes / 1e6 + 0.05 * static_cast<double>(n_layers);
  return {loss, std::log10(latency_ms)};
}

}  // namespace

Eigen::Vector2d ArchProblem::evaluate_arch(const CandidateArch& a) {
  int64_t counts[3] = {0, 0, 0};
  for (LayerKind k : a.layer_types) ++counts[static_cast<int>(k)];
  return arch_objectives(a.n_layers, counts[0], counts[1], counts[2], a.layer_types.back() == LayerKind::full,
                         a.d_model, a.d_ffn.at(0), a.sliding_window);
}

ArchProblem::ArchProblem() : space_(arch_problem_space()) {
  const ArchSpaceOptions& o = space_.options();
  // Admissible pattern summaries (n, n_full, n_swa, n_skip, last_full), by enumerating
  // every kind pattern and keeping those that satisfy the rules.
  std::set<std::tuple<int64_t, int64_t, int64_t, int64_t, bool>> summaries;
  for (int64_t n = o.n_layers.min; n <= o.n_layers.max; ++n) {
    CandidateArch a;
    a.layer_types.assign(static_cast<size_t>(n), LayerKind::full);
    int64_t total = 1;
    for (int64_t i = 0; i < n; ++i) total *= 3;
    for (int64_t code = 0; code < total; ++code) {
      int64_t c = code, counts[3] = {0, 0, 0};
      for (int64_t i = 0; i < n; ++i, c /= 3) {
        a.layer_types[i] = static_cast<LayerKind>(c % 3);
        ++counts[c % 3];
      }
      if (space_.first_rule_violation(a.layer_types) >= 0) continue;
      summaries.insert({n, counts[0], counts[1], counts[2], a.layer_types.back() == LayerKind::full});
    }
  }
  std::vector<Point2> points;
  for (const auto& [n, nf, ns, nk, last_full] : summaries) {
    for (int64_t dm = o.d_model.min; dm <= o.d_model.max; dm += o.d_model.step) {
      for (int64_t df = o.d_ffn.min; df <= o.d_ffn.max; df += o.d_ffn.step) {
        const std::vector<int64_t> windows = ns > 0 ? o.sliding_windows : std::vector<int64_t>{0};
        for (int64_t w : windows) {
          const Eigen::Vector2d v = arch_objectives(n, nf, ns, nk, last_full, dm, df, w);
          points.push_back({v(0), v(1)});
        }
      }
    }
  }
  const Point2 ref{reference()(0), reference()(1)};
  max_hv_ = staircase_hypervolume(make_staircase(points, ref), ref);
}

std::unique_ptr<BenchmarkProblem> make_benchmark_problem(const std::string& name) {
  if (name == "branincurrin") return std::make_unique<BraninCurrin>();
  if (name == "zdt1") return std::make_unique<Zdt1>();
  if (name == "dtlz2") return std::make_unique<Dtlz2>();
  if (name == "arch") return std::make_unique<ArchProblem>();
  throw InvalidInput("problem must be branincurrin, zdt1, dtlz2 or arch, got '" + name + "'", "problem");
}

}  // namespace flashnas::search
