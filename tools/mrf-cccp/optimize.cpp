#include "optimize.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>

namespace effinfer::mrf {

namespace {

struct Point {
  double t = 0, f = 0, d = 0;  // step, value, directional derivative
};

// Minimiser of the cubic interpolating (a.f, a.d) at a.t and (b.f, b.d) at b.t (Nocedal & Wright
// eq. 3.59); NaN when the cubic has no minimiser.
double cubic_min(const Point& a, const Point& b) {
  const double d1 = a.d + b.d - 3.0 * (a.f - b.f) / (a.t - b.t);
  const double disc = d1 * d1 - a.d * b.d;
  if (!(disc >= 0.0)) return std::numeric_limits<double>::quiet_NaN();
  const double d2 = std::copysign(std::sqrt(disc), b.t - a.t);
  const double den = b.d - a.d + 2.0 * d2;
  if (den == 0.0) return std::numeric_limits<double>::quiet_NaN();
  return b.t - (b.t - a.t) * (b.d + d2 - d1) / den;
}

struct LineSearchOutcome {
  bool ok = false;
  int evals = 0;
};

// Strong Wolfe line search from (x, f0, g0) along d with first trial t0. On return x, f, g hold
// the accepted point (or the best point found with f < f0, or the start when there is none).
LineSearchOutcome wolfe_search(const Objective& obj, Eigen::VectorXd& x, double& f,
                               Eigen::VectorXd& g, const Eigen::VectorXd& d, double t0,
                               const LineSearchOptions& o) {
  const double f0 = f, d0 = g.dot(d);
  const Eigen::VectorXd x0 = x;
  Eigen::VectorXd xt, gt, x_best = x, g_best = g;
  double f_best = f0;
  LineSearchOutcome out;
  auto eval = [&](double t, Point& p) {
    xt = x0 + t * d;
    p.t = t;
    p.f = obj(xt, gt);
    p.d = gt.dot(d);
    ++out.evals;
    if (std::isfinite(p.f) && p.f < f_best) {
      f_best = p.f;
      x_best = xt;
      g_best = gt;
    }
  };
  auto armijo = [&](const Point& p) { return std::isfinite(p.f) && p.f <= f0 + o.c1 * p.t * d0; };
  auto curvature = [&](const Point& p) { return std::abs(p.d) <= -o.c2 * d0; };
  Point prev{0.0, f0, d0}, cur;
  auto accept = [&]() {
    x = xt;
    f = cur.f;
    g = gt;
    out.ok = true;
  };
  Point lo, hi;
  bool zoom = false;
  double t = t0;
  // Bracketing phase (Alg. 3.5).
  while (out.evals < o.max_evals) {
    eval(t, cur);
    if (!armijo(cur) || (out.evals > 1 && cur.f >= prev.f)) {
      lo = prev;
      hi = cur;
      zoom = true;
      break;
    }
    if (curvature(cur)) {
      accept();
      return out;
    }
    if (cur.d >= 0.0) {
      lo = cur;
      hi = prev;
      zoom = true;
      break;
    }
    double tn = cubic_min(prev, cur);
    const double lo_b = cur.t + 0.01 * (cur.t - prev.t), hi_b = 10.0 * cur.t;
    if (!std::isfinite(tn)) tn = hi_b;
    t = std::clamp(tn, lo_b, hi_b);
    prev = cur;
  }
  // Zoom phase (Alg. 3.6): lo satisfies Armijo and has the lower value of the bracket.
  while (zoom && out.evals < o.max_evals) {
    const double a = std::min(lo.t, hi.t), b = std::max(lo.t, hi.t), w = b - a;
    if (!(w > 0.0) || w * std::abs(d0) <= 1e-16 * std::max(1.0, std::abs(f0))) break;
    double tn = std::isfinite(hi.f) ? cubic_min(lo, hi) : std::numeric_limits<double>::quiet_NaN();
    if (!std::isfinite(tn) || tn < a + 0.1 * w || tn > b - 0.1 * w) tn = 0.5 * (a + b);
    eval(tn, cur);
    if (!armijo(cur) || cur.f >= lo.f) {
      hi = cur;
    } else {
      if (curvature(cur)) {
        accept();
        return out;
      }
      if (cur.d * (hi.t - lo.t) >= 0.0) hi = lo;
      lo = cur;
    }
  }
  // Failure: the best point found, never worse than the start.
  x = x_best;
  f = f_best;
  g = g_best;
  return out;
}

bool gtol_met(const Eigen::VectorXd& g, double f, double gtol, bool relative) {
  const double s = relative ? std::max(1.0, std::abs(f)) : 1.0;
  return g.size() == 0 || g.lpNorm<Eigen::Infinity>() <= gtol * s;
}

// The stop rules L-BFGS and GD share after an accepted step; sets r.stop_reason when one holds.
template <class Options>
bool converged_after_step(const Options& o, double f_old, OptimizeResult& r) {
  if (gtol_met(r.grad, r.f, o.gtol, o.gtol_relative)) {
    r.stop_reason = "gtol";
    return true;
  }
  if (o.ftol_rel > 0.0 && f_old - r.f < o.ftol_rel * std::max(1.0, std::abs(f_old))) {
    r.stop_reason = "tol_energy";
    return true;
  }
  return false;
}

double first_step(const Eigen::VectorXd& g) {
  const double n1 = g.lpNorm<1>();
  return n1 > 0.0 ? std::min(1.0, 1.0 / n1) : 1.0;
}

}  // namespace

OptimizeResult minimize_lbfgs(const Objective& obj, const Eigen::VectorXd& x0,
                              const LbfgsOptions& o, const IterationCallback& callback) {
  OptimizeResult r;
  r.x = x0;
  r.f = obj(r.x, r.grad);
  r.evaluations = 1;
  if (gtol_met(r.grad, r.f, o.gtol, o.gtol_relative)) {
    r.stop_reason = "gtol";
    return r;
  }
  std::deque<Eigen::VectorXd> S, Y;
  std::deque<double> rho;
  Eigen::VectorXd d, q, x_old, g_old;
  std::vector<double> alpha;
  r.stop_reason = "max_iters";
  for (int it = 1; it <= o.max_iters; ++it) {
    // Two-loop recursion.
    bool steepest = S.empty();
    if (!steepest) {
      q = -r.grad;
      const int n = static_cast<int>(S.size());
      alpha.assign(n, 0.0);
      for (int i = n - 1; i >= 0; --i) {
        alpha[i] = rho[i] * S[i].dot(q);
        q -= alpha[i] * Y[i];
      }
      q *= S.back().dot(Y.back()) / Y.back().squaredNorm();
      for (int i = 0; i < n; ++i) q += (alpha[i] - rho[i] * Y[i].dot(q)) * S[i];
      d = q;
      if (!(r.grad.dot(d) < 0.0)) {  // not a descent direction: restart
        S.clear();
        Y.clear();
        rho.clear();
        steepest = true;
      }
    }
    if (steepest) d = -r.grad;
    const double t0 = steepest ? first_step(r.grad) : 1.0;
    x_old = r.x;
    g_old = r.grad;
    const double f_old = r.f;
    const LineSearchOutcome ls = wolfe_search(obj, r.x, r.f, r.grad, d, t0, o.line_search);
    r.evaluations += ls.evals;
    if (!(r.f < f_old) && !ls.ok) {  // no progress at all
      r.stop_reason = "line_search";
      break;
    }
    r.iterations = it;
    if (callback) callback(it, r.f, r.x);
    if (!ls.ok) {
      r.stop_reason = "line_search";
      break;
    }
    Eigen::VectorXd s = r.x - x_old, y = r.grad - g_old;
    const double sy = s.dot(y);
    if (sy > 1e-12 * s.norm() * y.norm() && sy > 0.0) {
      S.push_back(std::move(s));
      Y.push_back(std::move(y));
      rho.push_back(1.0 / sy);
      if (static_cast<int>(S.size()) > std::max(1, o.memory)) {
        S.pop_front();
        Y.pop_front();
        rho.pop_front();
      }
    }
    if (converged_after_step(o, f_old, r)) break;
  }
  return r;
}

OptimizeResult minimize_gd(const Objective& obj, const Eigen::VectorXd& x0, const GdOptions& o,
                           const IterationCallback& callback) {
  OptimizeResult r;
  r.x = x0;
  r.f = obj(r.x, r.grad);
  r.evaluations = 1;
  if (gtol_met(r.grad, r.f, o.gtol, o.gtol_relative)) {
    r.stop_reason = "gtol";
    return r;
  }
  double t = first_step(r.grad);
  Eigen::VectorXd xt, gt;
  r.stop_reason = "max_iters";
  for (int it = 1; it <= o.max_iters; ++it) {
    const double gg = r.grad.squaredNorm();
    bool ok = false;
    double ft = 0.0;
    for (int b = 0; b <= o.max_backtracks; ++b, t *= 0.5) {
      xt = r.x - t * r.grad;
      ft = obj(xt, gt);
      ++r.evaluations;
      if (std::isfinite(ft) && ft <= r.f - o.c1 * t * gg) {
        ok = true;
        break;
      }
    }
    if (!ok) {
      r.stop_reason = "line_search";
      break;
    }
    const double f_old = r.f;
    r.x.swap(xt);
    r.grad.swap(gt);
    r.f = ft;
    r.iterations = it;
    if (callback) callback(it, r.f, r.x);
    t *= 2.0;  // next first trial: 2x the accepted step
    if (converged_after_step(o, f_old, r)) break;
  }
  return r;
}

}  // namespace effinfer::mrf
