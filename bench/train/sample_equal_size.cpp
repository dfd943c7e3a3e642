// sample_equal_size: draws a set of candidate architectures of nearly equal
// parameter count from a search space, for the heal study's equal-size sets
// (bench/train/heal_study_candidates.json). Uniform draws from the space
// (ArchSpace::sample_arch, pattern rules kept) are kept when their pruned
// parameter count lies within --tolerance of --target-params, one per
// architecture, until --count are kept. A sample, not a hand pick: which
// depths, widths and attention patterns share a parameter count is the
// space's business, so the set's quality spread is what a search would meet.
//
// Writes the set as NAME into --out, keeping the file's other sets, one
// architecture per line.
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "bench/support/data_file.hpp"
#include "common/flags.hpp"
#include "engine/model/arch_cost.hpp"
#include "engine/model/bound_arch.hpp"
#include "engine/model/model_io.hpp"
#include "engine/prune/prune_inputs.hpp"
#include "engine/search/arch_space.hpp"
#include "engine/util/atomic_file.hpp"
#include "engine/util/json_reader.hpp"

namespace {

// JSON on one line with a space after every ',' and ':' (as the file is written by hand).
std::string one_line(const nlohmann::ordered_json& j) {
  std::string out;
  if (j.is_object()) {
    for (const auto& item : j.items()) {
      out += (out.empty() ? "{" : ", ") + nlohmann::json(item.key()).dump() + ": " + one_line(item.value());
    }
    return out.empty() ? "{}" : out + "}";
  }
  if (j.is_array()) {
    for (const auto& v : j) out += (out.empty() ? "[" : ", ") + one_line(v);
    return out.empty() ? "[]" : out + "]";
  }
  return j.dump();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace flashnas;
  const std::vector<FlagSpec> spec = {
      {"space", true, "search space JSON file (arch_space_options; default: the heal study's)"},
      {"target-params", true, "parameter count of the set (default 110000)"},
      {"tolerance", true, "largest |params - target| / target (default 0.025: a 5% spread at most)"},
      {"count", true, "architectures in the set (default 16)"},
      {"seed", true, "default 1"},
      {"name", true, "the set's name in --out (default equal_size_sampled)"},
      {"out", true, "candidate sets JSON to add the set to (created if absent)"},
      {"help", false, "show this help"},
  };
  try {
    const Flags flags(std::vector<std::string>(argv + 1, argv + argc), spec);
    if (print_help_if_asked(flags, spec, "sample_equal_size --out FILE [flags]")) return 0;
    const std::string out_path = flags.require("out");
    const int64_t target = flags.integer("target-params", 110000, 1, int64_t{1} << 40);
    const double tolerance = flags.number("tolerance", 0.025, 0.0, 1.0);
    const int64_t count = flags.integer("count", 16, 1, 1000);
    const std::string name = flags.get("name").value_or("equal_size_sampled");
    const std::string space_path = flags.get("space").value_or(std::string(FLASHNAS_SOURCE_DIR) +
                                                               "/bench/train/heal_study_space.json");
    const search::ArchSpace space(search::arch_space_options_from_json(parse_json_object(read_text_file(space_path, "--space"))));

    const ArchConfig backbone = load_model(bench::data_file("stories260K.gguf")).config;

    std::mt19937_64 rng(static_cast<uint64_t>(flags.integer("seed", 1, 0, int64_t{1} << 40)));
    std::unordered_set<std::string> seen;
    nlohmann::ordered_json set = nlohmann::ordered_json::array();
    int64_t draws = 0;
    for (; static_cast<int64_t>(set.size()) < count; ++draws) {
      if (draws > 10'000'000) throw InvalidInput("no architecture of the space is near enough", "--target-params");
      const CandidateArch arch = space.sample_arch(rng);
      const int64_t params = cost_parameters(bind_arch(arch, backbone, "sample").config());
      if (std::abs(static_cast<double>(params - target)) > tolerance * static_cast<double>(target)) continue;
      if (!seen.insert(candidate_arch_hash(arch)).second) continue;
      // The fields in the order the file's hand-written sets use.
      const nlohmann::json j = candidate_arch_to_json(arch);
      nlohmann::ordered_json row;
      for (const char* key : {"n_layers", "d_model", "d_ffn", "layer_types", "sliding_window"}) row[key] = j.at(key);
      set.push_back(row);
      std::fprintf(stderr, "%s[%zu]: %lld parameters (draw %lld)\n", name.c_str(), set.size() - 1,
                   static_cast<long long>(params), static_cast<long long>(draws));
    }

    // ordered_json: the file's other sets keep their text as it was.
    nlohmann::ordered_json sets = nlohmann::ordered_json::object();
    if (std::ifstream(out_path).good()) sets = nlohmann::ordered_json::parse(read_text_file(out_path, "--out"));
    if (!sets.is_object()) throw InvalidInput("not a JSON object of candidate sets", "--out");
    sets[name] = set;
    write_file_atomically(out_path, [&](std::ostream& out) {
      out << "{";
      bool first_set = true;
      for (const auto& item : sets.items()) {
        out << (first_set ? "\n " : ",\n ") << nlohmann::json(item.key()).dump() << ": [";
        for (size_t i = 0; i < item.value().size(); ++i) {
          out << (i ? ",\n  " : "\n  ") << one_line(item.value()[i]);
        }
        out << "\n ]";
        first_set = false;
      }
      out << "\n}\n";
    }, "--out");
    std::printf("{\"set\": %s, \"count\": %lld, \"draws\": %lld}\n", nlohmann::json(name).dump().c_str(),
                static_cast<long long>(count), static_cast<long long>(draws));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sample_equal_size: %s\n", e.what());
    return 2;
  }
}
