// scipy 1.10.1 minimize(method='BFGS') with jac=None, re-implemented step for step so that
// psytrack's hyperparameter search (hyperOpt.py) takes the same path (spec 2.6). Sources of the
// algorithm: scipy/optimize/_optimize.py `_minimize_bfgs`, `_line_search_wolfe12`;
// _linesearch.py `scalar_search_wolfe1` (MINPACK-2 dcsrch, More & Thuente, ACM TOMS 20(3) 1994),
// `scalar_search_wolfe2` / `_zoom` (Nocedal & Wright, Numerical Optimization, Alg. 3.5 / 3.6);
// _differentiable_functions.py `ScalarFunction` (one-point memoisation); _numdiff.py (2-point
// forward differences with an absolute step).
#include "scipy_bfgs.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <optional>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

// Bit-for-bit agreement with scipy needs every a*b + c rounded twice, as numpy evaluates it: no
// FMA contraction, even in -march=native builds.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace effinfer::psytrack {

namespace {

using Vec = Eigen::VectorXd;

// Dot product in the summation order of the BLAS numpy calls for np.dot on short vectors
// (Debian's OpenBLAS 0.3.21, whose x86-64 kernel on this project's Xeon VMs is "Prescott", the
// one psytrack's reference fits ran on): up to n = 4, even and odd terms are summed in two lanes
// that are added at the end; beyond, sequentially (the kernels' longer orders are not mirrored).
// With n <= 2 every order agrees; for n = 3, 4 this makes the path bit-identical to scipy's.
double dot_terms(const double* p, Eigen::Index n) {
  if (n <= 4) {
    double even = 0.0, odd = 0.0;
    for (Eigen::Index i = 0; i < n; i += 2) even += p[i];
    for (Eigen::Index i = 1; i < n; i += 2) odd += p[i];
    return even + odd;
  }
  double s = 0.0;
  for (Eigen::Index i = 0; i < n; ++i) s += p[i];
  return s;
}

double dot(const Vec& a, const Vec& b) {
  double p[64];
  const Eigen::Index n = a.size();
  if (n > 64) {
    double s = 0.0;
    for (Eigen::Index i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
  }
  for (Eigen::Index i = 0; i < n; ++i) p[i] = a[i] * b[i];
  return dot_terms(p, n);
}

double norm2(const Vec& a) { return std::sqrt(dot(a, a)); }

double norm_inf(const Vec& a) {
  double m = 0.0;
  for (Eigen::Index i = 0; i < a.size(); ++i) {
    const double v = std::abs(a[i]);
    if (std::isnan(v)) return v;  // np.amax propagates NaN
    m = std::max(m, v);
  }
  return m;
}

// x + s * p, element by element, exactly as numpy evaluates `xk + s*pk`.
Vec axpy(const Vec& x, double s, const Vec& p) {
  Vec out(x.size());
  for (Eigen::Index i = 0; i < x.size(); ++i) out[i] = x[i] + s * p[i];
  return out;
}

bool same_point(const Vec& a, const Vec& b) {
  if (a.size() != b.size()) return false;
  for (Eigen::Index i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i])) return false;  // np.array_equal: NaN never equal
  return true;
}

// scipy's ScalarFunction for jac=None: remembers f and the FD gradient at ONE point (the last
// one asked for); a new point invalidates both. nfev counts every objective call.
class ScalarFunction {
 public:
  ScalarFunction(const std::function<double(const Vec&)>& f, const Vec& x0,
                 const BfgsOptions& options)
      : f_(f), options_(options), x_(x0) {
    fun(x0);
    grad(x0);
  }

  double fun(const Vec& x) {
    update_x(x);
    if (!f_valid_) {
      fx_ = call(x_);
      f_valid_ = true;
    }
    return fx_;
  }

  const Vec& grad(const Vec& x) {
    update_x(x);
    if (!g_valid_) {
      fun(x_);
      fd_gradient();
      g_valid_ = true;
    }
    return gx_;
  }

  int nfev() const { return nfev_; }

 private:
  void update_x(const Vec& x) {
    if (!same_point(x, x_)) {
      x_ = x;
      f_valid_ = false;
      g_valid_ = false;
    }
  }

  double call(const Vec& x) {
    ++nfev_;
    return f_(x);
  }

  // _numdiff.approx_derivative(method='2-point', abs_step=eps): h = eps unless (x+h)-x == 0,
  // then the relative step sqrt(machine eps)*sign(x)*max(1,|x|); the difference is divided by
  // the step actually taken, x[i] - x0[i]. The n calls are independent: run them concurrently,
  // each one sequential, so the result does not depend on the thread count.
  void fd_gradient() {
    const Eigen::Index n = x_.size();
    const double rstep = std::sqrt(std::numeric_limits<double>::epsilon());
    std::vector<Vec> points(static_cast<size_t>(n));
    Vec dx(n);
    for (Eigen::Index i = 0; i < n; ++i) {
      double h = options_.fd_step;
      if ((x_[i] + h) - x_[i] == 0.0) {
        const double sign = x_[i] >= 0 ? 1.0 : -1.0;
        h = rstep * sign * std::max(1.0, std::abs(x_[i]));
      }
      Vec x = x_;
      for (Eigen::Index j = 0; j < n; ++j) x[j] = x_[j] + (j == i ? h : 0.0);
      dx[i] = x[i] - x_[i];
      points[static_cast<size_t>(i)] = std::move(x);
    }
    std::vector<double> values(static_cast<size_t>(n));
    std::exception_ptr error;
    const int threads = std::max(1, std::min<int>(options_.threads, static_cast<int>(n)));
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
    for (Eigen::Index i = 0; i < n; ++i) {
      try {
        values[static_cast<size_t>(i)] = f_(points[static_cast<size_t>(i)]);
      } catch (...) {
#pragma omp critical(effinfer_psytrack_bfgs_error)
        if (!error) error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
    nfev_ += static_cast<int>(n);
    gx_.resize(n);
    for (Eigen::Index i = 0; i < n; ++i) gx_[i] = (values[static_cast<size_t>(i)] - fx_) / dx[i];
  }

  const std::function<double(const Vec&)>& f_;
  const BfgsOptions& options_;
  Vec x_;
  double fx_ = 0.0;
  Vec gx_;
  bool f_valid_ = false, g_valid_ = false;
  int nfev_ = 0;
};

// ---------------------------------------------------------------------------------------------
// MINPACK-2 dcsrch / dcstep (More & Thuente 1994), as a reverse-communication state machine.

enum class Task { kStart, kFg, kConvergence, kWarning, kError };

// Safeguarded step: updates the interval [stx, sty] holding a minimiser and proposes stp.
void dcstep(double& stx, double& fx, double& dx, double& sty, double& fy, double& dy, double& stp,
            double fp, double dp, bool& brackt, double stpmin, double stpmax) {
  const double sgnd = dp * (dx / std::abs(dx));
  double stpf;
  if (fp > fx) {
    // Case 1: higher value, minimum bracketed. Cubic step if closer to stx than the quadratic
    // step, else their average.
    const double theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
    const double s = std::max({std::abs(theta), std::abs(dx), std::abs(dp)});
    const double ts = theta / s;
    double gamma = s * std::sqrt(ts * ts - (dx / s) * (dp / s));
    if (stp < stx) gamma = -gamma;
    const double p = (gamma - dx) + theta;
    const double q = ((gamma - dx) + gamma) + dp;
    const double r = p / q;
    const double stpc = stx + r * (stp - stx);
    const double stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx);
    stpf = std::abs(stpc - stx) < std::abs(stpq - stx) ? stpc : stpc + (stpq - stpc) / 2.0;
    brackt = true;
  } else if (sgnd < 0.0) {
    // Case 2: lower value, derivatives of opposite sign: bracketed. The cubic step if farther
    // from stp than the secant step, else the secant step.
    const double theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
    const double s = std::max({std::abs(theta), std::abs(dx), std::abs(dp)});
    const double ts = theta / s;
    double gamma = s * std::sqrt(ts * ts - (dx / s) * (dp / s));
    if (stp > stx) gamma = -gamma;
    const double p = (gamma - dp) + theta;
    const double q = ((gamma - dp) + gamma) + dx;
    const double r = p / q;
    const double stpc = stp + r * (stx - stp);
    const double stpq = stp + (dp / (dp - dx)) * (stx - stp);
    stpf = std::abs(stpc - stp) > std::abs(stpq - stp) ? stpc : stpq;
    brackt = true;
  } else if (std::abs(dp) < std::abs(dx)) {
    // Case 3: lower value, same sign, |derivative| decreases. The cubic step only when the
    // cubic tends to infinity in the step direction or its minimum lies beyond stp.
    const double theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp;
    const double s = std::max({std::abs(theta), std::abs(dx), std::abs(dp)});
    const double ts = theta / s;
    double gamma = s * std::sqrt(std::max(0.0, ts * ts - (dx / s) * (dp / s)));
    if (stp > stx) gamma = -gamma;
    const double p = (gamma - dp) + theta;
    const double q = (gamma + (dx - dp)) + gamma;
    const double r = p / q;
    double stpc;
    if (r < 0.0 && gamma != 0.0) {
      stpc = stp + r * (stx - stp);
    } else if (stp > stx) {
      stpc = stpmax;
    } else {
      stpc = stpmin;
    }
    const double stpq = stp + (dp / (dp - dx)) * (stx - stp);
    if (brackt) {
      stpf = std::abs(stpc - stp) < std::abs(stpq - stp) ? stpc : stpq;
      const double limit = stp + 0.66 * (sty - stp);
      stpf = stp > stx ? std::min(limit, stpf) : std::max(limit, stpf);
    } else {
      stpf = std::abs(stpc - stp) > std::abs(stpq - stp) ? stpc : stpq;
      stpf = std::min(stpmax, stpf);
      stpf = std::max(stpmin, stpf);
    }
  } else {
    // Case 4: lower value, same sign, |derivative| does not decrease.
    if (brackt) {
      const double theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp;
      const double s = std::max({std::abs(theta), std::abs(dy), std::abs(dp)});
      const double ts = theta / s;
      double gamma = s * std::sqrt(ts * ts - (dy / s) * (dp / s));
      if (stp > sty) gamma = -gamma;
      const double p = (gamma - dp) + theta;
      const double q = ((gamma - dp) + gamma) + dy;
      const double r = p / q;
      stpf = stp + r * (sty - stp);
    } else if (stp > stx) {
      stpf = stpmax;
    } else {
      stpf = stpmin;
    }
  }
  // Update the interval that contains a minimiser.
  if (fp > fx) {
    sty = stp;
    fy = fp;
    dy = dp;
  } else {
    if (sgnd < 0.0) {
      sty = stx;
      fy = fx;
      dy = dx;
    }
    stx = stp;
    fx = fp;
    dx = dp;
  }
  stp = stpf;
}

// Line search for a step satisfying f(stp) <= f(0) + ftol*stp*f'(0) and
// |f'(stp)| <= gtol*|f'(0)|. Call with the step and f, g at 0 first (task kStart), then with
// f, g at each returned step while the task is kFg.
class Dcsrch {
 public:
  Dcsrch(double ftol, double gtol, double xtol, double stpmin, double stpmax)
      : ftol_(ftol), gtol_(gtol), xtol_(xtol), stpmin_(stpmin), stpmax_(stpmax) {}

  Task iterate(double& stp, double f, double g) {
    constexpr double kXtrapl = 1.1, kXtrapu = 4.0, kP5 = 0.5, kP66 = 0.66;
    if (task_ == Task::kStart) {
      if (stp < stpmin_ || stp > stpmax_ || g >= 0.0 || ftol_ < 0.0 || gtol_ < 0.0 || xtol_ < 0.0 ||
          stpmin_ < 0.0 || stpmax_ < stpmin_)
        return task_ = Task::kError;
      brackt_ = false;
      stage_ = 1;
      finit_ = f;
      ginit_ = g;
      gtest_ = ftol_ * ginit_;
      width_ = stpmax_ - stpmin_;
      width1_ = width_ / kP5;
      stx_ = 0.0;
      fx_ = finit_;
      gx_ = ginit_;
      sty_ = 0.0;
      fy_ = finit_;
      gy_ = ginit_;
      stmin_ = 0.0;
      stmax_ = stp + kXtrapu * stp;
      return task_ = Task::kFg;
    }
    // Stage 2 once psi(stp) <= 0 and f'(stp) >= 0 for some step.
    const double ftest = finit_ + stp * gtest_;
    if (stage_ == 1 && f <= ftest && g >= 0.0) stage_ = 2;

    Task task = Task::kFg;
    if (brackt_ && (stp <= stmin_ || stp >= stmax_)) task = Task::kWarning;   // rounding errors
    if (brackt_ && stmax_ - stmin_ <= xtol_ * stmax_) task = Task::kWarning;  // xtol test
    if (stp == stpmax_ && f <= ftest && g <= gtest_) task = Task::kWarning;   // stp = stpmax
    if (stp == stpmin_ && (f > ftest || g >= gtest_)) task = Task::kWarning;  // stp = stpmin
    if (f <= ftest && std::abs(g) <= gtol_ * (-ginit_)) task = Task::kConvergence;
    if (task != Task::kFg) return task_ = task;

    // In stage 1, with a lower value but insufficient decrease, step on the modified
    // function psi(stp) = f(stp) - f(0) - ftol*stp*f'(0).
    if (stage_ == 1 && f <= fx_ && f > ftest) {
      const double fm = f - stp * gtest_;
      double fxm = fx_ - stx_ * gtest_;
      double fym = fy_ - sty_ * gtest_;
      const double gm = g - gtest_;
      double gxm = gx_ - gtest_;
      double gym = gy_ - gtest_;
      dcstep(stx_, fxm, gxm, sty_, fym, gym, stp, fm, gm, brackt_, stmin_, stmax_);
      fx_ = fxm + stx_ * gtest_;
      fy_ = fym + sty_ * gtest_;
      gx_ = gxm + gtest_;
      gy_ = gym + gtest_;
    } else {
      dcstep(stx_, fx_, gx_, sty_, fy_, gy_, stp, f, g, brackt_, stmin_, stmax_);
    }
    // Bisect when the interval does not shrink fast enough.
    if (brackt_) {
      if (std::abs(sty_ - stx_) >= kP66 * width1_) stp = stx_ + kP5 * (sty_ - stx_);
      width1_ = width_;
      width_ = std::abs(sty_ - stx_);
    }
    if (brackt_) {
      stmin_ = std::min(stx_, sty_);
      stmax_ = std::max(stx_, sty_);
    } else {
      stmin_ = stp + kXtrapl * (stp - stx_);
      stmax_ = stp + kXtrapu * (stp - stx_);
    }
    stp = std::max(stp, stpmin_);
    stp = std::min(stp, stpmax_);
    // No further progress possible: fall back to the best step so far.
    if ((brackt_ && (stp <= stmin_ || stp >= stmax_)) ||
        (brackt_ && stmax_ - stmin_ <= xtol_ * stmax_))
      stp = stx_;
    return task_ = Task::kFg;
  }

 private:
  double ftol_, gtol_, xtol_, stpmin_, stpmax_;
  Task task_ = Task::kStart;
  bool brackt_ = false;
  int stage_ = 1;
  double finit_ = 0, ginit_ = 0, gtest_ = 0, width_ = 0, width1_ = 0;
  double stx_ = 0, fx_ = 0, gx_ = 0, sty_ = 0, fy_ = 0, gy_ = 0, stmin_ = 0, stmax_ = 0;
};

// Outcome of one line search along pk from xk.
struct LineSearch {
  std::optional<double> alpha;  // empty: failed
  double f_new = 0.0;           // f at xk + alpha*pk
  double f_old = 0.0;           // f at xk
  std::optional<Vec> g_new;     // gradient at the new point when the search computed it
};

constexpr double kC1 = 1e-4, kC2 = 0.9;

// scipy's initial step: min(1, 1.01*2*(f - f_prev)/(g'p)), 1 if negative.
double initial_step(double phi0, double old_phi0, double derphi0) {
  double alpha1 = 1.0;
  if (derphi0 != 0.0) {
    const double a = 1.01 * 2 * (phi0 - old_phi0) / derphi0;
    alpha1 = a < 1.0 ? a : 1.0;  // Python min(1.0, a): 1.0 unless a < 1 (NaN -> 1.0)
  }
  if (alpha1 < 0.0) alpha1 = 1.0;
  return alpha1;
}

// line_search_wolfe1: dcsrch with c1 1e-4, c2 0.9, xtol 1e-14, steps in [1e-100, 1e100].
LineSearch line_search_wolfe1(ScalarFunction& sf, const Vec& xk, const Vec& pk, const Vec& gfk,
                              double old_fval, double old_old_fval) {
  Vec gval = gfk;
  auto phi = [&](double s) { return sf.fun(axpy(xk, s, pk)); };
  auto derphi = [&](double s) {
    gval = sf.grad(axpy(xk, s, pk));
    return dot(gval, pk);
  };
  const double phi0 = old_fval;
  const double derphi0 = dot(gfk, pk);
  double alpha1 = initial_step(phi0, old_old_fval, derphi0);
  double phi1 = phi0, derphi1 = derphi0;
  Dcsrch search(kC1, kC2, 1e-14, 1e-100, 1e100);
  LineSearch out;
  out.f_old = phi0;
  Task task = Task::kStart;
  bool finished = false;
  double stp = alpha1;
  for (int i = 0; i < 100; ++i) {
    stp = alpha1;
    task = search.iterate(stp, phi1, derphi1);
    if (task == Task::kFg) {
      alpha1 = stp;
      phi1 = phi(stp);
      derphi1 = derphi(stp);
    } else {
      finished = true;
      break;
    }
  }
  out.f_new = phi1;
  if (finished && task == Task::kConvergence) {
    out.alpha = stp;
    out.g_new = gval;
  }
  return out;
}

// Minimiser of the cubic through (a, fa), (b, fb), (c, fc) with slope fpa at a; empty when
// numpy would raise (division by zero, overflow, invalid) or the result is not finite.
std::optional<double> cubicmin(double a, double fa, double fpa, double b, double fb, double c,
                               double fc) {
  auto bad = [](double v) { return !std::isfinite(v); };
  const double C = fpa;
  const double db = b - a;
  const double dc = c - a;
  const double denom = (db * dc) * (db * dc) * (db - dc);
  const double d00 = dc * dc, d01 = -(db * db), d10 = -(dc * dc * dc), d11 = db * db * db;
  const double r0 = fb - fa - C * db, r1 = fc - fa - C * dc;
  double A = d00 * r0 + d01 * r1;
  double B = d10 * r0 + d11 * r1;
  if (bad(denom) || bad(d10) || bad(d11) || bad(r0) || bad(r1) || bad(A) || bad(B))
    return std::nullopt;
  if (denom == 0.0) return std::nullopt;
  A /= denom;
  B /= denom;
  const double radical = B * B - 3 * A * C;
  if (bad(A) || bad(B) || bad(radical) || radical < 0.0) return std::nullopt;
  const double den2 = 3 * A;
  if (den2 == 0.0 || bad(den2)) return std::nullopt;
  const double xmin = a + (-B + std::sqrt(radical)) / den2;
  if (bad(xmin)) return std::nullopt;
  return xmin;
}

// Minimiser of the quadratic through (a, fa), (b, fb) with slope fpa at a.
std::optional<double> quadmin(double a, double fa, double fpa, double b, double fb) {
  auto bad = [](double v) { return !std::isfinite(v); };
  const double D = fa, C = fpa;
  const double db = b - a * 1.0;
  const double dd = db * db;
  if (bad(dd) || dd == 0.0) return std::nullopt;
  const double num = fb - D - C * db;
  if (bad(num)) return std::nullopt;
  const double B = num / dd;
  if (bad(B) || B == 0.0) return std::nullopt;
  const double den = 2.0 * B;
  if (bad(den)) return std::nullopt;
  const double xmin = a - C / den;
  if (bad(xmin)) return std::nullopt;
  return xmin;
}

// Nocedal & Wright Alg. 3.6 with scipy's cubic / quadratic / bisection choice.
struct ZoomResult {
  std::optional<double> alpha;
  double phi = 0.0;
};

template <class Phi, class Derphi>
ZoomResult zoom(double a_lo, double a_hi, double phi_lo, double phi_hi, double derphi_lo, Phi& phi,
                Derphi& derphi, double phi0, double derphi0) {
  constexpr int kMaxIter = 10;
  constexpr double kDelta1 = 0.2, kDelta2 = 0.1;
  double phi_rec = phi0, a_rec = 0.0;
  double cchk = 0.0;
  for (int i = 0;; ++i) {
    const double dalpha = a_hi - a_lo;
    const double a = dalpha < 0 ? a_hi : a_lo;
    const double b = dalpha < 0 ? a_lo : a_hi;
    std::optional<double> a_j;
    if (i > 0) {
      cchk = kDelta1 * dalpha;
      a_j = cubicmin(a_lo, phi_lo, derphi_lo, a_hi, phi_hi, a_rec, phi_rec);
    }
    if (i == 0 || !a_j || *a_j > b - cchk || *a_j < a + cchk) {
      const double qchk = kDelta2 * dalpha;
      a_j = quadmin(a_lo, phi_lo, derphi_lo, a_hi, phi_hi);
      if (!a_j || *a_j > b - qchk || *a_j < a + qchk) a_j = a_lo + 0.5 * dalpha;
    }
    const double aj = *a_j;
    const double phi_aj = phi(aj);
    if (phi_aj > phi0 + kC1 * aj * derphi0 || phi_aj >= phi_lo) {
      phi_rec = phi_hi;
      a_rec = a_hi;
      a_hi = aj;
      phi_hi = phi_aj;
    } else {
      const double derphi_aj = derphi(aj);
      if (std::abs(derphi_aj) <= -kC2 * derphi0) return {aj, phi_aj};
      if (derphi_aj * (a_hi - a_lo) >= 0) {
        phi_rec = phi_hi;
        a_rec = a_hi;
        a_hi = a_lo;
        phi_hi = phi_lo;
      } else {
        phi_rec = phi_lo;
        a_rec = a_lo;
      }
      a_lo = aj;
      phi_lo = phi_aj;
      derphi_lo = derphi_aj;
    }
    if (i + 1 > kMaxIter) return {std::nullopt, 0.0};
  }
}

// line_search_wolfe2 (scalar_search_wolfe2 with amax = 1e100, maxiter 10).
LineSearch line_search_wolfe2(ScalarFunction& sf, const Vec& xk, const Vec& pk, const Vec& gfk,
                              double old_fval, double old_old_fval) {
  constexpr double kAmax = 1e100;
  std::optional<Vec> gval;
  auto phi = [&](double a) { return sf.fun(axpy(xk, a, pk)); };
  auto derphi = [&](double a) {
    gval = sf.grad(axpy(xk, a, pk));
    return dot(*gval, pk);
  };
  const double phi0 = old_fval;
  const double derphi0 = dot(gfk, pk);
  double alpha0 = 0.0;
  double alpha1 = 1.0;
  if (derphi0 != 0.0) {
    const double a = 1.01 * 2 * (phi0 - old_old_fval) / derphi0;
    alpha1 = a < 1.0 ? a : 1.0;
  }
  if (alpha1 < 0.0) alpha1 = 1.0;
  alpha1 = alpha1 < kAmax ? alpha1 : kAmax;
  double phi_a1 = phi(alpha1);
  double phi_a0 = phi0, derphi_a0 = derphi0;

  LineSearch out;
  out.f_old = phi0;
  std::optional<double> alpha_star;
  double phi_star = 0.0;
  bool have_derphi_star = false;
  int i = 0;
  for (; i < 10; ++i) {
    if (alpha1 == 0.0 || alpha0 == kAmax) {
      // Rounding errors (or amax reached): failure.
      out.alpha.reset();
      return out;
    }
    if (phi_a1 > phi0 + kC1 * alpha1 * derphi0 || (phi_a1 >= phi_a0 && i > 0)) {
      const ZoomResult z =
          zoom(alpha0, alpha1, phi_a0, phi_a1, derphi_a0, phi, derphi, phi0, derphi0);
      alpha_star = z.alpha;
      phi_star = z.phi;
      have_derphi_star = z.alpha.has_value();
      break;
    }
    const double derphi_a1 = derphi(alpha1);
    if (std::abs(derphi_a1) <= -kC2 * derphi0) {
      alpha_star = alpha1;
      phi_star = phi_a1;
      have_derphi_star = true;
      break;
    }
    if (derphi_a1 >= 0) {
      const ZoomResult z =
          zoom(alpha1, alpha0, phi_a1, phi_a0, derphi_a1, phi, derphi, phi0, derphi0);
      alpha_star = z.alpha;
      phi_star = z.phi;
      have_derphi_star = z.alpha.has_value();
      break;
    }
    double alpha2 = 2 * alpha1;
    alpha2 = alpha2 < kAmax ? alpha2 : kAmax;
    alpha0 = alpha1;
    alpha1 = alpha2;
    phi_a0 = phi_a1;
    phi_a1 = phi(alpha1);
    derphi_a0 = derphi_a1;
  }
  if (i == 10) {
    // maxiter reached: scipy still returns the last step, without a gradient.
    alpha_star = alpha1;
    phi_star = phi_a1;
    have_derphi_star = false;
  }
  out.alpha = alpha_star;
  out.f_new = phi_star;
  if (alpha_star && have_derphi_star) out.g_new = gval;
  return out;
}

}  // namespace

BfgsResult minimize_bfgs(const std::function<double(const Eigen::VectorXd&)>& f,
                         const Eigen::VectorXd& x0, const BfgsOptions& options) {
  const Eigen::Index n = x0.size();
  ScalarFunction sf(f, x0, options);
  double old_fval = sf.fun(x0);
  Vec gfk = sf.grad(x0);
  int k = 0;
  Eigen::MatrixXd hk = Eigen::MatrixXd::Identity(n, n);
  // Sets the initial step guess to dx ~ 1.
  double old_old_fval = old_fval + norm2(gfk) / 2;
  Vec xk = x0;
  int warnflag = 0;
  double gnorm = norm_inf(gfk);
  Vec pk(n), tmp(n);
  Eigen::MatrixXd a1(n, n), a2(n, n), t(n, n);
  while (gnorm > options.gtol && k < options.max_iter) {
    // pk = -H g (numpy: dgemv, rows as dot products).
    for (Eigen::Index i = 0; i < n; ++i) pk[i] = -dot(hk.row(i).transpose(), gfk);
    LineSearch ls = line_search_wolfe1(sf, xk, pk, gfk, old_fval, old_old_fval);
    if (!ls.alpha) ls = line_search_wolfe2(sf, xk, pk, gfk, old_fval, old_old_fval);
    if (!ls.alpha) {
      warnflag = 2;  // line search failed to find a better solution
      break;
    }
    const double alpha_k = *ls.alpha;
    old_fval = ls.f_new;
    old_old_fval = ls.f_old;
    Vec sk(n);
    for (Eigen::Index i = 0; i < n; ++i) sk[i] = alpha_k * pk[i];
    Vec xkp1 = xk + sk;
    xk = xkp1;
    Vec gfkp1 = ls.g_new ? *ls.g_new : sf.grad(xkp1);
    const Vec yk = gfkp1 - gfk;
    gfk = gfkp1;
    ++k;
    gnorm = norm_inf(gfk);
    if (gnorm <= options.gtol) break;
    // xrtol = 0: stop only on an exactly zero step.
    if (alpha_k * norm2(pk) <= 0.0) break;
    if (!std::isfinite(old_fval)) {
      warnflag = 2;
      break;
    }
    const double rhok_inv = dot(yk, sk);
    const double rhok = rhok_inv == 0.0 ? 1000.0 : 1.0 / rhok_inv;
    // H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T, in numpy's evaluation order.
    for (Eigen::Index i = 0; i < n; ++i) {
      for (Eigen::Index j = 0; j < n; ++j) {
        const double id = i == j ? 1.0 : 0.0;
        a1(i, j) = id - sk[i] * yk[j] * rhok;
        a2(i, j) = id - yk[i] * sk[j] * rhok;
      }
    }
    for (Eigen::Index i = 0; i < n; ++i)
      for (Eigen::Index j = 0; j < n; ++j) {
        double s = 0.0;
        for (Eigen::Index l = 0; l < n; ++l) s += hk(i, l) * a2(l, j);
        t(i, j) = s;
      }
    for (Eigen::Index i = 0; i < n; ++i)
      for (Eigen::Index j = 0; j < n; ++j) {
        double s = 0.0;
        for (Eigen::Index l = 0; l < n; ++l) s += a1(i, l) * t(l, j);
        hk(i, j) = s + rhok * sk[i] * sk[j];
      }
  }

  BfgsResult res;
  res.x = xk;
  res.f = old_fval;
  res.gradient = gfk;
  res.iterations = k;
  res.n_fev = sf.nfev();
  if (warnflag == 2) {
    res.status = 2;
    res.message = "Desired error not necessarily achieved due to precision loss.";
  } else if (k >= options.max_iter) {
    res.status = 1;
    res.message = "Maximum number of iterations has been exceeded.";
  } else if (std::isnan(gnorm) || std::isnan(old_fval) || xk.hasNaN()) {
    res.status = 3;
    res.message = "NaN result encountered.";
  } else {
    res.status = 0;
    res.message = "Optimization terminated successfully.";
  }
  return res;
}

}  // namespace effinfer::psytrack
