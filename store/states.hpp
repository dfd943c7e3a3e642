// The kinds and states the schema's enum types hold (migrations/0001_initial.sql,
// 0002_search.sql), as C++ enums with their database names: jobs, trials, tasks
// and the stage of a job. Records carry these, never strings; names appear only
// at the edges (SQL parameters, JSON). Not what the states mean to the job logic
// (app/job_service.hpp).
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/util/error.hpp"

namespace flashnas::store {

enum class JobKind : uint8_t { search, latency_study, sweep };
enum class JobState : uint8_t { queued, running, succeeded, failed, cancelled };
// Where a search or latency-study job is: measuring latency (stage 1), searching
// (stage 2), or done. Sweeps have no stage.
enum class JobStage : uint8_t { measuring, searching, done };
enum class TrialState : uint8_t { pending, running, succeeded, failed, cancelled };
enum class TaskKind : uint8_t { evaluate, latency, search_step, fit_latency_model, export_checkpoint };
// Where a trial came from: a sweep's candidate list, a search's initial design, a search step.
enum class TrialSource : uint8_t { candidate, design, search };
// When a latency measurement was taken: stage 1 (design, adaptive rounds, held-out set) or for a trial.
enum class MeasurementPhase : uint8_t { design, adaptive, holdout, trial };
// The file formats a trial's model is exported in (checkpoints).
enum class CheckpointFormat : uint8_t { safetensors, gguf };
// available: waiting (maybe until run_after); running: leased; failed: the handler
// gave up for good; dead: max_attempts used up; cancelled: its job was cancelled.
enum class TaskState : uint8_t { available, running, succeeded, failed, dead, cancelled };

// The names, in enum order (the database's names).
template <class E>
struct EnumNames;
template <> struct EnumNames<JobKind> { static constexpr std::array<std::string_view, 3> names = {"search", "latency_study", "sweep"}; };
template <> struct EnumNames<JobState> { static constexpr std::array<std::string_view, 5> names = {"queued", "running", "succeeded", "failed", "cancelled"}; };
template <> struct EnumNames<JobStage> { static constexpr std::array<std::string_view, 3> names = {"measuring", "searching", "done"}; };
template <> struct EnumNames<TrialState> { static constexpr std::array<std::string_view, 5> names = {"pending", "running", "succeeded", "failed", "cancelled"}; };
template <> struct EnumNames<TaskKind> { static constexpr std::array<std::string_view, 5> names = {"evaluate", "latency", "search_step", "fit_latency_model", "export"}; };
template <> struct EnumNames<TrialSource> { static constexpr std::array<std::string_view, 3> names = {"candidate", "design", "search"}; };
template <> struct EnumNames<MeasurementPhase> { static constexpr std::array<std::string_view, 4> names = {"design", "adaptive", "holdout", "trial"}; };
template <> struct EnumNames<CheckpointFormat> { static constexpr std::array<std::string_view, 2> names = {"safetensors", "gguf"}; };
template <> struct EnumNames<TaskState> { static constexpr std::array<std::string_view, 6> names = {"available", "running", "succeeded", "failed", "dead", "cancelled"}; };

template <class E>
std::string_view name_of(E value) {
  return EnumNames<E>::names.at(static_cast<size_t>(value));
}

template <class E>
std::optional<E> parse_enum(std::string_view text) {
  const auto& names = EnumNames<E>::names;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == text) return static_cast<E>(i);
  }
  return std::nullopt;
}

// parse_enum, or InvalidInput naming `field` and listing the names.
template <class E>
E parse_enum_or_throw(std::string_view text, const std::string& field) {
  if (auto v = parse_enum<E>(text)) return *v;
  throw InvalidInput(fmt::format("'{}' is not one of {}", text, fmt::join(EnumNames<E>::names, ", ")), field);
}

template <class E>
std::vector<std::string> enum_names() {
  return {EnumNames<E>::names.begin(), EnumNames<E>::names.end()};
}

// JSON as the name (nlohmann's ADL hook: `nlohmann::json j = JobState::running;`).
template <class E, class = decltype(EnumNames<E>::names)>
void to_json(nlohmann::json& j, E value) {
  j = std::string(name_of(value));
}

inline bool is_terminal(JobState s) { return s == JobState::succeeded || s == JobState::failed || s == JobState::cancelled; }
inline bool is_terminal(TrialState s) { return s == TrialState::succeeded || s == TrialState::failed || s == TrialState::cancelled; }
inline bool is_terminal(TaskState s) { return s != TaskState::available && s != TaskState::running; }

}  // namespace flashnas::store

// fmt prints the names: fmt::format("{}", TaskKind::latency) == "latency".
template <class E>
  requires requires { flashnas::store::EnumNames<E>::names; }
struct fmt::formatter<E> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(E value, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<std::string_view>::format(flashnas::store::name_of(value), ctx);
  }
};
