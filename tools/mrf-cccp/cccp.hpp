// The concave-convex procedure of mrf-cccp (spec 2.5; Yuille & Rangarajan, Neural Computation 15,
// 2003) with the exact-energy monotonicity guard, and the `lbfgs` / `gd` baselines of spec 2.7 on
// the same energy kernel, all logging identical traces (exact energy, wall time).
//
//   c_t     = grad E_cave(x^t)                     (linearise the concave part)
//   U_t(x)  = E_vex(x) + c_t^T x                    (convex majoriser up to a constant)
//   x^{t+1} = inner solver on U_t from x^t, fresh memory, inner.max_iters iterations
//   E^{t+1} = E(x^{t+1}), exact, logged with wall time and inner iterations
//   stop: |E^t - E^{t+1}| < tol_energy_rel max(1, |E^{t+1}|), ||x^{t+1} - x^t||_2 < tol_x,
//         or E^{t+1} > E^t + 1e-12 S^t: step rejected, `nonmonotone`. S^t = sum_r sum_a
//         |c_a u_r^a| at x^t (spec 2.5 has sum_r |f_r|, which cancels to ~0 at an exact minimum
//         and would let round-off trip the guard; the term sum bounds it and is the rounding
//         scale).
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "energy.hpp"
#include "optimize.hpp"

namespace effinfer::mrf {

enum class InnerSolver { kLbfgs, kGd };

// Spec 3.4 keys cccp.* and line_search.*.
struct CccpOptions {
  int max_outer = 500;
  double tol_energy_rel = 1e-8;
  double tol_x = 1e-8;
  InnerSolver inner_solver = InnerSolver::kLbfgs;
  int inner_max_iters = 10;
  int inner_memory = 10;
  double inner_gtol = 1e-12;  // absolute, on ||grad U_t||_inf
  LineSearchOptions line_search;
  double guard = 1e-12;  // relative slack of the nonmonotone guard (spec 2.5)
};

// One method's run on one model (the per-instance part of the result schema, spec 3.3).
struct MethodResult {
  Eigen::VectorXd x;
  double energy_init = 0, energy_final = 0, time_s = 0;
  int64_t iterations = 0;   // outer iterations (cccp) or accepted iterations (baselines)
  int64_t evaluations = 0;  // energy(+gradient) evaluations of any part, E(x0) included
  bool monotone = true;
  std::string stop_reason;  // tol_energy | tol_x | gtol | max_iters | line_search | nonmonotone
  // Trace: starts at E(x0) (time of that evaluation), one entry per accepted step, ends at
  // energy_final; time non-decreasing, seconds since the method started.
  std::vector<double> trace_energy, trace_time_s;
  std::vector<int> trace_inner_iters;  // cccp only (0 for the initial point)
  // Energy of the step rejected by the guard (NaN when none).
  double rejected_energy = std::numeric_limits<double>::quiet_NaN();
};

// CCCP from x0; the energy must have a split attached. Throws DataError when the exact energy
// becomes non-finite or below -1e300 ("unbounded below", naming the family with the largest
// |f_r|).
MethodResult run_cccp(const Energy& energy, const Eigen::VectorXd& x0, const CccpOptions& options);

// Baselines of spec 2.7 on the exact energy E (traces: E after every accepted iteration).
MethodResult run_lbfgs(const Energy& energy, const Eigen::VectorXd& x0,
                       const LbfgsOptions& options);
MethodResult run_gd(const Energy& energy, const Eigen::VectorXd& x0, const GdOptions& options);

}  // namespace effinfer::mrf
