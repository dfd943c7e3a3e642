// Multi-objective optimisers behind one ask/tell interface: qNEHVI Bayesian
// optimisation, random search, NSGA-II and multi-objective TPE. Each keeps the
// evaluated history, never asks for a point twice, and starts either from a scrambled
// Sobol design (NEHVI, NSGA-II) or from uniform random draws (random search, TPE).
// Objectives are minimised. Deterministic for a given seed.
//
// Legend: N evaluated points, E encoding dims.
#pragma once

#include <Eigen/Core>

#include <memory>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "engine/search/nehvi_proposal.hpp"
#include "engine/search/search_space.hpp"
#include "engine/search/tpe.hpp"

namespace flashnas::search {

struct Nsga2Options {
  int64_t population_size = 16;
  double crossover_eta = 15.0, crossover_probability = 0.9;
  double mutation_eta = 20.0;  // mutation rate 1/D per variable
};

struct OptimizerConfig {
  int64_t initial_points = 10;   // Sobol design size (NEHVI, NSGA-II); random start-up draws (TPE)
  Eigen::Vector2d reference{0.0, 0.0};
  bool has_reference = false;    // else inferred from the data at each step (NEHVI)
  uint64_t seed = 0;
  NehviProposalOptions nehvi;
  Nsga2Options nsga2;
  TpeOptions tpe;
};

class MultiObjectiveOptimizer {
 public:
  MultiObjectiveOptimizer(const SearchSpace& space, OptimizerConfig config);
  virtual ~MultiObjectiveOptimizer() = default;

  // Up to q new valid points (canonical encodings), distinct from everything asked before.
  std::vector<Eigen::VectorXd> ask(int64_t q);
  // Results of evaluated points: x as returned by ask, y (len(x), 2).
  void tell(const std::vector<Eigen::VectorXd>& x, const Eigen::MatrixXd& y);

  const Eigen::MatrixXd& observed_x() const { return x_; }  // (N, E)
  const Eigen::MatrixXd& observed_y() const { return y_; }  // (N, 2)

 protected:
  virtual std::vector<Eigen::VectorXd> propose(int64_t q) = 0;  // after the initial design
  virtual bool uses_initial_design() const { return true; }
  // A valid random point not asked before (falls back to any sample after many tries).
  Eigen::VectorXd fresh_sample();
  // Up to q such points, distinct from each other (random search, TPE's start-up).
  std::vector<Eigen::VectorXd> fresh_samples(int64_t q);
  bool seen(const Eigen::VectorXd& x) const { return asked_.count(space_.key(x)) > 0; }

  const SearchSpace& space_;
  OptimizerConfig config_;
  std::mt19937_64 rng_;
  Eigen::MatrixXd x_, y_;
  std::unordered_set<std::string> asked_;

 private:
  Eigen::MatrixXd design_;
  int64_t design_used_ = 0;
};

// name: "nehvi" | "random" | "nsga2" | "tpe"; throws InvalidInput (field "algo") otherwise.
std::unique_ptr<MultiObjectiveOptimizer> make_optimizer(const std::string& name, const SearchSpace& space,
                                                        const OptimizerConfig& config);

}  // namespace flashnas::search
