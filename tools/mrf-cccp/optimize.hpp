// Smooth unconstrained minimisers of mrf-cccp (spec 2.5, 2.7): L-BFGS with a strong Wolfe line
// search (the CCCP inner solver and the `lbfgs` baseline) and steepest descent with Armijo
// backtracking (the `gd` baseline and the alternative inner solver). Both are monotone: an
// accepted point never has a higher objective than the current one, which is what keeps CCCP's
// exact energy monotone (spec 2.5: U_t(x) <= U_t(x^t) implies E(x) <= E(x^t)).
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <string>

namespace effinfer::mrf {

// Objective: returns f(x) and writes grad (resized by the callee to x.size()).
using Objective = std::function<double(const Eigen::VectorXd& x, Eigen::VectorXd& grad)>;
// Called after every accepted iteration with the iteration number (1-based), f and x.
using IterationCallback = std::function<void(int iteration, double f, const Eigen::VectorXd& x)>;

// Strong Wolfe conditions (Nocedal & Wright, Numerical Optimization, 2nd ed., Alg. 3.5/3.6):
// f(x + t d) <= f + c1 t g.d and |g(x + t d).d| <= c2 |g.d|; spec 3.4 `line_search`.
struct LineSearchOptions {
  double c1 = 1e-4;
  double c2 = 0.9;
  int max_evals = 20;
};

struct LbfgsOptions {
  int max_iters = 20000;
  int memory = 10;
  // Stop at ||grad||_inf <= gtol * (gtol_relative ? max(1, |f|) : 1).
  double gtol = 1e-10;
  bool gtol_relative = true;
  // Stop when f_old - f_new < ftol_rel * max(1, |f_old|); 0 disables (CCCP inner runs).
  double ftol_rel = 2.2e-15;
  LineSearchOptions line_search;
};

struct GdOptions {
  int max_iters = 20000;
  double gtol = 1e-10;
  bool gtol_relative = true;
  double ftol_rel = 2.2e-15;
  double c1 = 1e-4;         // Armijo constant (spec 2.7)
  int max_backtracks = 60;  // halvings per iteration before a line-search stop
};

struct OptimizeResult {
  Eigen::VectorXd x, grad;
  double f = 0;
  int iterations = 0;       // accepted iterations
  int64_t evaluations = 0;  // objective + gradient evaluations, the one at x0 included
  std::string stop_reason;  // gtol | tol_energy | max_iters | line_search
};

// L-BFGS (Nocedal 1980; Liu & Nocedal 1989 two-loop recursion, H0 = s'y / y'y) from x0 with
// fresh memory. First trial step min(1, 1/||grad||_1) on a steepest-descent direction, 1
// otherwise (minFunc's convention, spec 2.5). On line-search failure the best point found is
// kept when it lowers f (never a worse one) and the run stops with `line_search`.
OptimizeResult minimize_lbfgs(const Objective& objective, const Eigen::VectorXd& x0,
                              const LbfgsOptions& options, const IterationCallback& callback = {});

// Steepest descent with Armijo backtracking (c1, halving); first trial min(1, 1/||grad||_1),
// later 2x the last accepted step (spec 2.7).
OptimizeResult minimize_gd(const Objective& objective, const Eigen::VectorXd& x0,
                           const GdOptions& options, const IterationCallback& callback = {});

}  // namespace effinfer::mrf
