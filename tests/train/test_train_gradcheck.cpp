// The whole model's gradient (TrainRun::forward_backward) against finite
// differences in double precision of the independent double-precision
// reference forward (tests/runtime/reference_forward.hpp) and loss, on small
// random configurations that mix full, swa and skip layers, tied and untied
// heads, both RoPE layouts, odd sizes that hit the vector tails, and
// cross-entropy, distillation and their mix.
//
// Why float analytic against double differences: the float gradient is the
// code that trains, SIMD paths included; a double instantiation of the
// kernels would check the math but not that code. The differences are taken
// of the double reference reading its parameters from a double copy, so they
// are accurate to ~1e-9 and the tolerance only has to cover float rounding.
#include <gtest/gtest.h>

#include <algorithm>
#include <fmt/format.h>

#include <random>

#include "engine/model/tensor_names.hpp"
#include "engine/runtime/synthetic_model.hpp"
#include "engine/runtime/thread_pool.hpp"
#include "engine/train/train_model.hpp"
#include "tests/runtime/reference_forward.hpp"
#include "tests/train/gradcheck.hpp"
#include "tests/train/reference_loss.hpp"

namespace flashnas {
namespace {

size_t sz(int64_t n) { return static_cast<size_t>(n); }

struct GradCase {
  const char* name;
  ArchConfig config;
  TrainShape shape;
  LossWeights loss;
};

ArchConfig config(int64_t C, int64_t NH, int64_t KVH, int64_t HS, int64_t V, bool tied,
                  RopeLayout layout, std::vector<LayerConfig> layers) {
  ArchConfig c;
  c.d_model = C;
  c.n_heads = NH;
  c.n_kv_heads = KVH;
  c.head_dim = HS;
  c.vocab_size = V;
  c.tied_embeddings = tied;
  c.rope_layout = layout;
  c.layers = std::move(layers);
  return c;
}

std::vector<GradCase> cases() {
  using K = LayerKind;
  return {
      {"untied, head 6, ce", config(20, 4, 2, 6, 37, false, RopeLayout::interleaved,
                                    {{K::full, 0, 24}, {K::swa, 3, 13}, {K::skip, 0, 17}}),
       {2, 7}, {1.0, 0.0, 1.0}},
      {"tied, head 8, half rope, kd", config(16, 2, 1, 8, 29, true, RopeLayout::half,
                                             {{K::skip, 0, 9}, {K::full, 0, 21}, {K::swa, 4, 16}, {K::full, 0, 8}}),
       {2, 9}, {0.0, 1.0, 2.0}},
      {"untied, head 32, mix", config(40, 2, 2, 32, 23, false, RopeLayout::interleaved,
                                      {{K::swa, 6, 35}, {K::full, 0, 19}}),
       {1, 11}, {0.4, 0.6, 1.5}},
  };
}

TEST(TrainGradcheck, WholeModelMatchesFiniteDifferences) {
  for (const GradCase& gc : cases()) {
    const ArchConfig& c = gc.config;
    const int64_t B = gc.shape.batch, T = gc.shape.ctx, V = c.vocab_size;
    Model m = make_synthetic_model(c, 42);
    std::mt19937_64 rng(7);
    std::vector<int32_t> tokens(sz(B * T)), targets(sz(B * T));
    for (auto& t : tokens) t = static_cast<int32_t>(rng() % sz(V));
    for (auto& t : targets) t = static_cast<int32_t>(rng() % sz(V));
    const std::vector<double> teacher = test::random_inputs(sz(B * T * V), 8, 3.0);
    const std::vector<float> teacher_f = test::to_float(teacher);

    // Analytic, at one and two threads.
    std::vector<ModelWeights> grads;
    LossSums sums;
    for (int threads : {1, 2}) {
      ThreadPool pool({threads, false});
      TrainRun run(c, gc.shape);
      grads.push_back(allocate_weights(c));
      TrainBatch batch{tokens.data(), targets.data(),
                       [&](int64_t b) { return teacher_f.data() + b * T * V; }};
      sums = run.forward_backward(m.weights, grads.back(), batch, gc.loss, 1.0f, &pool);
    }
    ASSERT_TRUE(std::equal(grads[0].storage.get(), grads[0].storage.get() + grads[0].n_floats,
                           grads[1].storage.get()))
        << gc.name << ": gradients differ between 1 and 2 threads";

    // The reference loss of parameters read from a double copy.
    const float* base = m.weights.storage.get();
    std::vector<double> params(base, base + m.weights.n_floats);
    auto loss_of = [&](const std::vector<double>& p) {
      auto read = [&](const float* view, int64_t i) { return p[sz(view - base + i)]; };
      double total = 0;
      for (int64_t b = 0; b < B; ++b) {
        const std::vector<int32_t> seq(tokens.begin() + b * T, tokens.begin() + (b + 1) * T);
        const std::vector<int32_t> tgt(targets.begin() + b * T, targets.begin() + (b + 1) * T);
        const std::vector<double> zt(teacher.begin() + b * T * V, teacher.begin() + (b + 1) * T * V);
        total += test::loss_ref(test::reference_logits(c, m.weights, seq, read), zt, tgt, T, V, gc.loss);
      }
      return total;
    };
    EXPECT_NEAR(sums.total, loss_of(params), 1e-5 * std::abs(sums.total)) << gc.name;

    // Each tensor: every entry when small, else 10 random ones (token
    // embeddings: from the rows the batch uses).
    const std::vector<TensorView> views = list_tensors(c, m.weights);
    const std::vector<TensorView> gviews = list_tensors(c, grads[0]);
    for (size_t v = 0; v < views.size(); ++v) {
      const TensorView& view = views[v];
      const size_t offset = sz(view.data - base);
      std::vector<size_t> entries;
      if (view.numel() <= 10) {
        for (int64_t i = 0; i < view.numel(); ++i) entries.push_back(sz(i));
      } else {
        for (int i = 0; i < 10; ++i) {
          const int64_t row = view.id == TensorId::tok_embd ? tokens[rng() % tokens.size()]
                                                            : static_cast<int64_t>(rng() % sz(view.rows));
          entries.push_back(sz(row * view.cols + static_cast<int64_t>(rng() % sz(view.cols))));
        }
      }
      std::vector<size_t> indices;
      std::vector<double> analytic;
      for (size_t e : entries) {
        indices.push_back(offset + e);
        analytic.push_back(gviews[v].data[e]);
      }
      const std::vector<double> numeric = test::numeric_gradient(loss_of, params, indices);
      test::expect_gradient_near(analytic, numeric, 2e-4,
                                 fmt::format("{}: {} layer {}", gc.name, tensor_id_name(view.id), view.layer));
    }
  }
}

}  // namespace
}  // namespace flashnas
