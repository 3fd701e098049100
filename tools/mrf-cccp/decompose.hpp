// Convex-concave decomposition of polynomial factors (spec mrf-cccp 2.2, 2.3): the SOS-convexity
// SDP (basis z = y (x) m_k(u), Hessian-biform keys, Gram map G, null-space constraints N_H^T G(Q_v)
// = 0 and G(Q_c) - G(Q_v) = -h_g, objective min tr(Q_c) or tr(Q_v) + tr(Q_c), c = H^+ G(Q_v)),
// normalisation (sigma, kappa) and margin, the exact quadratic path (d <= 2), the always-valid
// `bound` path, odd-degree bump, fallback on SDP failure, certificates, and per-family
// deduplication with one SDP per OpenMP thread.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

#include "poly.hpp"
#include "sdp.hpp"

namespace effinfer::mrf {

enum class SplitMethod { kSdp, kBound };
enum class SplitObjective { kMinTraceCave, kMinTraceSum };
enum class OddDegree { kBump, kError };
enum class OnFailure { kFallback, kError };

struct DecomposeOptions {
  SplitMethod method = SplitMethod::kSdp;
  SplitObjective objective = SplitObjective::kMinTraceCave;
  OddDegree odd_degree = OddDegree::kBump;
  int max_degree = 8;
  int max_block = 120;
  bool normalize = true;
  double margin = 1e-9;
  OnFailure on_failure = OnFailure::kFallback;
  SdpOptions sdp;
  int certify_samples = 0;  // sampled Hessian check (spec check 3); 0 = off
  double certify_radius = 2.0;
  uint64_t seed = 0;          // certificate sample points
  int threads = 0;            // OpenMP threads for decompose_family; 0 = runtime default
  std::string dump_sdpa_dir;  // non-empty: write <family>_<row>.dat-s per SDP
};

// The SDP's structure for m local variables and even degree d >= 4 (independent of g).
class SdpStructure {
 public:
  SdpStructure(int m, int d, SplitObjective objective);
  int m() const { return m_; }
  int degree() const { return d_; }
  int block_size() const { return N_; }  // N = m * C(m+k, k)
  int num_keys() const { return keys_.num_keys(); }
  int num_constraints() const { return static_cast<int>(problem_.A.size()); }  // "eq"
  int num_null() const { return num_null_; }
  const BiformKeys& keys() const { return keys_; }
  const ExponentTable& columns() const { return columns_; }  // monomials of degree 2..d
  const Eigen::MatrixXd& H() const { return H_; }            // keys x columns
  // The SDP for polynomial g (degree <= d, m variables): b = (0 for null rows, -h_g).
  SdpProblem problem(const Polynomial& g) const;
  // Key coefficients G(Q) of z^T Q z.
  Eigen::VectorXd gram_keys(const Eigen::MatrixXd& Q) const;
  // Least-squares c = H^+ k (coefficients on columns()).
  Eigen::VectorXd solve_h(const Eigen::VectorXd& k) const;

 private:
  int m_, d_, N_, num_null_ = 0;
  BiformKeys keys_;
  std::vector<int> key_of_;  // N x N (p, q) -> key
  ExponentTable columns_;
  Eigen::MatrixXd H_, H_pinv_;
  SdpProblem problem_;  // b left zero
};

struct Split {
  Polynomial vex, cave;    // on monomials_up_to(m, degree), original coordinates
  std::string method;      // sdp | bound | quadratic
  bool fallback = false;   // sdp failed, bound used
  std::string sdp_status;  // empty when no SDP ran
  int degree = 0;          // effective degree (odd degrees bumped)
  int sdp_iters = 0;
  double sdp_objective = 0;         // normalised problem: tr(Q_c) or tr(Q_v) + tr(Q_c)
  double gram_min_eig[2] = {0, 0};  // lambda_min(Q_v), lambda_min(Q_c)
  double gram_norm[2] = {0, 0};     // ||Q_v||_F, ||Q_c||_F
  double ls_residual = 0;           // ||H c - G(Q_v)|| / max(1, ||G(Q_v)||)
  double identity_residual = 0;     // max |c_vex + c_cave - c| / max |c|
  double sigma = 1, kappa = 1;
  // Sampled certificate (certify_samples > 0): worst lambda_min(hess f~_vex) / s and
  // lambda_max(hess f~_cave) / s over the sample, s = sum|c~| (1 + |u~|^2)^(d/2-1), c~ the
  // normalised coefficients of g.
  int certify_samples = 0;
  double hess_vex_min = 0, hess_cave_max = 0;
  bool certificate_passed = true;
};

// Splits one local polynomial. `structure` (optional) must match (m, effective degree,
// objective); `stream` seeds the certificate sample; `dump_path` (optional) receives the SDPA
// file. Throws DataError (odd degree with kError, degree > max_degree, block > max_block) and
// CheckFailed (SDP failure with on_failure kError).
Split decompose_polynomial(const Polynomial& g, const DecomposeOptions& options,
                           const SdpStructure* structure = nullptr, uint64_t stream = 0,
                           const std::string& dump_path = "");

// Effective degree of g under the options (odd degrees >= 3 bumped or rejected).
int effective_degree(const Polynomial& g, const DecomposeOptions& options,
                     const std::string& what = "polynomial");

// The `bound` split (spec 2.2) of g in its own coordinates: f_vex = g + lambda q, f_cave =
// -lambda q, q = (1 + |u|^2)^(d/2), lambda = (1 + margin) m C / d; d even.
void bound_split(const Polynomial& g, int d, double margin, Polynomial& vex, Polynomial& cave);

struct FamilyDecomposition {
  std::string name;
  int degree = 0;
  ExponentTable exponents;              // monomials_up_to(m, degree)
  RowMatrixXd coeffs_vex, coeffs_cave;  // [R, M']
  std::vector<int64_t> row_of;          // [F] -> unique row
  std::vector<Split> rows;              // [R] (polynomials cleared to save memory)
  int n_sdp = 0, fallbacks = 0, sdp_iters_max = 0;
  bool certificates_passed = true;
};

// Splits every coefficient row of a family (coeffs [F, M] or [1, M]), rows deduplicated by exact
// equality, the remaining SDPs in parallel; results do not depend on the thread count.
FamilyDecomposition decompose_family(const std::string& name, const ExponentTable& exponents,
                                     const Eigen::Ref<const RowMatrixXd>& coeffs,
                                     const DecomposeOptions& options);

}  // namespace effinfer::mrf
