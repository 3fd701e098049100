// mrf-cccp SDP interior-point solver (spec 2.4, check 5's Lovasz theta) and the SDPA writer.
#include <doctest/doctest.h>

#include <Eigen/Eigenvalues>
#include <cmath>
#include <sstream>

#include "core/error.hpp"
#include "sdp.hpp"
#include "test_support.hpp"

namespace mrf = effinfer::mrf;

namespace {

// theta(G) = max <J, X> s.t. tr X = 1, X_ij = 0 on edges, X >= 0  (min <-J, X>).
mrf::SdpProblem lovasz_problem(int n, const std::vector<std::pair<int, int>>& edges) {
  mrf::SdpProblem p;
  p.block_sizes = {n};
  for (int i = 0; i < n; ++i)
    for (int j = i; j < n; ++j) p.C.push_back({0, i, j, -1.0});
  std::vector<mrf::SdpEntry> tr;
  for (int i = 0; i < n; ++i) tr.push_back({0, i, i, 1.0});
  p.A.push_back(tr);
  for (auto [i, j] : edges) p.A.push_back({{0, std::min(i, j), std::max(i, j), 1.0}});
  p.b = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(p.A.size()));
  p.b[0] = 1.0;
  return p;
}

std::vector<std::pair<int, int>> cycle(int n) {
  std::vector<std::pair<int, int>> e;
  for (int i = 0; i < n; ++i) e.push_back({i, (i + 1) % n});
  return e;
}

}  // namespace

TEST_CASE("Lovasz theta of the 5-cycle is sqrt(5) (check 5)") {
  const auto p = lovasz_problem(5, cycle(5));
  const auto s = mrf::solve_sdp(p);
  REQUIRE(s.status == mrf::SdpStatus::kOptimal);
  MESSAGE("theta(C5): iterations " << s.iterations << ", objective " << -s.primal_objective);
  CHECK(std::abs(-s.primal_objective - std::sqrt(5.0)) <= 1e-7 * std::sqrt(5.0));
  CHECK(std::abs(-s.dual_objective - std::sqrt(5.0)) <= 1e-7 * std::sqrt(5.0));
  CHECK(s.iterations <= 40);
  CHECK(s.primal_residual <= 1e-9);
  CHECK(s.dual_residual <= 1e-9);
  // X is PSD and feasible
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(s.X[0]);
  CHECK(es.eigenvalues()[0] >= -1e-9);
  CHECK(std::abs(s.X[0].trace() - 1.0) <= 1e-9);
  // theta of odd cycles: n cos(pi/n) / (1 + cos(pi/n))
  for (int n : {7, 9}) {
    const auto sn = mrf::solve_sdp(lovasz_problem(n, cycle(n)));
    const double c = std::cos(M_PI / n), ref = n * c / (1 + c);
    REQUIRE(sn.status == mrf::SdpStatus::kOptimal);
    CHECK(std::abs(-sn.primal_objective - ref) <= 1e-7 * ref);
  }
}

TEST_CASE("two-block SDP with a known optimum") {
  // min x11 + 2 y (block 1 = [[x11,x12],[x12,x22]], block 2 = [y]) s.t. x12 = 1, x22 + y = 1 ...
  // here: min tr(X1) + X2 s.t. X1_12 = 1 (2*entry), X2 = 3: optimum 2 + 3 = 5 (X1 = [[1,1],[1,1]]).
  mrf::SdpProblem p;
  p.block_sizes = {2, 1};
  p.C = {{0, 0, 0, 1.0}, {0, 1, 1, 1.0}, {1, 0, 0, 1.0}};
  p.A = {{{0, 0, 1, 0.5}}, {{1, 0, 0, 1.0}}};
  p.b = Eigen::Vector2d(1.0, 3.0);
  const auto s = mrf::solve_sdp(p);
  REQUIRE(s.status == mrf::SdpStatus::kOptimal);
  CHECK(s.primal_objective == doctest::Approx(5.0).epsilon(1e-8));
  CHECK(s.X[0](0, 1) == doctest::Approx(1.0).epsilon(1e-7));
  CHECK(s.X[1](0, 0) == doctest::Approx(3.0).epsilon(1e-8));
}

TEST_CASE("solver failures are statuses, bad input throws") {
  auto p = lovasz_problem(5, cycle(5));
  mrf::SdpOptions o;
  o.max_iters = 1;
  CHECK(mrf::solve_sdp(p, o).status == mrf::SdpStatus::kMaxIterations);
  // primal infeasible: X_00 = -1
  mrf::SdpProblem q;
  q.block_sizes = {1};
  q.C = {{0, 0, 0, 1.0}};
  q.A = {{{0, 0, 0, 1.0}}};
  q.b = Eigen::VectorXd::Constant(1, -1.0);
  CHECK(mrf::solve_sdp(q).status != mrf::SdpStatus::kOptimal);
  o.max_iters = 80;
  o.step_fraction = 1.0;
  CHECK_THROWS_AS(mrf::solve_sdp(p, o), effinfer::ConfigError);
  p.A[1][0].i = 3;  // lower triangle
  CHECK_THROWS_AS(mrf::solve_sdp(p), effinfer::DataError);
  p = lovasz_problem(5, cycle(5));
  p.b = Eigen::VectorXd::Zero(2);
  CHECK_THROWS_AS(mrf::solve_sdp(p), effinfer::DataError);
}

TEST_CASE("SDPA writer output parses back to the same problem") {
  mrf::SdpProblem p;
  p.block_sizes = {3, 2};
  p.C = {{0, 0, 0, 0.0}, {1, 0, 0, 1.0}, {1, 1, 1, 1.0}};
  p.A = {{{0, 0, 1, 0.1}, {1, 0, 1, -2.5}}, {{0, 2, 2, 1.0 / 3.0}}};
  p.b = Eigen::Vector2d(0.7, -1e-12);
  std::ostringstream os;
  mrf::write_sdpa(p, os);
  std::istringstream is(os.str());
  std::string comment;
  std::getline(is, comment);
  CHECK(comment.front() == '"');
  int m, nblocks;
  is >> m >> nblocks;
  CHECK(m == 2);
  CHECK(nblocks == 2);
  int s1, s2;
  is >> s1 >> s2;
  CHECK(s1 == 3);
  CHECK(s2 == 2);
  double b1, b2;
  is >> b1 >> b2;
  CHECK(b1 == 0.7);
  CHECK(b2 == -1e-12);
  std::vector<std::vector<mrf::SdpEntry>> mats(3);
  int matno, blk, i, j;
  double v;
  while (is >> matno >> blk >> i >> j >> v) {
    CHECK(i <= j);
    CHECK(blk >= 1);
    mats[matno].push_back({blk - 1, i - 1, j - 1, v});
  }
  REQUIRE(mats[0].size() == 2);     // the zero entry is not written
  CHECK(mats[0][0].value == -1.0);  // negated objective
  CHECK(mats[0][1].block == 1);
  REQUIRE(mats[1].size() == 2);
  CHECK(mats[1][0].value == 0.1);
  CHECK(mats[1][1].value == -2.5);
  CHECK(mats[1][1].block == 1);
  CHECK(mats[1][1].j == 1);
  REQUIRE(mats[2].size() == 1);
  CHECK(mats[2][0].value == 1.0 / 3.0);  // %.17g round-trips exactly
  CHECK(mats[2][0].i == 2);
  effinfer::test::TempDir dir("mrf_sdpa");
  mrf::write_sdpa(p, dir.file("x.dat-s"));
  CHECK(dir.entries() == 1);
  CHECK_THROWS_AS(mrf::write_sdpa(p, dir.file("missing/x.dat-s")), effinfer::WriteError);
}
