// bench_search_gp: time to fit the GP to N points (D features) and predict M points.
// Prints one JSON object; medians over --repeats runs. Target (issue 4): N=800, D=10,
// M=10000 under 2 s in total.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "engine/search/gp/gaussian_process.hpp"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

Eigen::MatrixXd random_inputs(Eigen::Index n, Eigen::Index d, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Eigen::MatrixXd x(n, d);
  for (Eigen::Index i = 0; i < n; ++i)
    for (Eigen::Index j = 0; j < d; ++j) x(i, j) = u(rng);
  return x;
}

// A latency-like response: smooth, mostly additive, with an interaction and noise.
Eigen::VectorXd response(const Eigen::MatrixXd& x, std::mt19937_64& rng) {
  std::normal_distribution<double> noise(0.0, 0.01);
  Eigen::VectorXd y(x.rows());
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    double s = 0.0;
    for (Eigen::Index j = 0; j < x.cols(); ++j) s += std::sin(2.0 * x(i, j) + static_cast<double>(j)) / static_cast<double>(j + 1);
    y(i) = s + x(i, 0) * x(i, 1) + noise(rng);
  }
  return y;
}

}  // namespace

int main(int argc, char** argv) {
  Eigen::Index n = 800, d = 10, m = 10000;
  int repeats = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const long value = std::strtol(argv[i + 1], nullptr, 10);
    if (flag == "--points") n = value;
    else if (flag == "--features") d = value;
    else if (flag == "--predict") m = value;
    else if (flag == "--repeats") repeats = static_cast<int>(value);
    else {
      std::fprintf(stderr, "usage: bench_search_gp [--points N] [--features D] [--predict M] [--repeats R]\n");
      return 2;
    }
  }
  std::mt19937_64 rng(42);
  const Eigen::MatrixXd x = random_inputs(n, d, rng);
  const Eigen::VectorXd y = response(x, rng);
  const Eigen::MatrixXd xt = random_inputs(m, d, rng);
  const Eigen::VectorXd yt = response(xt, rng);
  std::vector<double> fit_s, predict_s, fit_cpu_s, predict_cpu_s;
  // Process CPU time as well: on a shared, oversubscribed machine it shows the work itself.
  auto cpu = [] { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; };
  double rmse = 0.0;
  for (int r = 0; r < repeats; ++r) {
    flashnas::search::GaussianProcess gp;
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu();
    gp.fit(x, y);
    const auto t1 = std::chrono::steady_clock::now();
    const double c1 = cpu();
    const auto p = gp.predict(xt);
    const auto t2 = std::chrono::steady_clock::now();
    fit_cpu_s.push_back(c1 - c0);
    predict_cpu_s.push_back(cpu() - c1);
    fit_s.push_back(std::chrono::duration<double>(t1 - t0).count());
    predict_s.push_back(std::chrono::duration<double>(t2 - t1).count());
    rmse = std::sqrt((p.mean - yt).squaredNorm() / static_cast<double>(m));
  }
  nlohmann::json out = {{"bench", "gp_fit_predict"},
                        {"points", n},
                        {"features", d},
                        {"predict_points", m},
                        {"repeats", repeats},
                        {"median_fit_s", median(fit_s)},
                        {"median_predict_s", median(predict_s)},
                        {"median_total_s", median(fit_s) + median(predict_s)},
                        {"median_fit_cpu_s", median(fit_cpu_s)},
                        {"median_predict_cpu_s", median(predict_cpu_s)},
                        {"median_total_cpu_s", median(fit_cpu_s) + median(predict_cpu_s)},
                        {"fit_s", fit_s},
                        {"predict_s", predict_s},
                        {"holdout_rmse", rmse},
                        {"response_sd", std::sqrt((yt.array() - yt.mean()).square().mean())}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
