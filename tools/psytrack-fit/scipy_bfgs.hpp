// A faithful re-implementation of scipy 1.10 minimize(method='BFGS') with a forward-difference
// gradient (absolute step), the MINPACK-2 dcsrch line search and the Nocedal-Wright wolfe2
// fallback, so psytrack's hyperparameter search takes the same path (spec 2.6).
#pragma once

#include <Eigen/Dense>
#include <functional>
#include <string>

namespace effinfer::psytrack {

struct BfgsOptions {
  int max_iter = 15;
  double gtol = 1e-5;                      // stop at ||g||_inf <= gtol
  double fd_step = 1.4901161193847656e-8;  // absolute forward-difference step
  int threads = 1;                         // concurrent f calls within one FD gradient
};

struct BfgsResult {
  Eigen::VectorXd x;
  double f = 0;
  Eigen::VectorXd gradient;
  int iterations = 0;
  int n_fev = 0;  // objective calls including the finite-difference ones
  int status = 0; // scipy's: 0 success, 1 maxiter, 2 precision loss / line search failure
  std::string message;
};

// Minimises f (which must be safe to call concurrently when options.threads > 1).
BfgsResult minimize_bfgs(const std::function<double(const Eigen::VectorXd&)>& f,
                         const Eigen::VectorXd& x0, const BfgsOptions& options);

}  // namespace effinfer::psytrack
