// scipy 1.10.1 minimize(method='BFGS', jac=None) re-implementation (spec 2.6) against Debian's
// scipy as the oracle. Every literal below was printed by this script with /usr/bin/python3
// (Python 3.11, numpy 1.24.2, scipy 1.10.1):
//
//   import numpy as np; from scipy.optimize import minimize
//   def rosen(x):
//       s = 0.0
//       for i in range(len(x) - 1):
//           a = x[i+1] - x[i]*x[i]; b = 1 - x[i]; s = s + (100*(a*a) + b*b)
//       return s
//   def quad(x):
//       a = x[0] - 1; b = x[1] + 2; c = x[2] - 0.5
//       return a*a + 2*(b*b) + 0.5*(c*c) + 0.3*x[0]*x[1] + 0.1*x[1]*x[2]
//   def big(x):   # |g0| > 1e100: wolfe1 rejects the first step (< amin 1e-100), wolfe2 runs
//       a = x[0] - 1; b = x[1] + 0.5; return 1e101*(a*a + 3*(b*b) + x[0]*x[1])
//   def kink(x):  # 2nd line search: dcsrch and wolfe2 both fail -> status 2, last iterate kept
//       return abs(x[0] - 0.3) + 0.01*(x[1]*x[1])
//   import math   # noisy: a smooth quadratic plus deterministic rounding-level "noise", the
//   # regime of psytrack's surrogate, where dcsrch fails after dozens of steps and wolfe2 runs
//   def noisy1(x):
//       a = x[0] - 1; return 1000*(a*a) + 1e-9*math.fmod(x[0]*1e7, 1.0)
//   def noisy2(x):
//       a = x[0] - 1; b = x[1] + 2; s = 1000 * (a*a + 2*(b*b) + 0.3*x[0]*x[1])
//       return s + 1e-7*math.fmod(x[0]*1e7, 1.0) + 1e-7*math.fmod(x[1]*1.3e7, 1.0)
//   def noisy3(x):
//       a = x[0] - 1; b = x[1] + 2; c = x[2] - 0.5
//       s = 1000 * (a*a + 2*(b*b) + 0.5*(c*c) + 0.3*x[0]*x[1])
//       return (s + 1e-9*math.fmod(x[0]*1e7, 1.0) + 1e-9*math.fmod(x[1]*1.3e7, 1.0)
//               + 1e-9*math.fmod(x[2]*0.7e7, 1.0))
//   r = minimize(f, x0, method='BFGS', options=opts); print(r.x, r.fun, r.nit, r.nfev, r.status)
//
// scipy_bfgs.cpp sums its short dot products in the order of the OpenBLAS kernel numpy calls
// here (Prescott core), so for n <= 4 the path is bit-identical to scipy's even where noise
// decides it (noisy1: 62 dcsrch steps, then wolfe2; noisy2: three dcsrch failures, two wolfe2
// rescues, one final failure; noisy3: 56 dcsrch steps, then wolfe2 fails). Smooth cases are
// checked to 1e-8 relative in x (bit-identical in fact), so they stay valid on other BLAS cores.
//
// The C++ objectives below evaluate the same floating-point operations in the same order.
#include <doctest/doctest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "scipy_bfgs.hpp"
#include "test_support.hpp"

// Bit-for-bit agreement with scipy needs every a*b + c rounded twice, as numpy evaluates it: no
// FMA contraction, even in -march=native builds.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace {

using effinfer::psytrack::BfgsOptions;
using effinfer::psytrack::BfgsResult;
using effinfer::psytrack::minimize_bfgs;
using Eigen::VectorXd;

double rosen(const VectorXd& x) {
  double s = 0.0;
  for (Eigen::Index i = 0; i + 1 < x.size(); ++i) {
    const double a = x[i + 1] - x[i] * x[i];
    const double b = 1 - x[i];
    s = s + (100 * (a * a) + b * b);
  }
  return s;
}

double quad(const VectorXd& x) {
  const double a = x[0] - 1, b = x[1] + 2, c = x[2] - 0.5;
  return a * a + 2 * (b * b) + 0.5 * (c * c) + 0.3 * x[0] * x[1] + 0.1 * x[1] * x[2];
}

double big(const VectorXd& x) {
  const double a = x[0] - 1, b = x[1] + 0.5;
  return 1e101 * (a * a + 3 * (b * b) + x[0] * x[1]);
}

double kink(const VectorXd& x) { return std::abs(x[0] - 0.3) + 0.01 * (x[1] * x[1]); }

double noisy1(const VectorXd& x) {
  const double a = x[0] - 1;
  return 1000 * (a * a) + 1e-9 * std::fmod(x[0] * 1e7, 1.0);
}

double noisy3(const VectorXd& x) {
  const double a = x[0] - 1, b = x[1] + 2, c = x[2] - 0.5;
  const double s = 1000 * (a * a + 2 * (b * b) + 0.5 * (c * c) + 0.3 * x[0] * x[1]);
  return s + 1e-9 * std::fmod(x[0] * 1e7, 1.0) + 1e-9 * std::fmod(x[1] * 1.3e7, 1.0) +
         1e-9 * std::fmod(x[2] * 0.7e7, 1.0);
}

double noisy2(const VectorXd& x) {
  const double a = x[0] - 1, b = x[1] + 2;
  const double s = 1000 * (a * a + 2 * (b * b) + 0.3 * x[0] * x[1]);
  return s + 1e-7 * std::fmod(x[0] * 1e7, 1.0) + 1e-7 * std::fmod(x[1] * 1.3e7, 1.0);
}

VectorXd vec(std::initializer_list<double> v) {
  VectorXd out(static_cast<Eigen::Index>(v.size()));
  Eigen::Index i = 0;
  for (double d : v) out[i++] = d;
  return out;
}

void check_against_scipy(const BfgsResult& r, const VectorXd& x_ref, double f_ref, int nit,
                         int nfev, int status, double rel_tol = 1e-8) {
  REQUIRE(r.x.size() == x_ref.size());
  for (Eigen::Index i = 0; i < x_ref.size(); ++i)
    CHECK(std::abs(r.x[i] - x_ref[i]) <= rel_tol * std::max(1.0, std::abs(x_ref[i])));
  CHECK(std::abs(r.f - f_ref) <= 1e-6 * std::abs(f_ref) + 1e-14);
  CHECK(r.iterations == nit);
  CHECK(r.n_fev == nfev);
  CHECK(r.status == status);
}

}  // namespace

TEST_CASE("scipy BFGS: Rosenbrock 2-D, default options (default maxiter 200*n)") {
  BfgsOptions o;
  o.max_iter = 400;
  const BfgsResult r = minimize_bfgs(rosen, vec({-1.2, 1.0}), o);
  check_against_scipy(r, vec({0.9999955113252924, 0.999991015464337}), 2.015339384496071e-11, 32,
                      117, 0);
  CHECK(r.gradient.cwiseAbs().maxCoeff() <= 1e-5);
}

TEST_CASE("scipy BFGS: Rosenbrock 4-D") {
  BfgsOptions o;
  o.max_iter = 800;
  const BfgsResult r = minimize_bfgs(rosen, vec({-1.2, 1.0, -1.2, 1.0}), o);
  check_against_scipy(
      r, vec({0.9999984170472755, 0.9999968483266465, 0.9999937261086461, 0.9999874516620164}),
      5.190748373338839e-11, 38, 235, 0);
}

TEST_CASE("scipy BFGS: maxiter ends with status 1") {
  BfgsOptions o;
  o.max_iter = 10;
  const BfgsResult r = minimize_bfgs(rosen, vec({-1.2, 1.0}), o);
  check_against_scipy(r, vec({0.02108991131573411, -0.025567820831212708}), 1.025930524607615, 10,
                      45, 1);
}

TEST_CASE("scipy BFGS: quadratic, maxiter 15 (psytrack's setting)") {
  BfgsOptions o;
  o.max_iter = 15;
  const BfgsResult r = minimize_bfgs(quad, vec({0.0, 0.0, 0.0}), o);
  check_against_scipy(r, vec({1.3174909132977408, -2.1166028371333705, 0.7116600900650917}),
                      -0.8368187579207489, 7, 32, 0);
}

TEST_CASE("scipy BFGS: first line search fails in dcsrch, wolfe2 takes over") {
  BfgsOptions o;
  o.max_iter = 400;
  const BfgsResult r = minimize_bfgs(big, vec({1.0, 1.0}), o);
  check_against_scipy(r, vec({1.4008713490738027, -0.3606420867800283}), -2.8625344420100356e+100,
                      5, 69, 2);
}

TEST_CASE("scipy BFGS: both line searches fail -> precision loss, last iterate kept") {
  BfgsOptions o;
  o.max_iter = 400;
  const BfgsResult r = minimize_bfgs(kink, vec({1.0, 1.0}), o);
  check_against_scipy(r, vec({0.2999999969232314, 0.9860000028590923}), 0.009721963133149863, 1,
                      213, 2);
  CHECK(r.f == kink(r.x));
}

TEST_CASE("scipy BFGS: noisy objectives, line-search failure paths match scipy exactly") {
  BfgsOptions o;
  o.max_iter = 15;
  const BfgsResult r1 = minimize_bfgs(noisy1, vec({0.0}), o);
  CHECK(r1.x[0] == 0.9999996175481801);
  CHECK(r1.f == 3.217511963823225e-10);
  CHECK(r1.iterations == 5);
  CHECK(r1.n_fev == 136);
  CHECK(r1.status == 2);
  const BfgsResult r2 = minimize_bfgs(noisy2, vec({0.0, 0.0}), o);
  CHECK(r2.x[0] == 1.3143351002994577);
  CHECK(r2.x[1] == -2.0989001300428867);
  CHECK(r2.f == -709.228407225025);
  CHECK(r2.iterations == 7);
  CHECK(r2.n_fev == 265);
  CHECK(r2.status == 2);
  const BfgsResult r3 = minimize_bfgs(noisy3, vec({0.0, 0.0, 0.0}), o);
  CHECK(r3.x[0] == 1.3147868319648406);
  CHECK(r3.x[1] == -2.0986122688544113);
  CHECK(r3.x[2] == 0.49999998074641955);
  CHECK(r3.f == -709.2288242305111);
  CHECK(r3.iterations == 11);
  CHECK(r3.n_fev == 274);
  CHECK(r3.status == 2);
}

TEST_CASE("scipy BFGS: the FD gradient is bit-identical for any thread count") {
  // A 6-D objective slow enough that the FD calls really overlap on several threads.
  auto f = [](const VectorXd& x) {
    double s = 0.0;
    for (int rep = 0; rep < 200; ++rep)
      for (Eigen::Index i = 0; i < x.size(); ++i) s += std::cosh(0.3 * x[i] + 1e-3 * rep) * 1e-3;
    return s + rosen(x);
  };
  const VectorXd x0 = vec({-1.2, 1.0, -0.5, 0.7, 0.2, -0.9});
  BfgsOptions o1;
  o1.max_iter = 15;
  BfgsOptions o3 = o1;
  o3.threads = 3;
  const BfgsResult r1 = minimize_bfgs(f, x0, o1);
  const BfgsResult r3 = minimize_bfgs(f, x0, o3);
  CHECK(r1.iterations == r3.iterations);
  CHECK(r1.n_fev == r3.n_fev);
  CHECK(r1.f == r3.f);
  for (Eigen::Index i = 0; i < x0.size(); ++i) {
    CHECK(r1.x[i] == r3.x[i]);
    CHECK(r1.gradient[i] == r3.gradient[i]);
  }
  CHECK(r1.f < f(x0));
}

TEST_CASE("scipy BFGS: an exception thrown by f inside the parallel FD reaches the caller") {
  BfgsOptions o;
  o.threads = 2;
  auto f = [](const VectorXd& x) {
    if (x[1] != 1.0) throw std::runtime_error("boom");
    return x.squaredNorm();
  };
  CHECK_THROWS_AS(minimize_bfgs(f, vec({0.5, 1.0}), o), std::runtime_error);
}
