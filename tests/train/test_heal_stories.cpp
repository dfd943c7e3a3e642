// Healing a pruned stories260K candidate on TinyStories text: the training
// loss falls and the held-out NLL (the evaluation protocol on the validation
// sample) improves, with cross-entropy and with distillation from the backbone.
// Small budgets: the suite also runs under sanitizers.
#include <gtest/gtest.h>

#include "engine/model/bound_arch.hpp"
#include "engine/model/model_io.hpp"
#include "engine/prune/calibration.hpp"
#include "engine/prune/prune_inputs.hpp"
#include "engine/prune/prune_to_arch.hpp"
#include "engine/runtime/evaluate.hpp"
#include "engine/train/heal.hpp"
#include "tests/support/test_data.hpp"

namespace flashnas {
namespace {

struct Stories {
  Model backbone;
  CalibrationStats stats;
  std::vector<int32_t> train_tokens;
  std::vector<int32_t> eval_tokens;
};

const Stories& stories() {
  static const Stories s = [] {
    Stories out;
    out.backbone = load_model(test::data_path("stories260K.gguf"));
    const std::string train = read_text_file(test::data_path("tinystories-train-sample.txt"), "train");
    CalibrationOptions calib;
    calib.max_tokens = 512;
    out.stats = run_calibration(out.backbone, tokens_for_text(*out.backbone.tokenizer, train, 512, "calib"), calib);
    out.train_tokens = tokenize_eval_text(*out.backbone.tokenizer, train, 4097);
    out.eval_tokens = tokens_for_text(
        *out.backbone.tokenizer, read_text_file(test::data_path("tinystories-valid-sample.txt"), "eval"), 513, "eval");
    return out;
  }();
  return s;
}

Model pruned_candidate(const Stories& s) {
  CandidateArch arch;
  arch.n_layers = 4;
  arch.d_model = 48;
  arch.d_ffn = {128, 96, 128, 96};
  arch.layer_types = {LayerKind::full, LayerKind::swa, LayerKind::skip, LayerKind::full};
  arch.sliding_window = 16;
  return prune_to_arch(s.backbone, s.stats, bind_arch(arch, s.backbone.config));
}

double held_out_nll(const Model& m, const Stories& s) {
  EvalOptions eval;
  eval.ctx = 256;
  return evaluate_nll(m, s.eval_tokens, eval).nll;
}

TEST(HealStories, PrunedCandidateLossFallsAndHeldOutNllImproves) {
  const Stories& s = stories();
  for (double distill : {0.0, 1.0}) {
    Model student = pruned_candidate(s);
    const double before = held_out_nll(student, s);
    HealOptions o;
    o.steps = 16;
    o.batch = 2;
    o.ctx = 64;
    o.lr = 3e-3;
    o.warmup_steps = 2;
    o.distill = distill;
    const HealResult r = heal_model(s.backbone, student, s.train_tokens, o);
    const double after = held_out_nll(student, s);
    // The mean of the last four steps' losses against the first step's.
    double last = 0.0;
    for (size_t i = r.history.size() - 4; i < r.history.size(); ++i) last += r.history[i].loss / 4;
    EXPECT_LT(last, 0.85 * r.history.front().loss) << "distill " << distill;
    EXPECT_LT(after, before - 0.1) << "distill " << distill << ": " << before << " -> " << after;
    std::printf("distill %.1f: train loss %.3f -> %.3f, held-out NLL %.3f -> %.3f\n", distill,
                r.history.front().loss, last, before, after);
  }
}

}  // namespace
}  // namespace flashnas
