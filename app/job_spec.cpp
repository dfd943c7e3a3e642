// The job contract: parsing, canonical JSON (see job_spec.hpp).
#include "app/job_spec.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <regex>
#include <set>

#include "engine/util/json_reader.hpp"

namespace flashnas::app {
namespace {

using nlohmann::json;

constexpr int64_t kMaxTokens = int64_t{1} << 30;
constexpr int64_t kMaxSeed = int64_t{1} << 53;  // exact in a JSON double
constexpr size_t kMaxConstraints = 8;

const std::vector<std::string> kKinds = {"sweep", "search", "latency_study"};
const std::vector<std::string> kConstraintMetrics = {"prefill_ms", "decode_ms_per_token", "params",
                                                     "kv_cache_bytes_per_token"};

EvaluationSpec read_evaluation(JsonObjectReader& r) {
  EvaluationSpec e;
  e.backbone = r.integer("backbone", true, 1, INT64_MAX).value_or(0);
  e.calibration = r.integer("calibration", true, 1, INT64_MAX).value_or(0);
  e.eval = r.integer("eval", true, 1, INT64_MAX).value_or(0);
  e.calib_tokens = r.integer("calib_tokens", false, 2, kMaxTokens).value_or(e.calib_tokens);
  e.eval_tokens = r.integer("eval_tokens", false, 2, kMaxTokens).value_or(e.eval_tokens);
  e.ctx = r.integer("ctx", false, 1, 8192).value_or(e.ctx);
  e.heal = r.nested("heal", false, read_heal_spec);
  return e;
}

void write_evaluation(json& j, const EvaluationSpec& e) {
  j["backbone"] = e.backbone;
  j["calibration"] = e.calibration;
  j["eval"] = e.eval;
  j["calib_tokens"] = e.calib_tokens;
  j["eval_tokens"] = e.eval_tokens;
  j["ctx"] = e.ctx;
  if (e.heal) j["heal"] = heal_spec_to_json(*e.heal);
}

LatencyObjective read_objective(const json& v, const std::string& field, FieldErrors& errors) {
  LatencyObjective o;
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s == "prefill_ms") return {1.0, 0.0};
    if (s == "decode_ms_per_token") return {0.0, 1.0};
    errors.add(field, "must be \"prefill_ms\", \"decode_ms_per_token\" or {\"prefill_ms\": W, "
                      "\"decode_ms_per_token\": W} (a weighted sum)");
    return o;
  }
  JsonObjectReader w(v, field, errors);
  if (!w.is_object()) return o;
  o.prefill_weight = w.number("prefill_ms", false, 0, 1e9).value_or(0.0);
  o.decode_weight = w.number("decode_ms_per_token", false, 0, 1e9).value_or(0.0);
  w.finish();
  if (!(o.prefill_weight + o.decode_weight > 0)) errors.add(field, "needs a positive weight");
  return o;
}

json objective_to_json(const LatencyObjective& o) {
  return {{"prefill_ms", o.prefill_weight}, {"decode_ms_per_token", o.decode_weight}};
}

}  // namespace

bool is_device_kind_name(const std::string& kind) {
  static const std::regex kDeviceKind("^[a-z0-9][a-z0-9_.-]{0,63}$");
  return std::regex_match(kind, kDeviceKind);
}

namespace {

// The job's "latency" object: where and what to measure, and the LatencyOptions.
LatencySpec read_latency_fields(JsonObjectReader& l) {
  LatencySpec spec;
  if (const auto device = l.string("device_kind", true, 64)) {
    if (!is_device_kind_name(*device)) {
      l.errors().add(l.field_name("device_kind"), "must be lowercase letters, digits, '_', '.', '-'");
    } else {
      spec.device_kind = *device;
    }
  }
  if (const json* objective = l.value("objective", false)) {
    spec.objective = read_objective(*objective, l.field_name("objective"), l.errors());
  }
  l.value("prompt_len", true);  // required here, though LatencyOptions has defaults
  l.value("decode_tokens", true);
  // The rest is LatencyOptions, read by the engine's own reader from the same
  // object (so the job accepts exactly the options `flashnas bench-latency` does).
  spec.options = latency::read_latency_options(l);
  return spec;
}

LatencySpec read_latency(JsonObjectReader& r) {
  return r.nested("latency", true, read_latency_fields).value_or(LatencySpec{});
}

json latency_to_json(const LatencySpec& s) {
  json j = latency::latency_options_to_json(s.options);
  j["device_kind"] = s.device_kind;
  j["objective"] = objective_to_json(s.objective);
  return j;
}

search::ArchSpaceOptions read_space(JsonObjectReader& r) {
  // The engine's own reader and checks: a space is refused exactly as
  // `flashnas latency-study --space` refuses it, under "space.".
  return r.nested("space", true, search::read_arch_space_options).value_or(search::ArchSpaceOptions{});
}

Stage1Spec read_stage1(const json& v, FieldErrors& errors) {
  Stage1Spec s;
  JsonObjectReader r(v, "stage1", errors);
  s.samples = r.integer("samples", false, 2, 100000).value_or(s.samples);
  s.holdout = r.integer("holdout", false, 2, 100000).value_or(s.holdout);
  s.repeats = r.integer("repeats", false, 1, 10000).value_or(s.repeats);
  s.initial = r.integer("initial", false, 2, 100000).value_or(s.initial);
  s.batch = r.integer("batch", false, 1, 10000).value_or(s.batch);
  s.pool = r.integer("pool", false, 1, 1000000).value_or(s.pool);
  s.transfer_from = r.integer("transfer_from", false, 1, INT64_MAX);
  if (const auto source = r.string("source", false, 16)) {
    if (*source == "imported") {
      s.source = Stage1Source::imported;
    } else if (*source != "measured") {
      r.errors().add("stage1.source", "must be \"measured\" or \"imported\"");
    }
  }
  r.finish();
  if (s.initial > s.samples) errors.add("stage1.initial", fmt::format("exceeds samples ({})", s.samples));
  return s;
}

json stage1_to_json(const Stage1Spec& s) {
  json j = {{"samples", s.samples}, {"holdout", s.holdout}, {"repeats", s.repeats}, {"batch", s.batch}, {"pool", s.pool}};
  if (s.initial >= 0) j["initial"] = s.initial;  // absent: half the samples
  if (s.source == Stage1Source::imported) j["source"] = "imported";
  if (s.transfer_from) j["transfer_from"] = *s.transfer_from;
  return j;
}

Stage2Spec read_stage2(const json* v, FieldErrors& errors) {
  Stage2Spec s;
  if (!v) return s;
  JsonObjectReader r(*v, "stage2", errors);
  s.budget = r.integer("budget", false, 1, kMaxSearchBudget).value_or(s.budget);
  s.batch = r.integer("batch", false, 1, 64).value_or(s.batch);
  s.initial = r.integer("initial", false, 1, kMaxSearchBudget).value_or(s.initial);
  s.eta = r.integer("eta", false, 2, 16).value_or(s.eta);
  r.finish();
  if (s.initial > s.budget) errors.add("stage2.initial", fmt::format("exceeds the budget ({})", s.budget));
  return s;
}

std::vector<OutcomeConstraintSpec> read_constraints(const json* v, FieldErrors& errors) {
  std::vector<OutcomeConstraintSpec> out;
  if (!v) return out;
  if (v->size() > kMaxConstraints) errors.add("constraints", fmt::format("at most {} constraints", kMaxConstraints));
  std::set<std::string> seen;
  for (size_t i = 0; i < v->size() && i < kMaxConstraints; ++i) {
    const std::string field = fmt::format("constraints[{}]", i);
    JsonObjectReader r((*v)[i], field, errors);
    const auto metric = r.choice("metric", true, kConstraintMetrics);
    const auto max = r.number("max", true, 0, 1e18);
    r.finish();
    if (!metric || !max) continue;
    if (!seen.insert(*metric).second) errors.add(field + ".metric", "constrained twice");
    if (!(*max > 0)) errors.add(field + ".max", "must be positive");
    const auto index = std::find(kConstraintMetrics.begin(), kConstraintMetrics.end(), *metric) - kConstraintMetrics.begin();
    out.push_back({static_cast<ConstraintMetric>(index), *max});
  }
  return out;
}

std::optional<ReferencePoint> read_reference(const json* v, FieldErrors& errors) {
  if (!v) return std::nullopt;
  JsonObjectReader r(*v, "reference_point", errors);
  const auto nll = r.number("eval_nll", true, 1e-9, 1e9);
  const auto latency = r.number("latency", true, 1e-12, 1e12);
  r.finish();
  if (!nll || !latency) return std::nullopt;
  return ReferencePoint{*nll, *latency};
}

uint64_t read_seed(JsonObjectReader& r) {
  return static_cast<uint64_t>(r.integer("seed", false, 0, kMaxSeed).value_or(0));
}

SweepSpec read_sweep(JsonObjectReader& r) {
  SweepSpec s;
  s.evaluation = read_evaluation(r);
  s.latency = read_latency(r);
  const json* candidates = r.array("candidates", true);
  if (!candidates) return s;
  if (candidates->empty() || static_cast<int64_t>(candidates->size()) > kMaxSweepCandidates) {
    r.errors().add("candidates", fmt::format("must hold 1 to {} architectures", kMaxSweepCandidates));
  }
  std::set<std::string> hashes;
  for (size_t i = 0; i < candidates->size() && static_cast<int64_t>(i) < kMaxSweepCandidates; ++i) {
    try {
      CandidateArch arch = candidate_arch_from_json((*candidates)[i], fmt::format("candidates[{}]", i));
      // The same architecture twice is one candidate.
      if (hashes.insert(candidate_arch_hash(arch)).second) s.candidates.push_back(std::move(arch));
    } catch (const InvalidInput& e) {
      r.errors().add(e);
    }
  }
  return s;
}

// One rung: its heal steps, or an object {"steps", "lr", "warmup_steps"} that
// gives the rung its own schedule.
std::optional<Fidelity> read_fidelity(const json& v, const std::string& field, FieldErrors& errors) {
  if (!v.is_object()) {
    if (!v.is_number_integer()) {
      errors.add(field, type_mismatch("heal steps (an integer) or an object {\"steps\", \"lr\", \"warmup_steps\"}", v));
      return std::nullopt;
    }
    const auto steps = integer_value(v, field, 0, kMaxHealSteps, errors);
    return steps ? std::optional<Fidelity>(Fidelity{*steps, std::nullopt, std::nullopt}) : std::nullopt;
  }
  JsonObjectReader r(v, field, errors);
  const auto steps = r.integer("steps", true, 0, kMaxHealSteps);
  const auto lr = r.number("lr", false, 1e-12, 10.0);                     // as heal.lr
  const auto warmup = r.integer("warmup_steps", false, 0, kMaxHealSteps);  // as heal.warmup_steps
  r.finish();
  if (!steps) return std::nullopt;
  if (*steps == 0 && (lr || warmup)) {
    errors.add(field, "a rung of 0 steps does not heal: give it no lr or warmup_steps");
    return std::nullopt;
  }
  return Fidelity{*steps, lr, warmup};
}

// "fidelities": the rungs, heal steps increasing; the heal they scale must be
// given, and its own steps (if given) must be the top rung's.
void read_fidelities(JsonObjectReader& r, SearchSpec& s) {
  const json* list = r.array("fidelities", false, kMaxFidelities);
  if (!list) return;
  FieldErrors& errors = r.errors();
  if (list->size() < 2) {
    errors.add("fidelities", fmt::format("give 2 to {} heal budgets (steps), increasing", kMaxFidelities));
    return;
  }
  std::vector<Fidelity> fidelities;
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string field = fmt::format("fidelities[{}]", i);
    const auto f = read_fidelity((*list)[i], field, errors);
    if (!f) continue;
    if (!fidelities.empty() && f->steps <= fidelities.back().steps) {
      errors.add(field, "must exceed the one before (rungs heal longer and longer)");
    }
    fidelities.push_back(*f);
  }
  if (!s.evaluation.heal) {
    if (!errors.has("heal")) errors.add("fidelities", "needs \"heal\": the fidelities are its steps per rung");
    return;
  }
  if (fidelities.size() != list->size()) return;
  const json* heal = r.value("heal", false);
  const int64_t top = fidelities.back().steps;
  if (heal && heal->contains("steps") && s.evaluation.heal->options.steps != top) {
    errors.add("heal.steps", fmt::format("with fidelities each rung heals for its own steps: leave heal.steps out "
                                         "or make it the top fidelity ({})", top));
  }
  s.fidelities = std::move(fidelities);
  s.evaluation.heal->options.steps = top;
}

json fidelity_to_json(const Fidelity& f) {
  if (!f.lr && !f.warmup_steps) return f.steps;
  json j = {{"steps", f.steps}};
  if (f.lr) j["lr"] = *f.lr;
  if (f.warmup_steps) j["warmup_steps"] = *f.warmup_steps;
  return j;
}

SearchSpec read_search(JsonObjectReader& r) {
  SearchSpec s;
  FieldErrors& errors = r.errors();
  s.evaluation = read_evaluation(r);
  s.latency = read_latency(r);
  s.space = read_space(r);
  const json* stage1 = r.object("stage1", false);
  s.latency_model = r.integer("latency_model", false, 1, INT64_MAX);
  const bool has_model_field = r.is_object() && r.value("latency_model", false);
  if (stage1 && has_model_field) {
    errors.add("latency_model", "give either stage1 (measure and fit a latency model) or latency_model, not both");
  } else if (!stage1 && !has_model_field) {
    errors.add("stage1", "required unless latency_model names a fitted latency model");
  }
  if (stage1) s.stage1 = read_stage1(*stage1, errors);
  s.stage2 = read_stage2(r.object("stage2", false), errors);
  s.constraints = read_constraints(r.array("constraints", false), errors);
  s.reference_point = read_reference(r.object("reference_point", false), errors);
  s.seed = read_seed(r);
  read_fidelities(r, s);
  return s;
}

LatencyStudySpec read_latency_study(JsonObjectReader& r) {
  LatencyStudySpec s;
  s.backbone = r.integer("backbone", true, 1, INT64_MAX).value_or(0);
  s.latency = read_latency(r);
  s.space = read_space(r);
  if (const json* stage1 = r.object("stage1", true)) s.stage1 = read_stage1(*stage1, r.errors());
  s.seed = read_seed(r);
  return s;
}

JobSpec read_spec(store::JobKind kind, JsonObjectReader& r) {
  switch (kind) {
    case store::JobKind::sweep: return read_sweep(r);
    case store::JobKind::search: return read_search(r);
    case store::JobKind::latency_study: return read_latency_study(r);
  }
  throw Error("unknown job kind");
}

}  // namespace

HealSpec read_heal_spec(JsonObjectReader& r) {
  HealSpec h;
  h.train = r.integer("train", true, 1, INT64_MAX).value_or(0);
  h.train_tokens = r.integer("train_tokens", false, 2, kMaxTokens).value_or(h.train_tokens);
  h.options = read_heal_options(r);  // the engine's reader: `flashnas heal` accepts the same
  FieldChecks checks(r.errors(), r.prefix());
  checks.range("steps", h.options.steps, 1, kMaxHealSteps);
  checks.require(h.options.memory_limit_bytes <= kMaxHealMemoryBytes, "memory_limit_bytes",
                 fmt::format("at most {} (16 GiB): a worker heals each of its tasks within this limit, got {}",
                             kMaxHealMemoryBytes, h.options.memory_limit_bytes));
  checks.require(h.train_tokens >= h.min_tokens(), "train_tokens",
                 fmt::format("must hold at least one training window of ctx + 1 = {} tokens", h.min_tokens()),
                 {"ctx"});
  return h;
}

json heal_spec_to_json(const HealSpec& h) {
  json j = heal_options_to_json(h.options);
  j["train"] = h.train;
  j["train_tokens"] = h.train_tokens;
  return j;
}

HealSpec heal_spec_from_json(const json& j, const std::string& prefix) {
  return read_object(j, prefix, "heal", read_heal_spec);
}

std::string LatencyObjective::name() const {
  if (decode_weight == 0.0) return "prefill_ms";
  if (prefill_weight == 0.0) return "decode_ms_per_token";
  return "weighted";
}

std::string_view constraint_metric_name(ConstraintMetric metric) {
  return kConstraintMetrics.at(static_cast<size_t>(metric));
}

store::JobKind job_kind_of(const JobSpec& spec) {
  if (std::holds_alternative<SweepSpec>(spec)) return store::JobKind::sweep;
  if (std::holds_alternative<SearchSpec>(spec)) return store::JobKind::search;
  return store::JobKind::latency_study;
}

JobRequest parse_job_request(const json& body) {
  FieldErrors errors;
  JsonObjectReader r(body, "", errors);
  const auto kind = r.choice("kind", true, kKinds);
  const auto name = r.string("name", true, 200);
  if (!kind) {
    errors.throw_if_any();
  }
  JobRequest request{name.value_or(""), read_spec(*store::parse_enum<store::JobKind>(*kind), r)};
  r.finish();
  errors.throw_if_any();
  return request;
}

json job_spec_to_json(const JobSpec& spec) {
  json j = json::object();
  if (const auto* s = std::get_if<SweepSpec>(&spec)) {
    write_evaluation(j, s->evaluation);
    j["latency"] = latency_to_json(s->latency);
    j["candidates"] = json::array();
    for (const auto& c : s->candidates) j["candidates"].push_back(candidate_arch_to_json(c));
  } else if (const auto* s = std::get_if<SearchSpec>(&spec)) {
    write_evaluation(j, s->evaluation);
    j["latency"] = latency_to_json(s->latency);
    j["space"] = search::arch_space_options_to_json(s->space);
    if (s->stage1) j["stage1"] = stage1_to_json(*s->stage1);
    if (s->latency_model) j["latency_model"] = *s->latency_model;
    j["stage2"] = {{"budget", s->stage2.budget}, {"batch", s->stage2.batch}, {"initial", s->stage2.initial},
                   {"eta", s->stage2.eta}};
    if (!s->fidelities.empty()) {
      j["fidelities"] = json::array();
      for (const auto& f : s->fidelities) j["fidelities"].push_back(fidelity_to_json(f));
    }
    j["constraints"] = json::array();
    for (const auto& c : s->constraints) {
      j["constraints"].push_back({{"metric", constraint_metric_name(c.metric)}, {"max", c.max}});
    }
    if (s->reference_point) {
      j["reference_point"] = {{"eval_nll", s->reference_point->eval_nll}, {"latency", s->reference_point->latency}};
    }
    j["seed"] = s->seed;
  } else {
    const auto& l = std::get<LatencyStudySpec>(spec);
    j["backbone"] = l.backbone;
    j["latency"] = latency_to_json(l.latency);
    j["space"] = search::arch_space_options_to_json(l.space);
    j["stage1"] = stage1_to_json(l.stage1);
    j["seed"] = l.seed;
  }
  return j;
}

JobSpec job_spec_from_json(store::JobKind kind, const json& stored) {
  FieldErrors errors;
  JsonObjectReader r(stored, "spec", errors);
  JobSpec spec = read_spec(kind, r);
  r.finish();
  errors.throw_if_any();
  return spec;
}

int64_t backbone_of(const JobSpec& spec) {
  if (const auto* l = std::get_if<LatencyStudySpec>(&spec)) return l->backbone;
  return evaluation_spec_of(spec)->backbone;
}

const LatencySpec& latency_spec_of(const JobSpec& spec) {
  return std::visit([](const auto& s) -> const LatencySpec& { return s.latency; }, spec);
}

const Stage1Spec* stage1_spec_of(const JobSpec& spec) {
  if (const auto* s = std::get_if<SearchSpec>(&spec)) return s->stage1 ? &*s->stage1 : nullptr;
  if (const auto* s = std::get_if<LatencyStudySpec>(&spec)) return &s->stage1;
  return nullptr;
}

const EvaluationSpec* evaluation_spec_of(const JobSpec& spec) {
  if (const auto* s = std::get_if<SweepSpec>(&spec)) return &s->evaluation;
  if (const auto* s = std::get_if<SearchSpec>(&spec)) return &s->evaluation;
  return nullptr;
}

}  // namespace flashnas::app
