// Trials: SQL (see trial_repository.hpp). Each statement that changes a trial
// takes its new seq from jobs.last_trial_seq in the same statement; that UPDATE
// locks the job row until commit, which keeps sequence numbers commit-ordered.
#include "store/trial_repository.hpp"

#include "engine/util/error.hpp"
#include "store/row_reader.hpp"
#include "store/statements.hpp"

namespace flashnas::store {
namespace {

#define TRIAL_COLUMNS                                                                            \
  "id, job_id, ordinal, seq, arch::text AS arch, arch_hash, state::text AS state, source, step, "  \
  "proposal::text AS proposal, rung, fidelity, eval_nll, zero_shot_nll, healed_nll, heal::text AS heal, params, "   \
  "non_embedding_params, flops_per_token, kv_cache_bytes_per_token, prefill_ms, decode_ms_per_token, " \
  "error, " FLASHNAS_SQL_TS("created_at") ", " FLASHNAS_SQL_TS("updated_at") ", " FLASHNAS_SQL_TS("finished_at")
// A CTE taking the next trial seq of the job that owns trial $1.
#define NEXT_SEQ_OF_TRIAL                                                                  \
  "WITH s AS (UPDATE jobs SET last_trial_seq = last_trial_seq + 1"                         \
  " WHERE id = (SELECT job_id FROM trials WHERE id = $1) RETURNING last_trial_seq AS next_seq) "

const Statement kStatements[] = {
    {"trial_insert",
     "WITH s AS (UPDATE jobs SET last_trial_seq = last_trial_seq + 1 WHERE id = $1"
     " RETURNING last_trial_seq AS next_seq) "
     "INSERT INTO trials (job_id, ordinal, seq, arch, arch_hash, source, step, proposal, rung, fidelity) "
     "SELECT $1, $2, s.next_seq, $3::jsonb, $4, $5, $6, $7::jsonb, $8, $9 FROM s "
     "ON CONFLICT (job_id, arch_hash) DO NOTHING RETURNING " TRIAL_COLUMNS},
    {"trial_get", "SELECT " TRIAL_COLUMNS " FROM trials WHERE id = $1"},
    {"trial_count", "SELECT count(*) FROM trials WHERE job_id = $1"},
    {"trial_list",
     "SELECT " TRIAL_COLUMNS " FROM trials WHERE job_id = $2 AND seq > $3"
     " AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = $2 AND jobs.project_id = $1)"
     " ORDER BY seq LIMIT $4"},
    {"trial_list_all", "SELECT " TRIAL_COLUMNS " FROM trials WHERE job_id = $1 ORDER BY ordinal"},
    {"trial_set_metrics",
     NEXT_SEQ_OF_TRIAL
     "UPDATE trials SET eval_nll = coalesce($2, eval_nll), params = coalesce($3, params),"
     " non_embedding_params = coalesce($4, non_embedding_params),"
     " flops_per_token = coalesce($5, flops_per_token),"
     " kv_cache_bytes_per_token = coalesce($6, kv_cache_bytes_per_token),"
     " prefill_ms = coalesce($7, prefill_ms), decode_ms_per_token = coalesce($8, decode_ms_per_token),"
     " zero_shot_nll = coalesce($9, zero_shot_nll), healed_nll = coalesce($10, healed_nll),"
     " heal = coalesce($11::jsonb, heal),"
     " seq = s.next_seq, updated_at = now() FROM s "
     "WHERE id = $1 AND state IN ('pending', 'running') RETURNING id"},
    {"trial_finish",
     NEXT_SEQ_OF_TRIAL
     "UPDATE trials SET state = $2::trial_state, error = $3, finished_at = now(), seq = s.next_seq,"
     " updated_at = now() FROM s "
     "WHERE id = $1 AND state IN ('pending', 'running') RETURNING id"},
    {"trial_rung_insert",
     "INSERT INTO trial_rungs (trial_id, rung, fidelity, eval_nll) VALUES ($1, $2, $3, $4)"
     " ON CONFLICT (trial_id, rung) DO NOTHING"},
    {"trial_rung_list",
     "SELECT r.trial_id, r.rung, r.fidelity, r.eval_nll FROM trial_rungs r JOIN trials t ON t.id = r.trial_id"
     " WHERE t.job_id = $1 ORDER BY r.trial_id, r.rung"},
    {"trial_promote",
     NEXT_SEQ_OF_TRIAL
     "UPDATE trials SET state = 'pending', finished_at = NULL, rung = $2, fidelity = $3, seq = s.next_seq,"
     " updated_at = now() FROM s WHERE id = $1 AND state = 'succeeded' AND rung = $2 - 1 RETURNING id"},
    // Numbers the cancelled trials after every seq taken so far, in ordinal order.
    {"trial_cancel_for_job",
     "WITH c AS (SELECT id AS cancel_id, row_number() OVER (ORDER BY ordinal) AS rn FROM trials"
     "  WHERE job_id = $1 AND state IN ('pending', 'running')),"
     " s AS (UPDATE jobs SET last_trial_seq = last_trial_seq + (SELECT count(*) FROM c) WHERE id = $1"
     "  RETURNING last_trial_seq - (SELECT count(*) FROM c) AS base) "
     "UPDATE trials SET state = 'cancelled', finished_at = now(), updated_at = now(), seq = s.base + c.rn "
     "FROM c, s WHERE id = c.cancel_id RETURNING id"},
};

Trial read_trial(const pqxx::row& r) {
  Trial t;
  t.id = r["id"].as<int64_t>();
  t.job_id = r["job_id"].as<int64_t>();
  t.ordinal = r["ordinal"].as<int32_t>();
  t.seq = r["seq"].as<int64_t>();
  t.arch = row::json(r, "arch");
  t.arch_hash = row::str(r, "arch_hash");
  t.state = row::enumeration<TrialState>(r, "state");
  t.source = row::enumeration<TrialSource>(r, "source");
  t.step = row::opt<int32_t>(r, "step");
  t.proposal = row::opt_json(r, "proposal");
  t.rung = row::opt<int32_t>(r, "rung");
  t.fidelity = row::opt<int32_t>(r, "fidelity");
  t.metrics.eval_nll = row::opt<double>(r, "eval_nll");
  t.metrics.zero_shot_nll = row::opt<double>(r, "zero_shot_nll");
  t.metrics.healed_nll = row::opt<double>(r, "healed_nll");
  t.metrics.heal = row::opt_json(r, "heal");
  t.metrics.params = row::opt<int64_t>(r, "params");
  t.metrics.non_embedding_params = row::opt<int64_t>(r, "non_embedding_params");
  t.metrics.flops_per_token = row::opt<double>(r, "flops_per_token");
  t.metrics.kv_cache_bytes_per_token = row::opt<int64_t>(r, "kv_cache_bytes_per_token");
  t.metrics.prefill_ms = row::opt<double>(r, "prefill_ms");
  t.metrics.decode_ms_per_token = row::opt<double>(r, "decode_ms_per_token");
  t.error = row::opt<std::string>(r, "error");
  t.created_at = row::str(r, "created_at");
  t.updated_at = row::str(r, "updated_at");
  t.finished_at = row::opt<std::string>(r, "finished_at");
  return t;
}

std::vector<Trial> read_trials(const pqxx::result& res) {
  std::vector<Trial> out;
  out.reserve(res.size());
  for (const auto& r : res) out.push_back(read_trial(r));
  return out;
}

}  // namespace

std::span<const Statement> trial_statements() { return kStatements; }

std::optional<Trial> trial_insert(pqxx::transaction_base& tx, int64_t job_id, int32_t ordinal, const NewTrial& t) {
  FLASHNAS_CHECK(t.arch.is_object(), "an architecture is a JSON object");
  FLASHNAS_CHECK(!t.proposal || t.proposal->is_object(), "a proposal is a JSON object");
  const std::optional<std::string> proposal = t.proposal ? std::optional<std::string>(t.proposal->dump()) : std::nullopt;
  const auto res = tx.exec_prepared("trial_insert", job_id, ordinal, t.arch.dump(), t.arch_hash,
                                    std::string(name_of(t.source)), t.step, proposal, t.rung, t.fidelity);
  if (res.empty()) return std::nullopt;
  return read_trial(res[0]);
}

int32_t trial_count(pqxx::transaction_base& tx, int64_t job_id) {
  return tx.exec_prepared1("trial_count", job_id)[0].as<int32_t>();
}

std::optional<Trial> trial_get(pqxx::transaction_base& tx, int64_t trial_id) {
  const auto res = tx.exec_prepared("trial_get", trial_id);
  if (res.empty()) return std::nullopt;
  return read_trial(res[0]);
}

std::vector<Trial> trial_list(pqxx::transaction_base& tx, int64_t project_id, int64_t job_id, int64_t after,
                              int limit) {
  if (limit < 1 || limit > 1000) throw InvalidInput("limit must be in [1, 1000]", "limit");
  return read_trials(tx.exec_prepared("trial_list", project_id, job_id, after, limit));
}

std::vector<Trial> trial_list_all(pqxx::transaction_base& tx, int64_t job_id) {
  return read_trials(tx.exec_prepared("trial_list_all", job_id));
}

bool trial_set_metrics(pqxx::transaction_base& tx, int64_t trial_id, const TrialMetrics& m) {
  FLASHNAS_CHECK(!m.heal || m.heal->is_object(), "a heal record is a JSON object");
  const std::optional<std::string> heal = m.heal ? std::optional<std::string>(m.heal->dump()) : std::nullopt;
  return !tx.exec_prepared("trial_set_metrics", trial_id, m.eval_nll, m.params, m.non_embedding_params,
                           m.flops_per_token, m.kv_cache_bytes_per_token, m.prefill_ms, m.decode_ms_per_token,
                           m.zero_shot_nll, m.healed_nll, heal)
              .empty();
}

bool trial_finish(pqxx::transaction_base& tx, int64_t trial_id, TrialState state,
                  const std::optional<std::string>& error) {
  FLASHNAS_CHECK(is_terminal(state), "trial_finish to the non-final state {}", name_of(state));
  return !tx.exec_prepared("trial_finish", trial_id, std::string(name_of(state)), error).empty();
}

void trial_rung_insert(pqxx::transaction_base& tx, const TrialRung& r) {
  tx.exec_prepared("trial_rung_insert", r.trial_id, r.rung, r.fidelity, r.eval_nll);
}

std::vector<TrialRung> trial_rung_list(pqxx::transaction_base& tx, int64_t job_id) {
  std::vector<TrialRung> out;
  for (const auto& r : tx.exec_prepared("trial_rung_list", job_id)) {
    out.push_back({r["trial_id"].as<int64_t>(), r["rung"].as<int32_t>(), r["fidelity"].as<int32_t>(),
                   r["eval_nll"].as<double>()});
  }
  return out;
}

bool trial_promote(pqxx::transaction_base& tx, int64_t trial_id, int32_t rung, int32_t fidelity) {
  return !tx.exec_prepared("trial_promote", trial_id, rung, fidelity).empty();
}

int64_t trial_cancel_for_job(pqxx::transaction_base& tx, int64_t job_id) {
  return static_cast<int64_t>(tx.exec_prepared("trial_cancel_for_job", job_id).size());
}

}  // namespace flashnas::store
