// `flashnas latency-study`: stage 1 of the search on this CPU, end to end:
// Sobol design + adaptive rounds over a search space, measurements, the fitted
// latency model and its accuracy on held-out architectures, written to --out.
// A thin wrapper over run_latency_study (engine/latency/study.hpp); it adds the
// optional measurement log (--measurements), which makes a long study resumable:
// a re-run with the same flags reuses every architecture already measured.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "cli/commands.hpp"
#include "common/flags.hpp"
#include "cli/latency_flags.hpp"
#include "engine/latency/json_file.hpp"
#include "engine/latency/latency_stats.hpp"
#include "engine/latency/study.hpp"
#include "engine/util/error.hpp"
#include "engine/util/sha256.hpp"

namespace flashnas::cli {

namespace {

std::vector<FlagSpec> latency_study_flags() {
  std::vector<FlagSpec> spec = {
      {"space", true, "SPACE.json: the search space (engine/search/arch_space_options.hpp)"},
      {"shape", true, "SHAPE.json: {n_heads, n_kv_heads, head_dim, vocab_size}"},
      {"samples", true, "N: training measurements (default 200)"},
      {"holdout", true, "M: held-out measurements, sampled independently (default 50)"},
      {"initial", true, "Sobol design size (default N/2)"},
      {"batch", true, "points per adaptive round (default 10)"},
      {"pool", true, "random candidates scored per adaptive round (default 2000)"},
      {"seed", true, "seed of the design, pool and held-out draws (default 0)"},
  };
  for (FlagSpec& f : latency_measurement_flags()) spec.push_back(std::move(f));
  spec.insert(spec.end(), {
      {"statistic", true, "median | min | iqm (interquartile mean) of the repeats as the measured latency (default median)"},
      {"measurements", true, "JSONL log of measurements: appended to, and reused on a re-run"},
      {"out", true, "MODEL.json: the latency model with its accuracy report"},
      {"json", false, "print the accuracy report as JSON"},
      {"help", false, "show this help"},
  });
  return spec;
}

// The identity of one measurement: architecture, shape, what was timed and
// which statistic of the repeats is kept.
std::string measurement_key(const ArchConfig& config, const latency::LatencyOptions& o,
                            const std::string& statistic) {
  nlohmann::json key = latency::latency_options_to_json(o);
  key["config"] = arch_config_to_json(config);
  key["statistic"] = statistic;
  return sha256_hex(key.dump());
}

// Wraps `inner` with the --measurements log.
latency::LatencyMeasurer logged_measurer(const std::string& path,
                                         const latency::LatencyOptions& options,
                                         const std::string& statistic,
                                         latency::LatencyMeasurer inner) {
  auto cache = std::make_shared<std::map<std::string, latency::MeasuredLatency>>();
  std::ifstream in(path);
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.contains("key") || !j.contains("ttft_ms")) {
      std::fprintf(stderr, "flashnas latency-study: %s:%lld: skipping a malformed line\n",
                   path.c_str(), static_cast<long long>(n));
      continue;
    }
    (*cache)[j.at("key").get<std::string>()] = latency::MeasuredLatency{
        j.at("ttft_ms").get<double>(), j.at("decode_ms_per_token").get<double>(),
        j.value("noisy", false), j.value("detail", nlohmann::json::object())};
  }
  if (!cache->empty()) {
    std::fprintf(stderr, "flashnas latency-study: %zu measurements from %s\n", cache->size(),
                 path.c_str());
  }
  auto log = std::make_shared<std::ofstream>(path, std::ios::app);
  if (!*log) throw InvalidInput(fmt::format("--measurements: cannot append to '{}'", path), "--measurements");
  // Architectures found in the log are served from it; the rest of the batch
  // is measured together and appended.
  return [cache, log, options, statistic, inner](const std::vector<ArchConfig>& configs) {
    std::vector<std::string> keys, missing_keys;
    std::vector<ArchConfig> missing;
    for (const ArchConfig& config : configs) {
      keys.push_back(measurement_key(config, options, statistic));
      if (cache->count(keys.back())) continue;
      missing.push_back(config);
      missing_keys.push_back(keys.back());
    }
    if (!missing.empty()) {
      std::vector<latency::MeasuredLatency> measured = inner(missing);
      for (size_t i = 0; i < missing.size(); ++i) {
        const latency::MeasuredLatency& m = measured.at(i);
        const std::string& key = missing_keys[i];
        const nlohmann::json line = {{"key", key},
                                     {"config", arch_config_to_json(missing[i])},
                                     {"ttft_ms", m.ttft_ms},
                                     {"decode_ms_per_token", m.decode_ms_per_token},
                                     {"noisy", m.noisy},
                                     {"detail", m.detail}};
        *log << line.dump() << '\n';
        (*cache)[key] = m;
      }
      log->flush();
    }
    std::vector<latency::MeasuredLatency> out;
    for (const std::string& key : keys) out.push_back(cache->at(key));
    return out;
  };
}

// How noisy this machine was during the study, for each target: the median,
// over every measured point, of the coefficient of variation of its repeats
// and of the relative standard error of its measured value (about
// 1.25 cv / sqrt(n) for the median of n samples). The held-out accuracy cannot
// be better than the error of the points it is scored against.
constexpr double kMedianStandardError = 1.2533;  // sqrt(pi / 2): the median's, over the mean's

nlohmann::json measurement_noise(const latency::LatencyStudyResult& r) {
  nlohmann::json out = nlohmann::json::object();
  for (const char* target : {"ttft_ms", "decode_ms_per_token"}) {
    std::vector<double> cvs, errors;
    for (const auto* points : {&r.train, &r.holdout}) {
      for (const latency::StudyPoint& p : *points) {
        const nlohmann::json& d = p.measured.detail;
        if (!d.contains(target) || !d.at(target).contains("cv")) continue;
        const double cv = d.at(target).at("cv").get<double>();
        const double n = static_cast<double>(d.at(target).at("samples").size());
        cvs.push_back(cv);
        errors.push_back(kMedianStandardError * cv / std::sqrt(n));
      }
    }
    if (cvs.empty()) continue;
    out[std::string("median_cv_") + target] = latency::median_of(cvs);
    out[std::string("median_standard_error_") + target] = latency::median_of(errors);
  }
  return out;
}

}  // namespace

int run_latency_study(const Args& args) {
  const std::vector<FlagSpec> spec = latency_study_flags();
  const Flags flags(args, spec);
  if (print_help_if_asked(flags, spec, "flashnas latency-study --space SPACE.json --shape SHAPE.json --out MODEL.json [flags]")) return 0;
  const latency::LatencyOptions measure = latency_options_from_flags(flags);
  const search::ArchSpace space(search::arch_space_options_from_json(
      latency::read_json_file(flags.require("space"), "--space")));
  const latency::ModelShape shape = latency::model_shape_from_json(
      latency::read_json_file(flags.require("shape"), "--shape"), "--shape");
  const std::string out_path = flags.require("out");

  latency::LatencyStudyOptions o;
  o.samples = flags.integer("samples", o.samples, 2, 100000);
  o.holdout = flags.integer("holdout", o.holdout, 2, 100000);
  o.initial = flags.integer("initial", -1, 2, o.samples);
  o.batch = flags.integer("batch", o.batch, 1, 10000);
  o.pool = flags.integer("pool", o.pool, 1, 1000000);
  o.seed = static_cast<uint64_t>(flags.integer("seed", 0, 0, INT64_MAX));
  o.prompt_len = measure.prompt_len;
  o.validate();

  const std::string statistic_name = flags.get("statistic").value_or("median");
  const latency::LatencyStatistic statistic =
      latency::parse_latency_statistic(statistic_name, "--statistic");
  latency::LatencyMeasurer measurer = latency::local_measurer(measure, 1234, statistic);
  if (flags.has("measurements")) {
    measurer = logged_measurer(flags.require("measurements"), measure, statistic_name,
                               std::move(measurer));
  }
  auto progress = [](const latency::StudyPoint& p, int64_t done, int64_t total) {
    std::fprintf(stderr, "[%lld/%lld] %-8s L=%lld C=%lld ttft %.2f ms, decode %.3f ms/token%s\n",
                 static_cast<long long>(done), static_cast<long long>(total), p.phase.c_str(),
                 static_cast<long long>(p.arch.n_layers), static_cast<long long>(p.arch.d_model),
                 p.measured.ttft_ms, p.measured.decode_ms_per_token,
                 p.measured.noisy ? " (noisy)" : "");
  };
  latency::LatencyStudyResult r = latency::run_latency_study(space, shape, o, measurer, progress);

  nlohmann::json train = nlohmann::json::array(), holdout = nlohmann::json::array();
  for (const auto& p : r.train) train.push_back(latency::study_point_to_json(p));
  for (const auto& p : r.holdout) holdout.push_back(latency::study_point_to_json(p));
  r.model.metadata["measurement"] = latency::latency_options_to_json(measure);
  r.model.metadata["measurement"]["statistic"] = statistic_name;
  if (!r.train.empty() && r.train.front().measured.detail.contains("environment")) {
    r.model.metadata["environment"] = r.train.front().measured.detail.at("environment");
  }
  r.model.metadata["train_points"] = train;
  r.model.metadata["holdout_points"] = holdout;
  latency::write_json_file(out_path, r.model.to_json(), -1);

  const nlohmann::json report = {
      {"out", out_path},
      {"samples", r.train.size()},
      {"holdout", r.holdout.size()},
      {"noisy_measurements", r.noisy_measurements},
      {"measurement_noise", measurement_noise(r)},
      {"measure_seconds", r.measure_seconds},
      {"fit_seconds", r.fit_seconds},
      {"measurement", r.model.metadata["measurement"]},
      {"environment", r.model.metadata.value("environment", nlohmann::json::object())},
      {"accuracy", latency::study_accuracy_to_json(r.accuracy)}};
  // Scoring "within 10%" needs measured values whose own error is well inside
  // that band: warn from a quarter of it.
  const nlohmann::json& noise = report.at("measurement_noise");
  const bool imprecise =
      noise.value("median_standard_error_ttft_ms", 0.0) > 0.025 ||
      noise.value("median_standard_error_decode_ms_per_token", 0.0) > 0.025;
  if (imprecise) {
    std::fprintf(stderr,
                 "warning: the measured values carry a median relative standard error above 2.5%% "
                 "(%s; %lld of %lld measurements above the CV threshold): the held-out accuracy "
                 "is bounded by that noise; add --repeats, or re-run on a quieter machine (with "
                 "a new --measurements log: the old one would be reused)\n",
                 noise.dump().c_str(), static_cast<long long>(r.noisy_measurements),
                 static_cast<long long>(r.train.size() + r.holdout.size()));
  }
  if (flags.has("json")) {
    std::printf("%s\n", report.dump(2).c_str());
  } else {
    for (const auto& [name, a] : {std::pair{"prefill", r.accuracy.prefill},
                                  std::pair{"decode", r.accuracy.decode}}) {
      std::printf("%-8s R^2 %.4f  RMSPE %.2f%%  within 5%% %.2f  within 10%% %.2f  "
                  "tau model %.3f  params %.3f  flops %.3f\n",
                  name, a.r2, a.rmspe_percent, a.within_5, a.within_10, a.kendall_tau_model,
                  a.kendall_tau_params, a.kendall_tau_flops);
    }
    std::printf("model written to %s\n", out_path.c_str());
  }
  return 0;
}

}  // namespace flashnas::cli
