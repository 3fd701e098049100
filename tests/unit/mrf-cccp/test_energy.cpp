// mrf-cccp energy kernels (spec 2.1, 2.5): check 1 (gradients of E, E_vex, E_cave against central
// differences on random generic models, m <= 4, d <= 6, linmaps, shared and per-factor
// coefficients), E = E_vex + E_cave, S = sum |f_r|, and thread-count invariance (check 16).
#include <doctest/doctest.h>

#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "energy.hpp"
#include "energy_test_models.hpp"

namespace mrf = effinfer::mrf;
using mrf::test::Linmap;

namespace {

// A generic model exercising every layout: identity / shared / per-factor linmaps, shared and
// per-factor coefficient rows, m = 1..4, d up to 6.
mrf::Model generic_model(uint64_t seed) {
  effinfer::Rng rng(seed, 1);
  mrf::Model m;
  m.num_vars = 10;
  const int64_t V = m.num_vars;
  m.families.push_back(mrf::test::random_family("a", 7, 2, 2, 4, false, Linmap::kNone, V, rng));
  m.families.push_back(mrf::test::random_family("b", 5, 3, 2, 6, true, Linmap::kShared, V, rng));
  m.families.push_back(
      mrf::test::random_family("c", 4, 4, 4, 4, false, Linmap::kPerFactor, V, rng, 0.5));
  m.families.push_back(mrf::test::random_family("d", 6, 2, 1, 6, false, Linmap::kShared, V, rng));
  m.families.push_back(mrf::test::random_family("e", 3, 3, 3, 3, true, Linmap::kNone, V, rng));
  m.families.push_back(
      mrf::test::random_family("f", 2, 4, 4, 6, true, Linmap::kShared, V, rng, 0.3));
  return m;
}

}  // namespace

TEST_CASE("gradients of E, E_vex, E_cave match central differences (check 1)") {
  double worst[3] = {0, 0, 0};
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    const mrf::Model model = generic_model(seed);
    mrf::Energy energy(model, 1);
    // sdp splits where the Gram block is small (N <= 20), bound splits elsewhere (time).
    std::vector<mrf::FamilyDecomposition> split;
    for (const auto& f : model.families) {
      mrf::DecomposeOptions o;
      const int d = mrf::monomial_degree(f.exponents, f.num_terms() - 1);
      const bool small =
          f.local_dim() * mrf::binomial(f.local_dim() + (d - 2) / 2, (d - 2) / 2) <= 20;
      o.method = seed % 2 && small ? mrf::SplitMethod::kSdp : mrf::SplitMethod::kBound;
      split.push_back(mrf::decompose_family(f.name, f.exponents, f.coeffs, o));
    }
    energy.set_split(split);
    effinfer::Rng rng(seed, 2);
    for (int trial = 0; trial < 3; ++trial) {
      Eigen::VectorXd x(model.num_vars);
      for (auto& v : x) v = 2.0 * rng.uniform() - 1.0;
      const mrf::EnergyPart parts[3] = {mrf::EnergyPart::kFull, mrf::EnergyPart::kVex,
                                        mrf::EnergyPart::kCave};
      for (int p = 0; p < 3; ++p)
        worst[p] = std::max(worst[p], mrf::test::fd_error(energy, parts[p], x));
      // E = E_vex + E_cave; S >= |E|.
      double S = 0.0;
      const double E = energy.evaluate(mrf::EnergyPart::kFull, x, nullptr, &S);
      const double Ev = energy.evaluate(mrf::EnergyPart::kVex, x);
      const double Ec = energy.evaluate(mrf::EnergyPart::kCave, x);
      CHECK(std::abs(E - (Ev + Ec)) <= 1e-9 * std::max(1.0, S + std::abs(Ev) + std::abs(Ec)));
      CHECK(S >= std::abs(E) * (1 - 1e-15));
    }
  }
  MESSAGE("max relative FD error: E " << worst[0] << ", E_vex " << worst[1] << ", E_cave "
                                      << worst[2]);
  for (double w : worst) CHECK(w <= 1e-6);
}

TEST_CASE("energy equals the sum of per-factor polynomial values") {
  const mrf::Model model = generic_model(11);
  const mrf::Energy energy(model, 1);
  effinfer::Rng rng(11, 3);
  Eigen::VectorXd x(model.num_vars);
  for (auto& v : x) v = rng.normal();
  double ref = 0.0, ref_abs = 0.0;
  for (const auto& fam : model.families) {
    for (int r = 0; r < fam.num_factors(); ++r) {
      Eigen::VectorXd xr(fam.arity());
      for (int j = 0; j < fam.arity(); ++j) xr[j] = x[fam.vars(r, j)];
      Eigen::VectorXd u = xr;
      if (fam.linmap.size() > 0) {
        const int m = fam.local_dim();
        u = fam.linmap_per_factor ? Eigen::MatrixXd(fam.linmap.middleRows(r * m, m)) * xr
                                  : Eigen::MatrixXd(fam.linmap) * xr;
      }
      const mrf::Polynomial g(fam.exponents, fam.coeff_row(r).transpose());
      const double v = mrf::evaluate(g, u);
      ref += v;
      // S is the sum of the absolute monomial terms |c_a u^a| (the guard's rounding scale).
      for (int t = 0; t < g.exponents.rows(); ++t) {
        double term = g.coeffs[t];
        for (int i = 0; i < g.exponents.cols(); ++i) term *= std::pow(u[i], g.exponents(t, i));
        ref_abs += std::abs(term);
      }
    }
  }
  double S = 0.0;
  const double E = energy.evaluate(mrf::EnergyPart::kFull, x, nullptr, &S);
  CHECK(std::abs(E - ref) <= 1e-12 * ref_abs);
  CHECK(std::abs(S - ref_abs) <= 1e-12 * ref_abs);
  CHECK(S >= std::abs(E));
  CHECK(energy.largest_factor_family(x).size() == 1);
}

TEST_CASE("energy and gradient do not depend on the thread count (check 16)") {
  // Enough factors for many chunks of Energy::kChunk and variables for the parallel gather.
  const mrf::Model model = mrf::test::bounded_model(5000, 2500, 5);
  mrf::Energy e1(model, 1), e2(model, 2);
  effinfer::Rng rng(5, 4);
  Eigen::VectorXd x(model.num_vars);
  for (auto& v : x) v = rng.normal();
  Eigen::VectorXd g1, g2;
  double s1 = 0, s2 = 0;
  const double E1 = e1.evaluate(mrf::EnergyPart::kFull, x, &g1, &s1);
  const double E2 = e2.evaluate(mrf::EnergyPart::kFull, x, &g2, &s2);
  CHECK(E1 == E2);  // bit-identical by construction (fixed chunks, fixed CSR order)
  CHECK(s1 == s2);
  CHECK((g1 - g2).lpNorm<Eigen::Infinity>() == 0.0);
}

TEST_CASE("bad shapes and ids are data errors") {
  mrf::Model model = generic_model(3);
  model.families[0].vars(0, 0) = model.num_vars;
  CHECK_THROWS_AS(mrf::Energy(model, 1), effinfer::DataError);
  model = generic_model(3);
  model.families[1].linmap.resize(1, 3);
  CHECK_THROWS_AS(mrf::Energy(model, 1), effinfer::DataError);
  model = generic_model(3);
  mrf::Energy e(model, 1);
  auto d = mrf::test::decompose_model(model, [] {
    mrf::DecomposeOptions o;
    o.method = mrf::SplitMethod::kBound;
    return o;
  }());
  d.pop_back();
  CHECK_THROWS_AS(e.set_split(d), effinfer::DataError);
  CHECK_FALSE(e.has_split());
}
