// mrf-cccp poly core (spec 2.1, 2.3; check 1's polynomial part): monomial bases, evaluation,
// gradient and Hessian against central differences, Hessian biform keys, batch evaluation.
#include <doctest/doctest.h>

#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "poly.hpp"
#include "test_support.hpp"

namespace mrf = effinfer::mrf;

namespace {

mrf::Polynomial random_poly(int m, int d, effinfer::Rng& rng) {
  mrf::ExponentTable t = mrf::monomials_up_to(m, d);
  Eigen::VectorXd c(t.rows());
  for (int r = 0; r < c.size(); ++r) c[r] = rng.normal();
  return mrf::Polynomial(t, c);
}

Eigen::VectorXd random_point(int m, effinfer::Rng& rng) {
  Eigen::VectorXd u(m);
  for (int i = 0; i < m; ++i) u[i] = 4.0 * rng.uniform() - 2.0;
  return u;
}

}  // namespace

TEST_CASE("monomial bases have C(m+k,k) distinct graded rows") {
  for (int m = 1; m <= 4; ++m)
    for (int k = 0; k <= 6; ++k) {
      const auto t = mrf::monomials_up_to(m, k);
      CHECK(t.rows() == mrf::binomial(m + k, k));
      for (int r = 1; r < t.rows(); ++r) {
        CHECK(mrf::monomial_degree(t, r) >= mrf::monomial_degree(t, r - 1));
        CHECK(t.row(r) != t.row(r - 1));
      }
      mrf::MonomialIndex idx(t);
      for (int r = 0; r < t.rows(); ++r) CHECK(idx.find(&t(r, 0)) == r);
    }
  const auto t = mrf::monomials_up_to(2, 2);  // 1, x, y, x^2, xy, y^2
  CHECK(t(1, 0) == 1);
  CHECK(t(2, 1) == 1);
  CHECK(t(3, 0) == 2);
  CHECK(t(4, 0) == 1);
  CHECK(t(4, 1) == 1);
}

TEST_CASE("evaluation of known polynomials") {
  mrf::ExponentTable e(3, 2);
  e << 2, 0, 1, 3, 0, 0;
  mrf::Polynomial p(e, Eigen::Vector3d(2.0, -1.0, 0.5));  // 2x^2 - x y^3 + 0.5
  const Eigen::Vector2d u(1.5, -2.0);
  CHECK(mrf::evaluate(p, u) == doctest::Approx(2 * 2.25 + 1.5 * 8 + 0.5).epsilon(1e-15));
  const auto g = mrf::gradient(p, u);
  CHECK(g[0] == doctest::Approx(4 * 1.5 - (-8.0)));
  CHECK(g[1] == doctest::Approx(-3 * 1.5 * 4.0));
  const auto h = mrf::hessian(p, u);
  CHECK(h(0, 0) == doctest::Approx(4.0));
  CHECK(h(0, 1) == doctest::Approx(-3 * 4.0));
  CHECK(h(1, 1) == doctest::Approx(-6 * 1.5 * -2.0));
  CHECK_THROWS_AS(mrf::evaluate(p, Eigen::Vector3d::Zero()), effinfer::DataError);
}

TEST_CASE("gradient and Hessian match central differences (check 1, poly part)") {
  effinfer::Rng rng(11);
  for (int m = 1; m <= 4; ++m)
    for (int d = 1; d <= 6; ++d)
      for (int rep = 0; rep < 3; ++rep) {
        const auto p = random_poly(m, d, rng);
        const Eigen::VectorXd u = random_point(m, rng);
        const auto g = mrf::gradient(p, u);
        const auto H = mrf::hessian(p, u);
        for (int i = 0; i < m; ++i) {
          const double h = 1e-6 * std::max(1.0, std::abs(u[i]));
          Eigen::VectorXd up = u, um = u;
          up[i] += h;
          um[i] -= h;
          const double fd = (mrf::evaluate(p, up) - mrf::evaluate(p, um)) / (2 * h);
          const double scale = std::max(1.0, g.cwiseAbs().maxCoeff());
          CHECK(std::abs(fd - g[i]) <= 1e-6 * scale);
          const Eigen::VectorXd gd = (mrf::gradient(p, up) - mrf::gradient(p, um)) / (2 * h);
          const double hs = std::max(1.0, H.cwiseAbs().maxCoeff());
          for (int j = 0; j < m; ++j) CHECK(std::abs(gd[j] - H(j, i)) <= 1e-6 * hs);
        }
        // derivative() polynomial agrees with gradient()
        for (int i = 0; i < m; ++i)
          CHECK(mrf::evaluate(mrf::derivative(p, i), u) ==
                doctest::Approx(g[i]).epsilon(1e-12).scale(1.0));
      }
}

TEST_CASE("products, powers, scaling and canonical form") {
  effinfer::Rng rng(5);
  const auto a = random_poly(2, 3, rng), b = random_poly(2, 2, rng);
  const Eigen::Vector2d u(0.7, -1.3);
  CHECK(mrf::evaluate(mrf::multiply(a, b), u) ==
        doctest::Approx(mrf::evaluate(a, u) * mrf::evaluate(b, u)).epsilon(1e-13));
  CHECK(mrf::evaluate(mrf::add(a, b), u) ==
        doctest::Approx(mrf::evaluate(a, u) + mrf::evaluate(b, u)).epsilon(1e-13));
  CHECK(mrf::evaluate(mrf::power(b, 3), u) ==
        doctest::Approx(std::pow(mrf::evaluate(b, u), 3)).epsilon(1e-12));
  CHECK(mrf::evaluate(mrf::scale_variables(a, 1.7, 3.0), u) ==
        doctest::Approx(mrf::evaluate(a, 1.7 * u) / 3.0).epsilon(1e-13));
  // exact cancellation leaves nothing
  CHECK(mrf::add(a, mrf::scale(a, -1.0)).num_terms() == 0);
  CHECK(mrf::multiply(a, b).degree() == 5);
  // coefficients on a larger table round-trip
  const auto t = mrf::monomials_up_to(2, 5);
  const auto c = mrf::coeffs_on_table(a, t);
  CHECK(mrf::evaluate(mrf::Polynomial(t, c), u) == doctest::Approx(mrf::evaluate(a, u)));
  CHECK_THROWS_AS(mrf::coeffs_on_table(a, mrf::monomials_up_to(2, 2)), effinfer::DataError);
}

TEST_CASE("Hessian biform key coefficients reproduce y^T H(u) y") {
  effinfer::Rng rng(7);
  for (int m = 1; m <= 4; ++m)
    for (int d = 2; d <= 6; ++d) {
      const auto p = random_poly(m, d, rng);
      mrf::BiformKeys keys(m, d - 2);
      CHECK(keys.num_keys() == m * (m + 1) / 2 * mrf::binomial(m + d - 2, d - 2));
      const Eigen::VectorXd h = keys.biform(p);
      const Eigen::VectorXd u = random_point(m, rng), y = random_point(m, rng);
      double s = 0.0;
      const auto& B = keys.betas();
      for (int i = 0; i < m; ++i)
        for (int j = i; j < m; ++j)
          for (int b = 0; b < B.rows(); ++b) {
            double t = h[keys.key(i, j, &B(b, 0))] * y[i] * y[j];
            for (int l = 0; l < m; ++l) t *= std::pow(u[l], B(b, l));
            s += t;
          }
      const double ref = y.dot(mrf::hessian(p, u) * y);
      CHECK(s == doctest::Approx(ref).epsilon(1e-11).scale(1.0));
      if (d > 2) CHECK_THROWS_AS(mrf::BiformKeys(m, d - 3).biform(p), effinfer::DataError);
    }
}

TEST_CASE("batch evaluation equals per-factor evaluation") {
  effinfer::Rng rng(3);
  const int m = 3, d = 4, F = 50;
  const auto t = mrf::monomials_up_to(m, d);
  mrf::RowMatrixXd C(F, t.rows()), U(F, m);
  for (int f = 0; f < F; ++f) {
    for (int r = 0; r < t.rows(); ++r) C(f, r) = rng.normal();
    U.row(f) = random_point(m, rng).transpose();
  }
  mrf::BatchEvaluator be(t);
  Eigen::VectorXd v(F);
  mrf::RowMatrixXd G;
  be.evaluate(C, U, v, &G);
  for (int f = 0; f < F; ++f) {
    mrf::Polynomial p(t, C.row(f).transpose());
    const Eigen::VectorXd u = U.row(f).transpose();
    CHECK(v[f] == doctest::Approx(mrf::evaluate(p, u)).epsilon(1e-13));
    const auto g = mrf::gradient(p, u);
    for (int i = 0; i < m; ++i) CHECK(G(f, i) == doctest::Approx(g[i]).epsilon(1e-12));
  }
  // shared coefficient row
  be.evaluate(C.topRows(1), U, v, nullptr);
  mrf::Polynomial p0(t, C.row(0).transpose());
  CHECK(v[F - 1] == doctest::Approx(mrf::evaluate(p0, U.row(F - 1).transpose())).epsilon(1e-13));
  CHECK_THROWS_AS(be.evaluate(C.leftCols(3), U, v, nullptr), effinfer::DataError);
}
