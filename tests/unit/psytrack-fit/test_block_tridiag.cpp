// Spec check 2: the block-tridiagonal factorization (log det, solve, selected inversion) equals
// dense Eigen LLT / inverse on the PsyTrack negative Hessian with sessions and gaps.
#include <doctest/doctest.h>

#include <Eigen/Cholesky>
#include <cmath>

#include "block_tridiag.hpp"
#include "map_fit.hpp"
#include "psytrack_test_problem.hpp"
#include "test_support.hpp"

namespace pt = effinfer::psytrack;

namespace {

Eigen::MatrixXd dense_from_blocks(int n, int k, const std::vector<double>& diag,
                                  const std::vector<double>& off) {
  Eigen::MatrixXd c = Eigen::MatrixXd::Zero(n * k, n * k);
  for (int t = 0; t < n; ++t) {
    for (int i = 0; i < k; ++i)
      for (int j = 0; j < k; ++j) c(t * k + i, t * k + j) = diag[(t * k + i) * k + j];
    if (t + 1 < n) {
      for (int i = 0; i < k; ++i) {
        c((t + 1) * k + i, t * k + i) = off[t * k + i];
        c(t * k + i, (t + 1) * k + i) = off[t * k + i];
      }
    }
  }
  return c;
}

struct Errors {
  double log_det = 0, solve = 0, diag = 0, sub = 0;
};

// Relative errors of the block kernel against dense Eigen on C(W) of a random problem.
Errors compare_with_dense(int n, int k, uint64_t seed) {
  const auto prob = pt::test::make_problem(n, k, seed, true, true);
  const pt::RowMatrix v = pt::prior_variance(prob.hyper, prob.layout, n, k);
  std::vector<double> diag, off;
  pt::assemble_hessian(prob.data, v, prob.w, diag, off);
  pt::BlockTridiagCholesky chol;
  REQUIRE(chol.factor(n, k, diag.data(), off.data()));
  CHECK(chol.n_trials() == n);
  CHECK(chol.n_weights() == k);

  const Eigen::MatrixXd c = dense_from_blocks(n, k, diag, off);
  const Eigen::LLT<Eigen::MatrixXd> llt(c);
  REQUIRE(llt.info() == Eigen::Success);
  Errors e;
  const double ld_dense = 2.0 * llt.matrixL().toDenseMatrix().diagonal().array().log().sum();
  e.log_det = std::abs(chol.log_det() - ld_dense) / std::abs(ld_dense);

  effinfer::Rng rng(seed + 1);
  Eigen::VectorXd rhs(n * k);
  for (int i = 0; i < n * k; ++i) rhs[i] = rng.normal();
  const Eigen::VectorXd x_dense = llt.solve(rhs);
  Eigen::VectorXd x = rhs;
  chol.solve_in_place(x.data());
  e.solve = (x - x_dense).cwiseAbs().maxCoeff() / x_dense.cwiseAbs().maxCoeff();

  const Eigen::MatrixXd inv = llt.solve(Eigen::MatrixXd::Identity(n * k, n * k));
  std::vector<double> sd(static_cast<size_t>(n) * k * k), ss(static_cast<size_t>(n - 1) * k * k);
  chol.selected_inverse(sd.data(), ss.data());
  for (int t = 0; t < n; ++t) {
    const Eigen::Map<const pt::RowMatrix> block(sd.data() + t * k * k, k, k);
    const Eigen::MatrixXd ref = inv.block(t * k, t * k, k, k);
    e.diag = std::max(e.diag, (block - ref).cwiseAbs().maxCoeff() / ref.cwiseAbs().maxCoeff());
    if (t + 1 < n) {
      const Eigen::Map<const pt::RowMatrix> sub(ss.data() + t * k * k, k, k);
      const Eigen::MatrixXd ref_sub = inv.block((t + 1) * k, t * k, k, k);
      e.sub =
          std::max(e.sub, (sub - ref_sub).cwiseAbs().maxCoeff() / ref_sub.cwiseAbs().maxCoeff());
    }
  }
  return e;
}

}  // namespace

TEST_CASE("check 2: block kernel equals dense LLT / inverse (N 200, K 3, sessions, gaps)") {
  const Errors e = compare_with_dense(200, 3, 2);
  MESSAGE("rel. errors: log det " << e.log_det << ", solve " << e.solve << ", diag blocks "
                                  << e.diag << ", sub-diagonal blocks " << e.sub);
  CHECK(e.log_det <= 1e-10);
  CHECK(e.solve <= 1e-10);
  CHECK(e.diag <= 1e-10);
  CHECK(e.sub <= 1e-10);
}

TEST_CASE("block kernel: every fixed-size K (1..8) and the dynamic path (9, 11)") {
  for (int k : {1, 2, 3, 4, 5, 6, 7, 8, 9, 11}) {
    CAPTURE(k);
    const Errors e = compare_with_dense(45, k, 10 + k);
    CHECK(e.log_det <= 1e-10);
    CHECK(e.solve <= 1e-10);
    CHECK(e.diag <= 1e-10);
    CHECK(e.sub <= 1e-10);
  }
}

TEST_CASE("block kernel: single trial and a known analytic case") {
  // N = 1, K = 2: C = [[4, 2], [2, 3]], det 8, C^-1 = [[3, -2], [-2, 4]] / 8.
  const std::vector<double> a = {4, 2, 2, 3};
  pt::BlockTridiagCholesky chol;
  REQUIRE(chol.factor(1, 2, a.data(), nullptr));
  CHECK(chol.log_det() == doctest::Approx(std::log(8.0)).epsilon(1e-14));
  std::vector<double> s(4);
  chol.selected_inverse(s.data(), nullptr);
  CHECK(s[0] == doctest::Approx(3.0 / 8).epsilon(1e-14));
  CHECK(s[1] == doctest::Approx(-2.0 / 8).epsilon(1e-14));
  CHECK(s[3] == doctest::Approx(4.0 / 8).epsilon(1e-14));
  // N = 3, K = 1 tridiagonal [[2,-1,0],[-1,2,-1],[0,-1,2]]: det 4, x = C^-1 (1,1,1) = (1.5,
  // 2, 1.5).
  const std::vector<double> d = {2, 2, 2}, o = {-1, -1};
  REQUIRE(chol.factor(3, 1, d.data(), o.data()));
  CHECK(chol.log_det() == doctest::Approx(std::log(4.0)).epsilon(1e-14));
  std::vector<double> x = {1, 1, 1};
  chol.solve_in_place(x.data());
  CHECK(x[0] == doctest::Approx(1.5).epsilon(1e-14));
  CHECK(x[1] == doctest::Approx(2.0).epsilon(1e-14));
  CHECK(x[2] == doctest::Approx(1.5).epsilon(1e-14));
}

TEST_CASE("block kernel: a matrix that is not positive definite is rejected") {
  for (int k : {1, 2, 3, 4, 9}) {
    CAPTURE(k);
    // Identity blocks with off-diagonal -1 on every weight: the K = 1 chain [[1,-1],[-1,1]] is
    // singular, so the second pivot block is zero.
    const int n = 3;
    std::vector<double> diag(static_cast<size_t>(n) * k * k, 0.0), off((n - 1) * k, -1.0);
    for (int t = 0; t < n; ++t)
      for (int i = 0; i < k; ++i) diag[(t * k + i) * k + i] = 1.0;
    pt::BlockTridiagCholesky chol;
    CHECK_FALSE(chol.factor(n, k, diag.data(), off.data()));
    // An indefinite diagonal block.
    std::vector<double> bad(static_cast<size_t>(k) * k, 0.0);
    for (int i = 0; i < k; ++i) bad[i * k + i] = i == k - 1 ? -1.0 : 1.0;
    CHECK_FALSE(chol.factor(1, k, bad.data(), nullptr));
  }
}
