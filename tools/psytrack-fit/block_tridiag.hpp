// Cholesky factorization of a symmetric positive definite block-tridiagonal matrix whose
// off-diagonal blocks are diagonal (the PsyTrack negative Hessian C = P + Lambda, spec 2.3):
// O(N K^3) factor, solve, log-determinant and selected inversion (diagonal and first
// sub-diagonal blocks of C^-1) without ever forming a dense NK x NK matrix.
#pragma once

#include <Eigen/Dense>
#include <vector>

namespace effinfer::psytrack {

class BlockTridiagCholesky {
 public:
  // diag_blocks: N blocks A_t, each K x K row-major, at offset t*K*K.
  // off_diag: (N-1)*K entries, the diagonal of B_{t+1} = C_{t+1,t} at offset t*K.
  // Returns false (and leaves the object unusable) when a pivot block is not positive definite.
  bool factor(int n_trials, int n_weights, const double* diag_blocks, const double* off_diag);
  int n_trials() const { return n_; }
  int n_weights() const { return k_; }
  double log_det() const;
  // rhs has N*K entries (trial-major) and is overwritten by C^-1 rhs.
  void solve_in_place(double* rhs) const;
  // Sigma = C^-1: diag_out gets N blocks Sigma_tt (K*K each, row-major); sub_out (may be null)
  // gets N-1 blocks Sigma_{t+1,t} (K*K each, row-major).
  void selected_inverse(double* diag_out, double* sub_out) const;

 private:
  // Stored as the equivalent block LDL^T form (L_t L_t^T = S_t): the Schur complements' inverses
  // S_t^-1 and U_t = M_t L_t^-1 = B_{t+1} S_t^-1 (see block_tridiag.cpp).
  int n_ = 0, k_ = 0;
  double log_det_ = 0;
  std::vector<double> l_;  // N blocks S_t^-1 = (L_t L_t^T)^-1
  std::vector<double> m_;  // N-1 blocks U_t = B_{t+1} S_t^-1
};

}  // namespace effinfer::psytrack
