// `flashnas latency-study` and `flashnas bench-latency` refuse bad --space,
// --shape and --arch files with every bad field named (what the engine's JSON
// readers collect), exit status 2, and nothing measured.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "tests/support/test_data.hpp"

namespace flashnas::test {
namespace {

struct CliRun {
  int status = -1;
  std::string output;  // stdout and stderr
};

CliRun flashnas(const std::string& args) {
  const std::string command = std::string(FLASHNAS_BINARY_DIR) + "/cli/flashnas " + args + " 2>&1";
  CliRun run;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) {
    ADD_FAILURE() << "popen failed: " << command;
    return run;
  }
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), p)) > 0) run.output.append(buffer, n);
  const int status = ::pclose(p);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::string write_file(const std::filesystem::path& dir, const std::string& name, const std::string& text) {
  const auto path = dir / name;
  std::ofstream(path) << text;
  return path.string();
}

const char* kGoodSpace = R"({"n_layers": {"min": 2, "max": 4}, "d_model": {"min": 32, "max": 64, "step": 32},
  "d_ffn": {"min": 64, "max": 128, "step": 64}, "layer_kinds": ["full", "skip"], "sliding_windows": []})";
const char* kGoodShape = R"({"n_heads": 4, "n_kv_heads": 2, "head_dim": 8, "vocab_size": 64})";

TEST(CliInputs, LatencyStudyNamesEveryBadFieldOfTheSpace) {
  const auto dir = scratch_dir("cli");
  const std::string space = write_file(dir, "space.json", R"({
    "n_layers": {"min": 0, "max": 4}, "d_model": {"min": 32, "max": 64, "step": 20},
    "d_ffn": {"min": 64, "max": 128, "step": 64}, "layer_kinds": ["full", "cross"], "colour": 1})");
  const std::string shape = write_file(dir, "shape.json", kGoodShape);
  const CliRun run = flashnas("latency-study --space " + space + " --shape " + shape + " --out " +
                           (dir / "model.json").string());
  EXPECT_EQ(run.status, 2) << run.output;
  for (const char* expected : {"n_layers.min: must be >= 1, got 0",
                               "d_model.step: max - min (32) is not a multiple of step 20",
                               "layer_kinds[1]: unknown layer kind 'cross'", "colour: unknown field"}) {
    EXPECT_NE(run.output.find(expected), std::string::npos) << expected << " in: " << run.output;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "model.json"));
}

TEST(CliInputs, LatencyStudyNamesEveryBadFieldOfTheShape) {
  const auto dir = scratch_dir("cli");
  const std::string space = write_file(dir, "space.json", kGoodSpace);
  const std::string shape = write_file(dir, "shape.json", R"({"n_heads": 4, "n_kv_heads": 3, "head_dim": 7})");
  const CliRun run = flashnas("latency-study --space " + space + " --shape " + shape + " --out " +
                           (dir / "model.json").string());
  EXPECT_EQ(run.status, 2) << run.output;
  for (const char* expected : {"--shape.n_kv_heads: n_heads (4) must be a multiple of n_kv_heads (3)",
                               "--shape.head_dim: must be even for RoPE, got 7", "--shape.vocab_size: required"}) {
    EXPECT_NE(run.output.find(expected), std::string::npos) << expected << " in: " << run.output;
  }
}

TEST(CliInputs, BenchLatencyNamesEveryBadFieldOfTheArchitecture) {
  const auto dir = scratch_dir("cli");
  const std::string arch = write_file(dir, "arch.json", R"({"n_layers": 2, "d_model": 32, "d_ffn": [64, "x"],
    "layer_types": ["full", "swa"]})");
  const std::string shape = write_file(dir, "shape.json", kGoodShape);
  const CliRun run = flashnas("bench-latency --arch " + arch + " --shape " + shape);
  EXPECT_EQ(run.status, 2) << run.output;
  for (const char* expected : {"--arch.d_ffn[1]: expected an integer, got a string",
                               "--arch.sliding_window: must be positive when a layer is swa"}) {
    EXPECT_NE(run.output.find(expected), std::string::npos) << expected << " in: " << run.output;
  }
}

}  // namespace
}  // namespace flashnas::test
