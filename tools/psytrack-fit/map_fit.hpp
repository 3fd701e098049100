// MAP weights at fixed hyperparameters by Newton in W space on the block-tridiagonal Hessian,
// Laplace evidence and posterior standard deviations (spec 2.4, 2.5).
#pragma once

#include "block_tridiag.hpp"
#include "model.hpp"

namespace effinfer::psytrack {

struct MapOptions {
  double step_tol = 1e-10;  // converged when max|a*Delta| <= step_tol after a full step
  int max_iter = 100;
};

struct MapResult {
  RowMatrix w;  // (N, K) MAP weights
  double logli = 0, logprior = 0, logdet_half = 0;
  double log_evidence = 0;  // logli + logprior - logdet_half
  int iterations = 0;
  bool converged = false;
  std::string message;         // why not converged, empty otherwise
  BlockTridiagCholesky factor;  // Cholesky of C(W*) (for W_std and the exact gradient)
};

// Builds C(W) = P(v) + Lambda(W) in block form (the arrays BlockTridiagCholesky::factor takes).
void assemble_hessian(const Dataset& data, const Eigen::Ref<const RowMatrix>& v,
                      const Eigen::Ref<const RowMatrix>& w, std::vector<double>& diag_blocks,
                      std::vector<double>& off_diag);

// Newton MAP from w_start (N, K) or from zero when w_start is null.
// Throws effinfer::NumericalError on non-finite objective or Cholesky breakdown.
MapResult map_fit(const Dataset& data, const TrialLayout& layout, const Hyper& hyper,
                  const MapOptions& options, const RowMatrix* w_start = nullptr);

// Posterior std (N, K): sqrt of the diagonal of C^-1 from the MAP's factor.
RowMatrix posterior_std(const MapResult& map);

}  // namespace effinfer::psytrack
