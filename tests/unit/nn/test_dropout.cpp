// Inverted dropout (spec condconv-bench 2.8): keep rate, scale 1/(1-p), identity in evaluation,
// reproducible masks from (seed, stream), backward uses the same mask.
#include <doctest/doctest.h>

#include "nn/dropout.hpp"
#include "test_support.hpp"

using namespace effinfer::nn;

TEST_CASE("Dropout: inverted scaling, keep rate, evaluation identity, seeded masks") {
  Dropout<double> d(0.2);
  Tensor<double> x(Shape{100, 100});
  x.fill(1.0);
  Tensor<double> y, y2, dx;
  Pass pass;
  pass.training = true;
  pass.seed = 5;
  pass.stream = 3;
  d.forward(x, y, pass);
  int64_t kept = 0;
  for (int64_t i = 0; i < y.size(); ++i) {
    CHECK((y[i] == 0 || std::abs(y[i] - 1.25) < 1e-15));
    kept += y[i] != 0;
  }
  // 10,000 Bernoulli(0.8) draws: mean 8000, sd 40.
  CHECK(kept > 7800);
  CHECK(kept < 8200);
  // Backward: dx = dy * mask.
  Tensor<double> dy(x.shape());
  for (int64_t i = 0; i < dy.size(); ++i) dy[i] = static_cast<double>(i % 7);
  d.backward(dy, &dx, pass);
  for (int64_t i = 0; i < dy.size(); ++i) CHECK(dx[i] == dy[i] * y[i]);
  // Same (seed, stream) -> same mask; another stream -> another mask.
  d.forward(x, y2, pass);
  bool same = true;
  for (int64_t i = 0; i < y.size(); ++i) same = same && y[i] == y2[i];
  CHECK(same);
  pass.stream = 4;
  d.forward(x, y2, pass);
  int64_t differ = 0;
  for (int64_t i = 0; i < y.size(); ++i) differ += y[i] != y2[i];
  CHECK(differ > 1000);
  // Evaluation: the identity.
  pass.training = false;
  d.forward(x, y, pass);
  for (int64_t i = 0; i < y.size(); ++i) CHECK(y[i] == 1.0);
}
