// Matern-5/2 kernel with one length scale per feature (ARD) and a signal variance,
// plus the pieces its hyperparameter gradient needs. Pure functions on unit-cube
// inputs; not the GP itself (gaussian_process.hpp) and not the noise model.
//
// Legend: N, M points, D features. Points are rows.
//   k(a, b) = s2 (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r),  r^2 = sum_d ((a_d - b_d) / l_d)^2
#pragma once

#include <Eigen/Core>

namespace flashnas::search {

// Squared scaled distances r^2 between the rows of a (N, D) and b (M, D): (N, M).
// Computed as |a|^2 + |b|^2 - 2 a.b (one GEMM), clamped at zero.
Eigen::MatrixXd scaled_squared_distances(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b,
                                         const Eigen::VectorXd& lengthscales);

// k(a, b): (N, M).
Eigen::MatrixXd matern52_covariance(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b,
                                    const Eigen::VectorXd& lengthscales, double signal_variance);

// Matern-5/2 of precomputed r^2 (elementwise), unit signal variance.
Eigen::MatrixXd matern52_of_squared_distance(const Eigen::MatrixXd& r2);

// Gradient of 0.5 * sum_ij w_ij k(x_i, x_j) with respect to log l_d, for every d: (D).
// dk/dlog l_d = s2 (5/3) (1 + sqrt5 r) exp(-sqrt5 r) (x_id - x_jd)^2 / l_d^2, smooth at r = 0.
// x (N, D) unit-cube inputs, w (N, N) symmetric weights, r2 (N, N) from scaled_squared_distances.
Eigen::VectorXd matern52_log_lengthscale_gradient(const Eigen::MatrixXd& x, const Eigen::MatrixXd& w,
                                                  const Eigen::MatrixXd& r2,
                                                  const Eigen::VectorXd& lengthscales,
                                                  double signal_variance);

}  // namespace flashnas::search
