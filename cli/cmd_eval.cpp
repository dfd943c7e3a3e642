// `flashnas eval`: mean next-token NLL of a model on a text file, with the
// windowed protocol of engine/runtime/evaluate.hpp.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.hpp"
#include "common/flags.hpp"
#include "cli/run_model_flags.hpp"
#include "engine/model/tokenizer.hpp"
#include "engine/runtime/evaluate.hpp"
#include "engine/util/error.hpp"

namespace flashnas::cli {

namespace {

// Text files larger than this are refused rather than read into memory.
constexpr std::uintmax_t kMaxDataBytes = std::uintmax_t{1} << 30;

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw InvalidInput(fmt::format("--data: no such file '{}'", path), "--data");
  }
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxDataBytes) {
    throw InvalidInput(fmt::format("--data: '{}' is larger than {} bytes", path, kMaxDataBytes),
                       "--data");
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) throw InvalidInput(fmt::format("--data: cannot read '{}'", path), "--data");
  return ss.str();
}

}  // namespace

int run_eval(const Args& args) {
  std::vector<FlagSpec> spec = run_model_flag_specs();
  spec.insert(spec.end(), {
      {"data", true, "text file to evaluate on (read whole as one string)"},
      {"ctx", true, "window length: tokens predicted per window (default 256)"},
      {"max-tokens", true, "cut the token sequence (BOS included) to this length (default: all)"},
      weights_flag_spec(),
      {"json", false, "print {\"nll\", \"ppl\", \"tokens\"} as JSON"},
      {"help", false, "show this help"},
  });
  const Flags flags(args, spec);
  if (print_help_if_asked(flags, spec, "flashnas eval --model PATH --data FILE [flags]")) return 0;
  const std::string data_path = flags.require("data");
  EvalOptions options;
  options.ctx = flags.integer("ctx", 256, 1, 1 << 20);
  options.threads = threads_flag(flags);
  options.weights = weights_flag(flags);
  const int64_t max_tokens = flags.integer("max-tokens", 0, 2, INT64_MAX);

  const std::string text = read_text_file(data_path);
  const Model model = load_run_model(flags);
  const std::vector<int32_t> tokens = tokenize_eval_text(*model.tokenizer, text, max_tokens);
  if (tokens.size() < 2) {
    throw InvalidInput(fmt::format("--data: '{}' gives fewer than 2 tokens", data_path), "--data");
  }
  const EvalResult r = evaluate_nll(model, tokens, options);
  if (flags.has("json")) {
    const nlohmann::json j = {{"nll", r.nll}, {"ppl", r.ppl}, {"tokens", r.tokens}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("nll %.5f  ppl %.3f  tokens %lld\n", r.nll, r.ppl,
                static_cast<long long>(r.tokens));
  }
  std::fprintf(stderr, "%lld windows of ctx %lld in %.3f s (%.0f tok/s, %d thread%s, %s weights)\n",
               static_cast<long long>(r.windows), static_cast<long long>(options.ctx), r.seconds,
               static_cast<double>(r.tokens) / std::max(r.seconds, 1e-9), options.threads,
               options.threads == 1 ? "" : "s", std::string(weight_format_name(options.weights)).c_str());
  return 0;
}

}  // namespace flashnas::cli
