// File inputs of a pruning run (see prune_inputs.hpp).
#include "engine/prune/prune_inputs.hpp"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"

namespace flashnas {

std::string read_text_file(const std::string& path, const std::string& field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidInput(fmt::format("{}: cannot read {}", field, path), field);
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw InvalidInput(fmt::format("{}: read failed for {}", field, path), field);
  return buffer.str();
}

CandidateArch load_candidate_arch(const std::string& path, const std::string& field) {
  const nlohmann::json j =
      nlohmann::json::parse(read_text_file(path, field), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw InvalidInput(fmt::format("{}: {} is not valid JSON", field, path), field);
  return candidate_arch_from_json(j, field);
}

CalibrationStats calibrate_from_files(const Model& backbone, const std::string& model_path,
                                      const std::string& calib_path,
                                      const CalibrationOptions& options,
                                      const std::string& cache_dir, RuntimeContext* context,
                                      bool* loaded_from_cache) {
  const CalibrationSource source{sha256_file_hex(model_path), read_text_file(calib_path, "--calib")};
  return load_or_run_calibration(backbone, source, options, cache_dir, context, loaded_from_cache);
}

}  // namespace flashnas
