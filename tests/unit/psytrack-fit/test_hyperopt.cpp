// psytrack-mode hyperparameter optimisation (spec 2.6, 2.8): the decoupled-Laplace surrogate
// against a dense computation, check 11 (trace invariants, opt = []), thread invariance, the
// documented deviations (x0_i = 0 stop rule, log2 bounds, outer_max_iter).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/rng.hpp"
#include "decoupled_laplace.hpp"
#include "fit.hpp"
#include "test_support.hpp"

namespace {

using namespace effinfer::psytrack;

struct Sim {
  Dataset data;
  TrialLayout layout;
};

// Bernoulli GLM whose weights follow Gaussian random walks: weight 0 is a bias (g = 1), the others
// multiply N(0, 1) inputs; w_0 ~ N(0, 1), steps N(0, sigma_k^2), N(0, sigma_day^2) at sessions.
Sim simulate_learner(int n, const std::vector<double>& log2_sigma, uint64_t seed,
                     const std::vector<int64_t>& day_length = {}, double sig_day = 0.5) {
  effinfer::Rng rng(seed);
  const int k = static_cast<int>(log2_sigma.size());
  Sim s;
  s.data.y.resize(n);
  s.data.g.resize(n, k);
  s.data.day_length = day_length;
  s.layout = TrialLayout::from_day_length(n, day_length);
  Eigen::VectorXd w(k);
  for (int t = 0; t < n; ++t) {
    for (int j = 0; j < k; ++j) {
      const double sd = t == 0                      ? 1.0
                        : s.layout.session_start[t] ? sig_day
                                                    : std::exp2(log2_sigma[j]);
      w[j] = (t == 0 ? 0.0 : w[j]) + sd * rng.normal();
      s.data.g(t, j) = j == 0 ? 1.0 : rng.normal();
    }
    const double eta = s.data.g.row(t).dot(w);
    s.data.y[t] = rng.uniform() < 1.0 / (1.0 + std::exp(-eta)) ? 1.0 : 0.0;
  }
  s.data.weight_names.push_back("bias");
  for (int j = 1; j < k; ++j)
    s.data.weight_names.push_back(std::string(1, 's').append(std::to_string(j)));
  return s;
}

Hyper per_weight_hyper(int k, double sigma, double sig_init) {
  Hyper h;
  h.sigma.value = Eigen::VectorXd::Constant(k, sigma);
  h.sig_init.value = Eigen::VectorXd::Constant(k, sig_init);
  return h;
}

// Dense reference of the surrogate (spec 2.6), independent of the block code: P = D^T V^-1 D and
// Lambda as dense NK x NK matrices in trial-major order.
struct DenseModel {
  const Dataset& data;
  const TrialLayout& layout;
  int n, k;

  Eigen::MatrixXd variance(const Hyper& h) const {  // (N, K), spec 2.2
    Eigen::MatrixXd v(n, k);
    for (int t = 0; t < n; ++t)
      for (int j = 0; j < k; ++j) {
        double sd = h.sigma.value[j];
        if (t == 0 && h.sig_init.present()) sd = h.sig_init.value[j];
        if (t > 0 && layout.session_start[t] && h.sig_day.present()) sd = h.sig_day.value[j];
        v(t, j) = sd * sd;
        if (!layout.gap.empty()) v(t, j) += layout.gap[t] * h.sigma.value[j] * h.sigma.value[j];
      }
    return v;
  }
  Eigen::MatrixXd precision(const Eigen::MatrixXd& v) const {
    const int m = n * k;
    Eigen::MatrixXd d = Eigen::MatrixXd::Zero(m, m), vinv = Eigen::MatrixXd::Zero(m, m);
    for (int t = 0; t < n; ++t)
      for (int j = 0; j < k; ++j) {
        d(t * k + j, t * k + j) = 1.0;
        if (t > 0) d(t * k + j, (t - 1) * k + j) = -1.0;
        vinv(t * k + j, t * k + j) = 1.0 / v(t, j);
      }
    return d.transpose() * vinv * d;
  }
  Eigen::MatrixXd lambda(const Eigen::VectorXd& w) const {
    Eigen::MatrixXd l = Eigen::MatrixXd::Zero(n * k, n * k);
    for (int t = 0; t < n; ++t) {
      const Eigen::VectorXd g = data.g.row(t).transpose();
      const double p = 1.0 / (1.0 + std::exp(-g.dot(w.segment(t * k, k))));
      l.block(t * k, t * k, k, k) = p * (1 - p) * g * g.transpose();
    }
    return l;
  }
  // s(theta) with the surrogate built at (theta0, w0); also returns W(theta).
  double surrogate(const Hyper& theta0, const Eigen::VectorXd& w0, const Hyper& theta,
                   Eigen::VectorXd& w) const {
    const Eigen::MatrixXd l0 = lambda(w0);
    const Eigen::MatrixXd v = variance(theta);
    const Eigen::MatrixXd p = precision(v);
    w = (p + l0).llt().solve((precision(variance(theta0)) + l0) * w0);
    double logli = 0, logprior = 0;
    for (int t = 0; t < n; ++t) {
      const double eta = data.g.row(t).dot(w.segment(t * k, k));
      logli += data.y[t] * eta - std::log1p(std::exp(eta));
      for (int j = 0; j < k; ++j) {
        const double eps = w[t * k + j] - (t > 0 ? w[(t - 1) * k + j] : 0.0);
        logprior += -0.5 * std::log(v(t, j)) - 0.5 * eps * eps / v(t, j);
      }
    }
    const Eigen::LLT<Eigen::MatrixXd> c(p + lambda(w));
    const double logdet = 2 * c.matrixLLT().diagonal().array().log().sum();
    return logli + logprior - 0.5 * logdet;
  }
};

Eigen::VectorXd flat(const RowMatrix& w) {
  return Eigen::Map<const Eigen::VectorXd>(w.data(), w.size());
}

void check_trace_invariants(const FitResult& fit) {
  REQUIRE(!fit.trace.empty());
  CHECK(fit.trace[0].accepted);
  double best = -INFINITY;
  bool found = false;
  for (const TraceRow& row : fit.trace) {
    if (!row.accepted) {
      CHECK(row.log_evidence < best);  // rejected means strictly below the best so far
      continue;
    }
    CHECK(row.log_evidence >= best);  // accepted logEvd never decreases
    best = row.log_evidence;
    if (row.log2_hyper == fit.log2_hyper && row.log_evidence == fit.map.log_evidence) found = true;
  }
  CHECK(fit.map.log_evidence == best);  // returned = max over accepted rows
  CHECK(found);                         // returned theta is an accepted row
  CHECK(fit.n_map_solves == static_cast<int>(fit.trace.size()));
  int newton = 0;
  for (const TraceRow& row : fit.trace) newton += row.newton_iterations;
  CHECK(fit.newton_iterations == newton);
}

}  // namespace

TEST_CASE("decoupled Laplace surrogate equals a dense computation (sessions, gaps, shared sigma)") {
  const Sim sim = simulate_learner(40, {-2.0, -3.0}, 11, {15, 25}, 0.7);
  const int n = sim.data.n_trials(), k = sim.data.n_weights();
  TrialLayout layout = sim.layout;  // held-out gaps m_t (cross-validation), one at a session start
  layout.gap.assign(n, 0);
  layout.gap[0] = 1;
  layout.gap[7] = 2;
  layout.gap[15] = 1;
  layout.gap[31] = 3;
  Hyper theta0 = per_weight_hyper(k, 0.2, 2.0);
  theta0.sigma.shared = true;
  theta0.sig_day.value = Eigen::Vector2d(0.6, 0.3);
  HyperParam param;
  param.opt = {HyperKind::kSigma, HyperKind::kSigDay};
  REQUIRE(param.size(theta0) == 3);
  const MapResult map = map_fit(sim.data, layout, theta0, MapOptions{});
  REQUIRE(map.converged);
  const DecoupledLaplace s(sim.data, layout, theta0, param, theta0, map.w);
  const DenseModel dense{sim.data, layout, n, k};

  // At theta0 the surrogate weights are the MAP and s is the Laplace evidence.
  const Eigen::VectorXd x0 = param.to_log2(theta0);
  CHECK(s(x0) == doctest::Approx(map.log_evidence).epsilon(1e-12));
  CHECK((flat(s.weights(x0)) - flat(map.w)).cwiseAbs().maxCoeff() <= 1e-10);

  for (const Eigen::Vector3d& dx :
       {Eigen::Vector3d(0.7, -0.4, 0.9), Eigen::Vector3d(-1.5, 1.0, -2.0)}) {
    const Eigen::VectorXd x = x0 + dx;
    Eigen::VectorXd w_dense;
    const double s_dense =
        dense.surrogate(theta0, flat(map.w), param.from_log2(theta0, x), w_dense);
    CHECK(s(x) == doctest::Approx(s_dense).epsilon(1e-11));
    CHECK((flat(s.weights(x)) - w_dense).cwiseAbs().maxCoeff() <= 1e-9);
    // The surrogate is not the exact evidence away from theta0 (W(x) is not the MAP there).
    const MapResult exact = map_fit(sim.data, layout, param.from_log2(theta0, x), MapOptions{});
    CHECK(std::abs(s(x) - exact.log_evidence) > 1e-8);
  }
}

TEST_CASE("surrogate: K = 1, 5 (fixed-size sweep) and 9 (dynamic) vs dense; concurrent calls") {
  const std::vector<double> log2_sigma = {-2, -3, -3, -4, -4, -5, -5, -6, -6};
  for (int k : {1, 5, 9}) {
    CAPTURE(k);
    const Sim sim = simulate_learner(
        60, std::vector<double>(log2_sigma.begin(), log2_sigma.begin() + k), 5 + k);
    const Hyper theta0 = per_weight_hyper(k, 0.1, 4.0);
    HyperParam param;
    param.opt = {HyperKind::kSigma};
    const MapResult map = map_fit(sim.data, sim.layout, theta0, MapOptions{});
    const DecoupledLaplace s(sim.data, sim.layout, theta0, param, theta0, map.w);
    const DenseModel dense{sim.data, sim.layout, 60, k};
    Eigen::VectorXd x = param.to_log2(theta0);
    x[0] += 1.0;
    x[k - 1] -= 0.7;
    Eigen::VectorXd w_dense;
    CHECK(s(x) ==
          doctest::Approx(dense.surrogate(theta0, flat(map.w), param.from_log2(theta0, x), w_dense))
              .epsilon(1e-11));
    CHECK((flat(s.weights(x)) - w_dense).cwiseAbs().maxCoeff() <= 1e-9);
    const double serial = s(x);
    std::vector<double> values(8);
#pragma omp parallel for num_threads(4)
    for (int i = 0; i < 8; ++i) values[i] = s(x);
    for (double v : values) CHECK(v == serial);
  }
}

TEST_CASE("check 11: trace invariants on a simulated learner, and opt [] is one MAP") {
  const Sim sim = simulate_learner(1500, {-3.0, -5.0, -6.0}, 2024);
  const Hyper init = per_weight_hyper(3, std::exp2(-7.0), 16.0);
  HyperParam param;
  param.opt = {HyperKind::kSigma};
  FitOptions options;
  options.hyp_std = true;
  const FitResult fit = fit_hyper(sim.data, sim.layout, init, param, options);
  CHECK(fit.converged);
  check_trace_invariants(fit);
  CHECK(fit.trace.size() >= 2);
  CHECK(fit.n_dla_evals > 0);
  CHECK(fit.map.log_evidence > fit.trace[0].log_evidence);
  CHECK(fit.log2_hyper.size() == 3);
  CHECK(fit.hyper.sigma.value.array().log2().matrix().isApprox(fit.log2_hyper, 1e-14));
  CHECK(fit.hyper.sig_init.value == init.sig_init.value);  // not in opt: unchanged
  CHECK(fit.w_std.rows() == 1500);
  CHECK((fit.w_std.array() > 0).all());
  REQUIRE(fit.hyp_std_log2.size() == 3);
  CHECK(fit.hyp_std_log2.allFinite());
  CHECK((fit.hyp_std_log2.array() > 0).all());
  // The returned MAP is the exact MAP at the returned hypers.
  const MapResult again = map_fit(sim.data, sim.layout, fit.hyper, MapOptions{});
  CHECK(again.log_evidence == doctest::Approx(fit.map.log_evidence).epsilon(1e-10));

  HyperParam none;
  const FitResult fixed = fit_hyper(sim.data, sim.layout, init, none, options);
  REQUIRE(fixed.trace.size() == 1);
  CHECK(fixed.trace[0].accepted);
  CHECK(fixed.n_map_solves == 1);
  CHECK(fixed.n_dla_evals == 0);
  CHECK(fixed.log2_hyper.size() == 0);
  CHECK(fixed.hyp_std_log2.size() == 0);
  CHECK(fixed.converged);
  const MapResult direct = map_fit(sim.data, sim.layout, init, MapOptions{});
  CHECK(fixed.map.log_evidence == direct.log_evidence);
  CHECK(fixed.newton_iterations == direct.iterations);
  FitOptions exact = options;
  exact.mode = FitMode::kExact;  // opt [] is the same fixed-hyper MAP in exact mode
  const FitResult fixed_exact = fit_hyper(sim.data, sim.layout, init, none, exact);
  CHECK(fixed_exact.map.log_evidence == direct.log_evidence);
  CHECK(fixed_exact.trace.size() == 1);
}

TEST_CASE("check 11 with sessions and two free hypers; jump 1 stops at the first rejection") {
  const Sim sim = simulate_learner(1200, {-4.0, -5.0}, 77, std::vector<int64_t>(6, 200), 0.6);
  Hyper init = per_weight_hyper(2, std::exp2(-6.0), 16.0);
  init.sig_day.value = Eigen::Vector2d::Constant(0.5);
  init.sig_day.shared = true;
  HyperParam param;
  param.opt = {HyperKind::kSigma, HyperKind::kSigDay};
  FitOptions options;
  const FitResult fit = fit_hyper(sim.data, sim.layout, init, param, options);
  check_trace_invariants(fit);
  CHECK(fit.log2_hyper.size() == 3);
  CHECK(fit.hyper.sig_day.value[0] == fit.hyper.sig_day.value[1]);

  options.jump = 1;
  const FitResult strict = fit_hyper(sim.data, sim.layout, init, param, options);
  check_trace_invariants(strict);
  for (size_t i = 0; i + 1 < strict.trace.size(); ++i) CHECK(strict.trace[i].accepted);
}

TEST_CASE("outer loop: rejection, linear midpoint, warm start and surrogate at the rejected MAP") {
  // The real MAP and BFGS steps, observed; the evidence of MAPs 2 and 3 is lowered by 1e4 nats so
  // that they are rejected and the loop ends on jump = 2 rejections in a row.
  const Sim sim = simulate_learner(300, {-3.0, -5.0}, 4);
  HyperParam param;
  param.opt = {HyperKind::kSigma};
  const Hyper init = per_weight_hyper(2, std::exp2(-6.0), 16.0);
  FitOptions options;
  options.outer_rel_tol = 0.0;  // always move on to the proposal
  options.hyp_std = true;

  std::vector<Hyper> map_theta;
  std::vector<RowMatrix> map_w, map_start;
  std::vector<double> real_evidence;
  std::vector<Eigen::VectorXd> bfgs_x0;
  std::vector<double> loss_at_last_map;
  int bfgs_evals = 0;
  detail::PsytrackSteps steps;
  steps.map = [&](const Hyper& theta, const RowMatrix* w_start) {
    map_theta.push_back(theta);
    map_start.push_back(w_start ? *w_start : RowMatrix());
    MapResult m = map_fit(sim.data, sim.layout, theta, MapOptions{}, w_start);
    map_w.push_back(m.w);
    real_evidence.push_back(m.log_evidence);
    if (map_theta.size() >= 2) m.log_evidence -= 1e4;
    return m;
  };
  steps.bfgs = [&](const std::function<double(const Eigen::VectorXd&)>& loss,
                   const Eigen::VectorXd& x0, const BfgsOptions& o) {
    bfgs_x0.push_back(x0);
    // The surrogate equals the exact evidence at the MAP it was built at.
    loss_at_last_map.push_back(loss(param.to_log2(map_theta.back())));
    const BfgsResult r = minimize_bfgs(loss, x0, o);
    bfgs_evals += r.n_fev;
    return r;
  };
  const FitResult fit =
      detail::fit_psytrack_mode_with(sim.data, sim.layout, init, param, options, steps);

  REQUIRE(map_theta.size() == 3);
  REQUIRE(bfgs_x0.size() == 2);  // after MAP 1 and after the first rejection; none after jumps = 0
  REQUIRE(fit.trace.size() == 3);
  CHECK(fit.trace[0].accepted);
  CHECK_FALSE(fit.trace[1].accepted);
  CHECK_FALSE(fit.trace[2].accepted);
  CHECK(fit.converged);
  CHECK(fit.n_map_solves == 3);
  CHECK(fit.n_dla_evals == bfgs_evals);
  // Returned: the best (first) MAP, with its real evidence.
  CHECK(fit.log2_hyper == param.to_log2(init));
  CHECK(fit.map.log_evidence == real_evidence[0]);
  CHECK(fit.hyp_std_log2.size() == 2);

  // MAP 1 from zero; later MAPs warm-started from the previous MAP, even a rejected one.
  CHECK(map_start[0].size() == 0);
  CHECK(map_start[1] == map_w[0]);
  CHECK(map_start[2] == map_w[1]);
  // BFGS 1 from log2(init) on the surrogate of MAP 1.
  CHECK(bfgs_x0[0] == param.to_log2(init));
  CHECK(-loss_at_last_map[0] == doctest::Approx(real_evidence[0]).epsilon(1e-11));
  // After the rejection of MAP 2: x0 = log2 of the LINEAR midpoint of theta_2 and the best theta,
  // and the surrogate is built at the rejected MAP 2.
  Hyper mid = map_theta[1];
  mid.sigma.value = (map_theta[1].sigma.value + init.sigma.value) / 2;
  CHECK(bfgs_x0[1] == param.to_log2(mid));
  const Eigen::VectorXd log_mid = (param.to_log2(map_theta[1]) + param.to_log2(init)) / 2;
  CHECK((bfgs_x0[1] - log_mid).cwiseAbs().maxCoeff() > 1e-3);  // not the log-space midpoint
  CHECK(-loss_at_last_map[1] == doctest::Approx(real_evidence[1]).epsilon(1e-11));
  // The trace records the evidence the loop compared (the lowered one).
  CHECK(fit.trace[1].log_evidence == real_evidence[1] - 1e4);
  CHECK(fit.trace[1].log2_hyper == param.to_log2(map_theta[1]));
}

TEST_CASE("outer loop: a small relative change stops the loop and discards x*") {
  const Sim sim = simulate_learner(500, {-3.0, -5.0}, 8);
  HyperParam param;
  param.opt = {HyperKind::kSigma};
  int maps = 0, bfgs_calls = 0;
  Eigen::VectorXd last_x0, last_x;
  detail::PsytrackSteps steps;
  steps.map = [&](const Hyper& theta, const RowMatrix* w_start) {
    ++maps;
    return map_fit(sim.data, sim.layout, theta, MapOptions{}, w_start);
  };
  steps.bfgs = [&](const std::function<double(const Eigen::VectorXd&)>& loss,
                   const Eigen::VectorXd& x0, const BfgsOptions& o) {
    ++bfgs_calls;
    const BfgsResult r = minimize_bfgs(loss, x0, o);
    last_x0 = x0;
    last_x = r.x;
    return r;
  };
  const FitResult fit = detail::fit_psytrack_mode_with(
      sim.data, sim.layout, per_weight_hyper(2, std::exp2(-7.0), 16.0), param, FitOptions{}, steps);
  check_trace_invariants(fit);
  CHECK(maps == bfgs_calls);  // every MAP was followed by BFGS; the last proposal got no MAP
  const double change = ((last_x0 - last_x).array() / last_x0.array()).matrix().norm();
  CHECK(change <= 0.1);
  CHECK(fit.log2_hyper == last_x0);  // the last MAP (at x0) is returned, not x*
}

TEST_CASE("threads 1 vs 2: bit-identical fit") {
  const Sim sim = simulate_learner(1500, {-3.0, -4.0, -5.0}, 9);
  const Hyper init = per_weight_hyper(3, std::exp2(-6.0), 16.0);
  HyperParam param;
  param.opt = {HyperKind::kSigma};
  FitOptions options;
  options.hyp_std = true;
  const FitResult a = fit_hyper(sim.data, sim.layout, init, param, options);
  options.threads = 2;
  const FitResult b = fit_hyper(sim.data, sim.layout, init, param, options);
  REQUIRE(a.trace.size() == b.trace.size());
  for (size_t i = 0; i < a.trace.size(); ++i) {
    CHECK(a.trace[i].log2_hyper == b.trace[i].log2_hyper);
    CHECK(a.trace[i].log_evidence == b.trace[i].log_evidence);
  }
  CHECK(a.log2_hyper == b.log2_hyper);
  CHECK(a.map.log_evidence == b.map.log_evidence);
  CHECK(a.map.w == b.map.w);
  CHECK(a.w_std == b.w_std);
  CHECK(a.n_dla_evals == b.n_dla_evals);
  REQUIRE(a.hyp_std_log2.size() == 3);
  CHECK(a.hyp_std_log2.allFinite());
  for (Eigen::Index i = 0; i < a.hyp_std_log2.size(); ++i)
    CHECK(a.hyp_std_log2[i] == b.hyp_std_log2[i]);
}

TEST_CASE("deviations: hyper = 1 (log2 0) start, log2 bounds clamp, outer_max_iter") {
  const Sim sim = simulate_learner(1000, {-2.0, -4.0}, 31);
  HyperParam param;
  param.opt = {HyperKind::kSigma};
  FitOptions options;

  // psytrack divides by x0_i = 0 in its stop rule; here the denominator is 1.
  Hyper one = per_weight_hyper(2, std::exp2(-5.0), 16.0);
  one.sigma.value[0] = 1.0;
  const FitResult from_one = fit_hyper(sim.data, sim.layout, one, param, options);
  check_trace_invariants(from_one);
  CHECK(from_one.log2_hyper.allFinite());
  CHECK(from_one.converged);

  // Upper bound -5 on log2 sigma: every later MAP sits at or below it.
  options.log2_upper = -5.0;
  const FitResult clamped =
      fit_hyper(sim.data, sim.layout, per_weight_hyper(2, std::exp2(-7.0), 16.0), param, options);
  check_trace_invariants(clamped);
  for (size_t i = 1; i < clamped.trace.size(); ++i)
    CHECK(clamped.trace[i].log2_hyper.maxCoeff() <= -5.0 + 1e-12);

  // outer_max_iter 1: one MAP, BFGS wants to move on -> not converged, best = the only MAP.
  options = FitOptions{};
  options.outer_max_iter = 1;
  const FitResult capped =
      fit_hyper(sim.data, sim.layout, per_weight_hyper(2, std::exp2(-8.0), 16.0), param, options);
  CHECK(capped.trace.size() == 1);
  CHECK_FALSE(capped.converged);
  CHECK(!capped.message.empty());
  CHECK(capped.n_dla_evals > 0);
}
