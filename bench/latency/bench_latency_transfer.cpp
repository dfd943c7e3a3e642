// Latency models across devices: how many measurements of a new device a model
// transferred from another device's fitted model needs (LatencyModel::
// fit_transferred) to be as accurate as a model fitted from scratch on many.
//
// Two device kinds this machine can make: the same architectures run with F32
// weights and with Q8_0 weights (1 thread each). Both kinds are measured on the
// same architectures: the training set (the study's Sobol design) and held-out
// architectures drawn independently (study_design). Each batch of architectures
// is measured on both kinds one after the other, the order alternating between
// batches, and within a kind the batch's runs are interleaved
// (local_measurer), so slow drift of a loaded machine hits both kinds and both
// sets alike. The raw medians go to --measurements-out after every batch, so a
// fit can be redone with --measurements without measuring.
//
// Then, for each direction (source kind -> target kind): the source model on all
// training points of the source kind; on the target kind, from-scratch models on
// random subsets of n training points and transferred models (each method, and
// the bare source shifted by the median log ratio of the n points, "offset") on
// random subsets of n, all scored on the held-out points: share within 10%,
// R^2 of log latency and Kendall's tau, per target, median over the subsets.
// Prints one JSON object.
//
// usage: bench_latency_transfer --space SPACE.json --shape SHAPE.json --measurements-out RAW.json [flags]
//        bench_latency_transfer --measurements RAW.json [--subsets S]
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "common/flags.hpp"
#include "engine/latency/accuracy.hpp"
#include "engine/latency/features.hpp"
#include "engine/latency/json_file.hpp"
#include "engine/latency/latency_environment.hpp"
#include "engine/latency/latency_model.hpp"
#include "engine/latency/latency_stats.hpp"
#include "engine/latency/model_shape.hpp"
#include "engine/latency/study.hpp"
#include "engine/search/arch_space.hpp"
#include "engine/search/arch_space_options.hpp"
#include "engine/util/error.hpp"

using namespace flashnas;
using namespace flashnas::latency;

namespace {

const std::vector<WeightFormat> kKinds = {WeightFormat::f32, WeightFormat::q8_0};

std::string kind_name(WeightFormat w) { return std::string(weight_format_name(w)); }

// ---- measuring ---------------------------------------------------------------

nlohmann::json measured_to_json(const MeasuredLatency& m) {
  nlohmann::json j = {{"ttft_ms", m.ttft_ms}, {"decode_ms_per_token", m.decode_ms_per_token}, {"noisy", m.noisy}};
  // The timed samples and their CV, not the environment repeated per point.
  for (const char* key : {"ttft_ms", "decode_ms_per_token"}) {
    if (!m.detail.contains(key)) continue;
    j["samples"][key] = m.detail.at(key).at("samples");
    j["cv"][key] = m.detail.at(key).at("cv");
  }
  return j;
}

// Measures the design on both kinds, writing `raw` to `out_path` after every batch.
void measure_both(const search::ArchSpace& space, const ModelShape& shape, const LatencyStudyOptions& so,
                  const LatencyOptions& lo, const std::string& out_path, nlohmann::json& raw) {
  const StudyDesign design = study_design(space, so);
  struct Point {
    const CandidateArch* arch;
    const char* set;
  };
  std::vector<LatencyMeasurer> measurers;
  for (WeightFormat w : kKinds) {
    LatencyOptions o = lo;
    o.weights = w;
    measurers.push_back(local_measurer(o));
  }
  // Batches of `batch` training points plus the held-out points that keep pace
  // (after training point k of N, ceil(M k / N) held-out points).
  const int64_t N = static_cast<int64_t>(design.design.size()), M = static_cast<int64_t>(design.holdout.size());
  int64_t train_done = 0, holdout_done = 0, batch_index = 0;
  const auto t0 = std::chrono::steady_clock::now();
  raw["train"] = nlohmann::json::array();
  raw["holdout"] = nlohmann::json::array();
  while (train_done < N || holdout_done < M) {
    std::vector<Point> points;
    const int64_t train_end = std::min(N, train_done + so.batch);
    for (int64_t i = train_done; i < train_end; ++i) points.push_back({&design.design[static_cast<size_t>(i)], "train"});
    int64_t holdout_end = holdout_done;
    while (holdout_end < M && (train_end == N || holdout_end * N < M * train_end)) ++holdout_end;
    for (int64_t i = holdout_done; i < holdout_end; ++i) {
      points.push_back({&design.holdout[static_cast<size_t>(i)], "holdout"});
    }
    std::vector<ArchConfig> configs;
    for (const Point& p : points) configs.push_back(shape_to_config(shape, *p.arch));
    std::vector<std::vector<MeasuredLatency>> by_kind(kKinds.size());
    for (size_t j = 0; j < kKinds.size(); ++j) {
      const size_t k = batch_index % 2 == 0 ? j : kKinds.size() - 1 - j;  // alternate which kind goes first
      by_kind[k] = measurers[k](configs);
    }
    if (!raw.contains("environment") && !by_kind[0].empty() && by_kind[0][0].detail.contains("environment")) {
      raw["environment"] = by_kind[0][0].detail.at("environment");
    }
    for (size_t i = 0; i < points.size(); ++i) {
      nlohmann::json entry = {{"arch", candidate_arch_to_json(*points[i].arch)}};
      for (size_t k = 0; k < kKinds.size(); ++k) entry[kind_name(kKinds[k])] = measured_to_json(by_kind[k][i]);
      raw[points[i].set].push_back(std::move(entry));
    }
    train_done = train_end;
    holdout_done = holdout_end;
    ++batch_index;
    raw["measure_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    write_json_file(out_path, raw, -1);  // one line: 250 points x 2 kinds of samples
    std::fprintf(stderr, "measured %lld / %lld training, %lld / %lld held-out, %.0f s\n",
                 static_cast<long long>(train_done), static_cast<long long>(N),
                 static_cast<long long>(holdout_done), static_cast<long long>(M),
                 raw["measure_seconds"].get<double>());
  }
}

// ---- fitting and scoring -------------------------------------------------------

struct KindData {
  Eigen::VectorXd ttft, decode;  // (N) or (M)
};

struct Split {
  Eigen::MatrixXd x;                     // (N, D)
  std::map<std::string, KindData> kind;  // by kind name
};

Split read_split(const nlohmann::json& points, const ModelShape& shape, int64_t P) {
  Split s;
  const auto n = static_cast<Eigen::Index>(points.size());
  s.x.resize(n, kLatencyFeatureCount);
  for (WeightFormat w : kKinds) s.kind[kind_name(w)] = {Eigen::VectorXd(n), Eigen::VectorXd(n)};
  for (Eigen::Index i = 0; i < n; ++i) {
    const nlohmann::json& p = points[static_cast<size_t>(i)];
    s.x.row(i) = latency_features(shape_to_config(shape, candidate_arch_from_json(p.at("arch"))), P).transpose();
    for (auto& [name, d] : s.kind) {
      d.ttft(i) = p.at(name).at("ttft_ms").get<double>();
      d.decode(i) = p.at(name).at("decode_ms_per_token").get<double>();
    }
  }
  return s;
}

struct Score {
  double within_10 = 0, r2_log = 0, tau = 0;
};

Score score(const Eigen::VectorXd& measured, const Eigen::VectorXd& predicted) {
  const std::vector<double> m(measured.data(), measured.data() + measured.size());
  const std::vector<double> p(predicted.data(), predicted.data() + predicted.size());
  std::vector<double> lm(m.size()), lp(p.size());
  std::transform(m.begin(), m.end(), lm.begin(), [](double v) { return std::log(v); });
  std::transform(p.begin(), p.end(), lp.begin(), [](double v) { return std::log(v); });
  return {share_within(m, p, 0.10), r_squared(lm, lp), kendall_tau(m, p)};
}

struct Run {
  Score ttft, decode;
};

Run score_predictions(const KindData& held, const Eigen::VectorXd& ttft, const Eigen::VectorXd& decode) {
  return {score(held.ttft, ttft), score(held.decode, decode)};
}

Run score_model(const LatencyModel& model, const Eigen::MatrixXd& x, const KindData& held) {
  const LatencyPredictions p = model.predict(x);
  return score_predictions(held, p.ttft_ms, p.decode_ms_per_token);
}

nlohmann::json score_to_json(const Score& s) {
  return {{"within_10", s.within_10}, {"r2_log", s.r2_log}, {"kendall_tau", s.tau}};
}

nlohmann::json run_to_json(const Run& r) { return {{"ttft", score_to_json(r.ttft)}, {"decode", score_to_json(r.decode)}}; }

// Median of each metric over the runs.
Run median_run(const std::vector<Run>& runs) {
  auto med = [&](auto get) {
    std::vector<double> v;
    for (const Run& r : runs) v.push_back(get(r));
    return median_of(v);
  };
  Run m;
  m.ttft = {med([](const Run& r) { return r.ttft.within_10; }), med([](const Run& r) { return r.ttft.r2_log; }),
            med([](const Run& r) { return r.ttft.tau; })};
  m.decode = {med([](const Run& r) { return r.decode.within_10; }),
              med([](const Run& r) { return r.decode.r2_log; }), med([](const Run& r) { return r.decode.tau; })};
  return m;
}

// The rows of `n` random training points, one subset per seed (all points when n >= N).
std::vector<Eigen::Index> subset(Eigen::Index N, int64_t n, uint64_t seed) {
  std::vector<Eigen::Index> idx(static_cast<size_t>(N));
  std::iota(idx.begin(), idx.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(idx.begin(), idx.end(), rng);
  idx.resize(static_cast<size_t>(std::min<int64_t>(n, N)));
  return idx;
}

Eigen::MatrixXd rows(const Eigen::MatrixXd& x, const std::vector<Eigen::Index>& idx) {
  Eigen::MatrixXd out(static_cast<Eigen::Index>(idx.size()), x.cols());
  for (size_t i = 0; i < idx.size(); ++i) out.row(static_cast<Eigen::Index>(i)) = x.row(idx[i]);
  return out;
}

Eigen::VectorXd rows(const Eigen::VectorXd& v, const std::vector<Eigen::Index>& idx) {
  Eigen::VectorXd out(static_cast<Eigen::Index>(idx.size()));
  for (size_t i = 0; i < idx.size(); ++i) out(static_cast<Eigen::Index>(i)) = v(idx[i]);
  return out;
}

// The bare source shifted by the median log ratio of the n target points, per target.
Run score_offset(const LatencyModel& source, const Eigen::MatrixXd& x_n, const KindData& y_n,
                 const Eigen::MatrixXd& x_held, const KindData& held) {
  const LatencyPredictions at_n = source.predict(x_n), at_held = source.predict(x_held);
  auto shift = [](const Eigen::VectorXd& y, const Eigen::VectorXd& s) {
    const Eigen::VectorXd r = y.array().log() - s.array().log();
    return std::exp(median_of(std::vector<double>(r.data(), r.data() + r.size())));
  };
  return score_predictions(held, at_held.ttft_ms * shift(y_n.ttft, at_n.ttft_ms),
                           at_held.decode_ms_per_token * shift(y_n.decode, at_n.decode_ms_per_token));
}

using FitFn = std::function<Run(const Eigen::MatrixXd& x, const KindData& y)>;

// One curve: for each n, `subsets` random subsets fitted and scored, with the median.
nlohmann::json curve(const std::vector<int64_t>& ns, int64_t subsets, const Split& train, const std::string& target,
                     const FitFn& fit, std::map<int64_t, Run>& medians) {
  nlohmann::json out = nlohmann::json::array();
  const Eigen::Index N = train.x.rows();
  for (int64_t n : ns) {
    if (n > N) continue;
    std::vector<Run> runs;
    const int64_t reps = n >= N ? 1 : subsets;  // every subset of all points is the same
    for (int64_t s = 0; s < reps; ++s) {
      const auto idx = subset(N, n, 1000 * static_cast<uint64_t>(n) + static_cast<uint64_t>(s));
      const KindData& y = train.kind.at(target);
      runs.push_back(fit(rows(train.x, idx), KindData{rows(y.ttft, idx), rows(y.decode, idx)}));
    }
    const Run m = median_run(runs);
    medians[n] = m;
    nlohmann::json each = nlohmann::json::array();
    for (const Run& r : runs) each.push_back(run_to_json(r));
    out.push_back({{"n", n}, {"subsets", reps}, {"median", run_to_json(m)}, {"runs", each}});
  }
  return out;
}

// The smallest n whose median reaches `reference` in one metric of one target (-1: none).
nlohmann::json first_reaching(const std::map<int64_t, Run>& medians, const Run& reference) {
  nlohmann::json out;
  for (const char* t : {"ttft", "decode"}) {
    for (const char* metric : {"within_10", "r2_log", "kendall_tau"}) {
      int64_t first = -1;
      for (const auto& [n, r] : medians) {
        const Score& s = std::string(t) == "ttft" ? r.ttft : r.decode;
        const Score& ref = std::string(t) == "ttft" ? reference.ttft : reference.decode;
        const double v = std::string(metric) == "within_10" ? s.within_10 : std::string(metric) == "r2_log" ? s.r2_log : s.tau;
        const double rv = std::string(metric) == "within_10" ? ref.within_10
                          : std::string(metric) == "r2_log"  ? ref.r2_log
                                                             : ref.tau;
        if (v >= rv) {
          first = n;
          break;
        }
      }
      out[t][metric] = first;
    }
  }
  return out;
}

nlohmann::json analyse(const nlohmann::json& raw, int64_t subsets) {
  const ModelShape shape = model_shape_from_json(raw.at("shape"), "shape");
  const int64_t P = raw.at("prompt_len").get<int64_t>();
  const Split train = read_split(raw.at("train"), shape, P);
  const Split held = read_split(raw.at("holdout"), shape, P);
  const std::vector<int64_t> scratch_ns = {10, 20, 40, 80, 200};
  const std::vector<int64_t> transfer_ns = {5, 10, 20, 40, 80};
  LatencyModelOptions options;  // the defaults the study uses
  nlohmann::json directions = nlohmann::json::array();
  for (const auto& [src, dst] : {std::pair{kKinds[0], kKinds[1]}, std::pair{kKinds[1], kKinds[0]}}) {
    const std::string s = kind_name(src), d = kind_name(dst);
    const auto t0 = std::chrono::steady_clock::now();
    const KindData& ys = train.kind.at(s);
    auto source = std::make_shared<const LatencyModel>(LatencyModel::fit(train.x, ys.ttft, ys.decode, options));
    nlohmann::json dir = {{"source", s},
                          {"target", d},
                          {"source_points", source->n_points()},
                          {"source_on_source_holdout", run_to_json(score_model(*source, held.x, held.kind.at(s)))},
                          {"source_as_is_on_target", run_to_json(score_model(*source, held.x, held.kind.at(d)))}};
    std::map<int64_t, Run> scratch_medians;
    dir["scratch"] = curve(scratch_ns, subsets, train, d,
                           [&](const Eigen::MatrixXd& x, const KindData& y) {
                             return score_model(LatencyModel::fit(x, y.ttft, y.decode, options), held.x,
                                                held.kind.at(d));
                           },
                           scratch_medians);
    const Run reference = scratch_medians.rbegin()->second;  // from scratch on the most points
    dir["reference_scratch_n"] = scratch_medians.rbegin()->first;
    for (TransferMethod method :
         {TransferMethod::log_ratio, TransferMethod::source_mean, TransferMethod::source_and_cost_mean}) {
      std::map<int64_t, Run> medians;
      const std::string name(transfer_method_name(method));
      dir["transfer"][name] = curve(transfer_ns, subsets, train, d,
                                    [&](const Eigen::MatrixXd& x, const KindData& y) {
                                      return score_model(LatencyModel::fit_transferred(source, x, y.ttft, y.decode,
                                                                                       method, options.gp),
                                                         held.x, held.kind.at(d));
                                    },
                                    medians);
      dir["first_n_reaching_reference"][name] = first_reaching(medians, reference);
    }
    std::map<int64_t, Run> offset_medians;
    dir["transfer"]["offset"] = curve(transfer_ns, subsets, train, d,
                                      [&](const Eigen::MatrixXd& x, const KindData& y) {
                                        return score_offset(*source, x, y, held.x, held.kind.at(d));
                                      },
                                      offset_medians);
    dir["first_n_reaching_reference"]["offset"] = first_reaching(offset_medians, reference);
    dir["fit_seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    directions.push_back(std::move(dir));
  }
  return {{"train_points", train.x.rows()}, {"holdout_points", held.x.rows()}, {"subsets", subsets},
          {"directions", directions}};
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<FlagSpec> spec = {
      {"space", true, "search space JSON (measuring)"},
      {"shape", true, "model shape JSON (measuring)"},
      {"measurements-out", true, "write the raw measurements here (measuring)"},
      {"measurements", true, "read raw measurements from here instead of measuring"},
      {"train", true, "training architectures (default 200)"},
      {"holdout", true, "held-out architectures (default 50)"},
      {"batch", true, "training architectures per measured batch (default 10)"},
      {"prompt-len", true, "P (default 256)"},
      {"decode-tokens", true, "K (default 16)"},
      {"repeats", true, "timed runs of each architecture per kind (default 10)"},
      {"warmup", true, "untimed runs first (default 1)"},
      {"no-pin", false, "do not pin the thread"},
      {"clock", true, "wall | thread_cpu (default wall)"},
      {"seed", true, "design seed (default 0)"},
      {"subsets", true, "random training subsets per n (default 5)"},
      {"help", false, "show this help"},
  };
  try {
    const Flags flags(std::vector<std::string>(argv + 1, argv + argc), spec);
    if (print_help_if_asked(flags, spec,
                            "bench_latency_transfer (--space S --shape SH --measurements-out RAW | --measurements RAW) "
                            "[flags]")) {
      return 0;
    }
    const int64_t subsets = flags.integer("subsets", 5, 1, 1000);
    nlohmann::json raw;
    if (flags.has("measurements")) {
      raw = read_json_file(flags.require("measurements"), "--measurements");
    } else {
      const search::ArchSpace space(search::arch_space_options_from_json(read_json_file(flags.require("space"), "--space")));
      const ModelShape shape = model_shape_from_json(read_json_file(flags.require("shape"), "--shape"), "--shape");
      LatencyStudyOptions so;
      so.samples = flags.integer("train", 200, 2, 100000);
      so.initial = so.samples;  // the whole training set is the Sobol design
      so.holdout = flags.integer("holdout", 50, 2, 100000);
      so.batch = flags.integer("batch", 10, 1, 1000);
      so.seed = static_cast<uint64_t>(flags.integer("seed", 0, 0, INT64_MAX));
      LatencyOptions lo;
      lo.prompt_len = flags.integer("prompt-len", 256, 1, 1 << 16);
      lo.decode_tokens = flags.integer("decode-tokens", 16, 1, 1 << 16);
      lo.repeats = flags.integer("repeats", 10, 1, 10000);
      lo.warmup = flags.integer("warmup", 1, 0, 10000);
      lo.max_extra_rounds = 0;  // medians of interleaved runs, as the study on this host
      lo.pin_threads = !flags.has("no-pin");
      if (flags.has("clock")) lo.clock = parse_latency_clock(flags.require("clock"), "--clock");
      lo.validate();
      so.prompt_len = lo.prompt_len;
      char stamp[32];
      const time_t started = std::time(nullptr);
      std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&started));
      raw = {{"started", stamp},
             {"kinds", {kind_name(kKinds[0]), kind_name(kKinds[1])}},
             {"options", latency_options_to_json(lo)},
             {"prompt_len", lo.prompt_len},
             {"shape", model_shape_to_json(shape)},
             {"space", search::arch_space_options_to_json(space.options())},
             {"seed", so.seed}};
      measure_both(space, shape, so, lo, flags.require("measurements-out"), raw);
    }
    nlohmann::json out = analyse(raw, subsets);
    out["measured"] = {{"started", raw.value("started", "")},
                       {"measure_seconds", raw.value("measure_seconds", 0.0)},
                       {"options", raw.value("options", nlohmann::json::object())},
                       {"environment", raw.value("environment", nlohmann::json::object())}};
    std::printf("%s\n", out.dump(2).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_latency_transfer: %s\n", e.what());
    return 1;
  }
  return 0;
}
