// Sparse multivariate polynomials in m local variables (spec mrf-cccp 2.1, 2.3): an exponent table
// (M x m, row-major, entries >= 0) with one coefficient per row. Monomial bases of degree <= k in
// graded lexicographic order, evaluation, gradient, Hessian, Hessian biform keys, exact
// coefficient arithmetic, and a batch evaluator for many factors sharing one exponent table.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace effinfer::mrf {

using ExponentTable = Eigen::Matrix<int, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Polynomial {
  ExponentTable exponents;  // M x m
  Eigen::VectorXd coeffs;   // M

  Polynomial() = default;
  Polynomial(ExponentTable e, Eigen::VectorXd c);
  int num_vars() const { return static_cast<int>(exponents.cols()); }
  int num_terms() const { return static_cast<int>(exponents.rows()); }
  // Largest total degree of a term with a nonzero coefficient (0 for the zero polynomial).
  int degree() const;
};

// Total degree of row r of a table.
int monomial_degree(const ExponentTable& table, int r);

// All monomials in m variables of total degree <= k, graded (degree ascending), then
// lexicographic with the first variable's exponent descending. C(m+k, k) rows.
ExponentTable monomials_up_to(int m, int k);

// Monomials of total degree in [lo, hi], same order.
ExponentTable monomials_between(int m, int lo, int hi);

// Binomial coefficient C(n, k) as int64.
int64_t binomial(int n, int k);

// Exponent-vector -> row lookup for a table (exponents bounded by max_exp).
class MonomialIndex {
 public:
  explicit MonomialIndex(const ExponentTable& table);
  // Row of the exponent vector e (length m), or -1 when absent.
  int find(const int* e) const;
  int num_vars() const { return m_; }

 private:
  uint64_t code(const int* e) const;
  int m_ = 0;
  int base_ = 1;
  std::unordered_map<uint64_t, int> rows_;
};

// Rewrites p on a table: merges duplicate rows; throws DataError when p has a nonzero term whose
// monomial is absent from the table.
Eigen::VectorXd coeffs_on_table(const Polynomial& p, const ExponentTable& table);

// Canonical form: merged duplicates, graded-lex order, zero coefficients dropped.
Polynomial canonical(const Polynomial& p);

Polynomial add(const Polynomial& a, const Polynomial& b);
Polynomial scale(const Polynomial& a, double s);
Polynomial multiply(const Polynomial& a, const Polynomial& b);
Polynomial power(const Polynomial& a, int n);
// p(sigma * u) / kappa, term by term (coefficient * sigma^|alpha| / kappa).
Polynomial scale_variables(const Polynomial& p, double sigma, double kappa);
// Terms of total degree in [lo, hi].
Polynomial terms_between(const Polynomial& p, int lo, int hi);

double evaluate(const Polynomial& p, const Eigen::Ref<const Eigen::VectorXd>& u);
Eigen::VectorXd gradient(const Polynomial& p, const Eigen::Ref<const Eigen::VectorXd>& u);
Eigen::MatrixXd hessian(const Polynomial& p, const Eigen::Ref<const Eigen::VectorXd>& u);
// Partial derivative d/du_i as a polynomial (same number of variables).
Polynomial derivative(const Polynomial& p, int i);

// Keys of the Hessian biform y^T grad^2 g(u) y: (i <= j, beta) with |beta| <= key_degree.
// Key index = pair(i,j) * nb + b, pair(i,j) enumerates i <= j row by row, b indexes beta in
// monomials_up_to(m, key_degree).
class BiformKeys {
 public:
  BiformKeys(int m, int key_degree);
  int m() const { return m_; }
  int key_degree() const { return key_degree_; }
  int num_keys() const { return num_pairs_ * nb_; }
  int num_betas() const { return nb_; }
  const ExponentTable& betas() const { return betas_; }
  int pair(int i, int j) const;                  // i, j in any order
  int key(int i, int j, const int* beta) const;  // -1 when |beta| > key_degree
  // Key coefficients of y^T grad^2 g(u) y (off-diagonal pairs counted twice). Throws DataError
  // when deg g - 2 > key_degree.
  Eigen::VectorXd biform(const Polynomial& g) const;

 private:
  int m_, key_degree_, nb_, num_pairs_;
  ExponentTable betas_;
  MonomialIndex index_;
  std::vector<int> pair_index_;
};

// Batch evaluation of F factors sharing one exponent table: coeffs [F, M] (or [1, M], shared),
// u [F, m]. Writes values[F] and, when grads is non-null, gradients [F, m].
class BatchEvaluator {
 public:
  explicit BatchEvaluator(const ExponentTable& exponents);
  // term_abs (optional, one entry per factor) receives sum_a |c_a u^a|, the scale of the rounding
  // error of the value (which can cancel to ~0 at a minimum while the terms do not).
  void evaluate(const Eigen::Ref<const RowMatrixXd>& coeffs, const Eigen::Ref<const RowMatrixXd>& u,
                Eigen::Ref<Eigen::VectorXd> values, RowMatrixXd* grads,
                double* term_abs = nullptr) const;
  int num_vars() const { return m_; }
  int num_terms() const { return M_; }

 private:
  template <int kM>
  void evaluate_fixed(const Eigen::Ref<const RowMatrixXd>& coeffs,
                      const Eigen::Ref<const RowMatrixXd>& u, Eigen::Ref<Eigen::VectorXd> values,
                      RowMatrixXd* grads, double* term_abs) const;

  int m_ = 0, M_ = 0, max_exp_ = 0;
  ExponentTable exps_;
  // Power-table layout per local variable i: slot i*(P+1) holds 0 and slot i*(P+1) + 1 + e holds
  // u_i^e, so the derivative factor u_i^(e-1) of a term with e = 0 reads the 0 (no branches).
  std::vector<int> value_slot_;   // [M*m]: i*(P+1) + 1 + e_i
  std::vector<double> exponent_;  // [M*m]: e_i as a double
};

}  // namespace effinfer::mrf
