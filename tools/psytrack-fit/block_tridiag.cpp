// Block Cholesky of the block-tridiagonal PsyTrack Hessian (spec 2.3). The off-diagonal blocks
// B_{t+1} = diag(b_t) are diagonal, so M_t = diag(b_t) L_t^-T is upper triangular and
// M_t M_t^T = diag(b_t) S_t^-1 diag(b_t). Selected inversion follows the recursion of psytrack's
// invBlkTriDiag.py (Rybicki & Hummer style): Sigma_{t+1,t} = -Sigma_{t+1,t+1} U_t,
// Sigma_tt = S_t^-1 + U_t^T Sigma_{t+1,t+1} U_t with U_t = M_t L_t^-1.
//
// Kernels are templated on K (1..8 fixed, 0 = dynamic) and written as plain loops over row-major
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

// In-place lower Cholesky of the row-major k x k block a (upper triangle zeroed).
// Returns false if a pivot is not positive and finite.
template <int K>
inline bool chol_block(double* a, Dim<K> dim) {
  const int k = dim();
  for (int j = 0; j < k; ++j) {
    double d = a[j * k + j];
    for (int p = 0; p < j; ++p) d -= a[j * k + p] * a[j * k + p];
    if (!(d > 0.0) || !std::isfinite(d)) return false;
    const double ljj = std::sqrt(d);
    a[j * k + j] = ljj;
    const double inv = 1.0 / ljj;
    for (int i = j + 1; i < k; ++i) {
      double s = a[i * k + j];
      for (int p = 0; p < j; ++p) s -= a[i * k + p] * a[j * k + p];
      a[i * k + j] = s * inv;
    }
    for (int i = 0; i < j; ++i) a[i * k + j] = 0.0;
  }
  return true;
}

// inv = L^-1 (lower triangular, upper zeroed) for lower-triangular row-major L.
template <int K>
inline void tri_inverse(const double* l, double* inv, Dim<K> dim) {
  const int k = dim();
  for (int j = 0; j < k; ++j) {
    for (int i = 0; i < j; ++i) inv[i * k + j] = 0.0;
    inv[j * k + j] = 1.0 / l[j * k + j];
    for (int i = j + 1; i < k; ++i) {
      double s = 0.0;
      for (int p = j; p < i; ++p) s -= l[i * k + p] * inv[p * k + j];
      inv[i * k + j] = s / l[i * k + i];
    }
  }
}

// x <- L^-1 x (forward substitution).
template <int K>
inline void lower_solve(const double* l, double* x, Dim<K> dim) {
  const int k = dim();
  for (int i = 0; i < k; ++i) {
    double s = x[i];
    for (int p = 0; p < i; ++p) s -= l[i * k + p] * x[p];
    x[i] = s / l[i * k + i];
  }
}

// x <- L^-T x (back substitution).
template <int K>
inline void lower_t_solve(const double* l, double* x, Dim<K> dim) {
  const int k = dim();
  for (int i = k - 1; i >= 0; --i) {
    double s = x[i];
    for (int p = i + 1; p < k; ++p) s -= l[p * k + i] * x[p];
    x[i] = s / l[i * k + i];
  }
}

template <int K>
bool factor_impl(int n, Dim<K> dim, const double* diag_blocks, const double* off_diag, double* l,
                 double* m, double* scratch) {
  const int k = dim();
  const int kk = k * k;
  double* linv = scratch;
  for (int t = 0; t < n; ++t) {
    double* lt = l + static_cast<size_t>(t) * kk;
    const double* at = diag_blocks + static_cast<size_t>(t) * kk;
    for (int i = 0; i < kk; ++i) lt[i] = at[i];
    if (t > 0) {
      // S_t = A_t - M_{t-1} M_{t-1}^T; M is upper triangular (row i nonzero from column i on).
      const double* mp = m + static_cast<size_t>(t - 1) * kk;
      for (int i = 0; i < k; ++i) {
        for (int j = 0; j <= i; ++j) {
          double s = 0.0;
          for (int p = i; p < k; ++p) s += mp[i * k + p] * mp[j * k + p];
          lt[i * k + j] -= s;
        }
      }
      for (int i = 0; i < k; ++i)
        for (int j = i + 1; j < k; ++j) lt[i * k + j] = lt[j * k + i];
    }
    if (!chol_block<K>(lt, dim)) return false;
    if (t + 1 < n) {
      // M_t = diag(b_t) L_t^-T: row i = b_i * column i of L_t^-1.
      tri_inverse<K>(lt, linv, dim);
      const double* b = off_diag + static_cast<size_t>(t) * k;
      double* mt = m + static_cast<size_t>(t) * kk;
      for (int i = 0; i < k; ++i)
        for (int j = 0; j < k; ++j) mt[i * k + j] = b[i] * linv[j * k + i];
    }
  }
  return true;
}

template <int K>
void solve_impl(int n, Dim<K> dim, const double* l, const double* m, double* x) {
  const int k = dim();
  const int kk = k * k;
  // Forward: y_0 = L_0^-1 r_0, y_t = L_t^-1 (r_t - M_{t-1} y_{t-1}).
  for (int t = 0; t < n; ++t) {
    double* xt = x + static_cast<size_t>(t) * k;
    if (t > 0) {
      const double* mp = m + static_cast<size_t>(t - 1) * kk;
      const double* xp = xt - k;
      for (int i = 0; i < k; ++i) {
        double s = 0.0;
        for (int p = 0; p < k; ++p) s += mp[i * k + p] * xp[p];
        xt[i] -= s;
      }
    }
    lower_solve<K>(l + static_cast<size_t>(t) * kk, xt, dim);
  }
  // Backward: x_{N-1} = L^-T y_{N-1}, x_t = L_t^-T (y_t - M_t^T x_{t+1}).
  for (int t = n - 1; t >= 0; --t) {
    double* xt = x + static_cast<size_t>(t) * k;
    if (t + 1 < n) {
      const double* mt = m + static_cast<size_t>(t) * kk;
      const double* xn = xt + k;
      for (int i = 0; i < k; ++i) {
        double s = 0.0;
        for (int p = 0; p < k; ++p) s += mt[p * k + i] * xn[p];
        xt[i] -= s;
      }
    }
    lower_t_solve<K>(l + static_cast<size_t>(t) * kk, xt, dim);
  }
}

template <int K>
void selected_inverse_impl(int n, Dim<K> dim, const double* l, const double* m, double* diag_out,
                           double* sub_out, double* scratch) {
  const int k = dim();
  const int kk = k * k;
  double* linv = scratch;
  double* u = scratch + kk;
  double* x = scratch + 2 * kk;
  for (int t = n - 1; t >= 0; --t) {
    tri_inverse<K>(l + static_cast<size_t>(t) * kk, linv, dim);
    double* st = diag_out + static_cast<size_t>(t) * kk;
    // S_t^-1 = L_t^-T L_t^-1 (lower-triangular L^-1: sum from max(i, j)).
    for (int i = 0; i < k; ++i) {
      for (int j = 0; j <= i; ++j) {
        double s = 0.0;
        for (int p = i; p < k; ++p) s += linv[p * k + i] * linv[p * k + j];
        st[i * k + j] = s;
        st[j * k + i] = s;
      }
    }
    if (t + 1 == n) continue;
    // U_t = M_t L_t^-1.
    const double* mt = m + static_cast<size_t>(t) * kk;
    for (int i = 0; i < k; ++i) {
      for (int j = 0; j < k; ++j) {
        double s = 0.0;
        for (int p = j; p < k; ++p) s += mt[i * k + p] * linv[p * k + j];
        u[i * k + j] = s;
      }
    }
    // X = Sigma_{t+1,t+1} U_t; Sigma_{t+1,t} = -X; Sigma_tt += U_t^T X.
    const double* sn = diag_out + static_cast<size_t>(t + 1) * kk;
    for (int i = 0; i < k; ++i) {
      for (int j = 0; j < k; ++j) {
        double s = 0.0;
        for (int p = 0; p < k; ++p) s += sn[i * k + p] * u[p * k + j];
        x[i * k + j] = s;
      }
    }
    if (sub_out != nullptr) {
      double* sub = sub_out + static_cast<size_t>(t) * kk;
      for (int i = 0; i < kk; ++i) sub[i] = -x[i];
    }
    for (int i = 0; i < k; ++i) {
      for (int j = 0; j <= i; ++j) {
        double s = 0.0;
        for (int p = 0; p < k; ++p) s += u[p * k + i] * x[p * k + j];
        st[i * k + j] += s;
        if (j != i) st[j * k + i] = st[i * k + j];
      }
    }
  }
}

// Calls f(Dim<K>) with K fixed for k = 1..8, dynamic otherwise.
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
    default:
      return f(Dim<0>{k});
  }
}

}  // namespace

bool BlockTridiagCholesky::factor(int n_trials, int n_weights, const double* diag_blocks,
                                  const double* off_diag) {
  n_ = 0;
  k_ = 0;
  if (n_trials <= 0 || n_weights <= 0) return false;
  const size_t kk = static_cast<size_t>(n_weights) * n_weights;
  l_.resize(static_cast<size_t>(n_trials) * kk);
  m_.resize(static_cast<size_t>(n_trials - 1) * kk);
  std::vector<double> scratch(kk);
  const bool ok = dispatch(n_weights, [&](auto dim) {
    return factor_impl(n_trials, dim, diag_blocks, off_diag, l_.data(), m_.data(), scratch.data());
  });
  if (!ok) return false;
  n_ = n_trials;
  k_ = n_weights;
  return true;
}

double BlockTridiagCholesky::log_det() const {
  double sum = 0.0;
  const size_t kk = static_cast<size_t>(k_) * k_;
  for (int t = 0; t < n_; ++t) {
    const double* lt = l_.data() + t * kk;
    for (int i = 0; i < k_; ++i) sum += std::log(lt[i * k_ + i]);
  }
  return 2.0 * sum;
}

void BlockTridiagCholesky::solve_in_place(double* rhs) const {
  dispatch(k_, [&](auto dim) { solve_impl(n_, dim, l_.data(), m_.data(), rhs); });
}

void BlockTridiagCholesky::selected_inverse(double* diag_out, double* sub_out) const {
  std::vector<double> scratch(3 * static_cast<size_t>(k_) * k_);
  dispatch(k_, [&](auto dim) {
    selected_inverse_impl(n_, dim, l_.data(), m_.data(), diag_out, sub_out, scratch.data());
  });
}

}  // namespace effinfer::psytrack
