// Normal and F distribution functions of quantize-climbq (spec 2.2-2.4, 2.8.3, 3.2): phi, Phi,
// Phi^-1 (Wichura's AS241), the regularized incomplete beta and the F quantile used for the
// Levene critical value of the HomoVar loss. All in double; to move to lib/ when a second tool
// needs them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace effinfer::climbq {

// Standard normal density phi(z) = exp(-z^2/2)/sqrt(2 pi).
double normal_pdf(double z);

// exp(x) for x <= 0 in float, written so that loops over it vectorise (the straight-through
// gradients of the ClimbQ quantizers evaluate phi for every weight and activation of every step):
// x = n ln2 + r with n = round(x log2 e) (the 1.5 2^23 rounding trick; Cody-Waite split of ln2),
// exp(r) by its degree-6 Taylor polynomial on |r| <= ln2/2 (truncation < 2e-8), times 2^n through
// the exponent bits. Relative error a few float ulps; 0 below -87 (where expf underflows anyway).
inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;        // a select (vectorises where trapping math is off)
  const float shifter = 12582912.0f;  // 1.5 2^23: adding it rounds to an integer
  const float n = (x * 1.44269504f + shifter) - shifter;
  const float r = (x - n * 0.693145752f) - n * 1.42860677e-06f;
  const float p =
      1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 +
                                          r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720))))));
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}
// phi(z) in float through exp_nonpositive.
inline float normal_pdf_fast(float z) { return 0.398942280f * exp_nonpositive(-0.5f * z * z); }

// Standard normal CDF Phi(z) = erfc(-z/sqrt 2)/2 (accurate in both tails).
double normal_cdf(double z);

// Phi^-1(p) by Wichura, "Algorithm AS 241: The percentage points of the normal distribution",
// Applied Statistics 37 (1988) 477-484 (PPND16, about 1e-16 relative). p = 0 -> -inf,
// p = 1 -> +inf; InternalError for p outside [0, 1] or NaN.
double normal_quantile(double p);

// Regularized incomplete beta I_x(a, b), a, b > 0, x in [0, 1]: continued fraction (modified
// Lentz) for x < (a+1)/(a+b+2), else 1 - I_{1-x}(b, a); the prefactor via std::lgamma.
// InternalError on invalid arguments or no convergence.
double incomplete_beta(double a, double b, double x);

// F distribution with (d1, d2) degrees of freedom: CDF I_{d1 x/(d1 x + d2)}(d1/2, d2/2), density,
// and the quantile F^-1(p; d1, d2) for p in (0, 1) by bisection + Newton to 1e-12 relative (spec
// 2.4.4). InternalError on d1, d2 <= 0 or p outside (0, 1).
double f_cdf(double x, double d1, double d2);
double f_pdf(double x, double d1, double d2);
double f_quantile(double p, double d1, double d2);

}  // namespace effinfer::climbq
