#include "decompose.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "core/rng.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace effinfer::mrf {

namespace {

// Null space of A (rows x cols) as sparse-ish columns from the reduced row echelon form.
Eigen::MatrixXd rref_null_space(Eigen::MatrixXd A) {
  const Eigen::Index rows = A.rows(), cols = A.cols();
  const double tol = 1e-10 * std::max(1.0, A.cwiseAbs().maxCoeff());
  std::vector<Eigen::Index> pivots;
  Eigen::Index r = 0;
  for (Eigen::Index c = 0; c < cols && r < rows; ++c) {
    Eigen::Index best;
    const double v = A.col(c).tail(rows - r).cwiseAbs().maxCoeff(&best);
    if (v <= tol) continue;
    best += r;
    A.row(r).swap(A.row(best));
    A.row(r) /= A(r, c);
    for (Eigen::Index i = 0; i < rows; ++i)
      if (i != r && A(i, c) != 0.0) A.row(i) -= A(i, c) * A.row(r);
    pivots.push_back(c);
    ++r;
  }
  std::vector<char> is_pivot(static_cast<size_t>(cols), 0);
  for (auto p : pivots) is_pivot[p] = 1;
  Eigen::MatrixXd N = Eigen::MatrixXd::Zero(cols, cols - static_cast<Eigen::Index>(pivots.size()));
  Eigen::Index f = 0;
  for (Eigen::Index c = 0; c < cols; ++c) {
    if (is_pivot[c]) continue;
    N(c, f) = 1.0;
    for (size_t t = 0; t < pivots.size(); ++t) {
      const double v = -A(static_cast<Eigen::Index>(t), c);
      N(pivots[t], f) = std::abs(v) <= 1e-14 ? 0.0 : v;
    }
    ++f;
  }
  return N;
}

double max_abs_of_degree(const Polynomial& g, int deg) {
  double a = 0.0;
  for (int r = 0; r < g.num_terms(); ++r)
    if (monomial_degree(g.exponents, r) == deg) a = std::max(a, std::abs(g.coeffs[r]));
  return a;
}

Polynomial sum_of_norm_powers(int m, int d, double eps) {
  // eps * sum_{j=1}^{d/2} |u|^{2j}
  ExponentTable sq = ExponentTable::Zero(m, m);
  for (int i = 0; i < m; ++i) sq(i, i) = 2;
  const Polynomial r2(sq, Eigen::VectorXd::Ones(m));
  Polynomial acc(ExponentTable::Zero(0, m), Eigen::VectorXd(0));
  Polynomial pw = r2;
  for (int j = 1; j <= d / 2; ++j) {
    acc = add(acc, pw);
    pw = multiply(pw, r2);
  }
  return scale(acc, eps);
}

Eigen::MatrixXd sym(const Eigen::MatrixXd& a) { return 0.5 * (a + a.transpose()); }

double min_eig(const Eigen::MatrixXd& a) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(sym(a), Eigen::EigenvaluesOnly);
  return es.eigenvalues()[0];
}

double max_eig(const Eigen::MatrixXd& a) {
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(sym(a), Eigen::EigenvaluesOnly);
  return es.eigenvalues()[a.rows() - 1];
}

}  // namespace

SdpStructure::SdpStructure(int m, int d, SplitObjective objective)
    : m_(m), d_(d), N_(0), keys_(m, d - 2) {
  if (m < 1 || d < 4 || d % 2 != 0)
    throw InternalError("SdpStructure: expected m >= 1 and even d >= 4");
  const int k = (d - 2) / 2;
  const ExponentTable mk = monomials_up_to(m, k);
  const int s = static_cast<int>(mk.rows());
  N_ = m * s;
  key_of_.assign(static_cast<size_t>(N_ * N_), -1);
  std::vector<int> beta(static_cast<size_t>(m));
  const int K = keys_.num_keys();
  std::vector<std::vector<std::pair<int, int>>> pairs_of_key(static_cast<size_t>(K));
  for (int p = 0; p < N_; ++p)
    for (int q = p; q < N_; ++q) {
      const int ip = p / s, ap = p % s, iq = q / s, aq = q % s;
      for (int l = 0; l < m; ++l) beta[l] = mk(ap, l) + mk(aq, l);
      const int key = keys_.key(ip, iq, beta.data());
      if (key < 0) throw InternalError("SdpStructure: Gram pair without a key");
      key_of_[p * N_ + q] = key_of_[q * N_ + p] = key;
      pairs_of_key[key].push_back({p, q});
    }
  // H: columns = monomials of degree 2..d, each column the biform keys of u^alpha.
  columns_ = monomials_between(m, 2, d);
  H_.resize(K, columns_.rows());
  for (int c = 0; c < columns_.rows(); ++c) {
    Polynomial mono(columns_.row(c), Eigen::VectorXd::Ones(1));
    H_.col(c) = keys_.biform(mono);
  }
  H_pinv_ = H_.completeOrthogonalDecomposition().pseudoInverse();
  const Eigen::MatrixXd NH = rref_null_space(H_.transpose());  // K x n_null
  num_null_ = static_cast<int>(NH.cols());
  // Constraints: N_H^T G(Q_v) = 0, then G(Q_c) - G(Q_v) = -h_g (one per key).
  for (int t = 0; t < num_null_; ++t) {
    std::vector<SdpEntry> a;
    for (int key = 0; key < K; ++key) {
      const double v = NH(key, t);
      if (v == 0.0) continue;
      for (auto [p, q] : pairs_of_key[key]) a.push_back({0, p, q, v});
    }
    problem_.A.push_back(std::move(a));
  }
  for (int key = 0; key < K; ++key) {
    std::vector<SdpEntry> a;
    for (auto [p, q] : pairs_of_key[key]) {
      a.push_back({1, p, q, 1.0});
      a.push_back({0, p, q, -1.0});
    }
    problem_.A.push_back(std::move(a));
  }
  problem_.block_sizes = {N_, N_};
  for (int p = 0; p < N_; ++p) {
    problem_.C.push_back({1, p, p, 1.0});
    if (objective == SplitObjective::kMinTraceSum) problem_.C.push_back({0, p, p, 1.0});
  }
  problem_.b = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(problem_.A.size()));
}

SdpProblem SdpStructure::problem(const Polynomial& g) const {
  SdpProblem p = problem_;
  p.b.tail(keys_.num_keys()) = -keys_.biform(g);
  return p;
}

Eigen::VectorXd SdpStructure::gram_keys(const Eigen::MatrixXd& Q) const {
  Eigen::VectorXd k = Eigen::VectorXd::Zero(keys_.num_keys());
  for (int p = 0; p < N_; ++p)
    for (int q = 0; q < N_; ++q) k[key_of_[p * N_ + q]] += Q(p, q);
  return k;
}

Eigen::VectorXd SdpStructure::solve_h(const Eigen::VectorXd& k) const { return H_pinv_ * k; }

int effective_degree(const Polynomial& g, const DecomposeOptions& o, const std::string& what) {
  int d = g.degree();
  if (d >= 3 && d % 2 == 1) {
    if (o.odd_degree == OddDegree::kError)
      throw DataError(what + ": odd degree " + std::to_string(d) +
                      " has no convex-concave split of that degree (decomposition.odd_degree: "
                      "error; use bump)");
    ++d;
  }
  if (d > o.max_degree)
    throw DataError(what + ": degree " + std::to_string(d) + " exceeds decomposition.max_degree " +
                    std::to_string(o.max_degree) + " (reduce the factor with a linmap)");
  if (d >= 4) {
    const int64_t N = g.num_vars() * binomial(g.num_vars() + (d - 2) / 2, (d - 2) / 2);
    if (N > o.max_block)
      throw DataError(what + ": Gram block " + std::to_string(N) +
                      " exceeds decomposition.max_block " + std::to_string(o.max_block) +
                      " (reduce the factor's local variables with a linmap)");
  }
  return d;
}

void bound_split(const Polynomial& g, int d, double margin, Polynomial& vex, Polynomial& cave) {
  const int m = g.num_vars();
  const BiformKeys keys(m, d - 2);
  const Eigen::VectorXd h = keys.biform(g);
  double C = 0.0;
  for (int i = 0; i < m; ++i)
    for (int j = i; j < m; ++j) {
      const double w = (i == j) ? 1.0 : 0.5;  // off-diagonal keys hold 2 H_ij
      C = std::max(
          C, w * h.segment(keys.pair(i, j) * keys.num_betas(), keys.num_betas()).cwiseAbs().sum());
    }
  const double lambda = (1.0 + margin) * m * C / d;
  ExponentTable t = ExponentTable::Zero(m + 1, m);
  for (int i = 0; i < m; ++i) t(i + 1, i) = 2;
  const Polynomial q = power(Polynomial(t, Eigen::VectorXd::Ones(m + 1)), d / 2);
  vex = add(g, scale(q, lambda));
  cave = scale(q, -lambda);
}

Split decompose_polynomial(const Polynomial& g_in, const DecomposeOptions& o,
                           const SdpStructure* structure, uint64_t stream,
                           const std::string& dump_path) {
  if (!g_in.coeffs.allFinite()) throw DataError("polynomial: non-finite coefficient");
  const Polynomial g = canonical(g_in);
  const int m = g_in.num_vars();
  Split out;
  const int d = effective_degree(g, o);
  out.degree = d;
  const ExponentTable table = monomials_up_to(m, std::max(d, 0));
  const Eigen::VectorXd gc = coeffs_on_table(g, table);
  Polynomial vex_n;  // normalised coordinates
  double sigma = 1.0, kappa = 1.0;
  if (d <= 2) {
    // Constant Hessian: exact eigen-split, no SDP.
    out.method = "quadratic";
    const Eigen::MatrixXd Hs = hessian(g, Eigen::VectorXd::Zero(m));
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(Hs);
    const Eigen::VectorXd lp = es.eigenvalues().cwiseMax(0.0);
    const Eigen::MatrixXd Hp = es.eigenvectors() * lp.asDiagonal() * es.eigenvectors().transpose();
    Eigen::VectorXd c = coeffs_on_table(terms_between(g, 0, 1), table);
    for (int r = 0; r < table.rows(); ++r) {
      if (monomial_degree(table, r) != 2) continue;
      int i = -1, j = -1;
      for (int l = 0; l < m; ++l)
        for (int e = 0; e < table(r, l); ++e) (i < 0 ? i : j) = l;
      c[r] = (i == j) ? 0.5 * Hp(i, i) : Hp(i, j);
    }
    vex_n = Polynomial(table, c);
  } else {
    if (o.normalize) {
      const double a2 = max_abs_of_degree(g, 2), ad = max_abs_of_degree(g, d);
      if (a2 > 0 && ad > 0) sigma = std::pow(a2 / ad, 1.0 / (d - 2));
      kappa = scale_variables(g, sigma, 1.0).coeffs.cwiseAbs().maxCoeff();
      if (!(kappa > 0)) kappa = 1.0;
    }
    const Polynomial gn = scale_variables(g, sigma, kappa);
    bool use_bound = o.method == SplitMethod::kBound;
    if (!use_bound) {
      std::unique_ptr<SdpStructure> own;
      if (!structure || structure->m() != m || structure->degree() != d) {
        own = std::make_unique<SdpStructure>(m, d, o.objective);
        structure = own.get();
      }
      const SdpProblem prob = structure->problem(gn);
      if (!dump_path.empty()) write_sdpa(prob, dump_path);
      const SdpSolution sol = solve_sdp(prob, o.sdp);
      out.sdp_status = to_string(sol.status);
      out.sdp_iters = sol.iterations;
      if (sol.status == SdpStatus::kOptimal || sol.status == SdpStatus::kStalled) {
        out.method = "sdp";
        out.sdp_objective = sol.primal_objective;
        for (int b = 0; b < 2; ++b) {
          out.gram_min_eig[b] = min_eig(sol.X[b]);
          out.gram_norm[b] = sol.X[b].norm();
        }
        const Eigen::VectorXd Gv = structure->gram_keys(sol.X[0]);
        const Eigen::VectorXd c = structure->solve_h(Gv);
        out.ls_residual = (structure->H() * c - Gv).norm() / std::max(1.0, Gv.norm());
        Polynomial quad(structure->columns(), c);
        vex_n = add(terms_between(gn, 0, 1), quad);
        vex_n = add(vex_n, sum_of_norm_powers(m, d, o.margin));
      } else if (o.on_failure == OnFailure::kError) {
        throw CheckFailed("decomposition SDP failed (" + out.sdp_status + " after " +
                          std::to_string(sol.iterations) +
                          " iterations) and decomposition.on_failure is error");
      } else {
        use_bound = true;
        out.fallback = true;
      }
    }
    if (use_bound) {
      out.method = "bound";
      Polynomial cave_n;
      bound_split(gn, d, o.margin, vex_n, cave_n);
    }
  }
  out.sigma = sigma;
  out.kappa = kappa;
  // Map back: f_vex(u) = kappa f~_vex(u / sigma); f_cave = g - f_vex exactly on the table.
  Eigen::VectorXd cv = coeffs_on_table(vex_n, table);
  for (int r = 0; r < table.rows(); ++r)
    cv[r] = cv[r] * kappa / std::pow(sigma, monomial_degree(table, r));
  const Eigen::VectorXd cc = gc - cv;
  out.vex = Polynomial(table, cv);
  out.cave = Polynomial(table, cc);
  const double gmax = gc.size() ? gc.cwiseAbs().maxCoeff() : 0.0;
  out.identity_residual =
      gc.size() ? (cv + cc - gc).cwiseAbs().maxCoeff() / (gmax > 0 ? gmax : 1.0) : 0.0;
  if (o.certify_samples > 0 && d >= 2) {
    const Polynomial vt = scale_variables(out.vex, sigma, kappa);
    const Polynomial ct = scale_variables(out.cave, sigma, kappa);
    // s uses the normalised factor's coefficients: sum |c~| of g~.
    const double sg = std::max(
        scale_variables(Polynomial(table, gc), sigma, kappa).coeffs.cwiseAbs().sum(), 1e-300);
    const double sv = sg, sc = sg;
    Rng rng(o.seed, stream);
    double worst_v = std::numeric_limits<double>::infinity();
    double worst_c = -std::numeric_limits<double>::infinity();
    Eigen::VectorXd u(m);
    for (int t = 0; t < o.certify_samples; ++t) {
      for (int i = 0; i < m; ++i) u[i] = o.certify_radius * (2.0 * rng.uniform() - 1.0);
      const double w = std::pow(1.0 + u.squaredNorm(), d / 2.0 - 1.0);
      worst_v = std::min(worst_v, min_eig(hessian(vt, u)) / (std::max(sv, 1e-300) * w));
      worst_c = std::max(worst_c, max_eig(hessian(ct, u)) / (std::max(sc, 1e-300) * w));
    }
    out.certify_samples = o.certify_samples;
    out.hess_vex_min = worst_v;
    out.hess_cave_max = worst_c;
    out.certificate_passed = worst_v >= -1e-7 && worst_c <= 1e-7;
  }
  if (out.method == "sdp")
    for (int b = 0; b < 2; ++b)
      if (out.gram_min_eig[b] < -1e-9 * out.gram_norm[b]) out.certificate_passed = false;
  return out;
}

namespace {

// Univariate quadratic rows (e.g. the denoising data term, one row per pixel): the exact split of
// spec 2.3 for d <= 2 is closed-form, f_vex = c0 + c1 u + max(c2, 0) u^2, f_cave = min(c2, 0) u^2,
// computed row by row without polynomial objects or deduplication (R = F, row_of = identity).
FamilyDecomposition split_univariate_quadratics(const std::string& name,
                                                const ExponentTable& exponents,
                                                const Eigen::Ref<const RowMatrixXd>& coeffs) {
  if (!coeffs.allFinite()) throw DataError("family " + name + ": non-finite coefficient");
  FamilyDecomposition fam;
  fam.name = name;
  const Eigen::Index F = coeffs.rows();
  fam.exponents = monomials_up_to(1, 2);
  int slot_of_power[3] = {-1, -1, -1};
  for (int r = 0; r < 3; ++r) slot_of_power[fam.exponents(r, 0)] = r;
  fam.coeffs_vex = RowMatrixXd::Zero(F, 3);
  fam.coeffs_cave = RowMatrixXd::Zero(F, 3);
  fam.row_of.resize(static_cast<size_t>(F));
  for (Eigen::Index f = 0; f < F; ++f) {
    double c[3] = {0, 0, 0};
    for (Eigen::Index t = 0; t < exponents.rows(); ++t) c[exponents(t, 0)] += coeffs(f, t);
    fam.coeffs_vex(f, slot_of_power[0]) = c[0];
    fam.coeffs_vex(f, slot_of_power[1]) = c[1];
    fam.coeffs_vex(f, slot_of_power[2]) = std::max(c[2], 0.0);
    fam.coeffs_cave(f, slot_of_power[2]) = std::min(c[2], 0.0);
    fam.row_of[static_cast<size_t>(f)] = f;
  }
  fam.degree = 2;
  fam.rows.resize(static_cast<size_t>(F));
  for (auto& row : fam.rows) {
    row.method = "quadratic";
    row.degree = 2;
  }
  return fam;
}

}  // namespace

FamilyDecomposition decompose_family(const std::string& name, const ExponentTable& exponents,
                                     const Eigen::Ref<const RowMatrixXd>& coeffs,
                                     const DecomposeOptions& o) {
  if (coeffs.cols() != exponents.rows())
    throw DataError("family " + name + ": coeffs has " + std::to_string(coeffs.cols()) +
                    " columns, the exponent table " + std::to_string(exponents.rows()) + " rows");
  FamilyDecomposition fam;
  fam.name = name;
  const Eigen::Index F = coeffs.rows();
  const int m = static_cast<int>(exponents.cols());
  if (m == 1 && F > 1 && (exponents.size() == 0 || exponents.maxCoeff() <= 2) &&
      exponents.minCoeff() >= 0 && o.dump_sdpa_dir.empty())
    return split_univariate_quadratics(name, exponents, coeffs);
  // Deduplicate rows by exact equality.
  std::map<std::vector<double>, int64_t> seen;
  std::vector<Eigen::Index> unique_src;
  fam.row_of.resize(static_cast<size_t>(F));
  for (Eigen::Index f = 0; f < F; ++f) {
    std::vector<double> key(coeffs.row(f).data(), coeffs.row(f).data() + coeffs.cols());
    for (auto& v : key)
      if (v == 0.0) v = 0.0;  // -0 == +0
    auto [it, inserted] = seen.emplace(std::move(key), static_cast<int64_t>(unique_src.size()));
    if (inserted) unique_src.push_back(f);
    fam.row_of[f] = it->second;
  }
  const int R = static_cast<int>(unique_src.size());
  std::vector<Polynomial> polys(static_cast<size_t>(R));
  std::vector<int> degs(static_cast<size_t>(R));
  std::map<int, std::unique_ptr<SdpStructure>> structures;
  for (int r = 0; r < R; ++r) {
    polys[r] = Polynomial(exponents, coeffs.row(unique_src[r]).transpose());
    degs[r] = effective_degree(polys[r], o, "family " + name);
    fam.degree = std::max(fam.degree, degs[r]);
    if (o.method == SplitMethod::kSdp && degs[r] >= 4 && !structures.count(degs[r]))
      structures[degs[r]] = std::make_unique<SdpStructure>(m, degs[r], o.objective);
  }
  if (!o.dump_sdpa_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.dump_sdpa_dir, ec);
    if (ec) throw OutputError("--dump-sdpa: cannot create directory " + o.dump_sdpa_dir);
  }
  fam.rows.resize(static_cast<size_t>(R));
  std::vector<std::exception_ptr> errors(static_cast<size_t>(R));
  const int threads = o.threads;
#pragma omp parallel for schedule(dynamic, 1) \
    num_threads(threads > 0 ? threads : omp_get_max_threads())
  for (int r = 0; r < R; ++r) {
    try {
      const auto it = structures.find(degs[r]);
      const std::string dump =
          (o.dump_sdpa_dir.empty() || o.method != SplitMethod::kSdp || degs[r] < 4)
              ? ""
              : (std::filesystem::path(o.dump_sdpa_dir) /
                 (name + "_" + std::to_string(r) + ".dat-s"))
                    .string();
      fam.rows[r] =
          decompose_polynomial(polys[r], o, it == structures.end() ? nullptr : it->second.get(),
                               static_cast<uint64_t>(r), dump);
    } catch (...) {
      errors[r] = std::current_exception();
    }
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  fam.exponents = monomials_up_to(m, fam.degree);
  fam.coeffs_vex.resize(R, fam.exponents.rows());
  fam.coeffs_cave.resize(R, fam.exponents.rows());
  for (int r = 0; r < R; ++r) {
    Split& s = fam.rows[r];
    fam.coeffs_vex.row(r) = coeffs_on_table(s.vex, fam.exponents).transpose();
    fam.coeffs_cave.row(r) = coeffs_on_table(s.cave, fam.exponents).transpose();
    if (!s.sdp_status.empty()) {
      ++fam.n_sdp;
      fam.sdp_iters_max = std::max(fam.sdp_iters_max, s.sdp_iters);
    }
    if (s.fallback) ++fam.fallbacks;
    if (!s.certificate_passed) fam.certificates_passed = false;
    s.vex = Polynomial();
    s.cave = Polynomial();
  }
  return fam;
}

}  // namespace effinfer::mrf
