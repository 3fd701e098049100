// The decoupled-Laplace surrogate of the log-evidence (Wu et al. 2017; psytrack hyperOpt.py
// `hyperOpt_lossfun`), spec 2.6. Built once at a MAP (theta0, W0*, Lambda0 = Lambda(W0*)); for
// log2 hypers x with theta = 2^x:
//   W(x) = (P_theta + Lambda0)^-1 (P_theta0 + Lambda0) W0*,
//   s(x) = L(W(x)) + logprior_theta(W(x)) - 1/2 log det(P_theta + Lambda(W(x))).
// Two block-tridiagonal factorizations per call, O(N K^3). Used by fit_psytrack_mode (hyperopt.cpp)
// and exposed here for tests.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "fit.hpp"
#include "model.hpp"
#include "scipy_bfgs.hpp"

namespace effinfer::psytrack {

struct SurrogateWorkspace;  // scratch buffers of one evaluation (hyperopt.cpp)

class DecoupledLaplace {
 public:
  // base: the hyperparameters outside `param` (kept fixed); theta0, w0: the MAP the surrogate is
  // built at. data and layout must outlive the object.
  DecoupledLaplace(const Dataset& data, const TrialLayout& layout, const Hyper& base,
                   const HyperParam& param, const Hyper& theta0,
                   const Eigen::Ref<const RowMatrix>& w0);
  ~DecoupledLaplace();
  DecoupledLaplace(const DecoupledLaplace&) = delete;
  DecoupledLaplace& operator=(const DecoupledLaplace&) = delete;

  // s(x). A pure function of x, safe to call concurrently. Returns -infinity when a Hessian is
  // not numerically positive definite at x (so an optimiser backs off instead of failing).
  double operator()(const Eigen::VectorXd& x) const;

  // W(x) (N, K), the surrogate's weights (for tests).
  RowMatrix weights(const Eigen::VectorXd& x) const;

 private:
  double evaluate(const Eigen::VectorXd& x, RowMatrix* w_out) const;

  const Dataset& data_;
  const TrialLayout& layout_;
  Hyper base_;
  HyperParam param_;
  std::vector<uint8_t> kind_;    // per trial: 0 ordinary, 1 first trial, 2 session start
  std::vector<double> lambda0_;  // lambda_t = p_t (1 - p_t) at W0* (N)
  std::vector<double> rhs_;      // (P_theta0 + Lambda0) W0*, trial-major (N K)
  // Scratch buffers reused across calls (fresh multi-megabyte buffers cost page faults on every
  // call); one per concurrent caller, freed with the object.
  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<SurrogateWorkspace>> pool_;
};

namespace detail {

// The two numerical steps of psytrack mode, replaceable so tests can observe and steer the outer
// loop (which theta each MAP runs at, its warm start, where BFGS starts and on which surrogate).
struct PsytrackSteps {
  // Exact MAP at theta, warm-started from w_start (null: from zero).
  std::function<MapResult(const Hyper& theta, const RowMatrix* w_start)> map;
  // Minimises loss = -s from x0.
  std::function<BfgsResult(const std::function<double(const Eigen::VectorXd&)>& loss,
                           const Eigen::VectorXd& x0, const BfgsOptions& options)>
      bfgs;
};

// fit_psytrack_mode with its MAP and BFGS steps supplied by the caller.
FitResult fit_psytrack_mode_with(const Dataset& data, const TrialLayout& layout, const Hyper& init,
                                 const HyperParam& param, const FitOptions& options,
                                 const PsytrackSteps& steps);

}  // namespace detail

}  // namespace effinfer::psytrack
