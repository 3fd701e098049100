// Exact Laplace evidence E(x) of the log2 hyperparameters, its analytic gradient and the exact
// mode optimiser (spec 2.7), hyper standard errors from the analytic gradient (spec 2.8).
//
// Gradient (implicit-function theorem at the MAP W*(theta), derived for this tool, spec 2.7):
// E = L(W*) + lp(W*) - 1/2 log det C(W*). The explicit dependence through v_{t,k} gives
// (eps^2 - v)/(2v^2) from the prior and (D Sigma D^T)_{t,k}/(2v^2) from dP/dv; the MAP moves by
// dW*/dv = C^-1 D^T e eps/v^2, which changes Lambda(W*) in the log det by
// -1/2 u^T dW*/dv = -eps (D z)_{t,k}/(2v^2), u_t = lambda_t (1 - 2p_t)(g_t^T Sigma_tt g_t) g_t,
// z = C^-1 u. One selected inversion and one solve give every component.
#include "exact_evidence.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"

namespace effinfer::psytrack {

namespace {

// dE/dx from a converged MAP at hyper (= param.from_log2(base, x)).
Eigen::VectorXd evidence_gradient(const Dataset& data, const TrialLayout& layout,
                                  const Hyper& hyper, const HyperParam& param,
                                  const MapResult& map) {
  const int n = data.n_trials(), k = data.n_weights();
  const size_t kk = static_cast<size_t>(k) * k;
  const RowMatrix v = prior_variance(hyper, layout, n, k);
  const RowMatrix& w = map.w;

  std::vector<double> sigma_diag(static_cast<size_t>(n) * kk),
      sigma_sub(static_cast<size_t>(n > 1 ? n - 1 : 0) * kk);
  map.factor.selected_inverse(sigma_diag.data(), sigma_sub.data());

  // u_t = lambda_t (1 - 2 p_t) (g_t^T Sigma_tt g_t) g_t, then z = C^-1 u.
  RowMatrix z(n, k);
  for (int t = 0; t < n; ++t) {
    const double eta = data.g.row(t).dot(w.row(t));
    const double e = std::exp(-std::abs(eta));
    const double inv = 1.0 / (1.0 + e);
    const double p = eta >= 0 ? inv : e * inv;
    const double lambda = e * inv * inv;
    const double* s = sigma_diag.data() + t * kk;
    double quad = 0.0;
    for (int i = 0; i < k; ++i) {
      double row = 0.0;
      for (int j = 0; j < k; ++j) row += s[i * k + j] * data.g(t, j);
      quad += data.g(t, i) * row;
    }
    const double scale = lambda * (1.0 - 2.0 * p) * quad;
    for (int i = 0; i < k; ++i) z(t, i) = scale * data.g(t, i);
  }
  map.factor.solve_in_place(z.data());

  // Per weight: sums of c_{t,k} = [eps^2 - v + (D Sigma D^T) - eps (D z)] / (2 v^2) weighted by
  // which hyper v_{t,k} depends on.
  const bool sessions = !layout.session_start.empty();
  const bool gaps = !layout.gap.empty();
  const bool init_is_sigma = !hyper.sig_init.present();
  const bool day_is_sigma = !hyper.sig_day.present();
  Eigen::VectorXd sum_sigma = Eigen::VectorXd::Zero(k), sum_init = Eigen::VectorXd::Zero(k),
                  sum_day = Eigen::VectorXd::Zero(k);
  for (int t = 0; t < n; ++t) {
    const bool start = sessions && layout.session_start[t];
    const double m = gaps ? static_cast<double>(layout.gap[t]) : 0.0;
    const double sigma_weight =
        m + (t == 0 ? (init_is_sigma ? 1.0 : 0.0) : (start ? (day_is_sigma ? 1.0 : 0.0) : 1.0));
    const double* s = sigma_diag.data() + t * kk;
    for (int j = 0; j < k; ++j) {
      const double vt = v(t, j);
      double eps, dz, dsd;
      if (t == 0) {
        eps = w(0, j);
        dz = z(0, j);
        dsd = s[j * k + j];
      } else {
        eps = w(t, j) - w(t - 1, j);
        dz = z(t, j) - z(t - 1, j);
        const double* sp = sigma_diag.data() + (t - 1) * kk;
        const double* sub = sigma_sub.data() + (t - 1) * kk;  // Sigma_{t,t-1}
        dsd = s[j * k + j] + sp[j * k + j] - 2.0 * sub[j * k + j];
      }
      const double c = (eps * eps - vt + dsd - eps * dz) / (2.0 * vt * vt);
      sum_sigma[j] += sigma_weight * c;
      if (t == 0) sum_init[j] += c;
      if (start) sum_day[j] += c;
    }
  }

  // dv/dx = 2 ln2 theta^2 for x = log2 theta.
  Eigen::VectorXd grad(param.size(hyper));
  int idx = 0;
  for (HyperKind kind : param.opt) {
    const HyperValue& h = hyper.get(kind);
    const Eigen::VectorXd& sums = kind == HyperKind::kSigma     ? sum_sigma
                                  : kind == HyperKind::kSigInit ? sum_init
                                                                : sum_day;
    const Eigen::VectorXd comp = 2.0 * M_LN2 * h.value.array().square() * sums.array();
    if (h.shared) {
      grad[idx++] = comp.sum();
    } else {
      for (int j = 0; j < k; ++j) grad[idx++] = comp[j];
    }
  }
  return grad;
}

Eigen::VectorXd clamp_box(const Eigen::VectorXd& x, double lo, double hi) {
  return x.cwiseMax(lo).cwiseMin(hi);
}

}  // namespace

EvidenceGradient exact_evidence_gradient(const Dataset& data, const TrialLayout& layout,
                                         const Hyper& base, const HyperParam& param,
                                         const Eigen::Ref<const Eigen::VectorXd>& x,
                                         const MapOptions& options, const RowMatrix* w_start) {
  EvidenceGradient out;
  const Hyper hyper = param.from_log2(base, x);
  out.map = map_fit(data, layout, hyper, options, w_start);
  out.log_evidence = out.map.log_evidence;
  out.gradient = evidence_gradient(data, layout, hyper, param, out.map);
  return out;
}

FitResult fit_exact_mode(const Dataset& data, const TrialLayout& layout, const Hyper& init,
                         const HyperParam& param, const FitOptions& options) {
  FitResult res;
  const double lo = options.log2_lower, hi = options.log2_upper;
  const int np = param.size(init);

  Eigen::VectorXd x = clamp_box(param.to_log2(init), lo, hi);
  RowMatrix w_last;  // every MAP starts from the previous one
  auto evaluate = [&](const Eigen::VectorXd& at) {
    EvidenceGradient eg = exact_evidence_gradient(data, layout, init, param, at, options.map,
                                                  w_last.size() > 0 ? &w_last : nullptr);
    w_last = eg.map.w;
    ++res.n_evals;
    ++res.n_map_solves;
    res.newton_iterations += eg.map.iterations;
    return eg;
  };
  auto add_trace = [&](const Eigen::VectorXd& at, const EvidenceGradient& eg) {
    TraceRow row;
    row.log2_hyper = at;
    row.log_evidence = eg.log_evidence;
    row.accepted = true;
    row.newton_iterations = eg.map.iterations;
    res.trace.push_back(std::move(row));
  };

  EvidenceGradient best = evaluate(x);
  add_trace(x, best);

  if (np > 0) {
    // Projected BFGS on F = -E over the box; H approximates the inverse Hessian of F.
    Eigen::MatrixXd h_inv = Eigen::MatrixXd::Identity(np, np);
    bool fresh = true;  // H is the identity: scale the step to at most 1 log2 unit
    bool done = false;
    Eigen::VectorXd g = -best.gradient;
    for (int iter = 0;; ++iter) {
      Eigen::VectorXd pg = g;
      for (int i = 0; i < np; ++i)
        if ((x[i] <= lo && g[i] > 0) || (x[i] >= hi && g[i] < 0)) pg[i] = 0.0;
      if (pg.cwiseAbs().maxCoeff() <= options.exact_gtol) {
        done = true;
        break;
      }
      if (iter >= options.exact_max_iter) {
        res.message = "exact mode: not converged after " + std::to_string(options.exact_max_iter) +
                      " iterations (projected gradient " +
                      std::to_string(pg.cwiseAbs().maxCoeff()) + ")";
        break;
      }
      // Direction on the free variables only (active bounds held).
      Eigen::VectorXd d = Eigen::VectorXd::Zero(np);
      for (int i = 0; i < np; ++i) {
        if (pg[i] == 0.0) continue;
        for (int j = 0; j < np; ++j)
          if (pg[j] != 0.0) d[i] -= h_inv(i, j) * g[j];
      }
      if (!(g.dot(d) < 0.0)) {
        h_inv.setIdentity();
        fresh = true;
        d = -pg;
      }
      const double max_step = fresh ? 1.0 : 4.0;
      const double dmax = d.cwiseAbs().maxCoeff();
      if (dmax > max_step) d *= max_step / dmax;

      // Armijo backtracking (c1 = 1e-4) along the projected path.
      const double f = -best.log_evidence;
      double a = 1.0;
      bool accepted = false;
      Eigen::VectorXd x_new, s;
      EvidenceGradient trial;
      for (int ls = 0; ls < 40; ++ls, a *= 0.5) {
        x_new = clamp_box(x + a * d, lo, hi);
        s = x_new - x;
        if (s.cwiseAbs().maxCoeff() < 1e-12) break;
        trial = evaluate(x_new);
        if (-trial.log_evidence <= f + 1e-4 * g.dot(s)) {
          accepted = true;
          break;
        }
      }
      if (!accepted) {
        res.message = "exact mode: line search failed (projected gradient " +
                      std::to_string(pg.cwiseAbs().maxCoeff()) + ")";
        break;
      }
      const Eigen::VectorXd g_new = -trial.gradient;
      const Eigen::VectorXd y = g_new - g;
      const double sy = s.dot(y);
      if (sy > 1e-10 * s.norm() * y.norm()) {
        if (fresh) h_inv *= sy / y.squaredNorm();  // Nocedal & Wright (6.20)
        const double rho = 1.0 / sy;
        const Eigen::MatrixXd left = Eigen::MatrixXd::Identity(np, np) - rho * s * y.transpose();
        h_inv = left * h_inv * left.transpose() + rho * s * s.transpose();
        fresh = false;
      }
      x = x_new;
      g = g_new;
      best = std::move(trial);
      add_trace(x, best);
    }
    res.converged = done;
  }
  if (!best.map.converged) {
    res.converged = false;
    res.message = best.map.message;
  }

  res.hyper = param.from_log2(init, x);
  res.log2_hyper = x;
  res.map = std::move(best.map);
  if (options.w_std) res.w_std = posterior_std(res.map);

  if (options.hyp_std && np > 0) {
    // Hessian of -E by central differences of the analytic gradient, symmetrised (spec 2.8).
    const double dx = options.hyp_std_dx;
    Eigen::MatrixXd hess(np, np);
    for (int j = 0; j < np; ++j) {
      Eigen::VectorXd xp = x, xm = x;
      xp[j] += dx;
      xm[j] -= dx;
      const EvidenceGradient gp =
          exact_evidence_gradient(data, layout, init, param, xp, options.map, &res.map.w);
      const EvidenceGradient gm =
          exact_evidence_gradient(data, layout, init, param, xm, options.map, &res.map.w);
      hess.col(j) = -(gp.gradient - gm.gradient) / (2.0 * dx);
    }
    hess = 0.5 * (hess + hess.transpose()).eval();
    const Eigen::LLT<Eigen::MatrixXd> llt(hess);
    if (llt.info() == Eigen::Success) {
      res.hyp_std_log2 =
          llt.solve(Eigen::MatrixXd::Identity(np, np)).diagonal().cwiseMax(0.0).cwiseSqrt();
    } else {
      res.hyp_std_log2 = Eigen::VectorXd::Constant(np, std::nan(""));
      res.warnings.push_back(
          "hyp_std: Hessian of the negative log-evidence is not positive definite");
    }
  }
  return res;
}

}  // namespace effinfer::psytrack
