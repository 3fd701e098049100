// Hyperparameter optimisation, psytrack mode (spec 2.6, 2.8): psytrack v2.0.2 hyperOpt.py —
// an outer loop of exact MAPs, each followed by scipy BFGS on the decoupled-Laplace surrogate
// (Wu et al. 2017) built at that MAP; Roy et al. Neuron 2021, Algorithm 1.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "decoupled_laplace.hpp"
#include "fit.hpp"
#include "scipy_bfgs.hpp"

namespace effinfer::psytrack {

struct SurrogateWorkspace {
  std::vector<double> inv_v, diag, w, s_blocks, lambda;
};

namespace {

using Workspace = SurrogateWorkspace;

// K > 0: compile-time block size (loops unroll); K == 0: runtime size.
template <int K>
struct Dim {
  int k;
  constexpr int operator()() const { return K > 0 ? K : k; }
};

// Calls fn(Dim<K>{k}) with K fixed for k = 1..12, dynamic above.
template <class Fn>
decltype(auto) dispatch_k(int k, Fn&& fn) {
  switch (k) {
    case 1:
      return fn(Dim<1>{1});
    case 2:
      return fn(Dim<2>{2});
    case 3:
      return fn(Dim<3>{3});
    case 4:
      return fn(Dim<4>{4});
    case 5:
      return fn(Dim<5>{5});
    case 6:
      return fn(Dim<6>{6});
    case 7:
      return fn(Dim<7>{7});
    case 8:
      return fn(Dim<8>{8});
    case 9:
      return fn(Dim<9>{9});
    case 10:
      return fn(Dim<10>{10});
    case 11:
      return fn(Dim<11>{11});
    case 12:
      return fn(Dim<12>{12});
    default:
      return fn(Dim<0>{k});
  }
}

// Log-likelihood term y*eta - softplus(eta) and lambda = p(1 - p) from one exp and one log1p.
inline void bernoulli_terms(double eta, double y, double& loglik, double& lambda) {
  const double e = std::exp(-std::abs(eta));
  loglik = y * eta - ((eta > 0 ? eta : 0.0) + std::log1p(e));
  const double p = eta >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
  lambda = p * (1.0 - p);
}

// Neumaier's compensated sum. The surrogate is a difference of sums of N*K terms of size up to
// 1e4-1e5; plain sequential sums leave ~1e-9 of non-smooth rounding noise, which the h = 1.5e-8
// forward differences of BFGS turn into gradient errors of ~0.1 (psytrack's numpy pairwise sums
// and SuperLU pivots are at ~1e-12). Compensation keeps the noise at the 1e-12 level.
struct CompensatedSum {
  double sum = 0.0, c = 0.0;
  void add(double x) {
    const double t = sum + x;
    if (std::abs(sum) >= std::abs(x)) {
      c += (sum - t) + x;
    } else {
      c += (x - t) + sum;
    }
    sum = t;
  }
  double value() const { return sum + c; }
};

// 1/v_{t,k} of spec 2.2 (sigma^2 on ordinary trials, sigDay^2 at session starts, sigInit^2 at
// t = 0, plus gap * sigma^2), as prior_variance computes v, without allocating.
void inverse_variances(const Hyper& theta, const std::vector<uint8_t>& kind,
                       const std::vector<int>& gap, int n, int k, std::vector<double>& inv_v) {
  const Eigen::VectorXd& var_sd = theta.sigma.value;
  const Eigen::VectorXd& init_sd = theta.sig_init.present() ? theta.sig_init.value : var_sd;
  const Eigen::VectorXd& day_sd = theta.sig_day.present() ? theta.sig_day.value : var_sd;
  if (var_sd.size() != k || init_sd.size() != k || day_sd.size() != k)
    throw InternalError("psytrack: surrogate hypers do not have K values");
  inv_v.resize(static_cast<size_t>(n) * k);
  std::vector<double> base(3 * static_cast<size_t>(k)), base_inv(3 * static_cast<size_t>(k));
  for (int j = 0; j < k; ++j) {
    base[j] = var_sd[j] * var_sd[j];
    base[k + j] = init_sd[j] * init_sd[j];
    base[2 * k + j] = day_sd[j] * day_sd[j];
    for (int c = 0; c < 3; ++c) base_inv[c * k + j] = 1.0 / base[c * k + j];
  }
  for (int t = 0; t < n; ++t) {
    const int c = kind[static_cast<size_t>(t)];
    const int m = gap.empty() ? 0 : gap[static_cast<size_t>(t)];
    double* iv = inv_v.data() + static_cast<size_t>(t) * k;
    for (int j = 0; j < k; ++j)
      iv[j] =
          m == 0 ? base_inv[c * k + j] : 1.0 / (base[c * k + j] + static_cast<double>(m) * base[j]);
  }
}

// In-place inverse of a symmetric positive definite row-major k x k block by sweeping each pivot
// (Gauss-Jordan without pivoting, stable for SPD matrices). det gets prod_p pivot_p / iv_p, i.e.
// det(S diag(v)) with iv = 1/v: each factor is O(1), so the product cannot overflow for any K.
// Returns false when a pivot is not positive.
template <int K>
inline bool sweep_inverse(double* a, Dim<K> dim, const double* iv, double& det) {
  const int k = dim();
  det = 1.0;
  for (int p = 0; p < k; ++p) {
    const double d = a[p * k + p];
    if (!(d > 0.0)) return false;
    det *= d / iv[p];
    const double inv = 1.0 / d;
    for (int i = 0; i < k; ++i) {
      if (i == p) continue;
      const double aip = a[i * k + p] * inv;
      for (int j = 0; j < k; ++j) {
        if (j == p) continue;
        a[i * k + j] -= aip * a[p * k + j];
      }
    }
    for (int i = 0; i < k; ++i) {
      if (i == p) continue;
      a[i * k + p] *= inv;
      a[p * k + i] *= inv;
    }
    a[p * k + p] = -inv;
  }
  for (int i = 0; i < k * k; ++i) a[i] = -a[i];
  return true;
}

// K <= 3: closed-form inverse (adjugate / determinant), one division on the t -> t+1 dependency
// chain instead of K; det = the determinant. Same results as the sweep up to rounding.
template <int K>
inline bool small_inverse(double* a, double& det) {
  if constexpr (K == 1) {
    det = a[0];
    if (!(det > 0.0)) return false;
    a[0] = 1.0 / det;
  } else if constexpr (K == 2) {
    const double a00 = a[0], a01 = a[1], a11 = a[3];
    det = a00 * a11 - a01 * a01;
    if (!(a00 > 0.0) || !(det > 0.0)) return false;
    const double inv = 1.0 / det;
    a[0] = a11 * inv;
    a[1] = a[2] = -a01 * inv;
    a[3] = a00 * inv;
  } else {
    static_assert(K == 3);
    const double a00 = a[0], a01 = a[1], a02 = a[2], a11 = a[4], a12 = a[5], a22 = a[8];
    const double m00 = a11 * a22 - a12 * a12, m01 = a02 * a12 - a01 * a22,
                 m02 = a01 * a12 - a02 * a11;
    det = a00 * m00 + a01 * m01 + a02 * m02;
    const double m11 = a00 * a22 - a02 * a02, m12 = a01 * a02 - a00 * a12,
                 m22 = a00 * a11 - a01 * a01;
    // Positive leading minors (Sylvester) = the block is positive definite.
    if (!(a00 > 0.0) || !(m22 > 0.0) || !(det > 0.0)) return false;
    const double inv = 1.0 / det;
    a[0] = m00 * inv;
    a[1] = a[3] = m01 * inv;
    a[2] = a[6] = m02 * inv;
    a[4] = m11 * inv;
    a[5] = a[7] = m12 * inv;
    a[8] = m22 * inv;
  }
  return true;
}

// Inverts the SPD block in place (closed form for K <= 3, sweep above); ratio = det(S) prod v
// with iv = 1/v (see sweep_inverse). False when the block is not positive definite.
template <int K>
inline bool invert_block(double* a, Dim<K> dim, const double* iv, double& ratio) {
  if constexpr (K >= 1 && K <= 3) {
    double det = 1.0;
    if (!small_inverse<K>(a, det)) return false;
    double prod_iv = iv[0];
    for (int j = 1; j < K; ++j) prod_iv *= iv[j];
    ratio = det / prod_iv;
    return true;
  } else {
    return sweep_inverse(a, dim, iv, ratio);
  }
}

// Writes A_t = lambda_t g_t g_t^T + diag(1/v_t + 1/v_{t+1}), the diagonal block of
// C = P + blockdiag(lambda g g^T) (spec 2.2); the coupling to t+1 is B = -diag(1/v_{t+1}).
template <int K>
inline void diagonal_block(double* a, Dim<K> dim, const double* gt, double lambda, const double* iv,
                           bool last) {
  const int k = dim();
  for (int i = 0; i < k; ++i) {
    const double gi = lambda * gt[i];
    for (int j = 0; j < k; ++j) a[i * k + j] = gi * gt[j];
  }
  for (int j = 0; j < k; ++j) a[j * k + j] += last ? iv[j] : iv[j] + iv[k + j];
}

// s(x) in two sweeps over the trials, with no assembled matrix (spec 2.3 recursions):
//  forward:  block LDL^T of C1 = P_theta + Lambda0 (S_0 = A_0, S_t = A_t - D_t S_{t-1}^-1 D_t,
//            D_t = diag(1/v_t)) and the forward solve y_t = b_t + D_t z_{t-1}, z_t = S_t^-1 y_t;
//  backward: back substitution w_t = z_t + S_t^-1 D_{t+1} w_{t+1} for W(x) = C1^-1 b, and as each
//            w_t appears, its likelihood term, lambda_t(W(x)) and the prior term of eps_{t+1};
//            then, in a second backward pass, the block recursion R_t = A'_t - D_{t+1} R_{t+1}^-1
//            D_{t+1} of C2 = P_theta + Lambda(W(x)) whose det(R_t) prod_k v_{t,k} multiply to
//            det(C2) prod v (one log at the end; see CompensatedSum for why the large terms are
//            kept together and sums compensated).
// Returns -infinity when a block is not positive definite.
template <int K>
double surrogate_impl(Dim<K> dim, const Dataset& data, const std::vector<double>& lambda0,
                      const std::vector<double>& rhs, Workspace& ws, RowMatrix* w_out) {
  constexpr double kFail = -std::numeric_limits<double>::infinity();
  const int n = data.n_trials();
  const int k = dim();
  const size_t kk = static_cast<size_t>(k) * k;
  const double* g = data.g.data();
  const double* inv_v = ws.inv_v.data();
  ws.diag.resize(static_cast<size_t>(n) * kk);  // S_t^-1
  ws.w.resize(static_cast<size_t>(n) * k);      // z, then W(x)
  ws.s_blocks.resize(2 * kk);
  double* sinv = ws.diag.data();
  double* w = ws.w.data();

  double ratio = 1.0;
  double y_fixed[K > 0 ? K : 1];
  std::vector<double> y_dyn(K > 0 ? 0 : static_cast<size_t>(k));
  double* yt = K > 0 ? y_fixed : y_dyn.data();
  // For fixed K the block being built and S_{t-1}^-1 live in local arrays (registers for small
  // K): the recursion is latency bound and would otherwise wait on store-to-load forwarding.
  constexpr int kLocal = K > 0 ? K * K : 1;
  double cur_fixed[kLocal], prev_fixed[kLocal];
  for (int t = 0; t < n; ++t) {
    const double* iv = inv_v + static_cast<size_t>(t) * k;
    double* st = sinv + t * kk;
    double* blk = K > 0 ? cur_fixed : st;
    double* zt = w + static_cast<size_t>(t) * k;
    const double* bt = rhs.data() + static_cast<size_t>(t) * k;
    diagonal_block(blk, dim, g + static_cast<size_t>(t) * k, lambda0[t], iv, t + 1 == n);
    if (t == 0) {
      for (int i = 0; i < k; ++i) zt[i] = bt[i];
    } else {
      const double* sp = K > 0 ? prev_fixed : st - kk;
      const double* zp = zt - k;
      for (int i = 0; i < k; ++i) {
        for (int j = 0; j < k; ++j) blk[i * k + j] -= (iv[i] * iv[j]) * sp[i * k + j];
        zt[i] = bt[i] + iv[i] * zp[i];  // y_t; zp holds z_{t-1} = S_{t-1}^-1 y_{t-1}
      }
    }
    if (!invert_block(blk, dim, iv, ratio)) return kFail;
    if constexpr (K > 0) {
      for (int i = 0; i < K * K; ++i) {
        st[i] = blk[i];
        prev_fixed[i] = blk[i];
      }
    }
    for (int i = 0; i < k; ++i) yt[i] = zt[i];
    for (int i = 0; i < k; ++i) {
      double acc = 0.0;
      for (int j = 0; j < k; ++j) acc += blk[i * k + j] * yt[j];
      zt[i] = acc;
    }
  }

  CompensatedSum logli, quad;
  double mantissa = 1.0;
  long exponent = 0;
  // R_t (inverted in place) and R_{t+1}^-1, in local arrays for fixed K (as above).
  double r_fixed[kLocal], r_next_fixed[kLocal];
  double* r = K > 0 ? r_fixed : ws.s_blocks.data();
  double* r_next = K > 0 ? r_next_fixed : ws.s_blocks.data() + kk;
  ws.lambda.resize(static_cast<size_t>(n));
  double* lam = ws.lambda.data();  // lambda_t(W(x))
  for (int t = n - 1; t >= 0; --t) {
    const double* iv = inv_v + static_cast<size_t>(t) * k;
    const double* st = sinv + t * kk;
    double* wt = w + static_cast<size_t>(t) * k;
    const double* gt = g + static_cast<size_t>(t) * k;
    if (t + 1 < n) {
      // w_t = z_t + S_t^-1 D_{t+1} w_{t+1}
      const double* wn = wt + k;
      const double* ivn = iv + k;
      for (int i = 0; i < k; ++i) {
        double acc = 0.0;
        for (int j = 0; j < k; ++j) acc += st[i * k + j] * (ivn[j] * wn[j]);
        wt[i] += acc;
      }
      double q = 0.0;
      for (int j = 0; j < k; ++j) {
        const double eps = wn[j] - wt[j];
        q += eps * eps * ivn[j];
      }
      quad.add(q);
    }
    double eta = 0.0;
    for (int j = 0; j < k; ++j) eta += gt[j] * wt[j];
    double ll;
    bernoulli_terms(eta, data.y[t], ll, lam[t]);
    logli.add(ll);
  }
  // The R recursion in a pass of its own: it is latency bound, and without the exp/log1p work of
  // the loop above in the same iteration the CPU overlaps its off-chain parts.
  for (int t = n - 1; t >= 0; --t) {
    const double* iv = inv_v + static_cast<size_t>(t) * k;
    const double* gt = g + static_cast<size_t>(t) * k;
    diagonal_block(r, dim, gt, lam[t], iv, t + 1 == n);
    if (t + 1 < n) {
      const double* ivn = iv + k;
      for (int i = 0; i < k; ++i)
        for (int j = 0; j < k; ++j) r[i * k + j] -= (ivn[i] * ivn[j]) * r_next[i * k + j];
    }
    if (!invert_block(r, dim, iv, ratio) || !(ratio > 0.0) ||
        !(ratio < std::numeric_limits<double>::infinity()))
      return kFail;
    int e = 0;
    mantissa = std::frexp(mantissa * ratio, &e);
    exponent += e;
    if constexpr (K > 0) {
      for (int i = 0; i < K * K; ++i) r_next[i] = r[i];
    } else {
      std::swap(r, r_next);
    }
  }
  {
    double q = 0.0;  // eps_0 = w_0
    for (int j = 0; j < k; ++j) q += w[j] * w[j] * inv_v[j];
    quad.add(q);
  }
  if (w_out != nullptr) {
    w_out->resize(n, k);
    std::copy(ws.w.begin(), ws.w.end(), w_out->data());
  }
  const double log_det_v = std::log(mantissa) + static_cast<double>(exponent) * M_LN2;
  const double s = logli.value() - 0.5 * quad.value() - 0.5 * log_det_v;
  return std::isfinite(s) ? s : kFail;
}

}  // namespace

DecoupledLaplace::DecoupledLaplace(const Dataset& data, const TrialLayout& layout,
                                   const Hyper& base, const HyperParam& param, const Hyper& theta0,
                                   const Eigen::Ref<const RowMatrix>& w0)
    : data_(data), layout_(layout), base_(base), param_(param) {
  const int n = data.n_trials(), k = data.n_weights();
  if (w0.rows() != n || w0.cols() != k)
    throw InternalError("psytrack: surrogate built at weights of the wrong shape");
  if (!layout.gap.empty() && static_cast<int>(layout.gap.size()) != n)
    throw InternalError("psytrack: gap length != N");
  if (!layout.session_start.empty() && static_cast<int>(layout.session_start.size()) != n)
    throw InternalError("psytrack: session_start length != N");
  kind_.resize(static_cast<size_t>(n));
  for (int t = 0; t < n; ++t) {
    const bool session = !layout.session_start.empty() && layout.session_start[t];
    kind_[static_cast<size_t>(t)] = t == 0 ? 1 : session ? 2 : 0;
  }
  const RowMatrix v0 = prior_variance(theta0, layout, n, k);
  lambda0_.resize(static_cast<size_t>(n));
  rhs_.resize(static_cast<size_t>(n) * k);
  for (int t = 0; t < n; ++t) {
    const double eta = data.g.row(t).dot(w0.row(t));
    double ll, lam;
    bernoulli_terms(eta, data.y[t], ll, lam);
    lambda0_[static_cast<size_t>(t)] = lam;
    for (int j = 0; j < k; ++j) {
      // (P W)_t = eps_t / v_t - eps_{t+1} / v_{t+1}; (Lambda W)_t = lambda_t g_t (g_t . w_t).
      const double eps = t == 0 ? w0(0, j) : w0(t, j) - w0(t - 1, j);
      double pw = eps / v0(t, j);
      if (t + 1 < n) pw -= (w0(t + 1, j) - w0(t, j)) / v0(t + 1, j);
      rhs_[static_cast<size_t>(t) * k + j] = pw + lam * data.g(t, j) * eta;
    }
  }
}

double DecoupledLaplace::evaluate(const Eigen::VectorXd& x, RowMatrix* w_out) const {
  const Hyper theta = param_.from_log2(base_, x);
  const int n = data_.n_trials(), k = data_.n_weights();
  // Borrow a workspace from the pool (or make one) for the duration of this call.
  std::unique_ptr<Workspace> ws_owner;
  {
    const std::lock_guard<std::mutex> lock(pool_mutex_);
    if (!pool_.empty()) {
      ws_owner = std::move(pool_.back());
      pool_.pop_back();
    }
  }
  if (!ws_owner) ws_owner = std::make_unique<Workspace>();
  struct GiveBack {
    const DecoupledLaplace* self;
    std::unique_ptr<Workspace>& ws;
    ~GiveBack() {
      const std::lock_guard<std::mutex> lock(self->pool_mutex_);
      self->pool_.push_back(std::move(ws));
    }
  } give_back{this, ws_owner};
  Workspace& ws = *ws_owner;
  inverse_variances(theta, kind_, layout_.gap, n, k, ws.inv_v);
  return dispatch_k(
      k, [&](auto dim) { return surrogate_impl(dim, data_, lambda0_, rhs_, ws, w_out); });
}

DecoupledLaplace::~DecoupledLaplace() = default;

double DecoupledLaplace::operator()(const Eigen::VectorXd& x) const { return evaluate(x, nullptr); }

RowMatrix DecoupledLaplace::weights(const Eigen::VectorXd& x) const {
  RowMatrix w;
  evaluate(x, &w);
  return w;
}

namespace {

// Runs f on every point, concurrently on `threads` threads; each call is sequential, so the
// values do not depend on the thread count.
std::vector<double> evaluate_all(const DecoupledLaplace& s, const std::vector<Eigen::VectorXd>& x,
                                 int threads) {
  std::vector<double> out(x.size());
  std::exception_ptr error;
  const int nt = std::max(1, std::min<int>(threads, static_cast<int>(x.size())));
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
  for (size_t i = 0; i < x.size(); ++i) {
    try {
      out[i] = s(x[i]);
    } catch (...) {
#pragma omp critical(effinfer_psytrack_hypstd_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  return out;
}

// Spec 2.8 / psytrack jacHessCheck.py `compHess`: central-difference Hessian of -s in log2 units,
// then sqrt(diag(H^-1)); NaN (and a warning) when H is not positive definite.
Eigen::VectorXd hyper_std(const DecoupledLaplace& s, const Eigen::VectorXd& x0, double dx,
                          int threads, std::vector<std::string>& warnings) {
  const Eigen::Index n = x0.size();
  const double half = dx / 2.0;
  std::vector<Eigen::VectorXd> points;
  points.push_back(x0);
  auto shifted = [&](Eigen::Index i, double di, Eigen::Index j, double dj) {
    Eigen::VectorXd x = x0;
    x[i] = x[i] + di;
    if (j >= 0) x[j] = x[j] + dj;
    return x;
  };
  for (Eigen::Index j = 0; j < n; ++j) {
    points.push_back(shifted(j, 2 * half, -1, 0));
    points.push_back(shifted(j, -2 * half, -1, 0));
  }
  for (Eigen::Index j = 0; j + 1 < n; ++j) {
    for (Eigen::Index i = j + 1; i < n; ++i) {
      points.push_back(shifted(j, half, i, half));    // f11
      points.push_back(shifted(j, -half, i, -half));  // f22
      points.push_back(shifted(j, half, i, -half));   // f12
      points.push_back(shifted(j, -half, i, half));   // f21
    }
  }
  std::vector<double> f = evaluate_all(s, points, threads);
  for (double& v : f) v = -v;  // Hessian of the loss -s
  Eigen::MatrixXd h(n, n);
  size_t at = 1;
  const double f0 = f[0];
  for (Eigen::Index j = 0; j < n; ++j) {
    h(j, j) = f[at] + f[at + 1] - 2 * f0;
    at += 2;
  }
  for (Eigen::Index j = 0; j + 1 < n; ++j) {
    for (Eigen::Index i = j + 1; i < n; ++i) {
      h(j, i) = f[at] + f[at + 1] - f[at + 2] - f[at + 3];
      h(i, j) = h(j, i);
      at += 4;
    }
  }
  h = h / dx / dx;
  Eigen::VectorXd out = Eigen::VectorXd::Constant(n, std::numeric_limits<double>::quiet_NaN());
  Eigen::LLT<Eigen::MatrixXd> llt;
  if (h.allFinite()) llt.compute(h);
  if (!h.allFinite() || llt.info() != Eigen::Success) {
    warnings.push_back(
        "hyp_std: the surrogate's Hessian in log2 units is not positive definite; hyp_std_log2 "
        "set to NaN");
    return out;
  }
  const Eigen::MatrixXd inv = llt.solve(Eigen::MatrixXd::Identity(n, n));
  for (Eigen::Index i = 0; i < n; ++i) out[i] = std::sqrt(inv(i, i));
  return out;
}

std::string format_vector(const Eigen::VectorXd& x) {
  std::string out = "[";
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    if (i > 0) out += ", ";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", x[i]);
    out += buf;
  }
  return out + "]";
}

// psytrack's outer stopping rule ||(x0 - x*) / x0||_2, with denominator 1 where x0_i = 0
// (psytrack divides by zero there).
double relative_change(const Eigen::VectorXd& x0, const Eigen::VectorXd& x) {
  double sum = 0.0;
  for (Eigen::Index i = 0; i < x0.size(); ++i) {
    const double d = (x0[i] - x[i]) / (x0[i] == 0.0 ? 1.0 : x0[i]);
    sum += d * d;
  }
  return std::sqrt(sum);
}

}  // namespace

namespace detail {

FitResult fit_psytrack_mode_with(const Dataset& data, const TrialLayout& layout, const Hyper& init,
                                 const HyperParam& param, const FitOptions& options,
                                 const PsytrackSteps& steps) {
  FitResult res;
  const bool optimise = !param.opt.empty();
  const int max_outer = std::max(1, options.outer_max_iter);
  BfgsOptions bfgs;
  bfgs.max_iter = options.bfgs_max_iter;
  bfgs.gtol = options.bfgs_gtol;
  bfgs.fd_step = options.fd_step;
  bfgs.threads = options.threads;

  Hyper theta = init;
  std::optional<MapResult> best;
  Hyper best_theta;
  int jumps = options.jump;
  RowMatrix w_prev;  // warm start: the previous MAP, even a rejected one
  bool have_prev = false;
  // The surrogate and start point of the last BFGS call, for hyp_std.
  std::optional<DecoupledLaplace> last_surrogate;
  Eigen::VectorXd last_x0;
  bool ended_by_jumps = false;

  for (int outer = 0;; ++outer) {
    // 1. Exact MAP at theta.
    MapResult current = steps.map(theta, have_prev ? &w_prev : nullptr);
    ++res.n_map_solves;
    res.newton_iterations += current.iterations;
    if (!current.converged)
      res.warnings.push_back("MAP " + std::to_string(res.n_map_solves) + ": " + current.message);
    TraceRow row;
    row.log2_hyper = param.to_log2(theta);
    row.log_evidence = current.log_evidence;
    row.newton_iterations = current.iterations;
    const Hyper theta_map = theta;

    // 2. Accept (>=, as psytrack) or move the free hypers to the linear-space midpoint.
    const bool accepted = !best || current.log_evidence >= best->log_evidence;
    row.accepted = accepted;
    res.trace.push_back(row);
    if (!optimise) {
      best = std::move(current);
      best_theta = theta;
      break;
    }
    w_prev = current.w;
    have_prev = true;
    if (accepted) {
      best = std::move(current);
      best_theta = theta;
      jumps = options.jump;
    } else {
      --jumps;
      for (HyperKind kind : param.opt) {
        HyperValue& h = theta.get(kind);
        h.value = (h.value + best_theta.get(kind).value) / 2;
      }
    }
    // 3. Stop after `jump` rejections in a row.
    if (jumps <= 0) {
      ended_by_jumps = true;
      break;
    }
    // 4. BFGS on -s from x0 = log2(theta), surrogate at the MAP of step 1.
    const MapResult& source = accepted ? *best : current;
    last_surrogate.emplace(data, layout, init, param, theta_map, source.w);
    last_x0 = param.to_log2(theta);
    const DecoupledLaplace& s = *last_surrogate;
    auto loss = [&s](const Eigen::VectorXd& x) { return -s(x); };
    const BfgsResult r = steps.bfgs(loss, last_x0, bfgs);
    res.n_dla_evals += r.n_fev;
    // The line searches only accept finite decreases, so a non-finite end value means the
    // surrogate was not finite at x0 itself.
    if (!std::isfinite(r.f) || !r.x.allFinite())
      throw NumericalError(
          "hyperopt: the decoupled-Laplace evidence is not finite at log2 hypers " +
          format_vector(last_x0));
    const Eigen::VectorXd x_star = r.x.cwiseMax(options.log2_lower).cwiseMin(options.log2_upper);

    // 5. Move on while the relative change is large; else stop and discard x*.
    if (relative_change(last_x0, x_star) <= options.outer_rel_tol) break;
    if (outer + 1 >= max_outer) {
      res.converged = false;
      res.message = "hyperparameter search not converged after " + std::to_string(max_outer) +
                    " outer iterations (optimizer.outer_max_iter)";
      break;
    }
    theta = param.from_log2(theta, x_star);
  }

  res.hyper = best_theta;
  res.log2_hyper = param.to_log2(best_theta);
  res.map = std::move(*best);
  if (!res.map.converged && res.converged) {
    res.converged = false;
    res.message = res.map.message.empty() ? "MAP not converged" : res.map.message;
  }
  if (options.w_std) res.w_std = posterior_std(res.map);
  if (options.hyp_std) {
    if (!optimise) {
      res.hyp_std_log2.resize(0);
    } else {
      // At the x0 and surrogate of the last BFGS call; when the loop ended on `jump`
      // rejections, at the best theta and a surrogate built at the best MAP (psytrack).
      if (ended_by_jumps || !last_surrogate) {
        last_surrogate.emplace(data, layout, init, param, best_theta, res.map.w);
        last_x0 = res.log2_hyper;
      }
      res.hyp_std_log2 =
          hyper_std(*last_surrogate, last_x0, options.hyp_std_dx, options.threads, res.warnings);
    }
  }
  return res;
}

}  // namespace detail

FitResult fit_psytrack_mode(const Dataset& data, const TrialLayout& layout, const Hyper& init,
                            const HyperParam& param, const FitOptions& options) {
  detail::PsytrackSteps steps;
  steps.map = [&](const Hyper& theta, const RowMatrix* w_start) {
    return map_fit(data, layout, theta, options.map, w_start);
  };
  steps.bfgs = minimize_bfgs;
  return detail::fit_psytrack_mode_with(data, layout, init, param, options, steps);
}

FitResult fit_hyper(const Dataset& data, const TrialLayout& layout, const Hyper& init,
                    const HyperParam& param, const FitOptions& options) {
  // opt = [] is the fixed-hyper MAP in both modes.
  if (param.opt.empty() || options.mode == FitMode::kPsytrack)
    return fit_psytrack_mode(data, layout, init, param, options);
  return fit_exact_mode(data, layout, init, param, options);
}

}  // namespace effinfer::psytrack
