// SGD and learning-rate schedules (lib/nn/optim.hpp): hand-computed steps (spec quantize-climbq
// check 9) and schedule values from their closed forms.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "nn/optim.hpp"
#include "test_support.hpp"

namespace effinfer::nn {
namespace {

template <class T>
struct Scalar {
  Tensor<T> w{Shape{1}}, g{Shape{1}};
  Param<T> param(bool decay = true, bool frozen = false) {
    return Param<T>{"p", &w, &g, decay, frozen};
  }
};

TEST_CASE_TEMPLATE("sgd: spec check 9 (w = 1, g = 0.5 twice, lr 0.1, mu 0.9, wd 1e-4)", T, float,
                   double) {
  Scalar<T> s;
  s.w[0] = 1;
  Sgd<T> sgd({s.param()}, 0.9, 1e-4);
  const double tol = sizeof(T) == 8 ? 1e-15 : 1e-7;
  s.g[0] = T(0.5);
  sgd.step(0.1);
  // g = 0.5 + 1e-4 * 1 = 0.5001, v = g, w = 1 - 0.1 * 0.5001
  CHECK(std::abs(double(s.w[0]) - 0.94999) <= tol);
  CHECK(std::abs(double(sgd.velocity(0)[0]) - 0.5001) <= tol);
  CHECK(double(s.g[0]) == 0.5);  // the gradient is not modified
  s.g[0] = T(0.5);
  sgd.step(0.1);
  // g = 0.5 + 1e-4 * 0.94999 = 0.500094999, v = 0.9 * 0.5001 + g = 0.950184999
  CHECK(std::abs(double(sgd.velocity(0)[0]) - 0.950184999) <= tol);
  CHECK(std::abs(double(s.w[0]) - 0.8549715001) <= tol);
  CHECK(sgd.steps() == 2);
}

TEST_CASE("sgd: decay flag, frozen and buffer parameters, zero_grad, reset") {
  Scalar<double> a, b, c;
  Tensor<double> buffer{Shape{2}};
  buffer[0] = 3;
  a.w[0] = 2;
  b.w[0] = 2;
  c.w[0] = 2;
  a.g[0] = 1;
  b.g[0] = 1;
  c.g[0] = 1;
  Sgd<double> sgd({a.param(false), b.param(true, true), c.param(true),
                   Param<double>{"buffer", &buffer, nullptr, true, false}},
                  0.5, 0.1);
  sgd.step(1.0);
  CHECK(a.w[0] == doctest::Approx(1.0).epsilon(1e-15));        // no decay: w = 2 - 1
  CHECK(b.w[0] == 2.0);                                        // frozen
  CHECK(c.w[0] == doctest::Approx(2.0 - 1.2).epsilon(1e-15));  // g = 1 + 0.1 * 2
  CHECK(buffer[0] == 3.0);
  CHECK(sgd.velocity(1).size() == 0);
  sgd.step(0.5);
  // a: v = 0.5 * 1 + 1 = 1.5, w = 1 - 0.75 = 0.25
  CHECK(a.w[0] == doctest::Approx(0.25).epsilon(1e-15));
  // c: g = 1 + 0.1 * 0.8 = 1.08, v = 0.5 * 1.2 + 1.08 = 1.68, w = 0.8 - 0.84 = -0.04
  CHECK(c.w[0] == doctest::Approx(-0.04).epsilon(1e-13));
  sgd.zero_grad();
  CHECK(a.g[0] == 0.0);
  CHECK(b.g[0] == 0.0);
  sgd.reset();
  a.g[0] = 2;
  sgd.step(0.1);  // fresh momentum: v = 2, w = 0.25 - 0.2
  CHECK(a.w[0] == doctest::Approx(0.05).epsilon(1e-14));
}

TEST_CASE("sgd: vector parameter, three momentum steps") {
  Tensor<double> w{Shape{2, 2}}, g{Shape{2, 2}};
  for (int i = 0; i < 4; ++i) w[i] = i - 1.5;  // -1.5, -0.5, 0.5, 1.5
  Sgd<double> sgd({Param<double>{"W", &w, &g, false, false}}, 0.9, 0.0);
  for (int s = 0; s < 3; ++s) {
    for (int i = 0; i < 4; ++i) g[i] = (i + 1) * 0.1;
    sgd.step(0.5);
  }
  // constant g: v1 = g, v2 = 1.9 g, v3 = 2.71 g; w -= 0.5 (1 + 1.9 + 2.71) g = 2.805 g
  for (int i = 0; i < 4; ++i) CHECK(w[i] == doctest::Approx(i - 1.5 - 2.805 * (i + 1) * 0.1));
}

TEST_CASE("schedules: constant, cosine (spec check 9), multistep, warmup") {
  const Schedule constant = Schedule::constant(0.01);
  CHECK(constant.lr(0, 0) == 0.01);
  CHECK(constant.lr(1000, 7) == 0.01);

  const Schedule cosine = Schedule::cosine(0.05, 10);
  cosine.validate();
  CHECK(cosine.lr(0, 0) == doctest::Approx(0.05).epsilon(1e-15));
  CHECK(cosine.lr(5, 0) == doctest::Approx(0.025).epsilon(1e-15));
  // 0.05 * 0.5 * (1 + cos(0.2 pi)), cos(0.2 pi) = (1 + sqrt 5) / 4
  CHECK(cosine.lr(2, 0) == doctest::Approx(0.025 * (1 + (1 + std::sqrt(5.0)) / 4)).epsilon(1e-14));
  CHECK(std::abs(cosine.lr(10, 3)) < 1e-18);
  CHECK(std::abs(cosine.lr(12, 3)) < 1e-18);  // clamped past T

  const Schedule multistep = Schedule::multistep(0.04, {80, 150}, 0.1);
  multistep.validate();
  CHECK(multistep.lr(0, 0) == 0.04);
  CHECK(multistep.lr(123, 79) == 0.04);
  CHECK(multistep.lr(0, 80) == doctest::Approx(0.004).epsilon(1e-15));
  CHECK(multistep.lr(0, 149) == doctest::Approx(0.004).epsilon(1e-15));
  CHECK(multistep.lr(0, 150) == doctest::Approx(0.0004).epsilon(1e-15));
  CHECK(Schedule::multistep(0.04, {80, 150}).lr(0, 50) == 0.04);  // README example: 50 epochs

  // Warmup 10 steps, then cosine over the remaining 100.
  const Schedule warm = Schedule::cosine(0.1, 110, 10);
  warm.validate();
  CHECK(warm.lr(0, 0) == doctest::Approx(0.01).epsilon(1e-15));
  CHECK(warm.lr(4, 0) == doctest::Approx(0.05).epsilon(1e-15));
  CHECK(warm.lr(9, 0) == doctest::Approx(0.1).epsilon(1e-15));
  CHECK(warm.lr(10, 0) == doctest::Approx(0.1).epsilon(1e-15));
  CHECK(warm.lr(60, 0) == doctest::Approx(0.05).epsilon(1e-15));
  CHECK(std::abs(warm.lr(110, 0)) < 1e-18);
  Schedule warm_constant = Schedule::constant(0.2);
  warm_constant.warmup_steps = 4;
  CHECK(warm_constant.lr(1, 0) == doctest::Approx(0.1).epsilon(1e-15));
  CHECK(warm_constant.lr(4, 0) == 0.2);

  CHECK_THROWS_AS(Schedule::cosine(0.1, 10, 10).validate(), ConfigError);
  CHECK_THROWS_AS(Schedule::cosine(0.1, 0).validate(), ConfigError);
  CHECK_THROWS_AS(Schedule::constant(-1).validate(), ConfigError);
  CHECK_THROWS_AS(Schedule::multistep(0.1, {1}, 0).validate(), ConfigError);
}

}  // namespace
}  // namespace effinfer::nn
