// Simulator (spec 2.10, check 13): step sizes, reflection at the boundary, inputs, choices,
// seeding.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "simulate.hpp"
#include "test_support.hpp"

using namespace effinfer::psytrack;

namespace {

SimulateOptions check13_options() {
  SimulateOptions o;
  o.n_weights = 4;
  o.n_trials = 120000;
  o.day_length.assign(300, 400);
  o.seed = 0;
  return o;
}

// The image of w under repeated reflection at +-b: the triangle wave of period 4b.
double fold_into(double w, double b) {
  double u = std::fmod(w + b, 4 * b);
  if (u < 0) u += 4 * b;
  return u <= 2 * b ? u - b : 3 * b - u;
}

bool same(const Simulation& a, const Simulation& b) {
  return a.x == b.x && a.w_true == b.w_true && a.y_all == b.y_all && a.sigma == b.sigma &&
         a.sig_init == b.sig_init && a.sig_day == b.sig_day;
}

}  // namespace

TEST_CASE("check 13: step sizes on ordinary and session steps (boundary 1e9)") {
  SimulateOptions o = check13_options();
  o.boundary = 1e9;
  o.iterations = 2;
  const Simulation sim = simulate(o);
  const int n = o.n_trials, k = o.n_weights;
  REQUIRE(sim.w_true.rows() == n);
  REQUIRE(sim.w_true.cols() == k);
  REQUIRE(sim.sigma.size() == k);
  REQUIRE(sim.sig_day.size() == k);
  CHECK(sim.sig_init == Eigen::VectorXd::Constant(k, 4.0));
  for (int i = 0; i < k; ++i) {
    // Defaults: sigma = 2^c, c in {-4..-8}; sigDay = 2^c, c in {1, 0, -1}.
    const double cs = std::log2(sim.sigma[i]), cd = std::log2(sim.sig_day[i]);
    CHECK((cs == std::round(cs) && cs <= -4 && cs >= -8));
    CHECK((cd == std::round(cd) && cd <= 1 && cd >= -1));
  }
  std::vector<uint8_t> start(n, 0);
  for (int s = 1; s < 300; ++s) start[s * 400] = 1;
  for (int i = 0; i < k; ++i) {
    double ss_ord = 0, ss_day = 0;
    int n_ord = 0, n_day = 0;
    for (int t = 1; t < n; ++t) {
      const double d = sim.w_true(t, i) - sim.w_true(t - 1, i);
      if (start[t]) {
        ss_day += d * d;
        ++n_day;
      } else {
        ss_ord += d * d;
        ++n_ord;
      }
    }
    CHECK(n_day == 299);
    const double rms_ord = std::sqrt(ss_ord / n_ord), rms_day = std::sqrt(ss_day / n_day);
    MESSAGE("weight " << i << ": sigma " << sim.sigma[i] << " rms " << rms_ord << " (rel "
                      << rms_ord / sim.sigma[i] - 1 << "); sigDay " << sim.sig_day[i] << " rms "
                      << rms_day << " (rel " << rms_day / sim.sig_day[i] - 1 << ")");
    CHECK(std::abs(rms_ord / sim.sigma[i] - 1) <= 0.03);
    CHECK(std::abs(rms_day / sim.sig_day[i] - 1) <= 0.15);
  }
}

TEST_CASE("check 13: default boundary, inputs, choices") {
  const SimulateOptions o = check13_options();  // boundary 4, 20 realisations
  const Simulation sim = simulate(o);
  const int n = o.n_trials, k = o.n_weights;
  const double max_w = sim.w_true.cwiseAbs().maxCoeff();
  MESSAGE("max|W| = " << max_w);
  CHECK(max_w <= 4.0);

  const double mean_x = sim.x.mean();
  const double var_x = (sim.x.array() - mean_x).square().sum() / (static_cast<double>(n) * k - 1);
  MESSAGE("mean X = " << mean_x << " (bound " << 5 / std::sqrt(double(n) * k)
                      << "), var X = " << var_x);
  CHECK(std::abs(mean_x) <= 5 / std::sqrt(static_cast<double>(n) * k));
  CHECK(std::abs(var_x - 1) <= 0.02);

  Eigen::VectorXd p(n);
  for (int t = 0; t < n; ++t) p[t] = 1 / (1 + std::exp(-sim.x.row(t).dot(sim.w_true.row(t))));
  const double sum_p = p.sum(), sd = std::sqrt((p.array() * (1 - p.array())).sum());
  REQUIRE(sim.y_all.rows() == 20);
  REQUIRE(sim.y_all.cols() == n);
  double worst = 0;
  int not_binary = 0;
  for (int r = 0; r < 20; ++r) {
    double sum_y = 0;
    for (int t = 0; t < n; ++t) {
      const int y = sim.y_all(r, t);
      not_binary += y != 0 && y != 1;
      sum_y += y;
    }
    worst = std::max(worst, std::abs(sum_y - sum_p) / sd);
    CHECK(std::abs(sum_y - sum_p) <= 4 * sd);
  }
  CHECK(not_binary == 0);
  MESSAGE("max over realisations |sum y - sum p| / sd = " << worst);
  // Realisations differ from each other.
  CHECK(sim.y_all.row(0) != sim.y_all.row(1));
}

TEST_CASE("check 13: same seed gives identical output, another seed a different one") {
  SimulateOptions o;
  o.n_weights = 3;
  o.n_trials = 5000;
  o.iterations = 3;
  o.day_length = {1000, 2000, 2000};
  o.seed = 11;
  const Simulation a = simulate(o), b = simulate(o);
  CHECK(same(a, b));
  o.seed = 12;
  const Simulation c = simulate(o);
  CHECK(a.x != c.x);
  CHECK(a.w_true != c.w_true);
  CHECK(a.y_all != c.y_all);
}

TEST_CASE("reflection folds the unbounded walk into [-b, b]") {
  // Same seed, same steps: the reflected walk is the triangle-wave image of the free one.
  SimulateOptions o;
  o.n_weights = 3;
  o.n_trials = 20000;
  o.iterations = 1;
  o.sigma = Eigen::Vector3d(0.1, 0.05, 0.02);
  o.sig_init = Eigen::VectorXd::Constant(1, 3.0);
  o.seed = 5;
  o.boundary = std::numeric_limits<double>::infinity();
  const Simulation free = simulate(o);
  o.boundary = 0.75;
  const Simulation bounded = simulate(o);
  CHECK(bounded.x == free.x);
  int crossings = 0;
  double max_err = 0;
  for (int t = 0; t < o.n_trials; ++t)
    for (int i = 0; i < 3; ++i) {
      max_err =
          std::max(max_err, std::abs(bounded.w_true(t, i) - fold_into(free.w_true(t, i), 0.75)));
      crossings += std::abs(free.w_true(t, i)) > 0.75;
    }
  CHECK(crossings > 1000);  // the test exercises many reflections
  CHECK(max_err <= 1e-9);
  CHECK(bounded.w_true.cwiseAbs().maxCoeff() <= 0.75);
}

TEST_CASE("default-hyper draws are consumed even when values are given") {
  SimulateOptions o;
  o.n_weights = 5;
  o.n_trials = 3000;
  o.iterations = 2;
  o.day_length = {1000, 1000, 1000};
  o.seed = 3;
  const Simulation drawn = simulate(o);
  // Give sigma explicitly (equal to the drawn defaults) and leave sigDay to its default: the
  // sigDay draw and every other stream must be unchanged.
  o.sigma = drawn.sigma;
  const Simulation given = simulate(o);
  CHECK(same(drawn, given));
  // A different explicit sigma changes W but neither X nor sigDay.
  o.sigma = Eigen::VectorXd::Constant(1, 0.01);
  const Simulation other = simulate(o);
  CHECK(other.sigma == Eigen::VectorXd::Constant(5, 0.01));
  CHECK(other.sig_day == drawn.sig_day);
  CHECK(other.x == drawn.x);
  CHECK(other.w_true != drawn.w_true);
}

TEST_CASE("initial weights follow sigInit; no sigDay without sessions; bad options") {
  SimulateOptions o;
  o.n_weights = 4000;
  o.n_trials = 2;
  o.iterations = 1;
  o.boundary = 1e9;
  o.sig_init = Eigen::VectorXd::Constant(1, 2.0);
  o.seed = 9;
  const Simulation sim = simulate(o);
  CHECK(sim.sig_day.size() == 0);
  CHECK(sim.day_length.empty());
  const double rms0 = std::sqrt(sim.w_true.row(0).squaredNorm() / 4000);
  CHECK(std::abs(rms0 / 2.0 - 1) <= 0.05);  // 1/sqrt(2*4000) = 1.1% standard error

  SimulateOptions bad;
  bad.n_trials = 100;
  bad.sigma = Eigen::VectorXd::Constant(3, 0.1);  // K = 4
  CHECK_THROWS_AS(simulate(bad), effinfer::ConfigError);
  bad.sigma = Eigen::VectorXd::Constant(1, -0.1);
  CHECK_THROWS_AS(simulate(bad), effinfer::ConfigError);
  bad.sigma.resize(0);
  bad.day_length = {50, 40};
  CHECK_THROWS_AS(simulate(bad), effinfer::ConfigError);
  bad.day_length = {100, 0};
  CHECK_THROWS_AS(simulate(bad), effinfer::ConfigError);
  bad.day_length.clear();
  bad.boundary = 0;
  CHECK_THROWS_AS(simulate(bad), effinfer::ConfigError);
}
