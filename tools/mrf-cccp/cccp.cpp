#include "cccp.hpp"

#include <chrono>
#include <cmath>
#include <sstream>

#include "core/error.hpp"

namespace effinfer::mrf {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Spec 3.6: a non-finite energy or one below -1e300 means E is unbounded below.
void check_bounded(const Energy& energy, const Eigen::VectorXd& x, double e) {
  if (std::isfinite(e) && e >= -1e300) return;
  std::ostringstream msg;
  msg << "energy is non-finite or unbounded below (E = " << e
      << "); the largest |f_r| is in family '" << energy.largest_factor_family(x) << "'";
  throw DataError(msg.str());
}

}  // namespace

MethodResult run_cccp(const Energy& energy, const Eigen::VectorXd& x0, const CccpOptions& o) {
  if (!energy.has_split())
    throw InternalError("cccp: the energy has no convex-concave split attached");
  const auto start = Clock::now();
  MethodResult r;
  r.x = x0;
  double S = 0.0;
  double E = energy.evaluate(EnergyPart::kFull, r.x, nullptr, &S);
  r.evaluations = 1;
  check_bounded(energy, r.x, E);
  r.energy_init = E;
  r.trace_energy.push_back(E);
  r.trace_time_s.push_back(seconds_since(start));
  r.trace_inner_iters.push_back(0);
  r.stop_reason = "max_iters";

  Eigen::VectorXd c, gv;
  LbfgsOptions lo;
  lo.max_iters = o.inner_max_iters;
  lo.memory = o.inner_memory;
  lo.gtol = o.inner_gtol;
  lo.gtol_relative = false;
  lo.ftol_rel = 0.0;
  lo.line_search = o.line_search;
  GdOptions go;
  go.max_iters = o.inner_max_iters;
  go.gtol = o.inner_gtol;
  go.gtol_relative = false;
  go.ftol_rel = 0.0;
  go.c1 = o.line_search.c1;
  // U_t(x) = E_vex(x) + c_t^T x; the constant that makes U_t(x^t) = E(x^t) is irrelevant.
  const Objective surrogate = [&](const Eigen::VectorXd& x, Eigen::VectorXd& g) {
    const double v = energy.evaluate(EnergyPart::kVex, x, &g);
    g += c;
    return v + c.dot(x);
  };
  for (int t = 0; t < o.max_outer; ++t) {
    energy.evaluate(EnergyPart::kCave, r.x, &c);
    ++r.evaluations;
    const OptimizeResult inner = o.inner_solver == InnerSolver::kLbfgs
                                     ? minimize_lbfgs(surrogate, r.x, lo)
                                     : minimize_gd(surrogate, r.x, go);
    r.evaluations += inner.evaluations;
    double S_next = 0.0;
    const double E_next = energy.evaluate(EnergyPart::kFull, inner.x, nullptr, &S_next);
    ++r.evaluations;
    check_bounded(energy, inner.x, E_next);
    if (E_next > E + o.guard * S) {  // guard: reject the step and stop
      r.rejected_energy = E_next;
      r.monotone = false;
      r.stop_reason = "nonmonotone";
      break;
    }
    const double dx = (inner.x - r.x).norm();
    const double dE = std::abs(E - E_next);
    r.x = inner.x;
    E = E_next;
    S = S_next;
    r.iterations = t + 1;
    r.trace_energy.push_back(E);
    r.trace_time_s.push_back(seconds_since(start));
    r.trace_inner_iters.push_back(inner.iterations);
    if (dE < o.tol_energy_rel * std::max(1.0, std::abs(E))) {
      r.stop_reason = "tol_energy";
      break;
    }
    if (dx < o.tol_x) {
      r.stop_reason = "tol_x";
      break;
    }
  }
  r.energy_final = E;
  r.time_s = seconds_since(start);
  return r;
}

namespace {

template <class Minimize, class Options>
MethodResult run_baseline(const Energy& energy, const Eigen::VectorXd& x0, const Options& o,
                          Minimize minimize) {
  const auto start = Clock::now();
  MethodResult r;
  const Objective full = [&](const Eigen::VectorXd& x, Eigen::VectorXd& g) {
    return energy.evaluate(EnergyPart::kFull, x, &g);
  };
  bool first = true;
  // The minimiser evaluates x0 first; log it as the trace's first entry.
  const Objective logged = [&](const Eigen::VectorXd& x, Eigen::VectorXd& g) {
    const double v = full(x, g);
    if (first) {
      first = false;
      check_bounded(energy, x, v);
      r.energy_init = v;
      r.trace_energy.push_back(v);
      r.trace_time_s.push_back(seconds_since(start));
    }
    return v;
  };
  const IterationCallback log = [&](int, double f, const Eigen::VectorXd& x) {
    check_bounded(energy, x, f);
    r.trace_energy.push_back(f);
    r.trace_time_s.push_back(seconds_since(start));
  };
  const OptimizeResult res = minimize(logged, x0, o, log);
  r.x = res.x;
  r.energy_final = res.f;
  r.iterations = res.iterations;
  r.evaluations = res.evaluations;
  r.stop_reason = res.stop_reason;
  for (size_t i = 1; i < r.trace_energy.size(); ++i)
    if (r.trace_energy[i] > r.trace_energy[i - 1]) r.monotone = false;
  r.time_s = seconds_since(start);
  return r;
}

}  // namespace

MethodResult run_lbfgs(const Energy& energy, const Eigen::VectorXd& x0, const LbfgsOptions& o) {
  return run_baseline(energy, x0, o, minimize_lbfgs);
}

MethodResult run_gd(const Energy& energy, const Eigen::VectorXd& x0, const GdOptions& o) {
  return run_baseline(energy, x0, o, minimize_gd);
}

}  // namespace effinfer::mrf
