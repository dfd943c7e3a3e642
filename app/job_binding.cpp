// Binding a job request to its project (see job_binding.hpp).
#include "app/job_binding.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/util/json_reader.hpp"
#include "app/imported_study.hpp"
#include "store/device_repository.hpp"
#include "store/file_repository.hpp"
#include "store/latency_repository.hpp"

namespace flashnas::app {
namespace {

// A dataset must hold enough tokens for the job. Every token of the byte-level
// BPE tokenizers flashnas loads covers at least one byte (BOS and the leading
// space are the two that do not), so fewer bytes than tokens needed is certain
// to be too short; the worker checks the exact count after tokenizing.
void check_text_size(const store::StoredFile& text, const char* field, const char* budget_name, int64_t budget,
                     const EvaluationSpec& e, FieldErrors& errors) {
  const int64_t needed = e.min_tokens(budget);
  if (text.size_bytes + 2 < needed) {
    errors.add(field, fmt::format("dataset {} holds {} bytes (at most {} tokens); the job needs at least {} tokens "
                                  "(8 windows of ctx {}, or the {} budget of {} when smaller)",
                                  text.id, text.size_bytes, text.size_bytes + 2, needed, e.ctx, budget_name, budget));
  }
}

void check_space_within(const search::ArchSpaceOptions& space, const ArchConfig& b, FieldErrors& errors) {
  int64_t max_ffn = 0;
  for (const LayerConfig& layer : b.layers) max_ffn = std::max(max_ffn, layer.d_ffn);
  if (space.n_layers.max > b.n_layers()) {
    errors.add("space.n_layers.max", fmt::format("{} exceeds the backbone's {} layers", space.n_layers.max, b.n_layers()));
  }
  if (space.d_model.max > b.d_model) {
    errors.add("space.d_model.max", fmt::format("{} exceeds the backbone's d_model {}", space.d_model.max, b.d_model));
  }
  if (space.d_ffn.max > max_ffn) {
    errors.add("space.d_ffn.max", fmt::format("{} exceeds the backbone's FFN width {}", space.d_ffn.max, max_ffn));
  }
}

// A stored latency model the job uses: the project's, fitted at the job's prompt
// length for its backbone's shape, and (unless it is a transfer's source, which
// is another device's by design) for the job's device kind.
void check_latency_model(pqxx::transaction_base& tx, int64_t project_id, int64_t id, const LatencySpec& latency,
                         const latency::ModelShape& shape, const char* field, bool same_device,
                         FieldErrors& errors) {
  const auto model = store::latency_model_get(tx, project_id, id);
  if (!model) {
    errors.add(field, fmt::format("no latency model {} in this project", id));
    return;
  }
  if (same_device && model->device_kind != latency.device_kind) {
    errors.add(field, fmt::format("latency model {} was fitted for device kind {}, not {}", id, model->device_kind,
                                  latency.device_kind));
  }
  if (model->prompt_len != latency.options.prompt_len) {
    errors.add(field, fmt::format("latency model {} was fitted at prompt_len {}, not {}", id,
                                  model->prompt_len.value_or(0), latency.options.prompt_len));
  }
  if (model->shape != latency::model_shape_to_json(shape)) {
    errors.add(field, fmt::format("latency model {} was fitted for another backbone shape ({})", id,
                                  model->shape.dump()));
  }
}

// The largest architecture of a search space (every layer full, the widest
// sizes): the heaviest candidate a heal of the search can meet.
CandidateArch largest_in(const search::ArchSpaceOptions& space) {
  CandidateArch a;
  a.n_layers = space.n_layers.max;
  a.d_model = space.d_model.max;
  a.d_ffn.assign(static_cast<size_t>(a.n_layers), space.d_ffn.max);
  a.layer_types.assign(static_cast<size_t>(a.n_layers), LayerKind::full);
  return a;
}

// The healing text must be the project's and hold one training window; every
// candidate the job can heal must fit the heal's memory plan (so an over-limit
// heal is refused now, by field, rather than failing every trial later).
void check_heal(pqxx::transaction_base& tx, int64_t project_id, const HealSpec& heal, const JobSpec& spec,
                const BoundJob& bound, bool have_backbone, FieldErrors& errors) {
  const auto text = store::file_get(tx, store::FileKind::dataset, project_id, heal.train);
  if (!text) {
    errors.add("heal.train", fmt::format("no dataset {} in this project", heal.train));
    return;
  }
  const int64_t at_most = text->size_bytes + 2;  // tokens (see check_text_size)
  if (at_most < heal.min_tokens()) {
    errors.add("heal.train", fmt::format("dataset {} holds {} bytes (at most {} tokens); healing needs at least one "
                                         "training window of heal.ctx + 1 = {} tokens",
                                         text->id, text->size_bytes, at_most, heal.min_tokens()));
    return;
  }
  if (!have_backbone || errors.has("heal")) return;
  // Windows of the cut text (at most): only whether the teacher's logits are kept depends on it.
  const int64_t windows = std::max<int64_t>(1, (std::min(heal.train_tokens, at_most) - 1) / heal.options.ctx);
  std::vector<std::pair<std::string, ArchConfig>> students;
  if (std::holds_alternative<SweepSpec>(spec)) {
    for (size_t i = 0; i < bound.candidates.size(); ++i) {
      students.emplace_back(fmt::format("candidates[{}]", i), bound.candidates[i].config());
    }
  } else if (const auto* search = std::get_if<SearchSpec>(&spec)) {
    try {
      students.emplace_back("the space's largest architecture", bind_arch(largest_in(search->space), bound.backbone).config());
    } catch (const InvalidInput&) {
      return;  // the space exceeds the backbone: reported under space.
    }
  }
  for (const auto& [name, config] : students) {
    try {
      plan_heal_memory(bound.backbone, config, windows, heal.options);
    } catch (const InvalidInput& e) {
      errors.add("heal.memory_limit_bytes", fmt::format("{} (for {})", e.errors().front().message, name));
      return;  // one report: the others are alike
    }
  }
}

// A device kind other than the workers' CPU needs a registered device of the
// kind (its agents measure; imports belong to it); a stage 1 from imports
// needs enough of them.
void check_device(pqxx::transaction_base& tx, int64_t project_id, const JobSpec& spec, const BoundJob& bound,
                  bool have_backbone, FieldErrors& errors) {
  const LatencySpec& latency = latency_spec_of(spec);
  if (latency.device_kind != kLocalDeviceKind && !store::device_kind_registered(tx, project_id, latency.device_kind)) {
    errors.add("latency.device_kind", fmt::format("no device of kind {} is registered in this project "
                                                  "(POST /v1/devices)", latency.device_kind));
    return;
  }
  const Stage1Spec* stage1 = stage1_spec_of(spec);
  if (stage1 && stage1->transfer_from && have_backbone) {
    check_latency_model(tx, project_id, *stage1->transfer_from, latency, bound.shape, "stage1.transfer_from", false,
                        errors);
  }
  if (!stage1 || stage1->source != Stage1Source::imported) return;
  if (latency.device_kind == kLocalDeviceKind) {
    errors.add("stage1.source", "imported measurements belong to a registered device: name its device_kind");
    return;
  }
  if (!have_backbone) return;
  const auto usable = static_cast<int64_t>(usable_imported(tx, project_id, latency, bound.shape).size());
  if (usable < min_imported(*stage1)) {
    errors.add("stage1.source",
               fmt::format("{} imported measurements of device kind {} at prompt_len {} fit this backbone's shape; "
                           "the study needs at least {} (twice its holdout of {})",
                           usable, latency.device_kind, latency.options.prompt_len, min_imported(*stage1),
                           stage1->holdout));
  }
}

}  // namespace

ArchConfig recorded_backbone(const nlohmann::json& metadata, const std::string& field) {
  if (!metadata.contains("arch")) throw InvalidInput("the model has no recorded architecture", field);
  return arch_config_from_json(metadata.at("arch"));
}

BoundJob bind_job_request(pqxx::transaction_base& tx, int64_t project_id, JobRequest request) {
  FieldErrors errors;
  BoundJob out;
  const int64_t backbone_id = backbone_of(request.spec);
  bool have_backbone = false;
  if (const auto model = store::file_get(tx, store::FileKind::model, project_id, backbone_id)) {
    try {
      out.backbone = recorded_backbone(model->metadata, "backbone");
      out.shape = latency::shape_of(out.backbone);
      have_backbone = true;
    } catch (const InvalidInput& e) {
      errors.add("backbone", e.errors().front().message);
    }
  } else {
    errors.add("backbone", fmt::format("no model {} in this project", backbone_id));
  }

  if (const EvaluationSpec* e = evaluation_spec_of(request.spec)) {
    const std::pair<const char*, int64_t> texts[] = {{"calibration", e->calibration}, {"eval", e->eval}};
    for (const auto& [field, id] : texts) {
      const auto text = store::file_get(tx, store::FileKind::dataset, project_id, id);
      if (!text) {
        errors.add(field, fmt::format("no dataset {} in this project", id));
      } else if (std::string_view(field) == "calibration") {
        check_text_size(*text, field, "calib_tokens", e->calib_tokens, *e, errors);
      } else {
        check_text_size(*text, field, "eval_tokens", e->eval_tokens, *e, errors);
      }
    }
  }

  if (have_backbone) {
    if (const auto* sweep = std::get_if<SweepSpec>(&request.spec)) {
      for (size_t i = 0; i < sweep->candidates.size(); ++i) {
        try {
          out.candidates.push_back(bind_arch(sweep->candidates[i], out.backbone, fmt::format("candidates[{}]", i)));
        } catch (const InvalidInput& e) {
          errors.add(e);
        }
      }
    } else if (const auto* search = std::get_if<SearchSpec>(&request.spec)) {
      check_space_within(search->space, out.backbone, errors);
      if (search->latency_model) {
        check_latency_model(tx, project_id, *search->latency_model, search->latency, out.shape, "latency_model",
                            true, errors);
      }
    } else {
      check_space_within(std::get<LatencyStudySpec>(request.spec).space, out.backbone, errors);
    }
  }
  check_device(tx, project_id, request.spec, out, have_backbone, errors);
  if (const EvaluationSpec* e = evaluation_spec_of(request.spec); e && e->heal) {
    check_heal(tx, project_id, *e->heal, request.spec, out, have_backbone, errors);
  }
  errors.throw_if_any();
  out.request = std::move(request);
  return out;
}

}  // namespace flashnas::app
