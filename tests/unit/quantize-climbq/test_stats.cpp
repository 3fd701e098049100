// Normal and F distribution functions of quantize-climbq (spec 2.4.4, check 4). Literals from
// Debian's /usr/bin/python3 with scipy 1.10.1 (scipy.stats.norm.ppf, scipy.special.betainc,
// scipy.stats.f.ppf / f.pdf), as recorded beside each table.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "stats.hpp"
#include "test_support.hpp"

namespace cq = effinfer::climbq;

namespace {
double rel(double a, double b) { return std::fabs(a - b) / std::max(std::fabs(b), 1e-300); }
}  // namespace

TEST_CASE("climbq normal pdf and cdf") {
  CHECK(cq::normal_pdf(0) == doctest::Approx(0.3989422804014327).epsilon(1e-15));
  CHECK(cq::normal_cdf(0) == 0.5);
  // scipy.stats.norm.cdf(1.959963984540054) = 0.975; norm.cdf(-10) = 7.619853024160527e-24.
  CHECK(rel(cq::normal_cdf(1.959963984540054), 0.975) < 1e-15);
  CHECK(rel(cq::normal_cdf(-10), 7.619853024160527e-24) < 1e-13);
  // phi = dPhi/dz (central differences).
  for (double z : {-3.0, -0.7, 0.0, 0.4, 2.5}) {
    const double h = 1e-5;
    const double fd = (cq::normal_cdf(z + h) - cq::normal_cdf(z - h)) / (2 * h);
    CHECK(std::fabs(fd - cq::normal_pdf(z)) < 1e-10);
  }
}

TEST_CASE("climbq normal quantile (Wichura AS241)") {
  // python3 -c "from scipy.stats import norm; print(repr(norm.ppf(p)))" for each p.
  const struct {
    double p, z;
  } kCases[] = {
      {1e-300, -37.0470962993612},   {1e-20, -9.262340089798409},    {1e-10, -6.361340902404056},
      {0.001, -3.090232306167813},   {0.02425, -1.972961051311885},  {0.1, -1.2815515655446004},
      {0.3, -0.5244005127080409},    {0.7, 0.5244005127080407},      {0.975, 1.959963984540054},
      {0.999999, 4.753424308817087}, {1 - 1e-12, 7.0344869100478356}};
  for (const auto& c : kCases) {
    INFO("p = " << c.p);
    CHECK(rel(cq::normal_quantile(c.p), c.z) < 1e-13);
  }
  CHECK(cq::normal_quantile(0.5) == 0.0);
  CHECK(cq::normal_quantile(0) == -std::numeric_limits<double>::infinity());
  CHECK(cq::normal_quantile(1) == std::numeric_limits<double>::infinity());
  CHECK_THROWS_AS(cq::normal_quantile(1.5), effinfer::InternalError);
  CHECK_THROWS_AS(cq::normal_quantile(std::nan("")), effinfer::InternalError);
  // Round trips Phi(Phi^-1(p)) = p over all three branches of AS241 (relative to the tail).
  for (double p = 1e-12; p < 1; p = p < 0.01 ? p * 3 : p + 0.0137) {
    const double z = cq::normal_quantile(p);
    const double tail = std::min(p, 1 - p);
    const double back = p <= 0.5 ? cq::normal_cdf(z) : cq::normal_cdf(-z);  // 1 - p is exact
    INFO("p = " << p);
    CHECK(std::fabs(back - tail) <= 1e-13 * tail);
  }
  // Symmetry.
  for (double p : {1e-8, 0.01, 0.2, 0.45}) {
    CHECK(rel(cq::normal_quantile(1 - p), -cq::normal_quantile(p)) < 1e-9);
  }
}

TEST_CASE("climbq regularized incomplete beta") {
  // python3 -c "from scipy.special import betainc; print(repr(betainc(a, b, x)))".
  const struct {
    double a, b, x, v;
  } kCases[] = {{0.5, 0.5, 0.3, 0.3690101195655454},      {2, 3, 0.4, 0.5247999999999999},
                {4.5, 10207.5, 8e-4, 0.9399132232485318}, {49.5, 9096.5, 0.0054, 0.512408110343269},
                {1, 3.5, 0.9, 0.9996837722339832},        {200, 300, 0.41, 0.6776281647721865}};
  for (const auto& c : kCases) {
    INFO("a = " << c.a << " b = " << c.b << " x = " << c.x);
    CHECK(rel(cq::incomplete_beta(c.a, c.b, c.x), c.v) < 1e-10);
  }
  // Analytic: I_x(1, b) = 1 - (1-x)^b; I_x(a, 1) = x^a.
  CHECK(rel(cq::incomplete_beta(1, 4, 0.3), 1 - std::pow(0.7, 4)) < 1e-14);
  CHECK(rel(cq::incomplete_beta(3, 1, 0.6), std::pow(0.6, 3)) < 1e-14);
  CHECK(cq::incomplete_beta(2, 3, 0) == 0);
  CHECK(cq::incomplete_beta(2, 3, 1) == 1);
  CHECK_THROWS_AS(cq::incomplete_beta(-1, 3, 0.5), effinfer::InternalError);
  CHECK_THROWS_AS(cq::incomplete_beta(1, 3, 1.5), effinfer::InternalError);
}

TEST_CASE("climbq F quantile (check 4)") {
  // Spec check 4 (= scipy.stats.f.ppf(0.95, d1, d2)); full digits from scipy 1.10.1.
  const struct {
    double d1, d2, q, pdf_at_2;
  } kCases[] = {{9, 20415, 1.8803431281162686, 0.10449643268972598},
                {9, 13979, 1.8805534346836688, 0.10453347539653772},
                {2, 9, 4.25649472909375, 0.13232605470707853},
                {9, 90, 1.985594963730501, 0.12072262178378584},
                {99, 18193, 1.2455956221409192, 4.0424678854829473e-07},
                {2, 7, 4.73741412777588, 0.1308199855581676}};
  for (const auto& c : kCases) {
    INFO("d1 = " << c.d1 << " d2 = " << c.d2);
    const double q = cq::f_quantile(0.95, c.d1, c.d2);
    CHECK(std::fabs(q - c.q) < 1e-8);
    CHECK(rel(q, c.q) < 1e-11);
    CHECK(std::fabs(cq::f_cdf(q, c.d1, c.d2) - 0.95) < 1e-13);
    CHECK(rel(cq::f_pdf(2.0, c.d1, c.d2), c.pdf_at_2) < 1e-9);
  }
  // Analytic: F(2, d2) has CDF 1 - (1 + 2x/d2)^(-d2/2), so F^-1(p) = d2/2 ((1-p)^(-2/d2) - 1).
  for (double p : {0.01, 0.5, 0.95, 0.999}) {
    const double exact = 2.5 * (std::pow(1 - p, -2.0 / 5) - 1);
    CHECK(rel(cq::f_quantile(p, 2, 5), exact) < 1e-11);
  }
  CHECK_THROWS_AS(cq::f_quantile(1.0, 2, 5), effinfer::InternalError);
  CHECK_THROWS_AS(cq::f_quantile(0.5, 0, 5), effinfer::InternalError);
}

TEST_CASE("climbq stats: vectorisable float exp and phi against std::exp") {
  // Relative error of exp_nonpositive over [-87, 0] on a fine grid, against double std::exp.
  double worst = 0;
  for (int i = 0; i <= 870000; ++i) {
    const float x = static_cast<float>(-87.0 * i / 870000.0);
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(cq::exp_nonpositive(x) - want) / want);
  }
  MESSAGE("exp_nonpositive: worst relative error " << worst);
  CHECK(worst < 1e-6);
  CHECK(cq::exp_nonpositive(0.0f) == 1.0f);
  CHECK(cq::exp_nonpositive(-1000.0f) < 1e-37f);
  for (double z : {0.0, 0.5, 1.0, 2.0, 3.5, 6.0})
    CHECK(cq::normal_pdf_fast(static_cast<float>(z)) ==
          doctest::Approx(cq::normal_pdf(z)).epsilon(1e-6));
}
