// Spec check 1: derivatives on N 50, K 2 with sessions and cross-validation gaps, against central
// differences: the gradient of f = L + log prior (<= 1e-6 relative), C v against differences of
// the gradient (<= 1e-5) and the analytic exact-evidence gradient of spec 2.7 for sigma, sigDay,
// sigInit, shared and per weight (step 1e-4 in log2, <= 1e-5 relative). Plus the prior variance
// and HyperParam bookkeeping of spec 2.2 / 2.6.
#include <doctest/doctest.h>

#include <cmath>

#include "core/error.hpp"
#include "exact_evidence.hpp"
#include "map_fit.hpp"
#include "psytrack_test_problem.hpp"
#include "test_support.hpp"

namespace pt = effinfer::psytrack;

namespace {

double objective(const pt::Dataset& data, const pt::RowMatrix& w, const pt::RowMatrix& v) {
  return pt::log_likelihood(data, w) + pt::log_prior(w, v);
}

// Block-tridiagonal C times x (trial-major vectors as (N, K) matrices).
pt::RowMatrix block_multiply(int n, int k, const std::vector<double>& diag,
                             const std::vector<double>& off, const pt::RowMatrix& x) {
  pt::RowMatrix y = pt::RowMatrix::Zero(n, k);
  for (int t = 0; t < n; ++t) {
    for (int i = 0; i < k; ++i) {
      double s = 0;
      for (int j = 0; j < k; ++j) s += diag[(t * k + i) * k + j] * x(t, j);
      if (t > 0) s += off[(t - 1) * k + i] * x(t - 1, i);
      if (t + 1 < n) s += off[t * k + i] * x(t + 1, i);
      y(t, i) = s;
    }
  }
  return y;
}

// Analytic gradient of spec 2.2: g_t (y_t - p_t) - (P W)_t, with P W from the prior part of the
// assembled Hessian (C at zero inputs is P).
pt::RowMatrix analytic_gradient(const pt::Dataset& data, const pt::RowMatrix& v,
                                const pt::RowMatrix& w) {
  const int n = data.n_trials(), k = data.n_weights();
  pt::Dataset no_inputs = data;
  no_inputs.g.setZero();
  std::vector<double> diag, off;
  pt::assemble_hessian(no_inputs, v, w, diag, off);
  // Lambda with g = 0 is zero, so the blocks are exactly P.
  const pt::RowMatrix pw = block_multiply(n, k, diag, off, w);
  const Eigen::VectorXd p = pt::predict_p(data, w);
  pt::RowMatrix grad(n, k);
  for (int t = 0; t < n; ++t) grad.row(t) = data.g.row(t) * (data.y[t] - p[t]) - pw.row(t);
  return grad;
}

double max_rel(const Eigen::Ref<const Eigen::MatrixXd>& a,
               const Eigen::Ref<const Eigen::MatrixXd>& b) {
  return (a - b).cwiseAbs().maxCoeff() / b.cwiseAbs().maxCoeff();
}

}  // namespace

TEST_CASE("prior variance: sessions, sigInit / sigDay absent, gaps") {
  pt::Hyper hyper;
  hyper.sigma.value = Eigen::Vector2d(0.5, 0.25);
  pt::TrialLayout layout = pt::TrialLayout::from_day_length(6, {2, 3, 1});
  CHECK(layout.has_sessions());
  CHECK(layout.session_start == std::vector<uint8_t>{0, 0, 1, 0, 0, 1});
  // sigInit, sigDay absent: everything sigma^2.
  pt::RowMatrix v = pt::prior_variance(hyper, layout, 6, 2);
  CHECK((v.col(0).array() == 0.25).all());
  CHECK((v.col(1).array() == 0.0625).all());
  hyper.sig_init.value = Eigen::Vector2d(4.0, 2.0);
  hyper.sig_day.value = Eigen::Vector2d(1.0, 3.0);
  layout.gap = {2, 0, 1, 0, 3, 0};
  v = pt::prior_variance(hyper, layout, 6, 2);
  // t = 0: sigInit^2 + 2 sigma^2; t = 2: sigDay^2 + sigma^2; t = 4: 4 sigma^2; t = 5: sigDay^2.
  CHECK(v(0, 0) == 16.0 + 0.5);
  CHECK(v(0, 1) == 4.0 + 0.125);
  CHECK(v(1, 0) == 0.25);
  CHECK(v(2, 0) == 1.0 + 0.25);
  CHECK(v(2, 1) == 9.0 + 0.0625);
  CHECK(v(4, 1) == 4 * 0.0625);
  CHECK(v(5, 0) == 1.0);
  CHECK_THROWS_AS(pt::TrialLayout::from_day_length(6, {2, 3}), effinfer::DataError);
  CHECK_THROWS_AS(pt::TrialLayout::from_day_length(6, {0, 6}), effinfer::DataError);
  CHECK_FALSE(pt::TrialLayout::from_day_length(6, {6}).has_sessions());
}

TEST_CASE("log likelihood and prior: hand values and stability") {
  pt::Dataset data;
  data.y = Eigen::Vector3d(1, 0, 1);
  data.g.resize(3, 1);
  data.g << 1, 1, 1;
  pt::RowMatrix w(3, 1);
  w << 0.0, 800.0, -800.0;
  // eta = 0: -log 2; eta = 800, y = 0: -800; eta = -800, y = 1: -800 (no overflow).
  CHECK(pt::log_likelihood(data, w) == doctest::Approx(-std::log(2.0) - 1600.0).epsilon(1e-15));
  const Eigen::VectorXd p = pt::predict_p(data, w);
  CHECK(p[0] == 0.5);
  CHECK(p[1] == 1.0);
  CHECK(p[2] >= 0.0);
  CHECK(p[2] < 1e-300);
  pt::RowMatrix v(3, 1);
  v << 4.0, 1.0, 2.0;
  // 1/2 sum [-log v - eps^2 / v], eps = (0, 800, -1600).
  const double expect =
      0.5 * (-std::log(4.0) - std::log(1.0) - 640000.0 - std::log(2.0) - 1600.0 * 1600.0 / 2.0);
  CHECK(pt::log_prior(w, v) == doctest::Approx(expect).epsilon(1e-15));
}

TEST_CASE("HyperParam: log2 round trip, shared entries, names") {
  pt::Hyper hyper;
  hyper.sigma.value = Eigen::Vector3d(0.25, 0.125, 0.5);
  hyper.sig_init.value = Eigen::Vector3d::Constant(16.0);
  hyper.sig_init.shared = true;
  hyper.sig_day.value = Eigen::Vector3d(1.0, 2.0, 4.0);
  const pt::HyperParam param{
      {pt::HyperKind::kSigDay, pt::HyperKind::kSigInit, pt::HyperKind::kSigma}};
  CHECK(param.size(hyper) == 7);
  const Eigen::VectorXd x = param.to_log2(hyper);
  Eigen::VectorXd expect(7);
  expect << 0, 1, 2, 4, -2, -3, -1;
  CHECK(x == expect);
  Eigen::VectorXd x2 = x;
  x2[3] = 1.0;  // the shared sigInit
  x2[4] = -5.0;
  const pt::Hyper h2 = param.from_log2(hyper, x2);
  CHECK(h2.sig_init.value == Eigen::Vector3d::Constant(2.0));
  CHECK(h2.sig_init.shared);
  CHECK(h2.sigma.value[0] == 1.0 / 32);
  CHECK(h2.sigma.value[1] == 0.125);
  const auto names = param.names(hyper, {"bias", "s1", "s2"});
  REQUIRE(names.size() == 7);
  CHECK(names[0] == "sigDay[bias]");
  CHECK(names[3] == "sigInit");
  CHECK(names[6] == "sigma[s2]");
  CHECK(std::string(pt::hyper_name(pt::HyperKind::kSigDay)) == "sigDay");
  // An opt hyper without a value is a configuration error.
  pt::Hyper no_day = hyper;
  no_day.sig_day.value.resize(0);
  CHECK_THROWS_AS(param.size(no_day), effinfer::ConfigError);
}

TEST_CASE("check 1: gradient of L + log prior and C v against central differences") {
  const auto prob = pt::test::make_problem(50, 2, 3, true, true, 10);
  const int n = 50, k = 2;
  const pt::RowMatrix v = pt::prior_variance(prob.hyper, prob.layout, n, k);
  // A point away from the truth so the gradient is not small.
  pt::RowMatrix w = prob.w;
  effinfer::Rng rng(99);
  for (int t = 0; t < n; ++t)
    for (int j = 0; j < k; ++j) w(t, j) += 0.3 * rng.normal();

  const pt::RowMatrix grad = analytic_gradient(prob.data, v, w);
  pt::RowMatrix fd(n, k);
  const double h = 1e-5;
  for (int t = 0; t < n; ++t) {
    for (int j = 0; j < k; ++j) {
      pt::RowMatrix wp = w, wm = w;
      wp(t, j) += h;
      wm(t, j) -= h;
      fd(t, j) = (objective(prob.data, wp, v) - objective(prob.data, wm, v)) / (2 * h);
    }
  }
  const double grad_err = max_rel(grad, fd);

  // Negative Hessian times a direction vs differences of the analytic gradient.
  std::vector<double> diag, off;
  pt::assemble_hessian(prob.data, v, w, diag, off);
  pt::RowMatrix dir(n, k);
  for (int t = 0; t < n; ++t)
    for (int j = 0; j < k; ++j) dir(t, j) = rng.normal();
  const pt::RowMatrix cv = block_multiply(n, k, diag, off, dir);
  const double hv = 1e-5;
  const pt::RowMatrix fd_cv = -(analytic_gradient(prob.data, v, w + hv * dir) -
                                analytic_gradient(prob.data, v, w - hv * dir)) /
                              (2 * hv);
  const double cv_err = max_rel(cv, fd_cv);
  MESSAGE("gradient rel. error " << grad_err << ", C v rel. error " << cv_err);
  CHECK(grad_err <= 1e-6);
  CHECK(cv_err <= 1e-5);

  // The MAP is a stationary point of f: the central-difference gradient vanishes there.
  const pt::MapResult map = pt::map_fit(prob.data, prob.layout, prob.hyper, pt::MapOptions{});
  CHECK(map.converged);
  double max_fd = 0;
  for (int t = 0; t < n; ++t) {
    for (int j = 0; j < k; ++j) {
      pt::RowMatrix wp = map.w, wm = map.w;
      wp(t, j) += h;
      wm(t, j) -= h;
      max_fd = std::max(
          max_fd, std::abs(objective(prob.data, wp, v) - objective(prob.data, wm, v)) / (2 * h));
    }
  }
  CHECK(max_fd <= 1e-6 * fd.cwiseAbs().maxCoeff());
}

namespace {

// Analytic exact-evidence gradient vs central differences of E (step 1e-4 in log2).
double evidence_gradient_error(const pt::test::Problem& prob, const pt::Hyper& base,
                               const pt::HyperParam& param) {
  const Eigen::VectorXd x = param.to_log2(base);
  const pt::MapOptions opts;
  const auto eg = pt::exact_evidence_gradient(prob.data, prob.layout, base, param, x, opts);
  CHECK(eg.map.converged);
  CHECK(eg.log_evidence == doctest::Approx(eg.map.log_evidence));
  REQUIRE(eg.gradient.size() == x.size());
  Eigen::VectorXd fd(x.size());
  const double h = 1e-4;
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    Eigen::VectorXd xp = x, xm = x;
    xp[i] += h;
    xm[i] -= h;
    const double ep =
        pt::map_fit(prob.data, prob.layout, param.from_log2(base, xp), opts).log_evidence;
    const double em =
        pt::map_fit(prob.data, prob.layout, param.from_log2(base, xm), opts).log_evidence;
    fd[i] = (ep - em) / (2 * h);
  }
  // Relative per component (floor: 1e-3 of the largest component, for entries near zero).
  const double floor = 1e-3 * fd.cwiseAbs().maxCoeff();
  double err = 0;
  for (Eigen::Index i = 0; i < x.size(); ++i)
    err = std::max(err, std::abs(eg.gradient[i] - fd[i]) / std::max(std::abs(fd[i]), floor));
  CAPTURE(eg.gradient.transpose());
  CAPTURE(fd.transpose());
  return err;
}

}  // namespace

TEST_CASE("check 1: exact-evidence gradient (spec 2.7) against central differences") {
  const auto prob = pt::test::make_problem(50, 2, 5, true, true, 10);
  const pt::HyperParam all{
      {pt::HyperKind::kSigma, pt::HyperKind::kSigInit, pt::HyperKind::kSigDay}};
  SUBCASE("per weight sigma, sigInit, sigDay") {
    const double err = evidence_gradient_error(prob, prob.hyper, all);
    MESSAGE("per-weight rel. error " << err);
    CHECK(err <= 1e-5);
  }
  SUBCASE("shared sigma, sigInit, sigDay") {
    pt::Hyper h = prob.hyper;
    h.sigma.value.setConstant(0.2);
    h.sig_init.value.setConstant(1.5);
    h.sig_day.value.setConstant(0.6);
    h.sigma.shared = h.sig_init.shared = h.sig_day.shared = true;
    const double err = evidence_gradient_error(prob, h, all);
    MESSAGE("shared rel. error " << err);
    CHECK(err <= 1e-5);
  }
  SUBCASE("sigInit and sigDay absent (sigma at t = 0 and session starts)") {
    pt::Hyper h = prob.hyper;
    h.sig_init.value.resize(0);
    h.sig_day.value.resize(0);
    const double err = evidence_gradient_error(prob, h, pt::HyperParam{{pt::HyperKind::kSigma}});
    MESSAGE("absent sigInit/sigDay rel. error " << err);
    CHECK(err <= 1e-5);
  }
  SUBCASE("mixed: shared sigDay first, per-weight sigma") {
    pt::Hyper h = prob.hyper;
    h.sig_day.value.setConstant(0.7);
    h.sig_day.shared = true;
    const double err = evidence_gradient_error(
        prob, h, pt::HyperParam{{pt::HyperKind::kSigDay, pt::HyperKind::kSigma}});
    MESSAGE("mixed rel. error " << err);
    CHECK(err <= 1e-5);
  }
}
