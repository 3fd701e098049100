// Synthetic learners as psytrack's generateSim (spec 2.10), with the project's own seeded RNG.
#pragma once

#include <cstdint>
#include <vector>

#include "model.hpp"

namespace effinfer::psytrack {

struct SimulateOptions {
  int n_weights = 4;
  int n_trials = 64000;
  int iterations = 20;  // realisations of y
  double boundary = 4.0;
  Eigen::VectorXd sigma;     // (K) or empty: 2^c, c uniform on {-4..-8} per weight
  Eigen::VectorXd sig_init;  // (K) (a 1-vector is broadcast); default 4.0
  Eigen::VectorXd sig_day;   // (K) or empty: 2^c, c in {1, 0, -1} when sessions exist
  std::vector<int64_t> day_length;  // empty = one session
  uint64_t seed = 0;
};

struct Simulation {
  RowMatrix x;        // (N, K) inputs ~ N(0, 1)
  RowMatrix w_true;   // (N, K) true weights
  Eigen::VectorXd sigma, sig_init, sig_day;  // (K) used (sig_day empty without sessions)
  Eigen::Matrix<int8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> y_all;  // (R, N)
  std::vector<int64_t> day_length;
};

Simulation simulate(const SimulateOptions& options);

}  // namespace effinfer::psytrack
