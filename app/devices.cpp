// Devices of a project (see devices.hpp).
#include "app/devices.hpp"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "app/job_spec.hpp"
#include "app/secret_token.hpp"
#include "app/task_contract.hpp"
#include "engine/model/hf_config.hpp"
#include "engine/util/json_reader.hpp"
#include "engine/util/sha256.hpp"
#include "store/device_repository.hpp"
#include "store/latency_repository.hpp"

namespace flashnas::app {
namespace {

using nlohmann::json;

// The most measurements one request may import (a study needs a few hundred).
constexpr size_t kMaxImported = 5000;

// ARCH: flashnas's architecture JSON, or {"hf_config": {...}}.
std::optional<ArchConfig> read_arch(const json& v, const std::string& field, FieldErrors& errors) {
  if (!v.is_object()) {
    errors.add(field, type_mismatch("an object", v));
    return std::nullopt;
  }
  try {
    if (v.contains("hf_config")) {
      if (v.size() != 1) {
        errors.add(field, "with hf_config, give nothing else");
        return std::nullopt;
      }
      return arch_config_from_hf_json(v.at("hf_config"));
    }
    return arch_config_from_json(v);
  } catch (const InvalidInput& e) {
    errors.add(e, field);
    return std::nullopt;
  }
}

std::vector<ImportedMeasurement> read_flashnas_import(JsonObjectReader& r) {
  std::vector<ImportedMeasurement> out;
  const auto prompt_len = r.integer("prompt_len", true, 1, 1 << 20);
  const auto decode_tokens = r.integer("decode_tokens", true, 0, 1 << 20);
  json environment = json::object();
  if (const json* e = r.object("environment", false)) environment = *e;
  const json* list = r.array("measurements", true, kMaxImported);
  if (!list || !prompt_len || !decode_tokens) return out;
  for (size_t i = 0; i < list->size(); ++i) {
    const std::string at = fmt::format("measurements[{}]", i);
    JsonObjectReader m((*list)[i], at, r.errors());
    if (!m.is_object()) continue;
    ImportedMeasurement x;
    x.prompt_len = *prompt_len;
    x.decode_tokens = *decode_tokens;
    x.environment = environment;
    const json* arch = m.value("arch", true);
    const auto prefill = m.number("prefill_ms", true, 1e-6, 1e9);
    const auto decode = m.number("decode_ms_per_token", false, 1e-6, 1e9);
    x.prefill_spread = m.number("prefill_spread", false, 0, 100);
    x.decode_spread = m.number("decode_spread", false, 0, 100);
    if (const json* e = m.object("environment", false)) x.environment.update(*e);
    m.finish();
    const auto config = arch ? read_arch(*arch, at + ".arch", r.errors()) : std::nullopt;
    if (!config || !prefill) continue;
    if (*decode_tokens > 0 && !decode) {
      r.errors().add(at + ".decode_ms_per_token", "is required when decode_tokens > 0");
      continue;
    }
    x.arch = *config;
    x.prefill_ms = *prefill;
    x.decode_ms_per_token = decode;
    out.push_back(std::move(x));
  }
  return out;
}

// One llama-bench row: a prompt test or a generation test of one model file.
struct BenchRow {
  std::string model;
  int64_t n_prompt = 0, n_gen = 0;
  double avg_ms = 0.0, relative_sd = 0.0;
  json environment;
};

std::optional<BenchRow> read_bench_row(const json& v, const std::string& at, FieldErrors& errors) {
  // llama-bench writes many more fields (backend, gpu_info, n_batch, ...): read
  // what matters and keep the machine's description; ignore the rest.
  if (!v.is_object()) {
    errors.add(at, type_mismatch("an object", v));
    return std::nullopt;
  }
  FieldErrors local;
  auto need = [&](const char* key, bool (json::*is)() const noexcept, const char* expected) -> const json* {
    const auto it = v.find(key);
    if (it == v.end()) {
      local.add(at + "." + key, "is required");
      return nullptr;
    }
    if (!((*it).*is)()) {
      local.add(at + "." + key, type_mismatch(expected, *it));
      return nullptr;
    }
    return &*it;
  };
  const json* model = need("model_filename", &json::is_string, "a string");
  const json* n_prompt = need("n_prompt", &json::is_number_integer, "an integer");
  const json* n_gen = need("n_gen", &json::is_number_integer, "an integer");
  const json* avg = need("avg_ns", &json::is_number, "a number");
  const json* sd = need("stddev_ns", &json::is_number, "a number");
  if (!local.empty()) {
    for (const auto& e : local.list()) errors.add(e.field, e.message);
    return std::nullopt;
  }
  BenchRow row{model->get<std::string>(), n_prompt->get<int64_t>(), n_gen->get<int64_t>(),
               avg->get<double>() / 1e6, 0.0, json::object()};
  if (!(row.avg_ms > 0) || !std::isfinite(row.avg_ms)) {
    errors.add(at + ".avg_ns", "must be positive");
    return std::nullopt;
  }
  if (row.n_prompt < 0 || row.n_gen < 0 || (row.n_prompt > 0) == (row.n_gen > 0)) {
    errors.add(at, "must be a prompt test (n_prompt > 0, n_gen = 0) or a generation test (n_prompt = 0, "
                   "n_gen > 0); run llama-bench without -pg");
    return std::nullopt;
  }
  row.relative_sd = std::max(0.0, sd->get<double>() / 1e6) / row.avg_ms;
  for (const char* key : {"cpu_info", "gpu_info", "backends", "n_threads", "build_commit", "build_number",
                          "model_type", "model_size", "model_n_params", "type_k", "type_v", "test_time"}) {
    if (v.contains(key)) row.environment[key] = v.at(key);
  }
  row.environment["source"] = "llama-bench";
  return row;
}

std::vector<ImportedMeasurement> read_llama_bench_import(JsonObjectReader& r) {
  std::vector<ImportedMeasurement> out;
  const json* results = r.array("results", true, kMaxImported);
  const json* models = r.object("models", true);
  if (!results || !models) return out;
  std::map<std::string, ArchConfig> archs;
  for (const auto& [name, arch] : models->items()) {
    if (auto config = read_arch(arch, "models." + name, r.errors())) archs.emplace(name, *config);
  }
  std::map<std::string, std::vector<BenchRow>> prompts, gens;
  for (size_t i = 0; i < results->size(); ++i) {
    const std::string at = fmt::format("results[{}]", i);
    auto row = read_bench_row((*results)[i], at, r.errors());
    if (!row) continue;
    if (!models->contains(row->model)) {
      r.errors().add(at + ".model_filename", fmt::format("no architecture named for '{}' in models", row->model));
      continue;
    }
    (row->n_prompt > 0 ? prompts : gens)[row->model].push_back(std::move(*row));
  }
  for (const auto& [model, rows] : gens) {
    if (rows.size() > 1) r.errors().add("results", fmt::format("'{}' has {} generation tests; give one", model, rows.size()));
  }
  for (const auto& [model, _] : archs) {
    if (!prompts.count(model)) r.errors().add("models." + model, "has no prompt test (n_prompt > 0) in results");
  }
  if (!r.errors().empty()) return out;
  for (const auto& [model, rows] : prompts) {
    const auto gen = gens.find(model);
    for (const BenchRow& p : rows) {
      ImportedMeasurement x;
      x.arch = archs.at(model);
      x.prompt_len = p.n_prompt;
      x.prefill_ms = p.avg_ms;
      x.prefill_spread = p.relative_sd;
      x.environment = p.environment;
      x.environment["model_filename"] = model;
      if (gen != gens.end()) {
        const BenchRow& g = gen->second.front();
        x.decode_tokens = g.n_gen;
        x.decode_ms_per_token = g.avg_ms / static_cast<double>(g.n_gen);
        x.decode_spread = g.relative_sd;
      }
      out.push_back(std::move(x));
    }
  }
  return out;
}

}  // namespace

DeviceRegistration parse_device_registration(const json& body) {
  FieldErrors errors;
  JsonObjectReader r(body, "", errors);
  DeviceRegistration out;
  if (const auto kind = r.string("kind", true, 64)) {
    if (!is_device_kind_name(*kind)) {
      errors.add("kind", "must be 1 to 64 lowercase letters, digits, '_', '.', '-'");
    } else if (*kind == kLocalDeviceKind) {
      errors.add("kind", "local-cpu is the workers' own CPU; name the device's kind, e.g. pixel8-cpu4");
    } else {
      out.kind = *kind;
    }
  }
  out.name = r.string("name", true, 200).value_or("");
  if (r.is_object() && out.name.empty() && !errors.has("name")) errors.add("name", "must not be empty");
  r.nested("description", false, [&](JsonObjectReader& d) {
    if (const auto cpu = d.string("cpu", false, 200)) out.description["cpu"] = *cpu;
    if (const auto threads = d.integer("threads", false, 1, 1024)) out.description["threads"] = *threads;
    if (const auto runtime = d.string("runtime", false, 200)) out.description["runtime"] = *runtime;
    return 0;
  });
  r.finish();
  errors.throw_if_any();
  return out;
}

std::optional<RegisteredDevice> register_device(pqxx::transaction_base& tx, int64_t project_id,
                                                const DeviceRegistration& registration) {
  const std::string token = new_secret_token("fnd_");
  store::NewDevice d{project_id, registration.kind, registration.name, registration.description,
                     sha256_hex(token), token_prefix_of(token)};
  auto device = store::device_register(tx, d);
  if (!device) return std::nullopt;
  return RegisteredDevice{std::move(*device), token};
}

std::vector<ImportedMeasurement> parse_measurement_import(const json& body) {
  FieldErrors errors;
  JsonObjectReader r(body, "", errors);
  std::vector<ImportedMeasurement> out;
  const auto format = r.choice("format", true, {"flashnas", "llama-bench"});
  if (format == "flashnas") {
    out = read_flashnas_import(r);
  } else if (format == "llama-bench") {
    out = read_llama_bench_import(r);
  }
  r.finish();
  if (errors.empty() && out.empty() && format) errors.add(*format == "flashnas" ? "measurements" : "results", "is empty");
  errors.throw_if_any();
  return out;
}

std::vector<int64_t> import_measurements(pqxx::transaction_base& tx, const store::Device& device,
                                         const std::vector<ImportedMeasurement>& measurements) {
  std::vector<int64_t> ids;
  for (const ImportedMeasurement& x : measurements) {
    store::LatencyMeasurement m;
    m.device_kind = device.kind;
    m.device_id = device.id;
    m.arch = arch_config_to_json(x.arch);
    m.arch_hash = measured_arch_hash(m.arch);
    m.prompt_len = static_cast<int32_t>(x.prompt_len);
    m.decode_tokens = static_cast<int32_t>(x.decode_tokens);
    m.prefill_ms = x.prefill_ms;
    m.decode_ms_per_token = x.decode_ms_per_token;
    m.prefill_spread = x.prefill_spread;
    m.decode_spread = x.decode_spread;
    m.environment = x.environment;
    m.imported = true;
    ids.push_back(store::measurement_insert(tx, m).id);
  }
  return ids;
}

}  // namespace flashnas::app
