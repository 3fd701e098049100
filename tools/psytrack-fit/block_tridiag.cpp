// Block factorization of the block-tridiagonal PsyTrack Hessian (spec 2.3).
//
// Block Cholesky C = L L^T with L_t = chol(S_t), S_0 = A_0, S_{t+1} = A_{t+1} - M_t M_t^T,
// M_t = B_{t+1} L_t^-T. Because B_{t+1} = diag(b_t) is diagonal, M_t M_t^T = diag(b) S_t^-1 diag(b)
// and U_t = M_t L_t^-1 = diag(b) S_t^-1: the recursion, the solves, the log-determinant and the
// selected inversion need only S_t^-1 and U_t, i.e. the block LDL^T form of the same
// factorization. We store those. S_t^-1 comes from a symmetric Gauss-Jordan sweep whose pivots are
// the squared diagonals of L_t (so log det C = sum log pivots = 2 sum log diag L_t, and a
// non-positive pivot is exactly a Cholesky breakdown). The sweep has one division per pivot and
// no square roots on the t -> t+1 dependency chain, which makes the O(N) recursion about twice as
// fast as chol + triangular inverse at small K (it is latency bound, not flop bound).
//
// Selected inversion (psytrack invBlkTriDiag.py computes the same blocks):
// Sigma_{N-1} = S_{N-1}^-1; Sigma_{t+1,t} = -Sigma_{t+1,t+1} U_t;
// Sigma_tt = S_t^-1 + U_t^T Sigma_{t+1,t+1} U_t.
//
// Kernels are templated on K (1..12 fixed, 0 = dynamic) and written as plain loops over row-major
// K x K blocks: for fixed K the compiler unrolls them completely.
#include "block_tridiag.hpp"

#include <cmath>

namespace effinfer::psytrack {

namespace {

// K > 0: compile-time block size; K == 0: runtime size k.
template <int K>
struct Dim {
  int k;
  constexpr int operator()() const { return K > 0 ? K : k; }
};

// In-place inverse of the symmetric positive definite row-major k x k block a by sweeping every
// pivot (Goodnight 1979; Gauss-Jordan without pivoting, stable for SPD). Multiplies det by each
// pivot. Returns false if a pivot is not positive and finite.
template <int K>
inline bool spd_inverse(double* a, Dim<K> dim, double& det) {
  const int k = dim();
  for (int j = 0; j < k; ++j) {
    const double d = a[j * k + j];
    if (!(d > 0.0) || !std::isfinite(d)) return false;
    det *= d;
    const double inv = 1.0 / d;
    // After the sweep of pivot j, a holds -inverse on the swept set; the sign is fixed below.
    for (int i = 0; i < k; ++i) {
      if (i == j) continue;
      const double aij = a[i * k + j] * inv;
      for (int c = 0; c < k; ++c) {
        if (c == j) continue;
        a[i * k + c] -= aij * a[j * k + c];
      }
    }
    for (int i = 0; i < k; ++i) {
      if (i == j) continue;
      a[i * k + j] *= inv;
      a[j * k + i] *= inv;
    }
    a[j * k + j] = -inv;
  }
  for (int i = 0; i < k * k; ++i) a[i] = -a[i];
  return true;
}

// K <= 3: closed-form inverse (adjugate over determinant): a single division on the dependency
// chain instead of K. Positive definiteness by Sylvester's criterion (leading minors > 0), the
// same condition as a successful Cholesky; det is the product of the Cholesky pivots.
template <>
inline bool spd_inverse<1>(double* a, Dim<1>, double& det) {
  const double d = a[0];
  if (!(d > 0.0) || !std::isfinite(d)) return false;
  det *= d;
  a[0] = 1.0 / d;
  return true;
}

template <>
inline bool spd_inverse<2>(double* a, Dim<2>, double& det) {
  const double a00 = a[0], a01 = a[1], a11 = a[3];
  const double d = a00 * a11 - a01 * a01;
  if (!(a00 > 0.0) || !(d > 0.0) || !std::isfinite(d)) return false;
  det *= d;
  const double inv = 1.0 / d;
  a[0] = a11 * inv;
  a[1] = a[2] = -a01 * inv;
  a[3] = a00 * inv;
  return true;
}

template <>
inline bool spd_inverse<3>(double* a, Dim<3>, double& det) {
  const double a00 = a[0], a01 = a[1], a02 = a[2], a11 = a[4], a12 = a[5], a22 = a[8];
  const double c00 = a11 * a22 - a12 * a12, c01 = a02 * a12 - a01 * a22,
               c02 = a01 * a12 - a02 * a11, c11 = a00 * a22 - a02 * a02,
               c12 = a01 * a02 - a00 * a12, c22 = a00 * a11 - a01 * a01;
  const double d = a00 * c00 + a01 * c01 + a02 * c02;
  if (!(a00 > 0.0) || !(c22 > 0.0) || !(d > 0.0) || !std::isfinite(d)) return false;
  det *= d;
  const double inv = 1.0 / d;
  a[0] = c00 * inv;
  a[1] = a[3] = c01 * inv;
  a[2] = a[6] = c02 * inv;
  a[4] = c11 * inv;
  a[5] = a[7] = c12 * inv;
  a[8] = c22 * inv;
  return true;
}

// K = 4: 2 x 2 block inversion with the closed forms above (two divisions on the chain).
// A = [[P, Q], [Q^T, R]] is SPD iff P and its Schur complement S = R - Q^T P^-1 Q are; then
// A^-1 = [[P^-1 + X S^-1 X^T, -X S^-1], [., S^-1]] with X = P^-1 Q, det A = det P det S.
template <>
inline bool spd_inverse<4>(double* a, Dim<4>, double& det) {
  const double p00 = a[0], p01 = a[1], p11 = a[5];
  const double q00 = a[2], q01 = a[3], q10 = a[6], q11 = a[7];
  const double r00 = a[10], r01 = a[11], r11 = a[15];
  const double dp = p00 * p11 - p01 * p01;
  if (!(p00 > 0.0) || !(dp > 0.0)) return false;
  const double ip = 1.0 / dp;
  const double i00 = p11 * ip, i01 = -p01 * ip, i11 = p00 * ip;  // P^-1
  const double x00 = i00 * q00 + i01 * q10, x01 = i00 * q01 + i01 * q11;
  const double x10 = i01 * q00 + i11 * q10, x11 = i01 * q01 + i11 * q11;
  const double s00 = r00 - (q00 * x00 + q10 * x10), s01 = r01 - (q00 * x01 + q10 * x11),
               s11 = r11 - (q01 * x01 + q11 * x11);
  const double ds = s00 * s11 - s01 * s01;
  if (!(s00 > 0.0) || !(ds > 0.0) || !std::isfinite(dp * ds)) return false;
  det *= dp * ds;
  const double is = 1.0 / ds;
  const double t00 = s11 * is, t01 = -s01 * is, t11 = s00 * is;  // S^-1
  const double y00 = x00 * t00 + x01 * t01, y01 = x00 * t01 + x01 * t11;
  const double y10 = x10 * t00 + x11 * t01, y11 = x10 * t01 + x11 * t11;
  a[0] = i00 + y00 * x00 + y01 * x01;
  a[1] = a[4] = i01 + y00 * x10 + y01 * x11;
  a[5] = i11 + y10 * x10 + y11 * x11;
  a[2] = a[8] = -y00;
  a[3] = a[12] = -y01;
  a[6] = a[9] = -y10;
  a[7] = a[13] = -y11;
  a[10] = t00;
  a[11] = a[14] = t01;
  a[15] = t11;
  return true;
}

template <int K>
bool factor_impl(int n, Dim<K> dim, const double* diag_blocks, const double* off_diag, double* sinv,
                 double* u, double& log_det) {
  const int k = dim();
  const int kk = k * k;
  // log det = sum of log pivots, accumulated as mantissa * 2^exponent: one frexp per trial
  // instead of K logs (a log costs more than the whole K = 3 block update).
  double mantissa = 1.0;
  long exponent = 0;
  for (int t = 0; t < n; ++t) {
    double* st = sinv + static_cast<size_t>(t) * kk;
    const double* at = diag_blocks + static_cast<size_t>(t) * kk;
    if (t == 0) {
      for (int i = 0; i < kk; ++i) st[i] = at[i];
    } else {
      // S_t = A_t - diag(b) S_{t-1}^-1 diag(b) (b_i b_j is off the dependency chain).
      const double* sp = st - kk;
      const double* b = off_diag + static_cast<size_t>(t - 1) * k;
      for (int i = 0; i < k; ++i)
        for (int j = 0; j < k; ++j) st[i * k + j] = at[i * k + j] - (b[i] * b[j]) * sp[i * k + j];
    }
    double det = mantissa;
    if (!spd_inverse<K>(st, dim, det)) return false;
    int e = 0;
    mantissa = std::frexp(det, &e);
    exponent += e;
    if (t + 1 < n) {
      const double* b = off_diag + static_cast<size_t>(t) * k;
      double* ut = u + static_cast<size_t>(t) * kk;
      for (int i = 0; i < k; ++i)
        for (int j = 0; j < k; ++j) ut[i * k + j] = b[i] * st[i * k + j];
    }
  }
  log_det = std::log(mantissa) + static_cast<double>(exponent) * M_LN2;
  return true;
}

// C = L D L^T with unit block-lower L ((t+1, t) block U_t) and D = blockdiag(S_t).
template <int K>
void solve_impl(int n, Dim<K> dim, const double* sinv, const double* u, double* x,
                double* scratch) {
  const int k = dim();
  const int kk = k * k;
  // Forward: y_t = r_t - U_{t-1} y_{t-1}.
  for (int t = 1; t < n; ++t) {
    const double* up = u + static_cast<size_t>(t - 1) * kk;
    const double* xp = x + static_cast<size_t>(t - 1) * k;
    double* xt = x + static_cast<size_t>(t) * k;
    for (int i = 0; i < k; ++i) {
      double s = 0.0;
      for (int p = 0; p < k; ++p) s += up[i * k + p] * xp[p];
      xt[i] -= s;
    }
  }
  // Backward: x_t = S_t^-1 y_t - U_t^T x_{t+1}.
  for (int t = n - 1; t >= 0; --t) {
    const double* st = sinv + static_cast<size_t>(t) * kk;
    double* xt = x + static_cast<size_t>(t) * k;
    for (int i = 0; i < k; ++i) {
      double s = 0.0;
      for (int p = 0; p < k; ++p) s += st[i * k + p] * xt[p];
      scratch[i] = s;
    }
    if (t + 1 < n) {
      const double* ut = u + static_cast<size_t>(t) * kk;
      const double* xn = xt + k;
      for (int i = 0; i < k; ++i) {
        double s = 0.0;
        for (int p = 0; p < k; ++p) s += ut[p * k + i] * xn[p];
        scratch[i] -= s;
      }
    }
    for (int i = 0; i < k; ++i) xt[i] = scratch[i];
  }
}

template <int K>
void selected_inverse_impl(int n, Dim<K> dim, const double* sinv, const double* u, double* diag_out,
                           double* sub_out, double* scratch) {
  const int k = dim();
  const int kk = k * k;
  double* x = scratch;
  {
    const double* sl = sinv + static_cast<size_t>(n - 1) * kk;
    double* dl = diag_out + static_cast<size_t>(n - 1) * kk;
    for (int i = 0; i < kk; ++i) dl[i] = sl[i];
  }
  for (int t = n - 2; t >= 0; --t) {
    const double* ut = u + static_cast<size_t>(t) * kk;
    const double* sn = diag_out + static_cast<size_t>(t + 1) * kk;
    // X = Sigma_{t+1,t+1} U_t; Sigma_{t+1,t} = -X; Sigma_tt = S_t^-1 + U_t^T X.
    for (int i = 0; i < k; ++i) {
      for (int j = 0; j < k; ++j) {
        double s = 0.0;
        for (int p = 0; p < k; ++p) s += sn[i * k + p] * ut[p * k + j];
        x[i * k + j] = s;
      }
    }
    if (sub_out != nullptr) {
      double* sub = sub_out + static_cast<size_t>(t) * kk;
      for (int i = 0; i < kk; ++i) sub[i] = -x[i];
    }
    const double* st = sinv + static_cast<size_t>(t) * kk;
    double* dt = diag_out + static_cast<size_t>(t) * kk;
    for (int i = 0; i < k; ++i) {
      for (int j = 0; j <= i; ++j) {
        double s = st[i * k + j];
        for (int p = 0; p < k; ++p) s += ut[p * k + i] * x[p * k + j];
        dt[i * k + j] = s;
        dt[j * k + i] = s;
      }
    }
  }
}

// Calls f(Dim<K>) with K fixed for k = 1..12, dynamic otherwise.
template <typename F>
decltype(auto) dispatch(int k, F&& f) {
  switch (k) {
    case 1:
      return f(Dim<1>{1});
    case 2:
      return f(Dim<2>{2});
    case 3:
      return f(Dim<3>{3});
    case 4:
      return f(Dim<4>{4});
    case 5:
      return f(Dim<5>{5});
    case 6:
      return f(Dim<6>{6});
    case 7:
      return f(Dim<7>{7});
    case 8:
      return f(Dim<8>{8});
    case 9:
      return f(Dim<9>{9});
    case 10:
      return f(Dim<10>{10});
    case 11:
      return f(Dim<11>{11});
    case 12:
      return f(Dim<12>{12});
    default:
      return f(Dim<0>{k});
  }
}

}  // namespace

bool BlockTridiagCholesky::factor(int n_trials, int n_weights, const double* diag_blocks,
                                  const double* off_diag) {
  n_ = 0;
  k_ = 0;
  log_det_ = 0;
  if (n_trials <= 0 || n_weights <= 0) return false;
  const size_t kk = static_cast<size_t>(n_weights) * n_weights;
  l_.resize(static_cast<size_t>(n_trials) * kk);
  m_.resize(static_cast<size_t>(n_trials - 1) * kk);
  double log_det = 0;
  const bool ok = dispatch(n_weights, [&](auto dim) {
    return factor_impl(n_trials, dim, diag_blocks, off_diag, l_.data(), m_.data(), log_det);
  });
  if (!ok || !std::isfinite(log_det)) return false;
  n_ = n_trials;
  k_ = n_weights;
  log_det_ = log_det;
  return true;
}

double BlockTridiagCholesky::log_det() const { return log_det_; }

void BlockTridiagCholesky::solve_in_place(double* rhs) const {
  if (n_ == 0) return;
  if (k_ <= 12) {
    double scratch[12];
    dispatch(k_, [&](auto dim) { solve_impl(n_, dim, l_.data(), m_.data(), rhs, scratch); });
  } else {
    std::vector<double> scratch(static_cast<size_t>(k_));
    solve_impl(n_, Dim<0>{k_}, l_.data(), m_.data(), rhs, scratch.data());
  }
}

void BlockTridiagCholesky::selected_inverse(double* diag_out, double* sub_out) const {
  if (n_ == 0) return;
  std::vector<double> scratch(static_cast<size_t>(k_) * k_);
  dispatch(k_, [&](auto dim) {
    selected_inverse_impl(n_, dim, l_.data(), m_.data(), diag_out, sub_out, scratch.data());
  });
}

}  // namespace effinfer::psytrack
