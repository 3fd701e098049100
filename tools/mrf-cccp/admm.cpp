#include "admm.hpp"

#include <omp.h>

#include <Eigen/Cholesky>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace effinfer::mrf {

namespace {

using Clock = std::chrono::steady_clock;
using RowMap = Eigen::Map<const RowMatrixXd>;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string number_text(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// Spec 3.6: a non-finite energy or one below -1e300 means E is unbounded below.
void check_bounded(const Energy& energy, const Eigen::VectorXd& x, double e) {
  if (std::isfinite(e) && e >= -1e300) return;
  std::ostringstream msg;
  msg << "admm: energy is non-finite or unbounded below (E = " << e
      << "); the largest |f_r| is in family '" << energy.largest_factor_family(x) << "'";
  throw DataError(msg.str());
}

// Slave solver constants (project choices, not from the paper).
constexpr double kArmijoC1 = 1e-4;
constexpr int kMaxHalvings = 50;
// Predicted decreases (half the Newton decrement) below this fraction of max(1, |phi|) are
// treated as unresolvable by phi; Newton stops after a full step smaller than kStepTol relative.
constexpr double kResolvable = 1e-12;
constexpr double kStepTol = 1e-10;

// One family as seen by the slaves.
struct SlaveFamily {
  const FactorFamily* fam = nullptr;
  int k = 0, m = 0, M = 0, max_exp = 0;
  int64_t slot0 = 0;  // first slot (factor-major: slot = slot0 + r*k + j)
  // Local map of factor r (m x k); only valid when the family has a linmap.
  RowMap linmap(int r) const {
    const int64_t off = fam->linmap_per_factor ? static_cast<int64_t>(r) * m * k : 0;
    return RowMap(fam->linmap.data() + off, m, k);
  }
  bool identity() const { return fam->linmap.size() == 0; }
};

// Per-thread scratch, sized for one family at a time (no allocation inside the factor loop).
struct Work {
  Eigen::VectorXd x, xt, c, d, grad, u, gu;
  Eigen::MatrixXd H, Hu, HA;
  Eigen::LLT<Eigen::MatrixXd> llt;
  std::vector<double> pw;
  void resize(const SlaveFamily& s) {
    x.resize(s.k), xt.resize(s.k), c.resize(s.k), d.resize(s.k), grad.resize(s.k);
    u.resize(s.m), gu.resize(s.m);
    H.resize(s.k, s.k), Hu.resize(s.m, s.m), HA.resize(s.m, s.k);
    llt = Eigen::LLT<Eigen::MatrixXd>(s.k);
    pw.assign(static_cast<size_t>(s.m) * (s.max_exp + 1), 1.0);
  }
};

// g(u) = sum_t coeff_t u^alpha_t at w.u; with derivs also the gradient (w.gu) and Hessian (w.Hu).
// Products skip the differentiated factor explicitly (no division), so u_i = 0 is exact.
double eval_local(const SlaveFamily& s, const double* coeff, bool derivs, Work& w) {
  const int m = s.m, P = s.max_exp + 1;
  for (int i = 0; i < m; ++i) {
    double* p = w.pw.data() + static_cast<size_t>(i) * P;
    p[0] = 1.0;
    for (int e = 1; e < P; ++e) p[e] = p[e - 1] * w.u[i];
  }
  auto pw = [&](int i, int e) { return w.pw[static_cast<size_t>(i) * P + e]; };
  double value = 0.0;
  if (derivs) {
    w.gu.setZero();
    w.Hu.setZero();
  }
  const ExponentTable& E = s.fam->exponents;
  for (int t = 0; t < s.M; ++t) {
    const double c = coeff[t];
    if (c == 0.0) continue;
    const int* a = E.data() + static_cast<size_t>(t) * m;
    double prod = c;
    for (int j = 0; j < m; ++j) prod *= pw(j, a[j]);
    value += prod;
    if (!derivs) continue;
    for (int i = 0; i < m; ++i) {
      if (a[i] == 0) continue;
      double rest = c * a[i];  // c a_i prod_{j != i} u_j^{a_j}
      for (int j = 0; j < m; ++j)
        if (j != i) rest *= pw(j, a[j]);
      w.gu[i] += rest * pw(i, a[i] - 1);
      if (a[i] >= 2) w.Hu(i, i) += rest * (a[i] - 1) * pw(i, a[i] - 2);
      for (int l = i + 1; l < m; ++l) {
        if (a[l] == 0) continue;
        double cross = c * a[i] * a[l] * pw(i, a[i] - 1) * pw(l, a[l] - 1);
        for (int j = 0; j < m; ++j)
          if (j != i && j != l) cross *= pw(j, a[j]);
        w.Hu(i, l) += cross;
      }
    }
  }
  if (derivs)
    for (int i = 0; i < m; ++i)
      for (int l = i + 1; l < m; ++l) w.Hu(l, i) = w.Hu(i, l);
  return value;
}

// Slave objective phi(x) = g(A x) + (rho/2) ||x - c||^2 at x; derivatives into w.grad, w.H.
double slave_objective(const SlaveFamily& s, int r, const double* coeff, double rho,
                       const Eigen::VectorXd& x, bool derivs, Work& w) {
  if (s.identity()) {
    w.u = x;
  } else {
    w.u.noalias() = s.linmap(r) * x;
  }
  const double g = eval_local(s, coeff, derivs, w);
  if (derivs) {
    if (s.identity()) {
      w.grad = w.gu;
      w.H = w.Hu;
    } else {
      const RowMap A = s.linmap(r);
      w.grad.noalias() = A.transpose() * w.gu;
      w.HA.noalias() = w.Hu * A;
      w.H.noalias() = A.transpose() * w.HA;
    }
    w.grad += rho * (x - w.c);
    w.H.diagonal().array() += rho;
  }
  return g + 0.5 * rho * (x - w.c).squaredNorm();
}

// Damped Newton on phi from w.x (warm start; w.c = z_r - mu_r / rho set by the caller). Result in
// w.x. Indefinite Hessians are regularised as in Nocedal & Wright, Numerical Optimization (2nd
// ed.) Alg. 3.3: H + tau I with tau = 0 when the diagonal is positive, else -min_i H_ii + beta,
// then doubled (at least beta) until Cholesky succeeds; beta = 1e-3 max_i |H_ii| keeps the
// shift on the Hessian's scale. Steps: Armijo backtracking (c1 1e-4, halving) on phi, except
// in the round-off regime of phi (see kResolvable); the slave stops after a tiny full step, when
// no step is accepted, or after newton_iters iterations.
void solve_slave(const SlaveFamily& s, int r, const double* coeff, double rho, int newton_iters,
                 Work& w) {
  for (int it = 0; it < newton_iters; ++it) {
    const double phi = slave_objective(s, r, coeff, rho, w.x, true, w);
    if (!std::isfinite(phi) || !w.grad.allFinite() || !w.H.allFinite()) return;
    if (w.grad.cwiseAbs().maxCoeff() == 0.0) return;
    const double min_diag = w.H.diagonal().minCoeff();
    const double beta = 1e-3 * std::max(w.H.diagonal().cwiseAbs().maxCoeff(), rho);
    double tau = min_diag > 0 ? 0.0 : beta - min_diag;
    bool factored = false;
    for (int attempt = 0; attempt < 80; ++attempt) {
      if (tau > 0) w.H.diagonal().array() += tau;
      w.llt.compute(w.H);
      if (w.llt.info() == Eigen::Success) {
        factored = true;
        break;
      }
      if (tau > 0) w.H.diagonal().array() -= tau;
      tau = std::max(2 * tau, beta);
    }
    if (!factored) return;
    w.d = w.llt.solve(w.grad);  // in place, no temporary
    w.d = -w.d;
    const double slope = w.grad.dot(w.d);  // < 0: descent direction
    if (!(slope < 0.0)) return;
    if (-0.5 * slope <= kResolvable * std::max(1.0, std::abs(phi))) {
      // The predicted decrease is below what phi resolves, so Armijo tests would compare
      // round-off. With an unmodified (positive definite) Hessian this is Newton's quadratic
      // region: take the full step; once it is tiny the remaining error is O(|d|^2).
      if (tau > 0) return;
      w.x += w.d;
      if (w.d.cwiseAbs().maxCoeff() <= kStepTol * std::max(1.0, w.x.cwiseAbs().maxCoeff())) return;
      continue;
    }
    double alpha = 1.0;
    bool accepted = false;
    for (int h = 0; h <= kMaxHalvings; ++h, alpha *= 0.5) {
      w.xt = w.x + alpha * w.d;
      const double trial = slave_objective(s, r, coeff, rho, w.xt, false, w);
      if (std::isfinite(trial) && trial <= phi + kArmijoC1 * alpha * slope) {
        accepted = true;
        break;
      }
    }
    if (!accepted) return;
    w.x.swap(w.xt);
  }
}

}  // namespace

void validate_admm_options(const AdmmOptions& o) {
  auto fail = [](const std::string& key, const std::string& expected, double found) {
    throw ConfigError("baselines.admm." + key + ": expected " + expected + ", found " +
                      number_text(found));
  };
  if (o.max_iters < 1) fail("max_iters", "an integer >= 1", o.max_iters);
  if (!(std::isfinite(o.rho1) && o.rho1 > 0)) fail("rho1", "a finite number > 0", o.rho1);
  if (!(std::isfinite(o.rho0) && o.rho0 >= 0)) fail("rho0", "a finite number >= 0", o.rho0);
  if (!(std::isfinite(o.gamma) && o.gamma >= 0)) fail("gamma", "a finite number >= 0", o.gamma);
  if (!std::isfinite(o.t0)) fail("t0", "a finite number", o.t0);
  if (o.newton_iters < 1) fail("newton_iters", "an integer >= 1", o.newton_iters);
}

double admm_rho(const AdmmOptions& o, int t) {
  const double rho0 = std::max(o.rho0, 1e-6 * o.rho1);
  return rho0 + (o.rho1 - rho0) / (1.0 + std::exp(-o.gamma * (t - o.t0)));
}

MethodResult run_admm(const Model& model, const Energy& energy, const Eigen::VectorXd& x0,
                      const AdmmOptions& o) {
  validate_admm_options(o);
  const auto start = Clock::now();
  const int64_t V = model.num_vars;
  if (x0.size() != V)
    throw InternalError("admm: x0 has " + std::to_string(x0.size()) + " entries, the model " +
                        std::to_string(V) + " variables");

  // Slots (one per factor and local variable, factor-major per family) and the variable ->
  // slots CSR list in ascending slot order: the fixed summation order of the z average.
  std::vector<SlaveFamily> fams;
  int64_t num_slots = 0;
  for (const FactorFamily& f : model.families) {
    SlaveFamily s;
    s.fam = &f;
    s.k = f.arity();
    s.m = f.local_dim();
    s.M = f.num_terms();
    s.max_exp = f.exponents.size() ? f.exponents.maxCoeff() : 0;
    s.slot0 = num_slots;
    num_slots += static_cast<int64_t>(f.num_factors()) * s.k;
    fams.push_back(s);
  }
  std::vector<int64_t> slot_var(num_slots), var_ptr(V + 1, 0), var_slots(num_slots);
  for (const SlaveFamily& s : fams)
    for (int r = 0; r < s.fam->num_factors(); ++r)
      for (int j = 0; j < s.k; ++j) {
        const int64_t v = s.fam->vars(r, j);
        slot_var[s.slot0 + static_cast<int64_t>(r) * s.k + j] = v;
        ++var_ptr[v + 1];
      }
  for (int64_t v = 0; v < V; ++v) var_ptr[v + 1] += var_ptr[v];
  {
    std::vector<int64_t> fill(var_ptr.begin(), var_ptr.end() - 1);
    for (int64_t slot = 0; slot < num_slots; ++slot) var_slots[fill[slot_var[slot]]++] = slot;
  }

  // Consensus variables: z = x0; local copies start at P_r x0 (the first warm start); mu = 0.
  Eigen::VectorXd z = x0, xs(num_slots), mu = Eigen::VectorXd::Zero(num_slots);
  for (int64_t slot = 0; slot < num_slots; ++slot) xs[slot] = x0[slot_var[slot]];

  MethodResult res;
  double E = energy.evaluate(EnergyPart::kFull, z);
  res.evaluations = 1;
  check_bounded(energy, z, E);
  res.energy_init = E;
  res.trace_energy.push_back(E);
  res.trace_time_s.push_back(seconds_since(start));

  const int nt = energy.threads() > 0 ? energy.threads() : omp_get_max_threads();
  for (int t = 1; t <= o.max_iters; ++t) {  // 1-based as `it` in dd_admm_poly.m
    const double rho = admm_rho(o, t);
    // Slaves: independent, each reads z and its own slots only.
#pragma omp parallel num_threads(nt) if (nt > 1 && num_slots > 64)
    {
      Work w;
      for (const SlaveFamily& s : fams) {
        w.resize(s);
        const int F = s.fam->num_factors();
#pragma omp for schedule(dynamic, 32)
        for (int r = 0; r < F; ++r) {
          const int64_t base = s.slot0 + static_cast<int64_t>(r) * s.k;
          for (int j = 0; j < s.k; ++j) {
            w.x[j] = xs[base + j];
            w.c[j] = z[slot_var[base + j]] - mu[base + j] / rho;
          }
          solve_slave(s, r, s.fam->coeff_row(r).data(), rho, o.newton_iters, w);
          for (int j = 0; j < s.k; ++j) xs[base + j] = w.x[j];
        }
      }
    }
    // z = average of the copies, slots in ascending order (thread-count invariant).
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && V > 4096)
    for (int64_t v = 0; v < V; ++v) {
      const int64_t b = var_ptr[v], e = var_ptr[v + 1];
      if (b == e) continue;  // in no factor: keeps x0
      double sum = 0.0;
      for (int64_t p = b; p < e; ++p) sum += xs[var_slots[p]];
      z[v] = sum / static_cast<double>(e - b);
    }
    for (int64_t slot = 0; slot < num_slots; ++slot)
      mu[slot] += rho * (xs[slot] - z[slot_var[slot]]);

    E = energy.evaluate(EnergyPart::kFull, z);
    ++res.evaluations;
    check_bounded(energy, z, E);
    res.trace_energy.push_back(E);
    res.trace_time_s.push_back(seconds_since(start));
    res.iterations = t;
  }
  for (size_t i = 1; i < res.trace_energy.size(); ++i)
    if (res.trace_energy[i] > res.trace_energy[i - 1]) res.monotone = false;
  res.x = std::move(z);
  res.energy_final = E;
  res.stop_reason = "max_iters";
  res.time_s = seconds_since(start);
  return res;
}

}  // namespace effinfer::mrf
