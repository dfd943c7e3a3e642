// Choosing GP hyperparameters: maximise log marginal likelihood + log prior over
// log-space hyperparameters with L-BFGS-B (LBFGSpp), from a fixed default start,
// an optional warm start and seeded random starts. Not the GP algebra itself.
#pragma once

#include <Eigen/Core>

#include "engine/search/gp/gp_likelihood.hpp"
#include "engine/search/gp/gp_options.hpp"

namespace flashnas::search {

// The fixed default start: length scales 0.5, signal variance 1, noise 1e-3,
// clamped into the option boxes.
GpHyperparameters default_gp_hyperparameters(Eigen::Index n_features, const GpOptions& options);

// x (N, D) unit-cube inputs, y (N) standardised outputs, h (N, P) mean basis.
// When N > options.fit_subset_size the starts run on a seeded subset and the best
// is polished on all points (O(N^3) per likelihood evaluation, so this is the budget).
// Throws GpNumericalError only if no start can be evaluated at all.
GpHyperparameters fit_gp_hyperparameters(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                         const Eigen::MatrixXd& h, const GpOptions& options,
                                         const GpHyperparameters* warm_start);

}  // namespace flashnas::search
