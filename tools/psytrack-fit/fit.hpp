// Hyperparameter optimisation of one subject: psytrack mode (decoupled-Laplace surrogate + scipy
// BFGS outer loop, spec 2.6) or exact mode (exact Laplace evidence, analytic gradient, spec 2.7),
// then W_std and optional hyper standard errors (spec 2.8). opt = [] is the fixed-hyper MAP.
#pragma once

#include <string>
#include <vector>

#include "map_fit.hpp"

namespace effinfer::psytrack {

enum class FitMode { kPsytrack, kExact };

struct FitOptions {
  FitMode mode = FitMode::kPsytrack;
  int jump = 2;
  double outer_rel_tol = 0.1;
  int outer_max_iter = 50;
  int bfgs_max_iter = 15;
  double bfgs_gtol = 1e-5;
  double fd_step = 1.4901161193847656e-8;  // 2^-26, scipy's absolute forward-difference step
  double log2_lower = -20.0, log2_upper = 6.0;
  double exact_gtol = 1e-4;
  int exact_max_iter = 200;
  MapOptions map;
  bool w_std = true;
  bool hyp_std = false;
  double hyp_std_dx = 1e-3;
  int threads = 1;  // threads for the forward-difference calls of one gradient
};

// One exact MAP of the outer loop (exact mode: one accepted iterate).
struct TraceRow {
  Eigen::VectorXd log2_hyper;  // (P)
  double log_evidence = 0;
  bool accepted = false;  // became best?
  int newton_iterations = 0;
};

struct FitResult {
  Hyper hyper;                   // returned hyperparameters (best)
  Eigen::VectorXd log2_hyper;    // (P) free parameters at the returned hyper
  MapResult map;                 // exact MAP at the returned hyper
  RowMatrix w_std;               // (N, K), empty when options.w_std is false
  Eigen::VectorXd hyp_std_log2;  // (P), empty unless options.hyp_std; NaN where H is not PD
  std::vector<TraceRow> trace;
  int n_map_solves = 0;
  int n_dla_evals = 0;  // psytrack mode: surrogate calls incl. FD, excl. hyp_std
  int n_evals = 0;      // exact mode: evidence evaluations
  int newton_iterations = 0;  // total over all MAP solves
  bool converged = true;
  std::string message;                // why not converged
  std::vector<std::string> warnings;  // e.g. hyp_std Hessian not positive definite
};

// Dispatches on options.mode. Throws NumericalError on numerical failure.
FitResult fit_hyper(const Dataset& data, const TrialLayout& layout, const Hyper& init,
                    const HyperParam& param, const FitOptions& options);

// psytrack mode (hyperopt.cpp) and exact mode (exact_evidence.cpp); fit_hyper calls one of them.
FitResult fit_psytrack_mode(const Dataset& data, const TrialLayout& layout, const Hyper& init,
                            const HyperParam& param, const FitOptions& options);
FitResult fit_exact_mode(const Dataset& data, const TrialLayout& layout, const Hyper& init,
                         const HyperParam& param, const FitOptions& options);

}  // namespace effinfer::psytrack
