// Spec check 6 (exact mode reaches the independent exact-evidence optimum /exact_opt of each
// reference file) and properties of the exact-mode optimiser: monotone trace, never below the
// start, box bounds, opt = [] and hyper standard errors (spec 2.7, 2.8).
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>

#include "exact_evidence.hpp"
#include "io/hdf5.hpp"
#include "psytrack_test_problem.hpp"
#include "test_support.hpp"

namespace pt = effinfer::psytrack;

namespace {

std::vector<pt::HyperKind> parse_opt(const std::string& list) {
  std::vector<pt::HyperKind> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == "sigma") out.push_back(pt::HyperKind::kSigma);
    if (item == "sigInit") out.push_back(pt::HyperKind::kSigInit);
    if (item == "sigDay") out.push_back(pt::HyperKind::kSigDay);
  }
  return out;
}

void check_exact_reference(const std::string& name) {
  const auto path = effinfer::test::shared_file_or_skip("reference/psytrack/" + name);
  if (path.empty()) return;
  const auto file = effinfer::io::H5File::open(path.string());
  pt::Dataset data;
  data.y = file.read_vector("/y");
  data.g = file.read_matrix("/inputs/x");
  if (file.exists("/dayLength")) data.day_length = file.read_int_vector("/dayLength");
  const auto layout = pt::TrialLayout::from_day_length(data.n_trials(), data.day_length);
  pt::Hyper init;  // per-weight (K,) datasets
  init.sigma.value = file.read_vector("/hyperopt/hyper_init/sigma");
  init.sig_init.value = file.read_vector("/hyperopt/hyper_init/sigInit");
  if (file.exists("/hyperopt/hyper_init/sigDay"))
    init.sig_day.value = file.read_vector("/hyperopt/hyper_init/sigDay");
  const pt::HyperParam param{parse_opt(file.read_attribute_string("/hyperopt", "optList"))};
  REQUIRE(!param.opt.empty());

  pt::FitOptions options;
  options.mode = pt::FitMode::kExact;
  const pt::FitResult fit = pt::fit_exact_mode(data, layout, init, param, options);
  const double ref_exact = file.read_attribute_double("/exact_opt", "logEvd");
  const double ref_psytrack = file.read_attribute_double("/hyperopt", "logEvd");
  const double init_evd = file.read_vector("/hyperopt/trace_logEvd")[0];
  MESSAGE(name << ": exact logEvd " << fit.map.log_evidence << " (exact_opt " << ref_exact
               << ", diff " << fit.map.log_evidence - ref_exact << "), evals " << fit.n_evals
               << ", Newton " << fit.newton_iterations << ", log2 hyper "
               << fit.log2_hyper.transpose() << std::string(fit.converged ? "" : " NOT CONVERGED ")
               << fit.message);
  CHECK(fit.converged);
  CHECK(fit.map.log_evidence >= ref_exact - 0.01);
  CHECK(fit.map.log_evidence >= ref_psytrack - 1e-6);
  // Trace row 0 is the unique MAP at the init (psytrack's first trace entry).
  REQUIRE(!fit.trace.empty());
  CHECK(std::abs(fit.trace[0].log_evidence - init_evd) <= 1e-6);
  CHECK(fit.trace.back().log_evidence == fit.map.log_evidence);
  CHECK(fit.w_std.rows() == data.n_trials());
  CHECK(fit.n_map_solves == fit.n_evals);
}

}  // namespace

TEST_CASE("check 6: exact mode reaches /exact_opt, N2000") {
  check_exact_reference("sim_K3_N2000.h5");
}
TEST_CASE("check 6: exact mode reaches /exact_opt, N5000") {
  check_exact_reference("sim_K3_N5000.h5");
}
TEST_CASE("check 6: exact mode reaches /exact_opt, N5000 sessions") {
  check_exact_reference("sim_K3_N5000_sessions.h5");
}

TEST_CASE("exact mode: monotone trace, never below the start, stationary at the end") {
  const auto prob = pt::test::make_problem(400, 2, 21, true, false, 100);
  const pt::HyperParam param{{pt::HyperKind::kSigma, pt::HyperKind::kSigDay}};
  pt::Hyper init = prob.hyper;
  init.sigma.value.setConstant(std::exp2(-6.0));
  init.sig_day.value.setConstant(1.0);
  pt::FitOptions options;
  options.mode = pt::FitMode::kExact;
  const pt::FitResult fit = pt::fit_exact_mode(prob.data, prob.layout, init, param, options);
  const double start = pt::map_fit(prob.data, prob.layout, init, pt::MapOptions{}).log_evidence;
  CHECK(fit.map.log_evidence >= start);
  REQUIRE(fit.trace.size() >= 2);
  CHECK(fit.trace[0].log_evidence == doctest::Approx(start).epsilon(1e-12));
  for (size_t i = 1; i < fit.trace.size(); ++i) {
    CHECK(fit.trace[i].accepted);
    CHECK(fit.trace[i].log_evidence >= fit.trace[i - 1].log_evidence);
  }
  CHECK(fit.log2_hyper == param.to_log2(fit.hyper));
  if (fit.converged) {
    // Independent check of stationarity: central differences of E at the returned point.
    const Eigen::VectorXd x = fit.log2_hyper;
    for (Eigen::Index i = 0; i < x.size(); ++i) {
      if (x[i] <= options.log2_lower || x[i] >= options.log2_upper) continue;
      Eigen::VectorXd xp = x, xm = x;
      xp[i] += 1e-4;
      xm[i] -= 1e-4;
      const double ep =
          pt::map_fit(prob.data, prob.layout, param.from_log2(init, xp), pt::MapOptions{})
              .log_evidence;
      const double em =
          pt::map_fit(prob.data, prob.layout, param.from_log2(init, xm), pt::MapOptions{})
              .log_evidence;
      CHECK(std::abs(ep - em) / 2e-4 <= 1e-3);
    }
  }
  CHECK(fit.converged);
}

TEST_CASE("exact mode: box bounds are respected and opt = [] is one MAP") {
  const auto prob = pt::test::make_problem(300, 2, 8, false, false);
  pt::Hyper init = prob.hyper;
  init.sigma.value.setConstant(std::exp2(-1.0));
  init.sigma.shared = true;
  init.sig_day.value.resize(0);
  pt::FitOptions options;
  options.mode = pt::FitMode::kExact;
  options.log2_lower = -2.0;  // the optimum of the shared sigma lies below 2^-2 for this data
  options.log2_upper = 0.0;
  const pt::HyperParam param{{pt::HyperKind::kSigma}};
  const pt::FitResult fit = pt::fit_exact_mode(prob.data, prob.layout, init, param, options);
  REQUIRE(fit.log2_hyper.size() == 1);
  CHECK(fit.log2_hyper[0] >= -2.0);
  CHECK(fit.log2_hyper[0] <= 0.0);
  // Evidence at the lower bound is higher than just inside it: the bound is active.
  const double at_bound = fit.map.log_evidence;
  const double inside =
      pt::map_fit(prob.data, prob.layout, param.from_log2(init, Eigen::VectorXd::Constant(1, -1.9)),
                  pt::MapOptions{})
          .log_evidence;
  CHECK(at_bound > inside);
  CHECK(fit.log2_hyper[0] == -2.0);
  CHECK(fit.converged);

  const pt::FitResult fixed =
      pt::fit_exact_mode(prob.data, prob.layout, init, pt::HyperParam{}, options);
  CHECK(fixed.trace.size() == 1);
  CHECK(fixed.n_map_solves == 1);
  CHECK(fixed.log2_hyper.size() == 0);
  CHECK(fixed.hyper.sigma.value == init.sigma.value);
  const pt::MapResult direct = pt::map_fit(prob.data, prob.layout, init, pt::MapOptions{});
  CHECK(fixed.map.log_evidence == direct.log_evidence);
  CHECK(fixed.w_std.rows() == 300);
}

TEST_CASE("exact mode hyp_std: inverse Hessian of -E by second differences of E") {
  const auto prob = pt::test::make_problem(600, 2, 4, false, false);
  pt::Hyper init = prob.hyper;
  init.sig_day.value.resize(0);
  const pt::HyperParam param{{pt::HyperKind::kSigma}};
  pt::FitOptions options;
  options.mode = pt::FitMode::kExact;
  options.hyp_std = true;
  options.w_std = false;
  const pt::FitResult fit = pt::fit_exact_mode(prob.data, prob.layout, init, param, options);
  REQUIRE(fit.converged);
  CHECK(fit.w_std.size() == 0);
  REQUIRE(fit.hyp_std_log2.size() == 2);
  // Spec 2.8's psytrack-mode formula applied to the exact evidence (dx 1e-3), computed here
  // from MAP evidences only.
  const Eigen::VectorXd x = fit.log2_hyper;
  auto e = [&](const Eigen::VectorXd& at) {
    return pt::map_fit(prob.data, prob.layout, param.from_log2(init, at), pt::MapOptions{})
        .log_evidence;
  };
  const double dx = 1e-3, f0 = -e(x);
  Eigen::Matrix2d h;
  for (int i = 0; i < 2; ++i) {
    Eigen::VectorXd xp = x, xm = x;
    xp[i] += dx;
    xm[i] -= dx;
    h(i, i) = (-e(xp) - e(xm) - 2 * f0) / (dx * dx);
  }
  Eigen::VectorXd a = x, b = x, c = x, d = x;
  a += Eigen::Vector2d(dx / 2, dx / 2);
  b -= Eigen::Vector2d(dx / 2, dx / 2);
  c += Eigen::Vector2d(dx / 2, -dx / 2);
  d -= Eigen::Vector2d(dx / 2, -dx / 2);
  h(0, 1) = h(1, 0) = (-e(a) - e(b) + e(c) + e(d)) / (dx * dx);
  const Eigen::Vector2d ref = h.inverse().diagonal().cwiseSqrt();
  MESSAGE("hyp_std " << fit.hyp_std_log2.transpose() << " vs second differences "
                     << ref.transpose());
  CHECK(fit.hyp_std_log2[0] == doctest::Approx(ref[0]).epsilon(1e-3));
  CHECK(fit.hyp_std_log2[1] == doctest::Approx(ref[1]).epsilon(1e-3));
}
