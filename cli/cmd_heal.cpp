// flashnas heal: prune the backbone to a candidate architecture, heal it by
// continued pretraining (cross-entropy, distillation from the backbone, or a
// mix: engine/train/heal.hpp), export the healed checkpoint, and report the
// eval NLL before and after. Progress and tokens/s go to stderr, the summary
// JSON to stdout, the full report (per-step history included) to
// DIR/heal_report.json.
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "cli/candidate_inputs.hpp"
#include "cli/commands.hpp"
#include "common/flags.hpp"
#include "engine/model/arch_cost.hpp"
#include "engine/model/model_io.hpp"
#include "engine/prune/calibration.hpp"
#include "engine/prune/prune_inputs.hpp"
#include "engine/prune/prune_to_arch.hpp"
#include "engine/runtime/evaluate.hpp"
#include "engine/train/heal.hpp"
#include "engine/util/atomic_file.hpp"
#include "engine/util/error.hpp"

namespace flashnas::cli {

namespace {

std::vector<FlagSpec> heal_flags() {
  std::vector<FlagSpec> spec = candidate_input_flags();
  spec.insert(spec.end(), {
      {"train", true, "training text file (healing data)"},
      {"train-tokens", true, "cut the training tokens (BOS included) to this many (default: all)"},
      {"eval", true, "held-out text file for the NLL before and after"},
      {"eval-tokens", true, "eval tokens, BOS included (default 4097)"},
      {"eval-ctx", true, "eval window (default 256)"},
      {"steps", true, "optimiser steps (default 100)"},
      {"tokens-per-step", true, "tokens per step = batch x ctx (default 2048)"},
      {"ctx", true, "training sequence length (default 256)"},
      {"accumulation", true, "micro-batches per step (default 1)"},
      {"lr", true, "peak learning rate (default 1e-3)"},
      {"min-lr-ratio", true, "final lr / peak lr of the cosine (default 0.1)"},
      {"warmup", true, "warm-up steps (default steps/20, at least 1)"},
      {"weight-decay", true, "AdamW decoupled weight decay on matrices (default 0)"},
      {"grad-clip", true, "global gradient-norm cap, 0 = none (default 1)"},
      {"distill", true, "distillation weight in [0, 1]: loss = (1-d) CE + d KD (default 0)"},
      {"temperature", true, "distillation temperature (default 1)"},
      {"seed", true, "seed of the training-window order (default 0)"},
      {"memory-limit-mb", true, "refuse to heal above this much memory (default 4096)"},
      {"no-teacher-cache", false, "compute the teacher's logits every step instead of once"},
      {"out", true, "output directory"},
      {"format", true, "safetensors (default) or gguf"},
      {"help", false, "show this help"},
  });
  return spec;
}

// The flags as HealOptions JSON, so the engine's reader validates them.
nlohmann::json options_json(const Flags& flags) {
  nlohmann::json j = nlohmann::json::object();
  auto integer = [&](const char* flag, const char* field) {
    if (flags.has(flag)) j[field] = flags.integer(flag, 0, INT64_MIN, INT64_MAX);
  };
  auto number = [&](const char* flag, const char* field) {
    if (flags.has(flag)) j[field] = flags.number(flag, 0.0, -1e300, 1e300);
  };
  integer("steps", "steps");
  integer("ctx", "ctx");
  j["tokens_per_step"] = flags.integer("tokens-per-step", 2048, 1, INT64_MAX);
  integer("accumulation", "accumulation");
  number("lr", "lr");
  number("min-lr-ratio", "min_lr_ratio");
  integer("warmup", "warmup_steps");
  number("weight-decay", "weight_decay");
  number("grad-clip", "grad_clip");
  number("distill", "distill");
  number("temperature", "temperature");
  integer("seed", "seed");
  if (flags.has("memory-limit-mb")) {
    j["memory_limit_bytes"] = flags.integer("memory-limit-mb", 0, 1, int64_t{1} << 40) << 20;
  }
  if (flags.has("no-teacher-cache")) j["cache_teacher_logits"] = false;
  return j;
}

// "[=====>    ] 120/400 loss 1.2345 lr 8.1e-04 23456 tok/s": redrawn in place
// on a terminal, else one line every 5% of the steps.
class ProgressBar {
 public:
  explicit ProgressBar(int64_t tokens_per_step) : tokens_per_step_(tokens_per_step), tty_(isatty(2)) {}
  void update(const HealStep& s, const HealOptions& o) {
    seconds_ += s.seconds;
    const int64_t done = s.step + 1;
    const int64_t every = std::max<int64_t>(1, o.steps / 20);
    if (!tty_ && done % every != 0 && done != o.steps) return;
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * done / o.steps);
    std::string bar(static_cast<size_t>(kWidth), ' ');
    for (int i = 0; i < filled; ++i) bar[static_cast<size_t>(i)] = i + 1 == filled && done < o.steps ? '>' : '=';
    std::fprintf(stderr, "%s[%s] %lld/%lld loss %.4f lr %.1e %.0f tok/s%s", tty_ ? "\r" : "",
                 bar.c_str(), static_cast<long long>(done), static_cast<long long>(o.steps), s.loss,
                 s.lr, static_cast<double>(done * tokens_per_step_) / std::max(seconds_, 1e-9),
                 tty_ && done < o.steps ? "" : "\n");
    std::fflush(stderr);
  }

 private:
  int64_t tokens_per_step_;
  bool tty_;
  double seconds_ = 0.0;
};

}  // namespace

int run_heal(const Args& args) {
  const std::vector<FlagSpec> spec = heal_flags();
  const Flags flags(args, spec);
  if (print_help_if_asked(flags, spec,
                          "flashnas heal --model M --arch A.json --calib C --train T --eval E "
                          "--steps N --tokens-per-step K [--distill 1.0] [--lr X] --out DIR")) {
    return 0;
  }
  const std::string out_dir = flags.require("out");
  const ModelFormat format = parse_model_format(flags.get("format").value_or("safetensors"), "--format");
  const HealOptions options = heal_options_from_json(options_json(flags));
  const std::string train_path = flags.require("train");
  const std::string eval_path = flags.require("eval");
  const int64_t train_max = flags.integer("train-tokens", 0, 2, INT64_MAX);
  EvalOptions eval;
  eval.ctx = flags.integer("eval-ctx", 256, 1, 1 << 20);
  const int64_t eval_max = flags.integer("eval-tokens", 4097, 2, INT64_MAX);

  const CandidateInputs in = load_candidate_inputs(flags);
  Model student = prune_to_arch(in.backbone, in.stats, *in.arch, in.prune);
  const Tokenizer& tokenizer = *in.backbone.tokenizer;
  const std::vector<int32_t> train_tokens =
      tokenize_eval_text(tokenizer, read_text_file(train_path, "--train"), train_max);
  const std::vector<int32_t> eval_tokens =
      tokens_for_text(tokenizer, read_text_file(eval_path, "--eval"), eval_max, "--eval");

  RuntimeContext& context = *in.context;
  const EvalResult before = evaluate_nll(student.config, student.weights, eval_tokens, eval, &context);
  const HealMemory plan = plan_heal_memory(in.backbone.config, student.config,
                                           TokenWindows(train_tokens, options.ctx).count(), options);
  std::fprintf(stderr,
               "healing %lld steps of %lld tokens on %d thread%s; memory %.1f MiB (activations "
               "%.1f, gradients %.1f, optimizer %.1f, teacher %.1f%s) of %.0f MiB allowed\n",
               static_cast<long long>(options.steps), static_cast<long long>(options.tokens_per_step()),
               context.threads(), context.threads() == 1 ? "" : "s", plan.total() / 1048576.0,
               plan.activations / 1048576.0, plan.gradients / 1048576.0, plan.optimizer / 1048576.0,
               plan.teacher / 1048576.0, plan.teacher_cached ? ", cached logits" : "",
               options.memory_limit_bytes / 1048576.0);
  ProgressBar bar(options.tokens_per_step());
  const HealResult healed = heal_model(in.backbone, student, train_tokens, options, &context,
                                       [&](const HealStep& s, const HealOptions& o) { bar.update(s, o); });
  const EvalResult after = evaluate_nll(student.config, student.weights, eval_tokens, eval, &context);

  std::filesystem::create_directories(out_dir);
  const std::string model_out = format == ModelFormat::gguf
                                    ? (std::filesystem::path(out_dir) / "model.gguf").string()
                                    : out_dir;
  save_model(student, model_out, format);

  nlohmann::json report = {
      {"arch", candidate_arch_to_json(in.arch->arch())},
      {"arch_hash", candidate_arch_hash(in.arch->arch())},
      {"format", std::string(model_format_name(format))},
      {"model", model_out},
      {"params", cost_parameters(student.config)},
      {"train_tokens", static_cast<int64_t>(train_tokens.size())},
      {"eval_tokens", before.tokens},
      {"eval_nll_before", before.nll},
      {"eval_nll_after", after.nll},
      {"train_loss_first", healed.history.front().loss},
      {"train_loss_last", healed.history.back().loss},
      {"threads", context.threads()},
      {"options", heal_options_to_json(options)},
      {"heal", heal_result_to_json(healed)}};
  const auto report_path = (std::filesystem::path(out_dir) / "heal_report.json").string();
  write_file_atomically(report_path, [&](std::ostream& out) { out << report.dump(2) << "\n"; }, "--out");
  report["heal"] = heal_result_to_json(healed, /*with_history=*/false);
  std::printf("%s\n", report.dump().c_str());
  std::fprintf(stderr, "eval NLL %.4f -> %.4f; %.0f tok/s over %.1f s\n", before.nll, after.nll,
               healed.tokens_per_second, healed.seconds);
  return 0;
}

}  // namespace flashnas::cli
