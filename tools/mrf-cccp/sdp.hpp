// Dense primal-dual interior-point solver for small block-diagonal SDPs (spec mrf-cccp 2.4):
//   min <C, X>  s.t.  <A_k, X> = b_k (k = 1..m),  X = diag(X_1, ..., X_B) >= 0;
//   dual  max b^T y  s.t.  sum_k y_k A_k + Z = C,  Z >= 0.
// Infeasible start X = Z = I, y = 0; HKM search direction; Mehrotra predictor-corrector with
// sigma = (mu_aff / mu)^3; Schur complement M_kl = <A_k, X A_l Z^-1> from the sparse A_k,
// Cholesky with an LDL^T fallback; step = step_fraction x the largest feasible step (from the
// eigenvalues of L^-1 dX L^-T, L = chol(X)). Also the SDPA sparse writer (.dat-s) for CSDP.
// Safeguards beyond spec 2.4 (needed on random polynomials, where the optimum is often not
// strictly complementary and M becomes ill-conditioned): two steps of iterative refinement of the
// Schur solve; the primal direction is projected back onto A(dX) = r_p with the constant Gram
// matrix <A_k, A_l>; when the corrected step is < 0.1 a pure centring direction (sigma >= 0.5, no
// second-order term) is tried and the longer step kept; and the kStalled status below.
#pragma once

#include <Eigen/Core>
#include <iosfwd>
#include <string>
#include <vector>

namespace effinfer::mrf {

// One entry of a symmetric block-diagonal matrix: 0-based block and indices, i <= j (upper
// triangle); the entry stands for both (i, j) and (j, i).
struct SdpEntry {
  int block;
  int i;
  int j;
  double value;
};

struct SdpProblem {
  std::vector<int> block_sizes;
  std::vector<SdpEntry> C;
  std::vector<std::vector<SdpEntry>> A;  // one sparse matrix per constraint
  Eigen::VectorXd b;
};

struct SdpOptions {
  double tol = 1e-9;
  int max_iters = 80;
  double step_fraction = 0.95;
};

// kStalled: steps collapsed (< 1e-2 three times running) at an iterate that meets the residual
// tolerances with mu <= 100 tol: near-optimal and feasible, accepted by the decomposition, whose
// certificates do not depend on optimality.
enum class SdpStatus { kOptimal, kStalled, kMaxIterations, kNumerical, kInfeasible };
const char* to_string(SdpStatus status);

struct SdpSolution {
  SdpStatus status = SdpStatus::kNumerical;
  int iterations = 0;
  std::vector<Eigen::MatrixXd> X, Z;  // one dense block each
  Eigen::VectorXd y;
  double primal_objective = 0.0;  // <C, X>
  double dual_objective = 0.0;    // b^T y
  double primal_residual = 0.0;   // ||b - A(X)|| / (1 + ||b||)
  double dual_residual = 0.0;     // ||C - Z - A^T y||_F / (1 + ||C||_F)
  double mu = 0.0;                // <X, Z> / dim
};

// Throws ConfigError for invalid options and DataError for a malformed problem; solver failures
// are reported through the status, never thrown.
SdpSolution solve_sdp(const SdpProblem& problem, const SdpOptions& options = {});

// SDPA sparse format: m; nblocks; block sizes; b; "matno blk i j value" lines, 1-based, upper
// triangle, matno 0 = objective. CSDP maximises, so C is written negated.
void write_sdpa(const SdpProblem& problem, std::ostream& out);
// Same to a file; throws WriteError when it cannot be written.
void write_sdpa(const SdpProblem& problem, const std::string& path);

}  // namespace effinfer::mrf
