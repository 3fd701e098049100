// mrf-cccp convex-concave decomposition (spec 2.2, 2.3): SDP sizes of the table in 2.3,
// check 2 (identity), check 3 (certificates), check 4 (exact splits), check 5 (iteration counts),
// check 7's library part (fallback, odd degree), deduplication, thread invariance, SDPA dump.
#include <doctest/doctest.h>

#include <Eigen/Eigenvalues>
#include <Eigen/LU>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "decompose.hpp"
#include "test_support.hpp"

namespace mrf = effinfer::mrf;

namespace {

// Coefficients N(0,1) on every monomial of degree <= d, pure top powers |.| + 1 (spec check 5).
mrf::Polynomial random_poly(int m, int d, effinfer::Rng& rng) {
  const auto t = mrf::monomials_up_to(m, d);
  Eigen::VectorXd c(t.rows());
  for (int r = 0; r < t.rows(); ++r) {
    c[r] = rng.normal();
    if (t.row(r).maxCoeff() == d) c[r] = std::abs(c[r]) + 1.0;
  }
  return mrf::Polynomial(t, c);
}

mrf::Polynomial var(int m, int i, double c = 1.0) {
  mrf::ExponentTable e = mrf::ExponentTable::Zero(1, m);
  e(0, i) = 1;
  return mrf::Polynomial(e, Eigen::VectorXd::Constant(1, c));
}

mrf::Polynomial constant(int m, double c) {
  return mrf::Polynomial(mrf::ExponentTable::Zero(1, m), Eigen::VectorXd::Constant(1, c));
}

// Spec check 4: every coefficient within 1e-6 x the largest |coefficient| of g of that degree
// (of g overall when g has none of that degree).
void check_split(const mrf::Polynomial& g, const mrf::Split& s, const mrf::Polynomial& vex,
                 const mrf::Polynomial& cave) {
  const auto& t = s.vex.exponents;
  const Eigen::VectorXd gc = mrf::coeffs_on_table(g, t);
  const Eigen::VectorXd ev = mrf::coeffs_on_table(vex, t), ec = mrf::coeffs_on_table(cave, t);
  const double gmax = gc.cwiseAbs().maxCoeff();
  double worst = 0.0;
  for (int r = 0; r < t.rows(); ++r) {
    double scale = 0.0;
    for (int q = 0; q < t.rows(); ++q)
      if (mrf::monomial_degree(t, q) == mrf::monomial_degree(t, r))
        scale = std::max(scale, std::abs(gc[q]));
    if (scale == 0.0) scale = gmax;
    INFO("monomial row " << r << " vex " << s.vex.coeffs[r] << " expected " << ev[r]);
    CHECK(std::abs(s.vex.coeffs[r] - ev[r]) <= 1e-6 * scale);
    CHECK(std::abs(s.cave.coeffs[r] - ec[r]) <= 1e-6 * scale);
    worst = std::max(worst, std::abs(s.vex.coeffs[r] - ev[r]) / scale);
  }
  MESSAGE("exact split: worst coefficient error / scale = " << worst << " (" << s.sdp_iters
                                                            << " SDP iterations)");
}

mrf::DecomposeOptions certify_opts() {
  mrf::DecomposeOptions o;
  o.certify_samples = 10000;
  return o;
}

}  // namespace

TEST_CASE("SDP sizes match the table of spec 2.3") {
  struct Row {
    int m, d, N, eq;
  };
  for (const Row& r :
       {Row{1, 4, 2, 3}, Row{1, 6, 3, 5}, Row{1, 8, 4, 7}, Row{2, 4, 6, 24}, Row{2, 6, 12, 65},
        Row{2, 8, 20, 126}, Row{3, 4, 12, 89}, Row{4, 4, 20, 235}, Row{4, 6, 60, 1195}}) {
    mrf::SdpStructure s(r.m, r.d, mrf::SplitObjective::kMinTraceCave);
    INFO("m=" << r.m << " d=" << r.d);
    CHECK(s.block_size() == r.N);
    CHECK(s.num_constraints() == r.eq);
    // H is injective: rank = number of columns
    Eigen::FullPivLU<Eigen::MatrixXd> lu(s.H());
    CHECK(lu.rank() == s.columns().rows());
  }
}

TEST_CASE("exact splits of spec 2.3 (check 4)") {
  effinfer::Rng rng(2024);
  SUBCASE("3D-reconstruction edge potential") {
    for (int rep = 0; rep < 5; ++rep) {
      Eigen::Vector3d qi(rng.uniform() - 0.5, rng.uniform() - 0.5, 1.0);
      Eigen::Vector3d qj(rng.uniform() - 0.5, rng.uniform() - 0.5, 1.0);
      const double L = 10.0 + 90.0 * rng.uniform(), w = 1.0 / 32.0;
      mrf::ExponentTable e(3, 2);
      e << 2, 0, 1, 1, 0, 2;
      const mrf::Polynomial D(e,
                              Eigen::Vector3d(qi.squaredNorm(), -2 * qi.dot(qj), qj.squaredNorm()));
      const mrf::Polynomial base = mrf::add(D, constant(2, -L * L));
      const mrf::Polynomial g = mrf::scale(mrf::multiply(base, base), w);
      const auto s = mrf::decompose_polynomial(g, certify_opts());
      REQUIRE(s.method == "sdp");
      MESSAGE("edge L=" << L << ": sdp iterations " << s.sdp_iters << ", identity residual "
                        << s.identity_residual << ", ls residual " << s.ls_residual);
      const auto vex = mrf::scale(mrf::add(mrf::multiply(D, D), constant(2, L * L * L * L)), w);
      const auto cave = mrf::scale(D, -2 * w * L * L);
      check_split(g, s, vex, cave);
      CHECK(s.certificate_passed);
      CHECK(s.identity_residual <= 1e-10);
    }
  }
  SUBCASE("shape from shading, light (0,0,1)") {
    for (double I : {0.5, 0.9}) {
      mrf::ExponentTable e(2, 2);
      e << 2, 0, 0, 2;
      const mrf::Polynomial sp(e, Eigen::Vector2d(1, 1));  // s = p^2 + q^2
      const auto inner = mrf::add(mrf::scale(sp, I * I), constant(2, I * I - 1));
      const auto g = mrf::multiply(inner, inner);
      const auto vex = mrf::add(mrf::scale(mrf::multiply(sp, sp), std::pow(I, 4)),
                                constant(2, (1 - I * I) * (1 - I * I)));
      const auto cave = mrf::scale(sp, -2 * I * I * (1 - I * I));
      const auto s = mrf::decompose_polynomial(g, certify_opts());
      REQUIRE(s.method == "sdp");
      check_split(g, s, vex, cave);
      CHECK(s.certificate_passed);
      mrf::DecomposeOptions raw;
      raw.normalize = false;
      const auto s2 = mrf::decompose_polynomial(g, raw);
      REQUIRE(s2.method == "sdp");
      const double ref = 8 * I * I * (1 - I * I);
      MESSAGE("SFS I=" << I << ": min tr(Q_c) = " << s2.sdp_objective << " (ref " << ref
                       << "), iterations " << s2.sdp_iters);
      CHECK(std::abs(s2.sdp_objective - ref) <= 1e-6 * ref);
      check_split(g, s2, vex, cave);
    }
  }
  SUBCASE("x^3 bumped to degree 4") {
    const auto x = var(1, 0);
    const auto g = mrf::multiply(x, mrf::multiply(x, x));
    mrf::ExponentTable e(3, 1);
    e << 4, 3, 2;
    const mrf::Polynomial vex(e, Eigen::Vector3d(1.0 / 8, 0.5, 0.75));
    const mrf::Polynomial cave(e, Eigen::Vector3d(-1.0 / 8, 0.5, -0.75));
    const auto s = mrf::decompose_polynomial(g, certify_opts());
    REQUIRE(s.method == "sdp");
    CHECK(s.degree == 4);
    check_split(g, s, vex, cave);
    CHECK(s.certificate_passed);
    mrf::DecomposeOptions raw;
    raw.normalize = false;
    const auto s2 = mrf::decompose_polynomial(g, raw);
    MESSAGE("x^3: min tr(Q_c) = " << s2.sdp_objective << ", iterations " << s2.sdp_iters);
    CHECK(std::abs(s2.sdp_objective - 3.0) <= 1e-6 * 3.0);
    // min_trace_sum: minimise 4c + 24a subject to ac >= 3/32: the same split, objective 6.
    raw.objective = mrf::SplitObjective::kMinTraceSum;
    const auto s3 = mrf::decompose_polynomial(g, raw);
    REQUIRE(s3.method == "sdp");
    CHECK(std::abs(s3.sdp_objective - 6.0) <= 1e-6 * 6.0);
    check_split(g, s3, vex, cave);
  }
  SUBCASE("double well") {
    mrf::ExponentTable e(3, 1);
    e << 4, 2, 0;
    const mrf::Polynomial g(e, Eigen::Vector3d(1, -2, 1));
    const auto s = mrf::decompose_polynomial(g, certify_opts());
    REQUIRE(s.method == "sdp");
    check_split(g, s, mrf::Polynomial(e, Eigen::Vector3d(1, 0, 1)),
                mrf::Polynomial(e, Eigen::Vector3d(0, -2, 0)));
  }
}

TEST_CASE("identity (check 2) and certificates (check 3) for every method") {
  effinfer::Rng rng(99);
  for (auto method : {mrf::SplitMethod::kSdp, mrf::SplitMethod::kBound})
    for (auto [m, d] :
         std::vector<std::pair<int, int>>{{1, 4}, {1, 6}, {2, 4}, {2, 6}, {3, 4}, {4, 4}})
      for (int rep = 0; rep < 3; ++rep) {
        auto g = random_poly(m, d, rng);
        g.coeffs *= std::pow(10.0, 4 * rng.uniform() - 2);  // scale spread
        auto o = certify_opts();
        o.method = method;
        const auto s = mrf::decompose_polynomial(g, o, nullptr, rep);
        INFO("m=" << m << " d=" << d << " method " << s.method);
        CHECK(s.method == (method == mrf::SplitMethod::kSdp ? "sdp" : "bound"));
        CHECK(s.identity_residual <= 1e-10);
        CHECK(s.certificate_passed);
        CHECK(s.hess_vex_min >= -1e-7);
        CHECK(s.hess_cave_max <= 1e-7);
        if (s.method == "sdp") {
          CHECK(s.gram_min_eig[0] >= -1e-9 * s.gram_norm[0]);
          CHECK(s.gram_min_eig[1] >= -1e-9 * s.gram_norm[1]);
          CHECK(s.ls_residual <= 1e-8);
        }
      }
  // quadratic path: exact eigen-split of an indefinite quadratic
  for (int m = 1; m <= 4; ++m) {
    auto g = random_poly(m, 2, rng);
    const auto s = mrf::decompose_polynomial(g, certify_opts());
    CHECK(s.method == "quadratic");
    INFO("m=" << m << " vex_min " << s.hess_vex_min << " cave_max " << s.hess_cave_max);
    CHECK(s.identity_residual <= 1e-10);
    CHECK(s.certificate_passed);
    const Eigen::MatrixXd Hv = mrf::hessian(s.vex, Eigen::VectorXd::Zero(m));
    const Eigen::MatrixXd Hc = mrf::hessian(s.cave, Eigen::VectorXd::Zero(m));
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> ev(Hv), ec(Hc);
    CHECK(ev.eigenvalues().minCoeff() >= -1e-12);
    CHECK(ec.eigenvalues().maxCoeff() <= 1e-12);
    // H+ and H- have orthogonal ranges: tr(Hv Hc) = 0 (the min-trace split)
    CHECK(std::abs((Hv * Hc).trace()) <= 1e-10 * (1 + Hv.norm() * Hc.norm()));
  }
  // a certificate that must fail: a wrong "split" is caught by the sampled check
  mrf::ExponentTable e(1, 1);
  e << 4;
  const mrf::Polynomial x4(e, Eigen::VectorXd::Ones(1));
  const auto s = mrf::decompose_polynomial(x4, certify_opts());
  CHECK(s.certificate_passed);
  CHECK(s.hess_cave_max <= 1e-7);
}

TEST_CASE("SDP iteration counts on random polynomials up to N = 20 (check 5)") {
  effinfer::Rng rng(5);
  for (auto [m, d] : std::vector<std::pair<int, int>>{
           {1, 4}, {1, 6}, {1, 8}, {2, 4}, {2, 6}, {3, 4}, {2, 8}, {4, 4}}) {
    int worst = 0, stalled = 0;
    double worst_ls = 0;
    mrf::DecomposeOptions o;
    mrf::SdpStructure st(m, d, o.objective);
    for (int rep = 0; rep < 20; ++rep) {
      const auto g = random_poly(m, d, rng);
      const auto s = mrf::decompose_polynomial(g, o, &st, rep);
      INFO("m=" << m << " d=" << d << " rep " << rep << " status " << s.sdp_status);
      CHECK(s.method == "sdp");
      CHECK(s.sdp_iters <= 40);
      CHECK(s.identity_residual <= 1e-10);
      worst = std::max(worst, s.sdp_iters);
      if (s.sdp_status == "stalled") ++stalled;
      worst_ls = std::max(worst_ls, s.ls_residual);
    }
    MESSAGE("m=" << m << " d=" << d << " N=" << st.block_size() << " eq=" << st.num_constraints()
                 << ": max iterations " << worst << ", stalled " << stalled
                 << "/20, max ls residual " << worst_ls);
  }
}

TEST_CASE("failures: odd degree error, SDP fallback to bound, on_failure error (check 7)") {
  const auto x = var(1, 0);
  const auto x3 = mrf::multiply(x, mrf::multiply(x, x));
  mrf::DecomposeOptions o;
  o.odd_degree = mrf::OddDegree::kError;
  CHECK_THROWS_AS(mrf::decompose_polynomial(x3, o), effinfer::DataError);
  auto bad = x3;
  bad.coeffs[0] = std::nan("");
  CHECK_THROWS_AS(mrf::decompose_polynomial(bad, mrf::DecomposeOptions{}), effinfer::DataError);
  o = certify_opts();
  o.max_degree = 4;
  effinfer::Rng rng(1);
  CHECK_THROWS_AS(mrf::decompose_polynomial(random_poly(1, 6, rng), o), effinfer::DataError);
  o = certify_opts();
  o.max_block = 10;
  CHECK_THROWS_AS(mrf::decompose_polynomial(random_poly(3, 4, rng), o), effinfer::DataError);
  // max_iters 1: every SDP fails, bound split counted as fallback, certificates pass
  o = certify_opts();
  o.sdp.max_iters = 1;
  const int F = 12;
  mrf::ExponentTable t = mrf::monomials_up_to(2, 4);
  mrf::RowMatrixXd C(F, t.rows());
  for (int f = 0; f < F; ++f) C.row(f) = random_poly(2, 4, rng).coeffs.transpose();
  const auto fam = mrf::decompose_family("edge", t, C, o);
  CHECK(fam.n_sdp == F);
  CHECK(fam.fallbacks == F);
  CHECK(fam.certificates_passed);
  for (const auto& s : fam.rows) {
    CHECK(s.method == "bound");
    CHECK(s.fallback);
    CHECK(s.identity_residual <= 1e-10);
  }
  o.on_failure = mrf::OnFailure::kError;
  CHECK_THROWS_AS(mrf::decompose_family("edge", t, C, o), effinfer::CheckFailed);
}

TEST_CASE("family: deduplication, shared rows, thread invariance, SDPA dump") {
  effinfer::Rng rng(8);
  const mrf::ExponentTable t = mrf::monomials_up_to(2, 4);
  const int F = 40;
  mrf::RowMatrixXd C(F, t.rows());
  for (int f = 0; f < 10; ++f) C.row(f) = random_poly(2, 4, rng).coeffs.transpose();
  for (int f = 10; f < F; ++f) C.row(f) = C.row(f % 10);
  mrf::DecomposeOptions o;
  o.threads = 1;
  const auto a = mrf::decompose_family("f", t, C, o);
  o.threads = 2;
  const auto b = mrf::decompose_family("f", t, C, o);
  CHECK(a.coeffs_vex.rows() == 10);
  CHECK(a.n_sdp == 10);
  CHECK(a.fallbacks == 0);
  for (int f = 0; f < F; ++f) CHECK(a.row_of[f] == f % 10);
  CHECK(a.coeffs_vex == b.coeffs_vex);  // bit-identical
  CHECK(a.coeffs_cave == b.coeffs_cave);
  CHECK((a.coeffs_vex + a.coeffs_cave - C.topRows(10)).cwiseAbs().maxCoeff() <=
        1e-10 * C.topRows(10).cwiseAbs().maxCoeff());
  const auto shared = mrf::decompose_family("s", t, C.topRows(1), o);
  CHECK(shared.coeffs_vex.rows() == 1);
  CHECK(shared.coeffs_vex.row(0) == a.coeffs_vex.row(0));
  // mixed degrees in one family: rows of degree 2 take the quadratic path
  mrf::RowMatrixXd Q = C.topRows(2);
  for (int r = 0; r < t.rows(); ++r)
    if (mrf::monomial_degree(t, r) > 2) Q(1, r) = 0.0;
  const auto mixed = mrf::decompose_family("mixed", t, Q, o);
  CHECK(mixed.rows[0].method == "sdp");
  CHECK(mixed.rows[1].method == "quadratic");
  CHECK(mixed.n_sdp == 1);
  CHECK(mixed.degree == 4);
  effinfer::test::TempDir dir("mrf_dump");
  o.dump_sdpa_dir = (dir.path() / "sdpa").string();
  mrf::decompose_family("edge", t, C, o);
  CHECK(std::filesystem::exists(dir.path() / "sdpa" / "edge_0.dat-s"));
  CHECK(std::filesystem::exists(dir.path() / "sdpa" / "edge_9.dat-s"));
  CHECK(!std::filesystem::exists(dir.path() / "sdpa" / "edge_10.dat-s"));
}

TEST_CASE("timing: 10^4 random (m=2, d=4) SDPs on one thread (spec B3)" * doctest::skip()) {
  effinfer::Rng rng(3);
  const mrf::ExponentTable t = mrf::monomials_up_to(2, 4);
  const int F = 10000;
  mrf::RowMatrixXd C(F, t.rows());
  for (int f = 0; f < F; ++f) C.row(f) = random_poly(2, 4, rng).coeffs.transpose();
  mrf::DecomposeOptions o;
  o.threads = 1;
  const auto t0 = std::chrono::steady_clock::now();
  const auto fam = mrf::decompose_family("bench", t, C, o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<int> hist(81);
  for (const auto& r : fam.rows) hist[r.sdp_iters]++;
  MESSAGE("10^4 (m=2,d=4) SDPs: " << s << " s, max iterations " << fam.sdp_iters_max
                                  << ", fallbacks " << fam.fallbacks);
  for (int i = 0; i <= 80; ++i)
    if (hist[i]) MESSAGE("  iterations " << i << ": " << hist[i]);
  for (auto [m, n] : std::vector<std::pair<int, int>>{{3, 1000}, {4, 100}}) {
    mrf::ExponentTable tm = mrf::monomials_up_to(m, 4);
    mrf::RowMatrixXd Cm(n, tm.rows());
    for (int f = 0; f < n; ++f) Cm.row(f) = random_poly(m, 4, rng).coeffs.transpose();
    const auto t1 = std::chrono::steady_clock::now();
    const auto fm = mrf::decompose_family("bench", tm, Cm, o);
    const double sm = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    MESSAGE("(m=" << m << ",d=4): " << 1e3 * sm / n << " ms each, max iterations "
                  << fm.sdp_iters_max << ", fallbacks " << fm.fallbacks);
  }
}
