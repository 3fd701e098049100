// Small random models shared by the energy and CCCP tests (spec mrf-cccp 5, checks 1, 9, 16).
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "decompose.hpp"
#include "energy.hpp"
#include "model.hpp"

namespace effinfer::mrf::test {

// F factors of arity k over V variables, distinct ids per row.
inline VarTable random_vars(int F, int k, int64_t V, Rng& rng) {
  VarTable v(F, k);
  for (int r = 0; r < F; ++r)
    for (int j = 0; j < k; ++j) {
      bool dup = true;
      while (dup) {
        v(r, j) = static_cast<int64_t>(rng.uniform_int(static_cast<uint64_t>(V)));
        dup = false;
        for (int i = 0; i < j; ++i) dup = dup || v(r, i) == v(r, j);
      }
    }
  return v;
}

// Generic family: every monomial of degree <= d in m local variables, N(0,1) coefficients
// (scaled by `scale`), shared or per factor; linmap none (m = k), shared or per factor.
enum class Linmap { kNone, kShared, kPerFactor };
inline FactorFamily random_family(const std::string& name, int F, int k, int m, int d, bool shared,
                                  Linmap lm, int64_t V, Rng& rng, double scale = 1.0) {
  FactorFamily fam;
  fam.name = name;
  fam.vars = random_vars(F, k, V, rng);
  fam.exponents = monomials_up_to(m, d);
  fam.coeffs.resize(shared ? 1 : F, fam.exponents.rows());
  for (int64_t i = 0; i < fam.coeffs.size(); ++i) fam.coeffs.data()[i] = scale * rng.normal();
  if (lm != Linmap::kNone) {
    fam.linmap_per_factor = lm == Linmap::kPerFactor;
    fam.linmap.resize(fam.linmap_per_factor ? F * m : m, k);
    for (int64_t i = 0; i < fam.linmap.size(); ++i) fam.linmap.data()[i] = rng.normal();
  }
  return fam;
}

// Makes the top-degree part of every row a nonnegative form sum_i a_i u_i^d + small cross terms
// kept >= 0 (a_i > 0; other top-degree terms zeroed), so a model with a unary x_v^d family on
// every variable is bounded below.
inline void make_top_degree_positive(FactorFamily& fam, int d, Rng& rng) {
  for (int t = 0; t < fam.num_terms(); ++t) {
    if (monomial_degree(fam.exponents, t) != d) continue;
    const bool pure = fam.exponents.row(t).maxCoeff() == d;
    for (int r = 0; r < fam.coeffs.rows(); ++r) fam.coeffs(r, t) = pure ? 0.5 + rng.uniform() : 0.0;
  }
}

// Decomposes every family of a model (options: defaults unless given).
inline std::vector<FamilyDecomposition> decompose_model(const Model& model,
                                                        const DecomposeOptions& o = {}) {
  std::vector<FamilyDecomposition> out;
  for (const FactorFamily& f : model.families)
    out.push_back(decompose_family(f.name, f.exponents, f.coeffs, o));
  return out;
}

// The double well (x^2 - 1)^2 on one variable (spec 2.3, check 8).
inline Model double_well() {
  Model m;
  m.num_vars = 1;
  FactorFamily f;
  f.name = "well";
  f.vars = VarTable::Zero(1, 1);
  f.exponents = monomials_up_to(1, 4);  // 1, x, x^2, x^3, x^4
  f.coeffs.resize(1, 5);
  f.coeffs << 1, 0, -2, 0, 1;
  m.families.push_back(f);
  return m;
}

// A bounded-below random model: unary quartics with positive leading terms on every variable,
// pairwise quartics through random linmaps with nonnegative top forms, and a per-factor filter
// family (linmap [1, -1]) of degree 6.
inline Model bounded_model(int64_t V, int pairs, uint64_t seed) {
  Rng rng(seed, 7);
  Model m;
  m.num_vars = V;
  FactorFamily unary =
      random_family("unary", static_cast<int>(V), 1, 1, 4, false, Linmap::kNone, V, rng);
  for (int64_t v = 0; v < V; ++v) unary.vars(v, 0) = v;
  make_top_degree_positive(unary, 4, rng);
  FactorFamily pair = random_family("pair", pairs, 2, 2, 4, false, Linmap::kShared, V, rng, 0.5);
  make_top_degree_positive(pair, 4, rng);
  FactorFamily filt = random_family("filter", pairs, 2, 1, 6, true, Linmap::kNone, V, rng, 0.3);
  filt.exponents = monomials_up_to(1, 6);
  filt.linmap.resize(1, 2);
  filt.linmap << 1, -1;
  make_top_degree_positive(filt, 6, rng);
  m.families = {unary, pair, filt};
  return m;
}

// max_i |fd_i - g_i| / max(1, ||g||_inf), h = 1e-6 max(1, |x_i|) (spec check 1).
inline double fd_error(const Energy& e, EnergyPart part, const Eigen::VectorXd& x) {
  Eigen::VectorXd g;
  e.evaluate(part, x, &g);
  double worst = 0.0;
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    const double h = 1e-6 * std::max(1.0, std::abs(x[i]));
    Eigen::VectorXd xp = x, xm = x;
    xp[i] += h;
    xm[i] -= h;
    const double fd = (e.evaluate(part, xp) - e.evaluate(part, xm)) / (2.0 * h);
    worst = std::max(worst, std::abs(fd - g[i]));
  }
  return worst / std::max(1.0, g.lpNorm<Eigen::Infinity>());
}

}  // namespace effinfer::mrf::test
