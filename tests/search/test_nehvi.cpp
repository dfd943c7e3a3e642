// qNEHVI and the batch proposal: closed-form expectation for a deterministic model,
// constraint handling, pending points, no duplicates, rules, determinism.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>
#include <set>

#include "engine/search/arch_space.hpp"
#include "engine/search/box_space.hpp"
#include "engine/search/hypervolume_2d.hpp"
#include "engine/search/nehvi.hpp"
#include "engine/search/nehvi_proposal.hpp"
#include "engine/util/error.hpp"
#include "tests/support/field_errors.hpp"

namespace flashnas::search {
namespace {

// Two cheap conflicting objectives on [0, 1]^2.
Eigen::Vector2d toy(const Eigen::VectorXd& x) {
  return {x(0) + 0.1 * std::sin(6.0 * x(1)), 1.0 - std::sqrt(x(0)) + 0.3 * x(1) * x(1)};
}

ProposalInputs toy_inputs(const BoxSpace& space, int n, uint64_t seed) {
  ProposalInputs in;
  in.observed_x = space.initial_design(n, seed);
  in.observed_y.resize(n, 2);
  for (int i = 0; i < n; ++i) in.observed_y.row(i) = toy(in.observed_x.row(i).transpose()).transpose();
  in.pending_x.resize(0, 2);
  in.reference = Eigen::Vector2d(1.5, 1.5);
  return in;
}

NehviProposalOptions fast_options() {
  NehviProposalOptions o;
  o.nehvi.samples = 32;
  o.search.pool_size = 128;
  o.search.local_rounds = 3;
  return o;
}

std::shared_ptr<const ObjectiveModel> fixed_column(int k) {
  return std::make_shared<FixedObjectiveModel>([k](const Eigen::MatrixXd& x) {
    Eigen::VectorXd v(x.rows());
    for (Eigen::Index i = 0; i < x.rows(); ++i) v(i) = toy(x.row(i).transpose())(k);
    return v;
  });
}

TEST(Nehvi, DeterministicModelsGiveTheExactImprovement) {
  const BoxSpace space(2);
  const ProposalInputs in = toy_inputs(space, 8, 1);
  NehviAcquisition acq({fixed_column(0), fixed_column(1)}, {}, in.reference, in.observed_x, NehviOptions{16, 0});
  const Eigen::MatrixXd cand = space.initial_design(20, 9);
  const Eigen::VectorXd s = acq.score(cand);
  std::vector<Point2> pts;
  for (int i = 0; i < 8; ++i) pts.push_back({in.observed_y(i, 0), in.observed_y(i, 1)});
  const Staircase2 front = make_staircase(pts, {1.5, 1.5});
  for (Eigen::Index i = 0; i < cand.rows(); ++i) {
    const Eigen::Vector2d f = toy(cand.row(i).transpose());
    const double hvi = hypervolume_improvement(front, {f(0), f(1)}, {1.5, 1.5});
    // Zero improvement scores P(feasible) - 1 = 0; the 1e-6 jitter samples blur by ~1e-6.
    EXPECT_NEAR(s(i), hvi, 1e-5);
  }
}

TEST(Nehvi, CertainConstraintIsNeverViolated) {
  const BoxSpace space(2);
  ProposalInputs in = toy_inputs(space, 10, 2);
  // x0 <= 0.3, known exactly.
  in.constraints.push_back({std::make_shared<FixedObjectiveModel>([](const Eigen::MatrixXd& x) {
                              return Eigen::VectorXd(x.col(0));
                            }),
                            0.3});
  const auto batch = propose_nehvi_batch(space, in, 4, fast_options(), 7);
  ASSERT_EQ(batch.size(), 4u);
  for (const auto& x : batch) EXPECT_LE(x(0), 0.3);
}

TEST(Nehvi, PendingPointsChangeTheProposalAndNothingRepeats) {
  const BoxSpace space(2);
  ProposalInputs in = toy_inputs(space, 10, 3);
  const auto first = propose_nehvi_batch(space, in, 1, fast_options(), 11);
  ASSERT_EQ(first.size(), 1u);
  in.pending_x = first[0].transpose();
  const auto second = propose_nehvi_batch(space, in, 1, fast_options(), 11);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_GT((second[0] - first[0]).norm(), 1e-6);

  const auto batch = propose_nehvi_batch(space, in, 6, fast_options(), 5);
  std::set<std::string> keys;
  for (Eigen::Index i = 0; i < in.observed_x.rows(); ++i) keys.insert(space.key(in.observed_x.row(i).transpose()));
  keys.insert(space.key(first[0]));
  for (const auto& x : batch) EXPECT_TRUE(keys.insert(space.key(x)).second) << "duplicate proposal";
}

TEST(Nehvi, ArchProposalsObeyTheRulesAndAreDeterministic) {
  ArchSpaceOptions o;
  o.n_layers = {2, 6, 1};
  o.d_model = {64, 256, 64};
  o.d_ffn = {128, 512, 128};
  o.max_consecutive_non_full = 1;
  o.min_full_layers = 2;
  const ArchSpace space(o);
  ProposalInputs in;
  in.observed_x = space.initial_design(12, 4);
  in.observed_y.resize(12, 2);
  for (int i = 0; i < 12; ++i) {
    const CandidateArch a = space.decode(in.observed_x.row(i).transpose());
    double skip = 0;
    for (LayerKind k : a.layer_types) skip += k == LayerKind::skip;
    in.observed_y(i, 0) = 1.0 / std::sqrt(static_cast<double>(a.d_model * a.n_layers)) + 0.01 * skip;
    in.observed_y(i, 1) = static_cast<double>(a.d_model * a.d_ffn[0] * a.n_layers) * 1e-6 - 0.01 * skip;
  }
  in.pending_x.resize(0, space.encoding_dims());
  in.reference = infer_reference_point(in.observed_y);
  const auto a = propose_nehvi_batch(space, in, 3, fast_options(), 21);
  const auto b = propose_nehvi_batch(space, in, 3, fast_options(), 21);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  std::set<std::string> keys;
  for (Eigen::Index i = 0; i < 12; ++i) keys.insert(space.key(in.observed_x.row(i).transpose()));
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(space.is_valid(a[i]));
    EXPECT_NO_THROW(space.check(space.decode(a[i])));
    EXPECT_EQ(a[i], b[i]);
    EXPECT_TRUE(keys.insert(space.key(a[i])).second);
  }
}

}  // namespace
}  // namespace flashnas::search

namespace flashnas::search {
namespace {

// One objective learned from data, the other a fixed model (as the latency model
// is in the service): the fixed column of observed_y is not even read.
TEST(Nehvi, FixedAndLearnedObjectivesTogether) {
  const BoxSpace space(2);
  ProposalInputs in = toy_inputs(space, 10, 8);
  in.observed_y.col(1).setConstant(std::nan(""));
  in.objectives[1] = fixed_column(1);
  const auto batch = propose_nehvi_batch(space, in, 3, fast_options(), 13);
  ASSERT_EQ(batch.size(), 3u);
  for (const auto& x : batch) EXPECT_TRUE(space.is_valid(x));
  in.objectives[1] = nullptr;  // now it would have to be learned from NaNs
  EXPECT_THROW(propose_nehvi_batch(space, in, 1, fast_options(), 13), InvalidInput);
}

// NEHVI options nest the GP's and the acquisition search's: every bad field of
// all three is reported at once, under its object's name.
TEST(NehviProposalOptions, NestedOptionsReportEveryBadFieldUnderTheirPrefix) {
  const auto j = nlohmann::json::parse(R"({
    "gp": {"mean": "linear", "seed": 1.5},
    "samples": 0,
    "acquisition_search": {"pool_size": 0, "initial_scale": -0.5, "neighbours": "12"},
    "batch": 4})");
  const std::vector<FieldError> expected = {
      {"gp.seed", "expected an integer, got a number with a fraction"},
      {"gp.linear_mean_columns", "a linear mean needs at least one column"},
      {"samples", "must be between 1 and 4096, got 0"},
      {"acquisition_search.pool_size", "must be between 1 and 1048576, got 0"},
      {"acquisition_search.neighbours", "expected an integer, got a string"},
      {"acquisition_search.initial_scale", "must be positive, got -0.5"},
      {"batch", "unknown field (expected one of acquisition_search, gp, samples, trust_region)"}};
  EXPECT_EQ(test::field_errors_of([&] { nehvi_proposal_options_from_json(j); }), expected);
  const NehviProposalOptions back = nehvi_proposal_options_from_json(nehvi_proposal_options_to_json({}));
  EXPECT_EQ(back.search.pool_size, AcquisitionSearchOptions{}.pool_size);
  EXPECT_EQ(back.nehvi.samples, NehviOptions{}.samples);
}

}  // namespace
}  // namespace flashnas::search
