// The `admm` baseline of mrf-cccp (spec 2.7), in the style of Salzmann's ADMM-Poly (CVPR'13;
// `main.m`, `dd_admm_poly.m` of shenlongwang/polynomial) but with one slave per factor:
//
//   slaves  x_r <- argmin f_r(x_r) + (rho_t/2) ||x_r - z_r + mu_r/rho_t||^2   (damped Newton)
//   z       <- average of the copies x_r of each variable (variables in no factor keep x0)
//   mu_r    <- mu_r + rho_t (x_r - z_r)
//   rho_t    = rho0 + (rho1 - rho0) / (1 + exp(-gamma (t - t0))),  t = 1 .. max_iters
//
// with rho0 floored at 1e-6 rho1. The exact energy E(z) is logged after every iteration; ADMM is
// not a descent method, so `monotone` only reports whether the trace happened to be
// non-increasing. Slaves run under OpenMP; the result does not depend on the thread count.
#pragma once

#include <Eigen/Core>

#include "cccp.hpp"
#include "energy.hpp"
#include "model.hpp"

namespace effinfer::mrf {

// Spec 3.4 keys baselines.admm.* (defaults = the authors' `main.m`).
struct AdmmOptions {
  int max_iters = 100;
  double rho0 = 0.0, rho1 = 100.0, gamma = 0.25, t0 = 50;
  int newton_iters = 20;  // damped Newton iterations per slave and ADMM iteration
};

// ConfigError naming "baselines.admm.<key>" unless max_iters >= 1, rho1 > 0, rho0 >= 0,
// gamma >= 0, newton_iters >= 1 (and every value finite).
void validate_admm_options(const AdmmOptions& options);

// The penalty of ADMM iteration t (1-based): rho0' + (rho1 - rho0') / (1 + exp(-gamma (t - t0))),
// rho0' = max(rho0, 1e-6 rho1).
double admm_rho(const AdmmOptions& options, int t);

// Consensus ADMM from x0 (size model.num_vars) on `model`, whose exact energy `energy` must be
// (it is used only for the logged E(z)). Trace: E(x0), then E(z) after each of the max_iters
// iterations; x = the final z; stop_reason "max_iters"; iterations = ADMM iterations;
// evaluations = exact-energy evaluations. OpenMP threads: energy.threads() (0 = default).
// Throws DataError when E(z) becomes non-finite or below -1e300 (spec 3.6), InternalError when x0
// has the wrong size.
MethodResult run_admm(const Model& model, const Energy& energy, const Eigen::VectorXd& x0,
                      const AdmmOptions& options);

}  // namespace effinfer::mrf
