#include "client/job_view.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "client/api_client.hpp"

namespace flashnas::client {
namespace {

template <class T>
std::optional<T> optional_field(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  return it->get<T>();
}

template <class E>
E enum_field(const nlohmann::json& object, const char* key) {
  const std::string text = object.at(key).get<std::string>();
  if (auto value = store::parse_enum<E>(text)) return *value;
  throw ClientError(ClientErrorKind::server_error, 0, fmt::format("the server's job has an unknown {} '{}'", key, text));
}

}  // namespace

JobView job_view_from_json(const nlohmann::json& job) {
  try {
    JobView v;
    v.id = job.at("id").get<int64_t>();
    v.kind = enum_field<store::JobKind>(job, "kind");
    v.name = job.value("name", std::string());
    v.state = enum_field<store::JobState>(job, "state");
    if (optional_field<std::string>(job, "stage")) v.stage = enum_field<store::JobStage>(job, "stage");
    const nlohmann::json& p = job.at("progress");
    v.trials_total = p.value("total", int64_t{0});
    v.trials_failed = p.value("failed", int64_t{0});
    v.trials_settled = p.value("succeeded", int64_t{0}) + v.trials_failed + p.value("cancelled", int64_t{0});
    v.stage1_planned = optional_field<int64_t>(p, "stage1_planned");
    v.stage1_measured = optional_field<int64_t>(p, "stage1_measured");
    v.evaluated = optional_field<int64_t>(p, "evaluated");
    v.budget = optional_field<int64_t>(p, "budget");
    v.hypervolume = optional_field<double>(job, "hypervolume");
    v.error = optional_field<std::string>(job, "error");
    v.created_at = job.value("created_at", std::string());
    return v;
  } catch (const nlohmann::json::exception& e) {
    throw ClientError(ClientErrorKind::server_error, 0, fmt::format("unexpected job JSON from the server ({})", e.what()));
  }
}

ProgressLine progress_line(const JobView& job) {
  ProgressLine line;
  if (job.stage == store::JobStage::measuring && job.stage1_planned) {
    line.done = job.stage1_measured.value_or(0);
    line.total = *job.stage1_planned;
    line.detail = fmt::format("measuring latency: {}/{} architectures", line.done, line.total);
  } else if (job.kind == store::JobKind::search && job.budget) {
    line.done = job.evaluated.value_or(0);
    line.total = *job.budget;
    line.detail = fmt::format("searching: {}/{} evaluated", line.done, line.total);
    if (job.hypervolume) line.detail += fmt::format(", hypervolume {:.4f}", *job.hypervolume);
  } else {
    line.done = job.trials_settled;
    line.total = job.trials_total;
    line.detail = fmt::format("{}/{} trials done", line.done, line.total);
    if (job.trials_failed > 0) line.detail += fmt::format(" ({} failed)", job.trials_failed);
  }
  line.text = fmt::format("job {} {}: {}", job.id, store::name_of(job.state), line.detail);
  return line;
}

}  // namespace flashnas::client
