// Stateless qNEHVI batch proposal: models, acquisition, greedy batch, de-duplication.
#include "engine/search/nehvi_proposal.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <random>
#include <unordered_set>

#include "engine/search/pareto.hpp"
#include "engine/util/error.hpp"
#include "engine/util/json_reader.hpp"

namespace flashnas::search {

nlohmann::json nehvi_proposal_options_to_json(const NehviProposalOptions& o) {
  return {{"gp", gp_options_to_json(o.gp)},
          {"samples", o.nehvi.samples},
          {"acquisition_search", acquisition_search_options_to_json(o.search)},
          {"trust_region", trust_region_options_to_json(o.trust_region)}};
}

NehviProposalOptions read_nehvi_proposal_options(JsonObjectReader& r) {
  NehviProposalOptions o;
  o.gp = r.nested("gp", false, read_gp_options).value_or(o.gp);
  o.nehvi.samples = r.integer("samples", false, 1, 4096).value_or(o.nehvi.samples);
  o.search = r.nested("acquisition_search", false, read_acquisition_search_options).value_or(o.search);
  if (const auto* region = r.value("trust_region", false)) {
    try {
      o.trust_region = trust_region_options_from_json(*region);
    } catch (const InvalidInput& e) {
      r.errors().add(e, "trust_region");
    }
  }
  return o;
}

NehviProposalOptions nehvi_proposal_options_from_json(const nlohmann::json& j) {
  return read_object(j, "", "nehvi", read_nehvi_proposal_options);
}

std::shared_ptr<GaussianProcess> fit_objective_gp(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                                  const GpOptions& options, const GaussianProcess* previous) {
  auto gp = previous ? std::make_shared<GaussianProcess>(*previous) : std::make_shared<GaussianProcess>(options);
  gp->fit(x, y);
  return gp;
}

Eigen::Vector2d infer_reference_point(const Eigen::MatrixXd& y) {
  if (y.cols() != 2 || y.rows() < 1 || !y.allFinite()) {
    throw InvalidInput("need at least one finite observation of two objectives", "observed_y");
  }
  const Eigen::Vector2d hi = y.colwise().maxCoeff().transpose(), lo = y.colwise().minCoeff().transpose();
  Eigen::Vector2d range = hi - lo;
  for (int k = 0; k < 2; ++k) {
    if (!(range(k) > 0.0)) range(k) = std::max(std::abs(hi(k)), 1.0);
  }
  return hi + 0.1 * range;
}

std::vector<Eigen::VectorXd> propose_nehvi_batch(const SearchSpace& space, const ProposalInputs& in, int64_t q,
                                                 const NehviProposalOptions& options, uint64_t seed) {
  const int64_t e = space.encoding_dims();
  if (q < 1) throw InvalidInput("batch size must be >= 1", "batch");
  if (in.observed_x.cols() != e || in.observed_x.rows() < 1) {
    throw InvalidInput(fmt::format("observed_x must be (N >= 1, {}), got ({}, {})", e, in.observed_x.rows(),
                                   in.observed_x.cols()), "observed_x");
  }
  if (in.observed_y.rows() != in.observed_x.rows() || in.observed_y.cols() != 2) {
    throw InvalidInput("observed_y must be (N, 2)", "observed_y");
  }
  if (in.pending_x.rows() > 0 && in.pending_x.cols() != e) throw InvalidInput("pending_x has the wrong width", "pending_x");
  if (!(in.trust_region_length >= 0.0) || !std::isfinite(in.trust_region_length)) {
    throw InvalidInput("trust_region_length must be a finite number >= 0", "trust_region_length");
  }

  std::array<std::shared_ptr<const ObjectiveModel>, 2> models = in.objectives;
  for (int k = 0; k < 2; ++k) {
    if (models[k]) continue;
    if (!in.observed_y.col(k).allFinite()) {
      throw InvalidInput(fmt::format("objective {} has non-finite observations", k), "observed_y");
    }
    GpOptions gp_options = options.gp;
    gp_options.seed = seed + static_cast<uint64_t>(k);
    const FeatureMap& features = in.learned_features[k];
    const Eigen::MatrixXd inputs = features ? features(in.observed_x) : in.observed_x;
    models[k] = std::make_shared<GpObjectiveModel>(fit_objective_gp(inputs, in.observed_y.col(k), gp_options, nullptr),
                                                   features);
  }

  Eigen::MatrixXd baseline(in.observed_x.rows() + in.pending_x.rows(), e);
  baseline << in.observed_x, in.pending_x;
  NehviOptions nopt = options.nehvi;
  nopt.seed = seed;
  NehviAcquisition acquisition(models, in.constraints, in.reference, baseline, nopt);

  std::unordered_set<std::string> exclude;
  for (Eigen::Index i = 0; i < baseline.rows(); ++i) exclude.insert(space.key(baseline.row(i).transpose()));
  exclude.insert(in.excluded_keys.begin(), in.excluded_keys.end());
  // Anchors: the observed non-dominated points, where improvements are most likely;
  // a fixed model's objective is taken from the model (its column need not be observed).
  Eigen::MatrixXd means = in.observed_y;
  for (int k = 0; k < 2; ++k) {
    if (!in.objectives[k]) continue;
    Eigen::VectorXd mean, var;
    models[k]->posterior(in.observed_x, mean, var);
    means.col(k) = mean;
  }
  std::vector<Eigen::VectorXd> anchors;
  for (int64_t i : non_dominated_indices(means, {ObjectiveSense::minimize, ObjectiveSense::minimize})) {
    anchors.push_back(in.observed_x.row(i).transpose());
  }

  std::mt19937_64 rng(seed ^ 0x5eed5eedull);
  const AcquisitionFunction score = [&](const Eigen::MatrixXd& x) { return acquisition.score(x); };
  std::vector<Eigen::VectorXd> batch;
  for (int64_t j = 0; j < q; ++j) {
    std::optional<Eigen::VectorXd> x = maximise_acquisition(space, score, anchors, exclude, options.search, rng,
                                                       in.trust_region_length);
    if (!x) break;
    exclude.insert(space.key(*x));
    acquisition.add_pending(*x);
    batch.push_back(std::move(*x));
  }
  return batch;
}

}  // namespace flashnas::search
