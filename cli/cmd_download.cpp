// flashnas download JOB --trial ID: a trial's model from a flashnas server. The
// first request starts its export; the client waits for it (--timeout), streams
// the file to disk, checks it against the ETag (its sha256), and unpacks it:
// safetensors into OUT/config.json + OUT/model.safetensors, GGUF into OUT/model.gguf.
// Both load with `flashnas eval --model OUT` (or OUT/model.gguf).
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "app/checkpoint_file.hpp"
#include "cli/client_flags.hpp"
#include "cli/commands.hpp"
#include "cli/exit_code.hpp"
#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"
#include "store/states.hpp"

namespace flashnas::cli {

int run_download(const Args& args) {
  namespace fs = std::filesystem;
  const std::vector<FlagSpec> spec = with_client_flags({
      {"trial", true, "the trial's id (trial_id in the frontier's points)"},
      {"format", true, "safetensors (default) or gguf"},
      {"out", true, "the folder to write the model into (created)"},
      {"timeout", true, "seconds to wait for the export (default 600; exit 5 past it)"},
  });
  const auto [operands, flag_args] = split_operands(args);
  const Flags flags(flag_args, spec);
  if (print_help_if_asked(flags, spec, "flashnas download JOB --trial ID --out DIR --server URL [--format gguf]")) {
    return exit_ok;
  }
  if (operands.size() != 1) throw InvalidInput("expected one job id: flashnas download JOB ...", "JOB");
  const int64_t job = parse_id_operand(operands[0], "JOB");
  const int64_t trial = flags.require_integer("trial", 1, INT64_MAX);
  const auto format = store::parse_enum_or_throw<store::CheckpointFormat>(flags.get("format").value_or("safetensors"),
                                                                          "--format");
  const fs::path out = flags.require("out");
  const double timeout = flags.number("timeout", 600.0, 0.0, 1e7);
  fs::create_directories(out);

  client::ApiClient api(client_options(flags));
  const std::string path = fmt::format("/v1/jobs/{}/trials/{}/checkpoint?format={}", job, trial, store::name_of(format));
  const fs::path partial = out / ".download";
  const auto start = std::chrono::steady_clock::now();
  bool told = false;
  for (;;) {
    const client::ApiClient::Download d = api.download(path, partial.string());
    if (d.status == 200) {
      const std::string sha = sha256_file_hex(partial.string());
      if (sha != d.etag) {
        fs::remove(partial);
        throw std::runtime_error(fmt::format("the download's sha256 {} is not its ETag {}", sha, d.etag));
      }
      if (format == store::CheckpointFormat::gguf) {
        fs::rename(partial, out / "model.gguf");
      } else {
        app::unpack_checkpoint_tar(partial.string(), out.string());
        fs::remove(partial);
      }
      std::fprintf(stderr, "trial %lld: %lld bytes (sha256 %s) into %s\n", static_cast<long long>(trial),
                   static_cast<long long>(d.bytes), sha.c_str(), out.string().c_str());
      return exit_ok;
    }
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (waited >= timeout) {
      std::fprintf(stderr, "trial %lld: still exporting after %.0f s (--timeout)\n", static_cast<long long>(trial), timeout);
      return exit_timed_out;
    }
    if (!told) std::fprintf(stderr, "trial %lld: exporting on the server...\n", static_cast<long long>(trial));
    told = true;
    const double pause = std::clamp(d.retry_after > 0 ? d.retry_after : 1.0, 0.05, 10.0);
    std::this_thread::sleep_for(std::chrono::duration<double>(std::min(pause, timeout - waited)));
  }
}

}  // namespace flashnas::cli
