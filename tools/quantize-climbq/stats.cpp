#include "stats.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>
#include <string>

#include "core/error.hpp"

namespace effinfer::climbq {
namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// Horner evaluation of c[0] + c[1] r + ... + c[7] r^7.
double poly7(const double (&c)[8], double r) {
  double s = c[7];
  for (int i = 6; i >= 0; --i) s = s * r + c[i];
  return s;
}

// AS241 PPND16 coefficients (Wichura 1988): rational approximations of degree 7 in
// r = 0.180625 - q^2 for |p - 1/2| <= 0.425, and in r = sqrt(-log(min(p, 1-p))) - 1.6 (r <= 5)
// or - 5 (r > 5) in the tails. Denominators have a leading 1.
constexpr double kA[8] = {3.3871328727963666080e0,  1.3314166789178437745e+2,
                          1.9715909503065514427e+3, 1.3731693765509461125e+4,
                          4.5921953931549871457e+4, 6.7265770927008700853e+4,
                          3.3430575583588128105e+4, 2.5090809287301226727e+3};
constexpr double kB[8] = {1.0,
                          4.2313330701600911252e+1,
                          6.8718700749205790830e+2,
                          5.3941960214247511077e+3,
                          2.1213794301586595867e+4,
                          3.9307895800092710610e+4,
                          2.8729085735721942674e+4,
                          5.2264952788528545610e+3};
constexpr double kC[8] = {1.42343711074968357734e0,  4.63033784615654529590e0,
                          5.76949722146069140550e0,  3.64784832476320460504e0,
                          1.27045825245236838258e0,  2.41780725177450611770e-1,
                          2.27238449892691845833e-2, 7.74545014278341407640e-4};
constexpr double kD[8] = {1.0,
                          2.05319162663775882187e0,
                          1.67638483018380384940e0,
                          6.89767334985100004550e-1,
                          1.48103976427480074590e-1,
                          1.51986665636164571966e-2,
                          5.47593808499534494600e-4,
                          1.05075007164441684324e-9};
constexpr double kE[8] = {6.65790464350110377720e0,  5.46378491116411436990e0,
                          1.78482653991729133580e0,  2.96560571828504891230e-1,
                          2.65321895265761230930e-2, 1.24266094738807843860e-3,
                          2.71155556874348757815e-5, 2.01033439929228813265e-7};
constexpr double kF[8] = {1.0,
                          5.99832206555887937690e-1,
                          1.36929880922735805310e-1,
                          1.48753612908506148525e-2,
                          7.86869131145613259100e-4,
                          1.84631831751005468180e-5,
                          1.42151175831644588870e-7,
                          2.04426310338993978564e-15};

// log B(a, b).
double log_beta(double a, double b) { return std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b); }

// Continued fraction of I_x(a, b) (Abramowitz & Stegun 26.5.8):
//   I_x(a,b) = x^a (1-x)^b / (a B(a,b)) / (1 + d_1/(1 + d_2/(1 + ...))),
//   d_{2m+1} = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1)),  d_{2m} = m(b-m) x / ((a+2m-1)(a+2m)),
// evaluated by the modified Lentz method; converges fast for x < (a+1)/(a+b+2).
double beta_continued_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEps = 1e-16;
  constexpr int kMaxTerms = 100000;
  double f = 1, c = 1, d = 0;
  for (int j = 1; j <= kMaxTerms; ++j) {
    const int m = j / 2;
    double dj;
    if (j % 2 == 1) {
      dj = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
    } else {
      dj = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
    }
    d = 1 + dj * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    d = 1 / d;
    c = 1 + dj / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    const double delta = c * d;
    f *= delta;
    if (std::fabs(delta - 1) < kEps) return f;
  }
  throw InternalError("incomplete_beta: continued fraction did not converge for a = " + num(a) +
                      ", b = " + num(b) + ", x = " + num(x));
}

void check_dof(double d1, double d2, const char* what) {
  if (!(d1 > 0) || !(d2 > 0) || !std::isfinite(d1) || !std::isfinite(d2)) {
    throw InternalError(std::string(what) + ": degrees of freedom must be positive, found (" +
                        num(d1) + ", " + num(d2) + ")");
  }
}

}  // namespace

double normal_pdf(double z) { return std::exp(-0.5 * z * z) / std::sqrt(2 * std::numbers::pi); }

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::numbers::sqrt2); }

double normal_quantile(double p) {
  if (!(p >= 0 && p <= 1))
    throw InternalError("normal_quantile: p = " + num(p) + " outside [0, 1]");
  if (p == 0) return -std::numeric_limits<double>::infinity();
  if (p == 1) return std::numeric_limits<double>::infinity();
  const double q = p - 0.5;
  if (std::fabs(q) <= 0.425) {
    const double r = 0.180625 - q * q;
    return q * poly7(kA, r) / poly7(kB, r);
  }
  double r = std::sqrt(-std::log(q < 0 ? p : 1 - p));
  double v;
  if (r <= 5) {
    r -= 1.6;
    v = poly7(kC, r) / poly7(kD, r);
  } else {
    r -= 5;
    v = poly7(kE, r) / poly7(kF, r);
  }
  return q < 0 ? -v : v;
}

double incomplete_beta(double a, double b, double x) {
  if (!(a > 0) || !(b > 0) || !(x >= 0 && x <= 1) || !std::isfinite(a) || !std::isfinite(b)) {
    throw InternalError("incomplete_beta: invalid arguments a = " + num(a) + ", b = " + num(b) +
                        ", x = " + num(x) + " (need a, b > 0, x in [0, 1])");
  }
  if (x == 0) return 0;
  if (x == 1) return 1;
  // x^a (1-x)^b / B(a, b), in logs (log1p keeps (1-x)^b accurate for small x and large b).
  const double front = std::exp(a * std::log(x) + b * std::log1p(-x) - log_beta(a, b));
  if (x < (a + 1) / (a + b + 2)) return front / (a * beta_continued_fraction(a, b, x));
  // Symmetry I_x(a, b) = 1 - I_{1-x}(b, a): the continued fraction converges in the other tail.
  return 1 - front / (b * beta_continued_fraction(b, a, 1 - x));
}

double f_cdf(double x, double d1, double d2) {
  check_dof(d1, d2, "f_cdf");
  if (!(x > 0)) return 0;
  if (std::isinf(x)) return 1;
  return incomplete_beta(0.5 * d1, 0.5 * d2, d1 * x / (d1 * x + d2));
}

double f_pdf(double x, double d1, double d2) {
  check_dof(d1, d2, "f_pdf");
  if (!(x > 0) || std::isinf(x)) return 0;
  // f(x) = u^{d1/2} (1-u)^{d2/2} / (x B(d1/2, d2/2)), u = d1 x/(d1 x + d2).
  const double s = d1 * x + d2;
  const double log_f = 0.5 * d1 * std::log(d1 * x / s) + 0.5 * d2 * std::log(d2 / s) - std::log(x) -
                       log_beta(0.5 * d1, 0.5 * d2);
  return std::exp(log_f);
}

double f_quantile(double p, double d1, double d2) {
  check_dof(d1, d2, "f_quantile");
  if (!(p > 0 && p < 1)) throw InternalError("f_quantile: p = " + num(p) + " outside (0, 1)");
  // Bracket [lo, hi] with F(lo) < p <= F(hi).
  double lo = 0, hi = 1;
  while (f_cdf(hi, d1, d2) < p) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) throw InternalError("f_quantile: cannot bracket p = " + num(p));
  }
  // Newton steps from the midpoint, falling back to bisection whenever a step leaves the bracket;
  // stop when the step (or the bracket) is below 1e-12 relative.
  constexpr double kRel = 1e-12;
  double x = 0.5 * (lo + hi);
  for (int it = 0; it < 500; ++it) {
    const double r = f_cdf(x, d1, d2) - p;
    if (r == 0) return x;
    if (r < 0) {
      lo = x;
    } else {
      hi = x;
    }
    const double pdf = f_pdf(x, d1, d2);
    double next = pdf > 0 ? x - r / pdf : lo - 1;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    const double step = std::fabs(next - x);
    x = next;
    if (step <= kRel * x || hi - lo <= kRel * x) return x;
  }
  throw InternalError("f_quantile: no convergence for p = " + num(p) + ", d1 = " + num(d1) +
                      ", d2 = " + num(d2));
}

}  // namespace effinfer::climbq
