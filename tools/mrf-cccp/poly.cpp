#include "poly.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <string>

#include "core/error.hpp"

namespace effinfer::mrf {

namespace {

// Graded order: degree ascending, then exponents lexicographically descending.
bool graded_less(const std::vector<int>& a, const std::vector<int>& b) {
  const int da = std::accumulate(a.begin(), a.end(), 0);
  const int db = std::accumulate(b.begin(), b.end(), 0);
  if (da != db) return da < db;
  return a > b;
}

void enumerate_degree(int m, int deg, int var, std::vector<int>& cur,
                      std::vector<std::vector<int>>& out) {
  if (var == m - 1) {
    cur[var] = deg;
    out.push_back(cur);
    return;
  }
  for (int e = deg; e >= 0; --e) {
    cur[var] = e;
    enumerate_degree(m, deg - e, var + 1, cur, out);
  }
}

ExponentTable to_table(const std::vector<std::vector<int>>& rows, int m) {
  ExponentTable t(static_cast<Eigen::Index>(rows.size()), m);
  for (size_t r = 0; r < rows.size(); ++r)
    for (int i = 0; i < m; ++i) t(static_cast<Eigen::Index>(r), i) = rows[r][i];
  return t;
}

std::vector<int> row_vec(const ExponentTable& t, int r) {
  std::vector<int> v(static_cast<size_t>(t.cols()));
  for (int i = 0; i < t.cols(); ++i) v[i] = t(r, i);
  return v;
}

}  // namespace

Polynomial::Polynomial(ExponentTable e, Eigen::VectorXd c)
    : exponents(std::move(e)), coeffs(std::move(c)) {
  if (exponents.rows() != coeffs.size())
    throw DataError("polynomial: exponent table has " + std::to_string(exponents.rows()) +
                    " rows but " + std::to_string(coeffs.size()) + " coefficients");
  if (exponents.size() > 0 && exponents.minCoeff() < 0)
    throw DataError("polynomial: negative exponent");
}

int Polynomial::degree() const {
  int d = 0;
  for (int r = 0; r < num_terms(); ++r)
    if (coeffs[r] != 0.0) d = std::max(d, monomial_degree(exponents, r));
  return d;
}

int monomial_degree(const ExponentTable& table, int r) { return table.row(r).sum(); }

int64_t binomial(int n, int k) {
  if (k < 0 || k > n) return 0;
  int64_t r = 1;
  for (int i = 1; i <= k; ++i) r = r * (n - k + i) / i;
  return r;
}

ExponentTable monomials_between(int m, int lo, int hi) {
  std::vector<std::vector<int>> rows;
  std::vector<int> cur(static_cast<size_t>(m), 0);
  if (m == 0) {
    if (lo <= 0 && hi >= 0) rows.push_back({});
    return to_table(rows, 0);
  }
  for (int deg = std::max(lo, 0); deg <= hi; ++deg) enumerate_degree(m, deg, 0, cur, rows);
  return to_table(rows, m);
}

ExponentTable monomials_up_to(int m, int k) { return monomials_between(m, 0, k); }

MonomialIndex::MonomialIndex(const ExponentTable& table) : m_(static_cast<int>(table.cols())) {
  base_ = (table.size() == 0 ? 0 : table.maxCoeff()) + 1;
  for (int r = 0; r < table.rows(); ++r) rows_.emplace(code(&table(r, 0)), r);
}

uint64_t MonomialIndex::code(const int* e) const {
  uint64_t c = 0;  // exact mixed-radix code (exponents < base_)
  for (int i = m_ - 1; i >= 0; --i)
    c = c * static_cast<uint64_t>(base_) + static_cast<uint64_t>(e[i]);
  return c;
}

int MonomialIndex::find(const int* e) const {
  for (int i = 0; i < m_; ++i)
    if (e[i] < 0 || e[i] >= base_) return -1;
  auto it = rows_.find(code(e));
  return it == rows_.end() ? -1 : it->second;
}

Polynomial canonical(const Polynomial& p) {
  std::map<std::vector<int>, double, decltype(&graded_less)> terms(&graded_less);
  for (int r = 0; r < p.num_terms(); ++r) terms[row_vec(p.exponents, r)] += p.coeffs[r];
  std::vector<std::vector<int>> rows;
  std::vector<double> c;
  for (const auto& [e, v] : terms)
    if (v != 0.0) {
      rows.push_back(e);
      c.push_back(v);
    }
  return Polynomial(
      to_table(rows, p.num_vars()),
      Eigen::Map<const Eigen::VectorXd>(c.data(), static_cast<Eigen::Index>(c.size())));
}

Eigen::VectorXd coeffs_on_table(const Polynomial& p, const ExponentTable& table) {
  if (table.cols() != p.num_vars())
    throw DataError("polynomial: table has " + std::to_string(table.cols()) +
                    " variables, expected " + std::to_string(p.num_vars()));
  MonomialIndex index(table);
  Eigen::VectorXd out = Eigen::VectorXd::Zero(table.rows());
  for (int r = 0; r < p.num_terms(); ++r) {
    if (p.coeffs[r] == 0.0) continue;
    const int row = index.find(&p.exponents(r, 0));
    if (row < 0 || (table.row(row) != p.exponents.row(r)))
      throw DataError("polynomial: a term's monomial is absent from the exponent table");
    out[row] += p.coeffs[r];
  }
  return out;
}

Polynomial add(const Polynomial& a, const Polynomial& b) {
  if (a.num_vars() != b.num_vars()) throw DataError("polynomial add: variable counts differ");
  ExponentTable e(a.num_terms() + b.num_terms(), a.num_vars());
  e << a.exponents, b.exponents;
  Eigen::VectorXd c(a.num_terms() + b.num_terms());
  c << a.coeffs, b.coeffs;
  return canonical(Polynomial(e, c));
}

Polynomial scale(const Polynomial& a, double s) { return Polynomial(a.exponents, a.coeffs * s); }

Polynomial multiply(const Polynomial& a, const Polynomial& b) {
  if (a.num_vars() != b.num_vars()) throw DataError("polynomial multiply: variable counts differ");
  const int m = a.num_vars();
  ExponentTable e(a.num_terms() * b.num_terms(), m);
  Eigen::VectorXd c(a.num_terms() * b.num_terms());
  int r = 0;
  for (int i = 0; i < a.num_terms(); ++i)
    for (int j = 0; j < b.num_terms(); ++j, ++r) {
      e.row(r) = a.exponents.row(i) + b.exponents.row(j);
      c[r] = a.coeffs[i] * b.coeffs[j];
    }
  return canonical(Polynomial(e, c));
}

Polynomial power(const Polynomial& a, int n) {
  ExponentTable one = ExponentTable::Zero(1, a.num_vars());
  Polynomial out(one, Eigen::VectorXd::Ones(1));
  for (int i = 0; i < n; ++i) out = multiply(out, a);
  return out;
}

Polynomial scale_variables(const Polynomial& p, double sigma, double kappa) {
  Polynomial out = p;
  for (int r = 0; r < p.num_terms(); ++r)
    out.coeffs[r] = p.coeffs[r] * std::pow(sigma, monomial_degree(p.exponents, r)) / kappa;
  return out;
}

Polynomial terms_between(const Polynomial& p, int lo, int hi) {
  Polynomial out = p;
  for (int r = 0; r < p.num_terms(); ++r) {
    const int d = monomial_degree(p.exponents, r);
    if (d < lo || d > hi) out.coeffs[r] = 0.0;
  }
  return out;
}

namespace {

// powers[i * (D+1) + e] = u_i^e.
std::vector<double> power_table(const Eigen::Ref<const Eigen::VectorXd>& u, int max_exp) {
  const int m = static_cast<int>(u.size());
  std::vector<double> pw(static_cast<size_t>(m * (max_exp + 1)));
  for (int i = 0; i < m; ++i) {
    double v = 1.0;
    for (int e = 0; e <= max_exp; ++e) {
      pw[i * (max_exp + 1) + e] = v;
      v *= u[i];
    }
  }
  return pw;
}

int max_exponent(const ExponentTable& t) { return t.size() == 0 ? 0 : t.maxCoeff(); }

void check_point(const Polynomial& p, Eigen::Index n) {
  if (n != p.num_vars())
    throw DataError("polynomial: point has " + std::to_string(n) + " coordinates, expected " +
                    std::to_string(p.num_vars()));
}

}  // namespace

double evaluate(const Polynomial& p, const Eigen::Ref<const Eigen::VectorXd>& u) {
  check_point(p, u.size());
  const int D = max_exponent(p.exponents), m = p.num_vars();
  const auto pw = power_table(u, D);
  double s = 0.0;
  for (int r = 0; r < p.num_terms(); ++r) {
    double t = p.coeffs[r];
    for (int i = 0; i < m; ++i) t *= pw[i * (D + 1) + p.exponents(r, i)];
    s += t;
  }
  return s;
}

Polynomial derivative(const Polynomial& p, int i) {
  Polynomial out = p;
  for (int r = 0; r < p.num_terms(); ++r) {
    const int e = p.exponents(r, i);
    out.coeffs[r] = p.coeffs[r] * e;
    out.exponents(r, i) = e > 0 ? e - 1 : 0;
  }
  return canonical(out);
}

Eigen::VectorXd gradient(const Polynomial& p, const Eigen::Ref<const Eigen::VectorXd>& u) {
  check_point(p, u.size());
  const int D = max_exponent(p.exponents), m = p.num_vars();
  const auto pw = power_table(u, D);
  Eigen::VectorXd g = Eigen::VectorXd::Zero(m);
  for (int r = 0; r < p.num_terms(); ++r)
    for (int i = 0; i < m; ++i) {
      const int ei = p.exponents(r, i);
      if (ei == 0) continue;
      double t = p.coeffs[r] * ei;
      for (int j = 0; j < m; ++j) t *= pw[j * (D + 1) + p.exponents(r, j) - (j == i ? 1 : 0)];
      g[i] += t;
    }
  return g;
}

Eigen::MatrixXd hessian(const Polynomial& p, const Eigen::Ref<const Eigen::VectorXd>& u) {
  check_point(p, u.size());
  const int D = max_exponent(p.exponents), m = p.num_vars();
  const auto pw = power_table(u, D);
  Eigen::MatrixXd h = Eigen::MatrixXd::Zero(m, m);
  std::vector<int> e(static_cast<size_t>(m));
  for (int r = 0; r < p.num_terms(); ++r)
    for (int i = 0; i < m; ++i)
      for (int j = i; j < m; ++j) {
        for (int l = 0; l < m; ++l) e[l] = p.exponents(r, l);
        double t = p.coeffs[r] * e[i];
        e[i] -= 1;
        t *= e[j];
        e[j] -= 1;
        if (t == 0.0) continue;
        for (int l = 0; l < m; ++l) t *= pw[l * (D + 1) + e[l]];
        h(i, j) += t;
      }
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < i; ++j) h(i, j) = h(j, i);
  return h;
}

BiformKeys::BiformKeys(int m, int key_degree)
    : m_(m),
      key_degree_(key_degree),
      nb_(static_cast<int>(binomial(m + key_degree, key_degree))),
      num_pairs_(m * (m + 1) / 2),
      betas_(monomials_up_to(m, key_degree)),
      index_(betas_),
      pair_index_(static_cast<size_t>(m * m)) {
  int p = 0;
  for (int i = 0; i < m; ++i)
    for (int j = i; j < m; ++j, ++p) pair_index_[i * m + j] = pair_index_[j * m + i] = p;
}

int BiformKeys::pair(int i, int j) const { return pair_index_[i * m_ + j]; }

int BiformKeys::key(int i, int j, const int* beta) const {
  const int b = index_.find(beta);
  if (b < 0) return -1;
  for (int l = 0; l < m_; ++l)
    if (betas_(b, l) != beta[l]) return -1;
  return pair(i, j) * nb_ + b;
}

Eigen::VectorXd BiformKeys::biform(const Polynomial& g) const {
  if (g.num_vars() != m_) throw DataError("biform: variable count mismatch");
  Eigen::VectorXd h = Eigen::VectorXd::Zero(num_keys());
  std::vector<int> e(static_cast<size_t>(m_));
  for (int r = 0; r < g.num_terms(); ++r) {
    if (g.coeffs[r] == 0.0) continue;
    for (int i = 0; i < m_; ++i)
      for (int j = i; j < m_; ++j) {
        for (int l = 0; l < m_; ++l) e[l] = g.exponents(r, l);
        double t = g.coeffs[r] * e[i];
        e[i] -= 1;
        t *= e[j];
        e[j] -= 1;
        if (t == 0.0) continue;
        const int k = key(i, j, e.data());
        if (k < 0)
          throw DataError("biform: polynomial degree exceeds the key degree " +
                          std::to_string(key_degree_) + " + 2");
        h[k] += (i == j) ? t : 2.0 * t;
      }
  }
  return h;
}

BatchEvaluator::BatchEvaluator(const ExponentTable& exponents)
    : m_(static_cast<int>(exponents.cols())),
      M_(static_cast<int>(exponents.rows())),
      max_exp_(max_exponent(exponents)),
      exps_(exponents) {
  const int stride = max_exp_ + 2;
  value_slot_.resize(static_cast<size_t>(M_) * m_);
  exponent_.resize(value_slot_.size());
  for (int r = 0; r < M_; ++r)
    for (int i = 0; i < m_; ++i) {
      value_slot_[static_cast<size_t>(r) * m_ + i] = i * stride + 1 + exps_(r, i);
      exponent_[static_cast<size_t>(r) * m_ + i] = exps_(r, i);
    }
}

// The hot loop of every energy evaluation: kM > 0 fixes the local dimension at compile time
// (m = 1..4 cover every application), kM = 0 is the general case. Per factor: one power table,
// then per term the value c u^a and the partial derivatives c a_i u^(a - e_i).
template <int kM>
void BatchEvaluator::evaluate_fixed(const Eigen::Ref<const RowMatrixXd>& coeffs,
                                    const Eigen::Ref<const RowMatrixXd>& u,
                                    Eigen::Ref<Eigen::VectorXd> values, RowMatrixXd* grads,
                                    double* term_abs) const {
  const int m = kM > 0 ? kM : m_;
  const int stride = max_exp_ + 2;
  const Eigen::Index F = u.rows();
  constexpr int kStackPowers = 64;
  double stack_pw[kStackPowers], stack_g[8];
  std::vector<double> heap_pw, heap_g;
  double* pw = stack_pw;
  double* g = stack_g;
  if (m * stride > kStackPowers) {
    heap_pw.resize(static_cast<size_t>(m * stride));
    pw = heap_pw.data();
  }
  if (m > 8) {
    heap_g.resize(static_cast<size_t>(m));
    g = heap_g.data();
  }
  const int* slot = value_slot_.data();
  const double* ex = exponent_.data();
  const bool shared = coeffs.rows() == 1;
  for (Eigen::Index f = 0; f < F; ++f) {
    for (int i = 0; i < m; ++i) {
      double* p = pw + i * stride;
      p[0] = 0.0;
      double v = 1.0;
      const double x = u(f, i);
      for (int e = 1; e < stride; ++e) {
        p[e] = v;
        v *= x;
      }
    }
    const double* c = coeffs.data() + (shared ? 0 : f) * coeffs.outerStride();
    double s = 0.0;
    if (term_abs) {
      double a = 0.0;
      for (int r = 0; r < M_; ++r) {
        double t = c[r];
        for (int i = 0; i < m; ++i) t *= pw[slot[r * m + i]];
        a += std::abs(t);
      }
      term_abs[f] = a;
    }
    if (!grads) {
      for (int r = 0; r < M_; ++r) {
        double t = c[r];
        for (int i = 0; i < m; ++i) t *= pw[slot[r * m + i]];
        s += t;
      }
      values[f] = s;
      continue;
    }
    for (int i = 0; i < m; ++i) g[i] = 0.0;
    for (int r = 0; r < M_; ++r) {
      const int* sl = slot + r * m;
      const double* er = ex + r * m;
      double t = c[r];
      for (int i = 0; i < m; ++i) t *= pw[sl[i]];
      s += t;
      for (int i = 0; i < m; ++i) {
        double d = c[r] * er[i] * pw[sl[i] - 1];
        for (int j = 0; j < m; ++j)
          if (j != i) d *= pw[sl[j]];
        g[i] += d;
      }
    }
    values[f] = s;
    for (int i = 0; i < m; ++i) (*grads)(f, i) = g[i];
  }
}

void BatchEvaluator::evaluate(const Eigen::Ref<const RowMatrixXd>& coeffs,
                              const Eigen::Ref<const RowMatrixXd>& u,
                              Eigen::Ref<Eigen::VectorXd> values, RowMatrixXd* grads,
                              double* term_abs) const {
  const Eigen::Index F = u.rows();
  if (u.cols() != m_ || coeffs.cols() != M_ || (coeffs.rows() != F && coeffs.rows() != 1) ||
      values.size() != F)
    throw DataError("batch evaluation: shapes do not match the exponent table");
  if (grads && (grads->rows() != F || grads->cols() != m_)) grads->resize(F, m_);
  switch (m_) {
    case 1:
      return evaluate_fixed<1>(coeffs, u, values, grads, term_abs);
    case 2:
      return evaluate_fixed<2>(coeffs, u, values, grads, term_abs);
    case 3:
      return evaluate_fixed<3>(coeffs, u, values, grads, term_abs);
    case 4:
      return evaluate_fixed<4>(coeffs, u, values, grads, term_abs);
    default:
      return evaluate_fixed<0>(coeffs, u, values, grads, term_abs);
  }
}

}  // namespace effinfer::mrf
