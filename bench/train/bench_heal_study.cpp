// bench_heal_study: does a short heal rank pruned candidates as a long heal
// does? On stories260K, for each candidate of bench/train/heal_study_candidates.json
// (a set across the space and a set of nearly equal parameter count): the
// held-out NLL zero-shot (pruned, not healed), after a short heal and after a
// long heal, the long heal's NLL on text it trained on beside the held-out one,
// and Kendall's tau of the zero-shot, short-heal, parameter-count and FLOPs
// rankings against the long-heal ranking, per set. Writes one JSON object to
// --out after every candidate (so a long run can be watched and survives a stop).
//
// The equal-size set is checked in code: its parameter counts (embedding
// included, tied head once) must lie within --max-spread (5%) of each other,
// (max - min) / min; the spread of every set is printed and recorded.
//
// The long heal runs once per window order of --long-seeds (default three): its
// NLL is their mean, and the taus between the orders' own rankings (how well
// the reference repeats itself, a ceiling for any predictor) are recorded per set.
//
// Defaults: short heal 20 steps at peak lr 5e-4, long heal 400 steps at 3e-3,
// both pure distillation at temperature 1 (the choice and what else was tried:
// bench/README.md, "Heal study").
//
// Healing data: --data generated (default) distils from the backbone on text
// it samples itself (as much as the long heal consumes, so no window is seen
// twice; its logits computed once and shared by every candidate), or --data
// sample: the bundled TinyStories training sample (~100K tokens: 400 steps of
// 8 x 256 tokens are about 8 epochs over it).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bench/support/data_file.hpp"
#include "common/flags.hpp"
#include "engine/model/arch_cost.hpp"
#include "engine/model/bound_arch.hpp"
#include "engine/model/model_io.hpp"
#include "engine/prune/calibration.hpp"
#include "engine/prune/prune_inputs.hpp"
#include "engine/prune/prune_to_arch.hpp"
#include "engine/runtime/evaluate.hpp"
#include "engine/runtime/generate.hpp"
#include "engine/train/heal.hpp"
#include "engine/latency/latency_environment.hpp"
#include "engine/util/atomic_file.hpp"
#include "engine/util/json_reader.hpp"

namespace flashnas {
namespace {

// Kendall's tau-b of two score lists (ties in either count half, as tau-b does).
double kendall_tau(const std::vector<double>& a, const std::vector<double>& b) {
  double concordant = 0, discordant = 0, ties_a = 0, ties_b = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    for (size_t j = i + 1; j < a.size(); ++j) {
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0) continue;
      if (da == 0) {
        ++ties_a;
      } else if (db == 0) {
        ++ties_b;
      } else if ((da > 0) == (db > 0)) {
        ++concordant;
      } else {
        ++discordant;
      }
    }
  }
  const double n1 = concordant + discordant + ties_a, n2 = concordant + discordant + ties_b;
  return n1 > 0 && n2 > 0 ? (concordant - discordant) / std::sqrt(n1 * n2) : 0.0;
}

double mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0.0 : sum / static_cast<double>(v.size());
}

// Kendall's tau between the rankings of every pair of long-heal seeds
// ([candidate][seed] NLLs): how well the reference ranking repeats itself.
nlohmann::json retest_taus(const std::vector<std::vector<double>>& by_seed) {
  nlohmann::json taus = nlohmann::json::array();
  const size_t seeds = by_seed.empty() ? 0 : by_seed[0].size();
  auto column = [&](size_t s) {
    std::vector<double> c;
    for (const auto& row : by_seed) c.push_back(row[s]);
    return c;
  };
  for (size_t a = 0; a < seeds; ++a) {
    for (size_t b = a + 1; b < seeds; ++b) taus.push_back(kendall_tau(column(a), column(b)));
  }
  return taus;
}

// Stories sampled from the backbone: from BOS until EOS, BOS or max_len
// tokens, joined (each starting with BOS) until `n` tokens.
std::vector<int32_t> generate_stream(const Model& backbone, int64_t n, uint64_t seed,
                                     RuntimeContext& context) {
  const int64_t max_len = 512;
  SessionOptions so;
  so.max_positions = max_len + 1;
  InferenceSession session(backbone, context, so);
  std::mt19937_64 rng(seed);
  GenerateOptions g;
  g.max_tokens = max_len;
  g.sampler = {1.0f, 0.95f};
  const int32_t bos = backbone.tokenizer->bos_id(), eos = backbone.tokenizer->eos_id();
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(n));
  while (static_cast<int64_t>(out.size()) < n) {
    session.reset();
    out.push_back(bos);
    const int32_t prompt[] = {bos};
    generate(session, prompt, g, rng, [&](int32_t t) {
      if (t == eos || t == bos || static_cast<int64_t>(out.size()) >= n) return false;
      out.push_back(t);
      return true;
    });
  }
  out.resize(static_cast<size_t>(n));
  return out;
}

double nll(const Model& m, const std::vector<int32_t>& tokens, RuntimeContext& context) {
  EvalOptions e;
  e.ctx = 256;
  return evaluate_nll(m.config, m.weights, tokens, e, &context).nll;
}

}  // namespace
}  // namespace flashnas

int main(int argc, char** argv) {
  using namespace flashnas;
  using bench::data_file;
  using Clock = std::chrono::steady_clock;
  const std::vector<FlagSpec> spec = {
      {"candidates", true, "candidate sets JSON (default bench/train/heal_study_candidates.json)"},
      {"sets", true, "comma list of sets to run (default: all in the file)"},
      {"limit", true, "first N candidates of each set (default all)"},
      {"data", true, "generated (default) or sample"},
      {"gen-tokens", true, "tokens of generated text (default: what the long heal consumes + 1)"},
      {"short-steps", true, "default 20"},
      {"long-steps", true, "default 400"},
      {"batch", true, "sequences per step (default 8)"},
      {"ctx", true, "default 256"},
      {"lr", true, "peak learning rate of the long heal (default 3e-3)"},
      {"short-lr", true, "peak learning rate of the short heal (default 5e-4)"},
      {"reference", true, "a previous output: take its long-heal NLLs instead of healing long again"},
      {"distill", true, "distillation weight (default 1)"},
      {"temperature", true, "distillation temperature (default 1)"},
      {"seed", true, "order of the short heal's training windows (default 0; the generated text is fixed)"},
      {"long-seeds", true, "comma list of window orders of the long heal, its NLL their mean (default 0,1,2)"},
      {"threads", true, "default 1"},
      {"equal-size-sets", true,
       "comma list of sets whose parameter counts must agree (default: the sets named equal_size*)"},
      {"max-spread", true, "largest (max - min) / min parameter count in those sets (default 0.05)"},
      {"out", true, "JSON output file"},
      {"help", false, "show this help"},
  };
  try {
    const Flags flags(std::vector<std::string>(argv + 1, argv + argc), spec);
    if (print_help_if_asked(flags, spec, "bench_heal_study --out FILE [flags]")) return 0;
    const std::string out_path = flags.require("out");
    const std::string data = flags.get("data").value_or("generated");
    if (data != "generated" && data != "sample") throw InvalidInput("--data: generated or sample", "--data");
    HealOptions o;
    o.batch = flags.integer("batch", 8, 1, 1 << 12);
    o.ctx = flags.integer("ctx", 256, 8, 1 << 12);
    o.lr = flags.number("lr", 3e-3, 1e-6, 1.0);
    o.distill = flags.number("distill", 1.0, 0.0, 1.0);
    o.temperature = flags.number("temperature", 1.0, 0.05, 100.0);
    o.seed = static_cast<uint64_t>(flags.integer("seed", 0, 0, int64_t{1} << 40));
    o.memory_limit_bytes = int64_t{6} << 30;
    const int64_t short_steps = flags.integer("short-steps", 20, 1, 100000);
    const int64_t long_steps = flags.integer("long-steps", 400, 1, 100000);
    const int64_t limit = flags.integer("limit", 1 << 20, 1, 1 << 20);
    const double short_lr = flags.number("short-lr", 5e-4, 1e-6, 1.0);
    std::vector<uint64_t> long_seeds;
    for (const int64_t seed : flags.integers("long-seeds", {0, 1, 2}, 0, int64_t{1} << 40)) {
      long_seeds.push_back(static_cast<uint64_t>(seed));
    }
    nlohmann::json reference;
    if (const auto ref = flags.get("reference")) {
      reference = parse_json_object(read_text_file(*ref, "--reference"));
      // Its long heals must be the ones this run would make.
      const nlohmann::json ref_seeds = reference.value("long_seeds", nlohmann::json::array({o.seed}));
      if (reference.at("data") != data || reference.at("long_steps") != long_steps ||
          reference.at("options") != heal_options_to_json(o) || ref_seeds != nlohmann::json(long_seeds)) {
        throw InvalidInput("--reference: another data source, long-heal length, heal options or long seeds",
                         "--reference");
      }
    }
    RuntimeContext context(RuntimeOptions{static_cast<int>(flags.integer("threads", 1, 1, 64)), false});

    const nlohmann::json sets_json = parse_json_object(read_text_file(
        flags.get("candidates").value_or(std::string(FLASHNAS_SOURCE_DIR) + "/bench/train/heal_study_candidates.json"),
        "--candidates"));
    std::vector<std::string> all_sets;
    for (const auto& item : sets_json.items()) all_sets.push_back(item.key());
    const std::vector<std::string> set_names = flags.list("sets", all_sets);

    const std::optional<std::vector<std::string>> equal_sets =
        flags.has("equal-size-sets") ? std::optional(flags.list("equal-size-sets", {})) : std::nullopt;
    const double max_spread = flags.number("max-spread", 0.05, 0.0, 10.0);

    const Clock::time_point t_setup = Clock::now();
    const Model backbone = load_model(data_file("stories260K.gguf"));
    const std::string train_text = read_text_file(data_file("tinystories-train-sample.txt"), "train");
    CalibrationOptions calib;
    const CalibrationStats stats = run_calibration(
        backbone, tokens_for_text(*backbone.tokenizer, train_text, calib.max_tokens, "calib"), calib, &context);
    const std::vector<int32_t> eval_tokens = tokenize_eval_text(
        *backbone.tokenizer, read_text_file(data_file("tinystories-valid-sample.txt"), "eval"), 0);
    const int64_t needed = long_steps * o.tokens_per_step() + 1;
    std::vector<int32_t> train_tokens;
    if (data == "generated") {
      train_tokens = generate_stream(backbone, flags.integer("gen-tokens", needed, 2, int64_t{1} << 32), 1234, context);
    } else {
      train_tokens = tokenize_eval_text(*backbone.tokenizer, train_text, 0);
    }
    const double generate_seconds = std::chrono::duration<double>(Clock::now() - t_setup).count();
    // Training NLL: the long heal's first windows' worth of its own training text.
    const std::vector<int32_t> train_eval(train_tokens.begin(),
                                          train_tokens.begin() + std::min<size_t>(train_tokens.size(), 4097));
    const TokenWindows windows(train_tokens, o.ctx);
    HealOptions plan_options = o;
    plan_options.steps = long_steps;
    const HealMemory plan = plan_heal_memory(backbone.config, backbone.config, windows.count(), plan_options);
    const Clock::time_point t_teacher = Clock::now();
    std::optional<TeacherLogits> teacher;
    if (o.distill > 0) teacher.emplace(backbone, windows, plan.teacher_cached, context);
    const double teacher_seconds = std::chrono::duration<double>(Clock::now() - t_teacher).count();

    nlohmann::json report = {
        {"backbone", "stories260K"},
        {"data", data},
        {"train_tokens", static_cast<int64_t>(train_tokens.size())},
        {"eval_tokens", static_cast<int64_t>(eval_tokens.size())},
        {"short_steps", short_steps},
        {"short_lr", short_lr},
        {"long_steps", long_steps},
        {"long_seeds", long_seeds},
        {"long_from_reference", reference.is_null() ? nlohmann::json(nullptr) : nlohmann::json(*flags.get("reference"))},
        {"options", heal_options_to_json(o)},
        {"threads", context.threads()},
        {"cpu", latency::read_cpu_model()},
        {"setup_seconds", generate_seconds},
        {"teacher_logits_seconds", teacher_seconds},
        {"teacher_logits_cached", teacher && teacher->cached()},
        {"backbone_eval_nll", nll(backbone, eval_tokens, context)},
        {"backbone_train_nll", nll(backbone, train_eval, context)},
        {"sets", nlohmann::json::object()}};
    for (const std::string& set : set_names) {
      const nlohmann::json& list = sets_json.at(set);
      // Bind every candidate first: a bad one, or an equal-size set that is
      // not, fails before any healing.
      std::vector<BoundArch> archs;
      for (size_t i = 0; i < list.size() && static_cast<int64_t>(i) < limit; ++i) {
        archs.push_back(bind_arch(candidate_arch_from_json(list[i]), backbone.config,
                                  set + "[" + std::to_string(i) + "]"));
      }
      int64_t min_params = INT64_MAX, max_params = 0;
      for (const BoundArch& a : archs) {
        min_params = std::min(min_params, cost_parameters(a.config()));
        max_params = std::max(max_params, cost_parameters(a.config()));
      }
      const double spread = static_cast<double>(max_params - min_params) / static_cast<double>(min_params);
      const bool must_agree = equal_sets ? std::find(equal_sets->begin(), equal_sets->end(), set) != equal_sets->end()
                                         : set.rfind("equal_size", 0) == 0;
      std::fprintf(stderr, "%s: %zu candidates, parameters %lld .. %lld, spread (max - min) / min = %.2f%%%s\n",
                   set.c_str(), archs.size(), static_cast<long long>(min_params), static_cast<long long>(max_params),
                   100.0 * spread, must_agree ? (spread <= max_spread ? " (equal-size: within the limit)" : " (equal-size: OVER the limit)") : "");
      if (must_agree && spread > max_spread) {
        throw InvalidInput(set + ": parameter counts differ by " + std::to_string(100.0 * spread) +
                               "%, over --max-spread", "--candidates");
      }
      nlohmann::json rows = nlohmann::json::array();
      std::vector<double> zero, shrt, lng, params, flops;
      std::vector<std::vector<double>> by_seed;  // [candidate][seed]
      for (size_t i = 0; i < archs.size(); ++i) {
        const BoundArch& arch = archs[i];
        const Model pruned = prune_to_arch(backbone, stats, arch);
        nlohmann::json row = {{"arch", list[i]},
                              {"params", cost_parameters(pruned.config)},
                              {"flops_per_token", flops_per_token(pruned.config, o.ctx)},
                              {"zero_shot_nll", nll(pruned, eval_tokens, context)},
                              {"zero_shot_train_nll", nll(pruned, train_eval, context)}};
        // One heal of a fresh copy of the pruned model: its held-out and
        // training-text NLLs and its cost.
        auto heal_once = [&](int64_t steps, double lr, uint64_t seed) {
          Model m{pruned.config, clone_weights(pruned.config, pruned.weights), pruned.tokenizer};
          HealOptions h = o;
          h.steps = steps;
          h.lr = lr;
          h.seed = seed;  // the warm-up stays HealOptions' default: steps / 20, at least 1
          const HealResult r = heal_model(teacher ? &*teacher : nullptr, m, windows, h, context);
          // Each step's training loss: with --data generated no window comes twice,
          // so this is a learning curve on unseen text.
          std::vector<double> losses;
          for (const HealStep& step : r.history) losses.push_back(step.loss);
          return nlohmann::json{{"nll", nll(m, eval_tokens, context)},
                                {"loss_history", losses},
                                {"train_nll", nll(m, train_eval, context)},
                                {"final_loss", r.history.back().loss},
                                {"seconds", r.seconds},
                                {"tokens_per_second", r.tokens_per_second},
                                {"epochs", r.epochs}};
        };
        const nlohmann::json short_heal = heal_once(short_steps, short_lr, o.seed);
        for (const auto& item : short_heal.items()) row["short_" + item.key()] = item.value();
        if (!reference.is_null()) {
          const nlohmann::json& ref = reference.at("sets").at(set).at("candidates").at(i);
          if (ref.at("arch") != list[i]) throw InvalidInput("--reference: candidates differ", "--reference");
          for (const char* key : {"long_nll", "long_nll_by_seed", "long_train_nll", "long_final_loss", "long_seconds",
                                  "long_tokens_per_second", "long_epochs"}) {
            if (ref.contains(key)) row[key] = ref.at(key);
          }
          if (!row.contains("long_nll_by_seed")) row["long_nll_by_seed"] = {row["long_nll"]};
        } else {
          // Several window orders: the long heal's ranking is their mean, and
          // how well they agree with each other bounds what any predictor can reach.
          std::vector<nlohmann::json> heals;
          for (const uint64_t seed : long_seeds) heals.push_back(heal_once(long_steps, o.lr, seed));
          auto each = [&](const char* key) {
            std::vector<double> v;
            for (const auto& h : heals) v.push_back(h.at(key).get<double>());
            return v;
          };
          row["long_nll_by_seed"] = each("nll");
          row["long_nll"] = mean(each("nll"));
          row["long_train_nll"] = mean(each("train_nll"));
          row["long_final_loss"] = mean(each("final_loss"));
          row["long_tokens_per_second"] = mean(each("tokens_per_second"));
          double seconds = 0;  // all orders' time
          for (const double t : each("seconds")) seconds += t;
          row["long_seconds"] = seconds;
          row["long_epochs"] = heals.back().at("epochs");  // the same for every order
        }
        zero.push_back(row["zero_shot_nll"]);
        shrt.push_back(row["short_nll"]);
        lng.push_back(row["long_nll"]);
        by_seed.push_back(row["long_nll_by_seed"].get<std::vector<double>>());
        params.push_back(-static_cast<double>(row["params"].get<int64_t>()));  // more = predicted better
        flops.push_back(-row["flops_per_token"].get<double>());
        std::fprintf(stderr, "%s %zu: params %lld zero %.3f short %.3f long %.3f (train %.3f)\n", set.c_str(), i,
                     static_cast<long long>(row["params"].get<int64_t>()), zero.back(), shrt.back(), lng.back(),
                     row["long_train_nll"].get<double>());
        rows.push_back(row);
        report["sets"][set] = {{"candidates", rows},
                               {"params_min", min_params},
                               {"params_max", max_params},
                               {"params_spread", spread},
                               {"equal_size_checked", must_agree},
                               {"kendall_tau_vs_long",
                                {{"zero_shot", kendall_tau(zero, lng)},
                                 {"short_heal", kendall_tau(shrt, lng)},
                                 {"params", kendall_tau(params, lng)},
                                 {"flops", kendall_tau(flops, lng)}}},
                               {"long_retest_tau", retest_taus(by_seed)}};
        write_file_atomically(out_path, [&](std::ostream& out) { out << report.dump(1) << "\n"; }, "--out");
      }
    }
    report["wall_seconds"] = std::chrono::duration<double>(Clock::now() - t_setup).count();
    write_file_atomically(out_path, [&](std::ostream& out) { out << report.dump(1) << "\n"; }, "--out");
    // The summary: everything but the per-candidate rows.
    nlohmann::json summary = report;
    for (auto& item : summary["sets"].items()) {
      item.value()["n_candidates"] = item.value()["candidates"].size();
      item.value().erase("candidates");
    }
    std::printf("%s\n", summary.dump(1).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_heal_study: %s\n", e.what());
    return 2;
  }
}
