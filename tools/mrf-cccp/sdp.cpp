#include "sdp.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <ostream>

#include "core/error.hpp"

namespace effinfer::mrf {

const char* to_string(SdpStatus status) {
  switch (status) {
    case SdpStatus::kOptimal:
      return "optimal";
    case SdpStatus::kStalled:
      return "stalled";
    case SdpStatus::kMaxIterations:
      return "max_iters";
    case SdpStatus::kNumerical:
      return "numerical";
    case SdpStatus::kInfeasible:
      return "infeasible";
  }
  return "unknown";
}

namespace {

using Blocks = std::vector<Eigen::MatrixXd>;

// Full (both triangles) sparse storage of one symmetric matrix.
struct FullSparse {
  std::vector<int> block, i, j;
  std::vector<double> v;
  void add(int b, int r, int c, double x) {
    block.push_back(b);
    i.push_back(r);
    j.push_back(c);
    v.push_back(x);
  }
  size_t size() const { return v.size(); }
};

FullSparse expand(const std::vector<SdpEntry>& entries, const std::vector<int>& sizes,
                  const char* what) {
  FullSparse out;
  for (const auto& e : entries) {
    if (e.block < 0 || e.block >= static_cast<int>(sizes.size()) || e.i < 0 || e.j < e.i ||
        e.j >= sizes[e.block] || !std::isfinite(e.value))
      throw DataError(std::string("SDP: invalid entry in ") + what + " (block " +
                      std::to_string(e.block) + ", " + std::to_string(e.i) + ", " +
                      std::to_string(e.j) + "): expected i <= j < block size and a finite value");
    if (e.value == 0.0) continue;
    out.add(e.block, e.i, e.j, e.value);
    if (e.i != e.j) out.add(e.block, e.j, e.i, e.value);
  }
  return out;
}

Blocks zeros(const std::vector<int>& sizes) {
  Blocks out;
  for (int n : sizes) out.push_back(Eigen::MatrixXd::Zero(n, n));
  return out;
}

Blocks identity(const std::vector<int>& sizes) {
  Blocks out;
  for (int n : sizes) out.push_back(Eigen::MatrixXd::Identity(n, n));
  return out;
}

void add_to(Blocks& dst, const FullSparse& s, double scale) {
  for (size_t t = 0; t < s.size(); ++t) dst[s.block[t]](s.i[t], s.j[t]) += scale * s.v[t];
}

// tr(A W) for symmetric A = sum_ij A_ij W_ji.
double apply_op(const FullSparse& a, const Blocks& W) {
  double s = 0.0;
  for (size_t t = 0; t < a.size(); ++t) s += a.v[t] * W[a.block[t]](a.j[t], a.i[t]);
  return s;
}

double inner(const Blocks& a, const Blocks& b) {
  double s = 0.0;
  for (size_t k = 0; k < a.size(); ++k) s += a[k].cwiseProduct(b[k]).sum();
  return s;
}

double frob(const Blocks& a) { return std::sqrt(inner(a, a)); }

bool all_finite(const Blocks& a) {
  for (const auto& m : a)
    if (!m.allFinite()) return false;
  return true;
}

// Largest alpha with X + alpha dX >= 0 (infinity when dX >= 0 on X's range); NaN on failure.
// Shortcut: when X + cap dX has a Cholesky factor the caller's step is capped anyway, so cap is
// returned without the eigenvalue computation.
double max_step(const Blocks& X, const Blocks& dX, double cap) {
  // Per-thread factorisations reused across calls: thousands of small SDPs run back to back,
  // where allocation would cost as much as the arithmetic.
  static thread_local Eigen::LLT<Eigen::MatrixXd> llt;
  static thread_local Eigen::MatrixXd S;
  static thread_local Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es;
  bool capped = true;
  for (size_t k = 0; k < X.size() && capped; ++k) {
    S = X[k];
    S.noalias() += cap * dX[k];
    llt.compute(S);
    capped = llt.info() == Eigen::Success;
  }
  if (capped) return cap;
  double alpha = std::numeric_limits<double>::infinity();
  for (size_t k = 0; k < X.size(); ++k) {
    llt.compute(X[k]);
    if (llt.info() != Eigen::Success) return std::numeric_limits<double>::quiet_NaN();
    // S = L^-1 dX L^-T (dX symmetric): two in-place triangular solves.
    S = dX[k];
    llt.matrixL().solveInPlace(S);
    S.transposeInPlace();
    llt.matrixL().solveInPlace(S);
    S = 0.5 * (S + S.transpose()).eval();
    es.compute(S, Eigen::EigenvaluesOnly);
    const double lmin = es.eigenvalues()[0];
    if (lmin < 0) alpha = std::min(alpha, -1.0 / lmin);
  }
  return alpha;
}

class Solver {
 public:
  Solver(const SdpProblem& p, const SdpOptions& o) : p_(p), o_(o) {
    for (int n : p.block_sizes)
      if (n <= 0) throw DataError("SDP: block sizes must be positive");
    if (p.b.size() != static_cast<Eigen::Index>(p.A.size()))
      throw DataError("SDP: " + std::to_string(p.A.size()) + " constraint matrices but b has " +
                      std::to_string(p.b.size()) + " entries");
    if (!p.b.allFinite()) throw DataError("SDP: b is not finite");
    C_ = expand(p.C, p.block_sizes, "C");
    for (const auto& a : p.A) A_.push_back(expand(a, p.block_sizes, "A"));
    dim_ = 0;
    for (int n : p.block_sizes) dim_ += n;
    // Gram matrix <A_k, A_l> of the constraints, for projecting the primal direction back onto
    // A(dX) = r_p (the Schur solve loses that identity when M is ill-conditioned near the end).
    const int m = static_cast<int>(A_.size());
    Blocks Ak = zeros(p.block_sizes);
    Eigen::MatrixXd GA(m, m);
    for (int l = 0; l < m; ++l) {
      add_to(Ak, A_[l], 1.0);
      for (int k = l; k < m; ++k) GA(k, l) = GA(l, k) = apply_op(A_[k], Ak);
      add_to(Ak, A_[l], -1.0);
    }
    gram_.compute(GA);
    nnz_suffix_.assign(static_cast<size_t>(m) + 1, 0.0);
    for (int k = m - 1; k >= 0; --k) nnz_suffix_[k] = nnz_suffix_[k + 1] + A_[k].size();
    for (int n : p.block_sizes) max_block2_ = std::max(max_block2_, static_cast<double>(n) * n);
    gram_ok_ = gram_.info() == Eigen::Success;
  }

  SdpSolution run() {
    const auto& sizes = p_.block_sizes;
    const int m = static_cast<int>(A_.size());
    Blocks X = identity(sizes), Z = identity(sizes);
    Eigen::VectorXd y = Eigen::VectorXd::Zero(m);
    Blocks Cd = zeros(sizes);
    add_to(Cd, C_, 1.0);
    const double nb = p_.b.norm(), nc = frob(Cd);
    SdpSolution sol;
    sol.status = SdpStatus::kMaxIterations;
    for (int it = 0;; ++it) {
      // residuals
      Eigen::VectorXd rp(m);
      for (int k = 0; k < m; ++k) rp[k] = p_.b[k] - apply_op(A_[k], X);
      Blocks Rd = Cd;
      for (size_t k = 0; k < Rd.size(); ++k) Rd[k] -= Z[k];
      for (int k = 0; k < m; ++k) add_to(Rd, A_[k], -y[k]);
      const double mu = inner(X, Z) / dim_;
      sol.iterations = it;
      sol.primal_residual = rp.norm() / (1.0 + nb);
      sol.dual_residual = frob(Rd) / (1.0 + nc);
      sol.mu = mu;
      if (!rp.allFinite() || !std::isfinite(mu) || !all_finite(Rd)) {
        sol.status = SdpStatus::kNumerical;
        break;
      }
      if (sol.primal_residual <= o_.tol && sol.dual_residual <= o_.tol && mu <= o_.tol) {
        sol.status = SdpStatus::kOptimal;
        break;
      }
      // Stall: feasible to tol, mu within 100 tol, and the last three steps all shorter than
      // 1e-2 (ill-conditioning at a non-strictly-complementary optimum); the iterate is kept.
      if (stalled_steps_ >= 3 && sol.primal_residual <= o_.tol && sol.dual_residual <= o_.tol &&
          mu <= 100 * o_.tol) {
        sol.status = SdpStatus::kStalled;
        break;
      }
      if (it >= o_.max_iters) {
        sol.status = SdpStatus::kMaxIterations;
        break;
      }
      if (frob(X) > 1e14 || frob(Z) > 1e14 || y.norm() > 1e14) {
        sol.status = SdpStatus::kInfeasible;
        break;
      }
      if (!step(X, y, Z, rp, Rd, mu)) {
        sol.status = SdpStatus::kNumerical;
        break;
      }
    }
    sol.X = X;
    sol.Z = Z;
    sol.y = y;
    sol.primal_objective = inner(Cd, X);
    sol.dual_objective = p_.b.dot(y);
    return sol;
  }

 private:
  // One Mehrotra predictor-corrector step; false on numerical failure.
  bool step(Blocks& X, Eigen::VectorXd& y, Blocks& Z, const Eigen::VectorXd& rp, const Blocks& Rd,
            double mu) {
    const int m = static_cast<int>(A_.size());
    const size_t nblk = X.size();
    Blocks& Zinv = Zinv_;
    Zinv.resize(nblk);
    for (size_t k = 0; k < nblk; ++k) {
      block_llt_.compute(Z[k]);
      if (block_llt_.info() != Eigen::Success) return false;
      Zinv[k].setIdentity(Z[k].rows(), Z[k].cols());
      block_llt_.solveInPlace(Zinv[k]);
    }
    // Schur complement M_kl = tr(A_k X A_l Zinv), symmetric.
    Eigen::MatrixXd& M = M_;
    M.resize(m, m);
    if (W_.size() != nblk) W_ = zeros(p_.block_sizes);
    Blocks& W = W_;
    std::vector<char> touched(nblk);
    for (int l = 0; l < m; ++l) {
      const auto& a = A_[l];
      // Pairwise sum over the entries of A_l and A_k when that is cheaper than forming
      // W = X A_l Zinv densely: tr(A_k X A_l Zinv) = sum v_e v_f X(b_e, c_f) Zinv(d_f, a_e).
      const double pair_cost = static_cast<double>(a.size()) * nnz_suffix_[l];
      const double dense_cost = static_cast<double>(a.size()) * max_block2_ + nnz_suffix_[l];
      if (pair_cost <= dense_cost) {
        for (int k = l; k < m; ++k) {
          const auto& ak = A_[k];
          double s = 0.0;
          for (size_t e = 0; e < ak.size(); ++e) {
            const int b = ak.block[e];
            const Eigen::MatrixXd& Xb = X[b];
            const Eigen::MatrixXd& Zb = Zinv[b];
            double se = 0.0;
            for (size_t f = 0; f < a.size(); ++f)
              if (a.block[f] == b) se += a.v[f] * Xb(ak.j[e], a.i[f]) * Zb(a.j[f], ak.i[e]);
            s += ak.v[e] * se;
          }
          M(k, l) = M(l, k) = s;
        }
        continue;
      }
      std::fill(touched.begin(), touched.end(), 0);
      for (size_t t = 0; t < a.size(); ++t) {
        const int b = a.block[t];
        if (!touched[b]) {
          W[b].setZero();
          touched[b] = 1;
        }
        // Rank-one update W += v x_i z_j^T, written out: Eigen's outer-product path costs more
        // than the arithmetic at these block sizes.
        const int n = static_cast<int>(W[b].rows());
        const double* xi = X[b].col(a.i[t]).data();
        for (int c = 0; c < n; ++c) {
          const double zc = a.v[t] * Zinv[b](a.j[t], c);
          double* wc = W[b].col(c).data();
          for (int r = 0; r < n; ++r) wc[r] += xi[r] * zc;
        }
      }
      for (int k = l; k < m; ++k) {
        const auto& ak = A_[k];
        double s = 0.0;
        for (size_t t = 0; t < ak.size(); ++t)
          if (touched[ak.block[t]]) s += ak.v[t] * W[ak.block[t]](ak.j[t], ak.i[t]);
        M(k, l) = M(l, k) = s;
      }
    }
    // Cholesky; LDL^T when M has lost numerical definiteness. Two steps of iterative refinement
    // against M keep the primal residual from drifting when M is ill-conditioned near the end.
    Eigen::LLT<Eigen::MatrixXd>& llt = schur_llt_;
    Eigen::LDLT<Eigen::MatrixXd>& ldlt = schur_ldlt_;
    llt.compute(M);
    const bool use_llt = llt.info() == Eigen::Success;
    if (!use_llt) ldlt.compute(M);
    auto solve = [&](const Eigen::VectorXd& r) -> Eigen::VectorXd {
      Eigen::VectorXd x = use_llt ? Eigen::VectorXd(llt.solve(r)) : Eigen::VectorXd(ldlt.solve(r));
      for (int refine = 0; refine < 2; ++refine) {
        const Eigen::VectorXd res = r - M * x;
        x += use_llt ? Eigen::VectorXd(llt.solve(res)) : Eigen::VectorXd(ldlt.solve(res));
      }
      return x;
    };
    // Common right-hand side parts: b + A(X Rd Zinv).
    Blocks& T = T_;
    T.resize(nblk);
    for (size_t k = 0; k < nblk; ++k) {
      tmp_.noalias() = X[k].lazyProduct(Rd[k]);
      T[k].noalias() = tmp_.lazyProduct(Zinv[k]);
    }
    Eigen::VectorXd base(m), aZinv(m);
    for (int k = 0; k < m; ++k) {
      base[k] = p_.b[k] + apply_op(A_[k], T);
      aZinv[k] = apply_op(A_[k], Zinv);
    }
    auto directions = [&](const Eigen::VectorXd& rhs, double sigma_mu, const Blocks* corr,
                          Eigen::VectorXd& dy, Blocks& dX, Blocks& dZ) {
      dy = solve(rhs);
      dZ = Rd;
      for (int k = 0; k < m; ++k) add_to(dZ, A_[k], -dy[k]);
      dX.resize(nblk);
      for (size_t k = 0; k < nblk; ++k) {
        Eigen::MatrixXd& D = D_;
        D = sigma_mu * Zinv[k] - X[k];
        tmp_.noalias() = X[k].lazyProduct(dZ[k]);
        D.noalias() -= tmp_.lazyProduct(Zinv[k]);
        if (corr) D -= (*corr)[k];
        dX[k] = 0.5 * (D + D.transpose());
      }
      if (gram_ok_) {
        Eigen::VectorXd r(m);
        for (int k = 0; k < m; ++k) r[k] = rp[k] - apply_op(A_[k], dX);
        const Eigen::VectorXd lam = gram_.solve(r);
        for (int k = 0; k < m; ++k) add_to(dX, A_[k], lam[k]);
      }
    };
    // Predictor (sigma = 0).
    Eigen::VectorXd dy_a;
    Blocks &dX_a = dX_a_, &dZ_a = dZ_a_;
    directions(base, 0.0, nullptr, dy_a, dX_a, dZ_a);
    double ap = max_step(X, dX_a, 1.0), ad = max_step(Z, dZ_a, 1.0);
    if (!std::isfinite(ap) && std::isnan(ap)) return false;
    if (std::isnan(ad)) return false;
    ap = std::min(1.0, ap);
    ad = std::min(1.0, ad);
    double mu_aff = 0.0;
    for (size_t k = 0; k < nblk; ++k)
      mu_aff += (X[k] + ap * dX_a[k]).cwiseProduct(Z[k] + ad * dZ_a[k]).sum();
    mu_aff /= dim_;
    double sigma = std::pow(std::max(0.0, mu_aff) / mu, 3);
    sigma = std::min(1.0, sigma);
    // Corrector: second-order term dX_a dZ_a Zinv.
    Blocks& corr = corr_;
    corr.resize(nblk);
    for (size_t k = 0; k < nblk; ++k) {
      tmp_.noalias() = dX_a[k].lazyProduct(dZ_a[k]);
      corr[k].noalias() = tmp_.lazyProduct(Zinv[k]);
    }
    Eigen::VectorXd rhs(m);
    for (int k = 0; k < m; ++k) rhs[k] = base[k] - sigma * mu * aZinv[k] + apply_op(A_[k], corr);
    Eigen::VectorXd dy;
    Blocks &dX = dX_, &dZ = dZ_;
    directions(rhs, sigma * mu, &corr, dy, dX, dZ);
    if (!dy.allFinite() || !all_finite(dX) || !all_finite(dZ)) return false;
    ap = max_step(X, dX, 1.0 / o_.step_fraction);
    ad = max_step(Z, dZ, 1.0 / o_.step_fraction);
    if (std::isnan(ap) || std::isnan(ad)) return false;
    ap = std::min(1.0, o_.step_fraction * ap);
    ad = std::min(1.0, o_.step_fraction * ad);
    if (std::min(ap, ad) < 0.1) {
      // Safeguard: the second-order term can pull the iterate off the central path; try a pure
      // centring-predictor direction (no corrector, sigma >= 0.5) and keep the longer step.
      const double sig2 = std::max(sigma, 0.5);
      Eigen::VectorXd rhs2(m);
      for (int k = 0; k < m; ++k) rhs2[k] = base[k] - sig2 * mu * aZinv[k];
      Eigen::VectorXd dy2;
      Blocks &dX2 = dX2_, &dZ2 = dZ2_;
      directions(rhs2, sig2 * mu, nullptr, dy2, dX2, dZ2);
      double ap2 = max_step(X, dX2, 1.0 / o_.step_fraction);
      double ad2 = max_step(Z, dZ2, 1.0 / o_.step_fraction);
      if (!std::isnan(ap2) && !std::isnan(ad2) && dy2.allFinite()) {
        ap2 = std::min(1.0, o_.step_fraction * ap2);
        ad2 = std::min(1.0, o_.step_fraction * ad2);
        if (std::min(ap2, ad2) > std::min(ap, ad)) {
          dy = dy2;
          dX.swap(dX2);
          dZ.swap(dZ2);
          ap = ap2;
          ad = ad2;
        }
      }
    }
    stalled_steps_ = std::min(ap, ad) < 1e-2 ? stalled_steps_ + 1 : 0;
    for (size_t k = 0; k < nblk; ++k) {
      X[k] += ap * dX[k];
      Z[k] += ad * dZ[k];
    }
    y += ad * dy;
    return true;
  }

  const SdpProblem& p_;
  SdpOptions o_;
  FullSparse C_;
  std::vector<FullSparse> A_;
  int dim_ = 0;
  Eigen::LDLT<Eigen::MatrixXd> gram_;
  bool gram_ok_ = false;
  int stalled_steps_ = 0;
  std::vector<double> nnz_suffix_;  // sum of nnz(A_k) for k >= l
  double max_block2_ = 0.0;
  // Workspaces of step(), kept across iterations (sizes do not change within a solve).
  Blocks Zinv_, W_, T_, dX_a_, dZ_a_, dX_, dZ_, dX2_, dZ2_, corr_;
  Eigen::MatrixXd M_, D_, tmp_;
  Eigen::LLT<Eigen::MatrixXd> block_llt_, schur_llt_;
  Eigen::LDLT<Eigen::MatrixXd> schur_ldlt_;
};

}  // namespace

SdpSolution solve_sdp(const SdpProblem& problem, const SdpOptions& options) {
  if (!(options.tol > 0.0)) throw ConfigError("sdp.tol: expected > 0");
  if (options.max_iters < 1) throw ConfigError("sdp.max_iters: expected >= 1");
  if (!(options.step_fraction > 0.0 && options.step_fraction < 1.0))
    throw ConfigError("sdp.step_fraction: expected a value in (0, 1)");
  Solver solver(problem, options);
  return solver.run();
}

void write_sdpa(const SdpProblem& problem, std::ostream& out) {
  char buf[128];
  out << "\"effinfer mrf-cccp SDP; CSDP maximises, so C is negated\"\n";
  out << problem.A.size() << "\n" << problem.block_sizes.size() << "\n";
  for (size_t k = 0; k < problem.block_sizes.size(); ++k)
    out << (k ? " " : "") << problem.block_sizes[k];
  out << "\n";
  for (Eigen::Index k = 0; k < problem.b.size(); ++k) {
    std::snprintf(buf, sizeof buf, "%s%.17g", k ? " " : "", problem.b[k]);
    out << buf;
  }
  out << "\n";
  auto emit = [&](size_t matno, const std::vector<SdpEntry>& entries, double sign) {
    for (const auto& e : entries) {
      if (e.value == 0.0) continue;
      std::snprintf(buf, sizeof buf, "%zu %d %d %d %.17g\n", matno, e.block + 1, e.i + 1, e.j + 1,
                    sign * e.value);
      out << buf;
    }
  };
  emit(0, problem.C, -1.0);
  for (size_t k = 0; k < problem.A.size(); ++k) emit(k + 1, problem.A[k], 1.0);
}

void write_sdpa(const SdpProblem& problem, const std::string& path) {
  std::ofstream f(path);
  if (!f) throw WriteError("cannot write SDPA file " + path);
  write_sdpa(problem, f);
  f.close();
  if (!f) throw WriteError("error while writing SDPA file " + path);
}

}  // namespace effinfer::mrf
