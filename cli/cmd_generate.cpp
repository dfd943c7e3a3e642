// `flashnas generate`: continue a prompt with a model. Prints the prompt and
// its continuation on stdout as they are produced; timing on stderr.
#include <cstdio>
#include <random>

#include "cli/commands.hpp"
#include "common/flags.hpp"
#include "cli/run_model_flags.hpp"
#include "engine/model/tokenizer.hpp"
#include "engine/runtime/generate.hpp"
#include "engine/runtime/inference_session.hpp"

namespace flashnas::cli {

int run_generate(const Args& args) {
  std::vector<FlagSpec> spec = run_model_flag_specs();
  spec.insert(spec.end(), {
      {"prompt", true, "text to continue"},
      {"max-tokens", true, "tokens to generate at most (default 256)"},
      {"temperature", true, "sampling temperature; 0 = greedy (default 0)"},
      {"top-p", true, "nucleus sampling mass in (0, 1] (default 1)"},
      {"seed", true, "random seed for sampling (default 42)"},
      {"help", false, "show this help"},
  });
  const Flags flags(args, spec);
  if (print_help_if_asked(flags, spec, "flashnas generate --model PATH --prompt TEXT [flags]")) return 0;
  const std::string prompt_text = flags.require("prompt");
  GenerateOptions options;
  options.max_tokens = flags.integer("max-tokens", 256, 0, 1 << 20);
  options.sampler.temperature = static_cast<float>(flags.number("temperature", 0.0, 0.0, 100.0));
  options.sampler.top_p = static_cast<float>(flags.number("top-p", 1.0, 1e-6, 1.0));
  const auto seed = static_cast<uint64_t>(flags.integer("seed", 42, 0, INT64_MAX));
  const int threads = threads_flag(flags);

  const Model model = load_run_model(flags);
  const Tokenizer& tokenizer = *model.tokenizer;
  const std::vector<int32_t> prompt = tokenizer.encode(prompt_text);
  options.stop_token = tokenizer.eos_id();

  RuntimeContext context({threads, true});
  const int64_t positions = static_cast<int64_t>(prompt.size()) + options.max_tokens;
  InferenceSession session(model, context, {std::max<int64_t>(positions, 1), 512});
  std::mt19937_64 rng(seed);

  std::fputs(prompt_text.c_str(), stdout);
  int32_t prev = prompt.back();
  const GenerateStats stats = generate(session, prompt, options, rng, [&](int32_t token) {
    if (token != options.stop_token) {
      const std::string_view piece = tokenizer.decode_piece(prev, token);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    prev = token;
    return true;
  });
  std::fputc('\n', stdout);
  const double decoded = static_cast<double>(std::max<int64_t>(0, stats.generated_tokens - 1));
  std::fprintf(stderr,
               "prompt %lld tokens, prefill %.1f tok/s; generated %lld tokens, decode %.1f tok/s "
               "(%d thread%s)\n",
               static_cast<long long>(stats.prompt_tokens),
               static_cast<double>(stats.prompt_tokens) / std::max(stats.prefill_seconds, 1e-9),
               static_cast<long long>(stats.generated_tokens),
               decoded / std::max(stats.decode_seconds, 1e-9), threads, threads == 1 ? "" : "s");
  return 0;
}

}  // namespace flashnas::cli
