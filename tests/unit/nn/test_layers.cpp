// Layers of lib/nn: gradient checks in double, forward results against direct computations,
// BatchNorm running statistics against the PyTorch update formulas, float/double agreement,
// frozen parameters, Sequential taps and costs.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "core/rng.hpp"
#include "nn/gradcheck.hpp"
#include "nn/layers.hpp"
#include "test_support.hpp"

using namespace effinfer::nn;
using effinfer::Rng;

namespace {

template <class T = double>
Tensor<T> random_tensor(Shape s, uint64_t seed, double scale = 1, double shift = 0) {
  Tensor<T> x(s);
  Rng rng(seed, 7);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(shift + scale * rng.normal());
  return x;
}

Pass train_pass() {
  Pass p;
  p.training = true;
  return p;
}

void fill_random(Layer<double>& layer, uint64_t seed) {
  Rng rng(seed, 3);
  for (auto& p : layer.params())
    for (int64_t i = 0; i < p.value->size(); ++i) (*p.value)[i] = 0.5 + rng.normal() * 0.3;
}

}  // namespace

TEST_CASE("nn layers: gradient checks in double") {
  Pass pass = train_pass();
  SUBCASE("Dense with and without bias, rank-4 input") {
    Dense<double> with_bias(12, 5, true), no_bias(12, 5, false);
    Rng rng(1);
    with_bias.init(rng);
    no_bias.init(rng);
    fill_random(with_bias, 2);  // non-zero bias too
    const auto x = random_tensor(Shape{3, 12}, 3);
    CHECK(grad_check(with_bias, x, pass).max_rel_error < 1e-6);
    const auto x4 = random_tensor(Shape{3, 2, 2, 3}, 4);
    const auto r = grad_check(no_bias, x4, pass);
    CHECK(r.max_rel_error < 1e-6);
    CHECK(r.checked == 36 + 60);
  }
  SUBCASE("BatchNorm in train mode, [N,F] and NHWC") {
    BatchNorm<double> bn(4);
    fill_random(bn, 5);
    CHECK(grad_check(bn, random_tensor(Shape{6, 4}, 6, 2, 1), pass).max_rel_error < 1e-6);
    CHECK(grad_check(bn, random_tensor(Shape{2, 3, 2, 4}, 7), pass).max_rel_error < 1e-6);
  }
  SUBCASE("ReLU, ReLU6, MaxPool2d, GlobalAvgPool, Flatten") {
    ReLU<double> relu;
    ReLU6<double> relu6;
    MaxPool2d<double> pool;
    GlobalAvgPool<double> gap;
    Flatten<double> flat;
    CHECK(grad_check(relu, random_tensor(Shape{4, 6}, 8), pass).max_rel_error < 1e-6);
    // Values spread over (-3, 9) so both kinks of ReLU6 matter.
    CHECK(grad_check(relu6, random_tensor(Shape{4, 10}, 9, 4, 3), pass).max_rel_error < 1e-6);
    CHECK(grad_check(pool, random_tensor(Shape{2, 5, 4, 3}, 10), pass).max_rel_error < 1e-6);
    CHECK(grad_check(gap, random_tensor(Shape{2, 3, 2, 3}, 11), pass).max_rel_error < 1e-6);
    CHECK(grad_check(flat, random_tensor(Shape{2, 3, 2, 3}, 12), pass).max_rel_error < 1e-6);
  }
  SUBCASE("Sequential Dense-BN-ReLU-Dense") {
    Sequential<double> net;
    Rng rng(13);
    net.add(std::make_unique<Dense<double>>(6, 8, false), "fc1").init(rng);
    net.add(std::make_unique<BatchNorm<double>>(8), "bn1");
    net.add(std::make_unique<ReLU<double>>(), "relu1");
    net.add(std::make_unique<Dense<double>>(8, 3, true), "fc2").init(rng);
    fill_random(net.layer("bn1"), 14);
    const auto r = grad_check(net, random_tensor(Shape{5, 6}, 15), pass);
    CHECK(r.max_rel_error < 1e-6);
    CHECK(r.checked == 30 + 48 + 16 + 24 + 3);
  }
}

TEST_CASE("nn Dense: forward against a direct loop") {
  Dense<double> d(4, 3, true);
  fill_random(d, 20);
  const auto x = random_tensor(Shape{2, 4}, 21);
  Tensor<double> y;
  Pass pass;
  d.forward(x, y, pass);
  REQUIRE(y.shape() == Shape({2, 3}));
  for (int n = 0; n < 2; ++n)
    for (int o = 0; o < 3; ++o) {
      double s = (*d.bias())[o];
      for (int i = 0; i < 4; ++i) s += d.weight()[o * 4 + i] * x[n * 4 + i];
      CHECK(y[n * 3 + o] == doctest::Approx(s).epsilon(1e-14));
    }
  CHECK(d.cost(Shape{2, 4}).macs == 24);
  CHECK(d.cost(Shape{2, 4}).params == 15);
}

TEST_CASE("nn BatchNorm: batch statistics, running stats after two batches, eval mode") {
  const int64_t n = 5, c = 3;
  BatchNorm<double> bn(c);
  for (int k = 0; k < c; ++k) {
    bn.gamma()[k] = 1.5 + k;
    bn.beta()[k] = -0.5 * k;
  }
  Pass pass = train_pass();
  const auto x1 = random_tensor(Shape{n, c}, 30, 2, 1);
  const auto x2 = random_tensor(Shape{n, c}, 31, 0.5, -2);
  Tensor<double> y;
  bn.forward(x1, y, pass);
  // Train-mode output with the biased batch variance.
  for (int k = 0; k < c; ++k) {
    double mean = 0, var = 0;
    for (int i = 0; i < n; ++i) mean += x1[i * c + k] / n;
    for (int i = 0; i < n; ++i) var += (x1[i * c + k] - mean) * (x1[i * c + k] - mean) / n;
    for (int i = 0; i < n; ++i)
      CHECK(y[i * c + k] ==
            doctest::Approx(bn.gamma()[k] * (x1[i * c + k] - mean) / std::sqrt(var + 1e-5) +
                            bn.beta()[k])
                .epsilon(1e-12));
  }
  bn.forward(x2, y, pass);
  // running = (1 - 0.1) running + 0.1 * batch stat, unbiased variance, from mean 0 / var 1.
  for (int k = 0; k < c; ++k) {
    double rm = 0, rv = 1;
    for (const auto* x : {&x1, &x2}) {
      double mean = 0, ss = 0;
      for (int i = 0; i < n; ++i) mean += (*x)[i * c + k] / n;
      for (int i = 0; i < n; ++i) ss += ((*x)[i * c + k] - mean) * ((*x)[i * c + k] - mean);
      rm = 0.9 * rm + 0.1 * mean;
      rv = 0.9 * rv + 0.1 * ss / (n - 1);
    }
    CHECK(bn.running_mean()[k] == doctest::Approx(rm).epsilon(1e-12));
    CHECK(bn.running_var()[k] == doctest::Approx(rv).epsilon(1e-12));
  }
  // Eval mode uses the running statistics and leaves them alone.
  Pass eval;
  const Tensor<double> rm = bn.running_mean(), rv = bn.running_var();
  bn.forward(x1, y, eval);
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < c; ++k)
      CHECK(y[i * c + k] ==
            doctest::Approx(bn.gamma()[k] * (x1[i * c + k] - rm[k]) / std::sqrt(rv[k] + 1e-5) +
                            bn.beta()[k])
                .epsilon(1e-12));
  CHECK(bn.running_mean()[0] == rm[0]);
  CHECK(bn.buffers().size() == 2);
  // NHWC: statistics over N*H*W values per channel (PyTorch BatchNorm2d), unbiased with m - 1.
  BatchNorm<double> bn2(2);
  const auto x4 = random_tensor(Shape{2, 3, 2, 2}, 33, 1.5, 0.5);
  bn2.forward(x4, y, pass);
  for (int k = 0; k < 2; ++k) {
    double mean = 0, ss = 0;
    for (int i = 0; i < 12; ++i) mean += x4[i * 2 + k] / 12;
    for (int i = 0; i < 12; ++i) ss += (x4[i * 2 + k] - mean) * (x4[i * 2 + k] - mean);
    CHECK(bn2.running_mean()[k] == doctest::Approx(0.1 * mean).epsilon(1e-12));
    CHECK(bn2.running_var()[k] == doctest::Approx(0.9 + 0.1 * ss / 11).epsilon(1e-12));
    for (int i = 0; i < 12; ++i)
      CHECK(y[i * 2 + k] ==
            doctest::Approx((x4[i * 2 + k] - mean) / std::sqrt(ss / 12 + 1e-5)).epsilon(1e-12));
  }
  // A batch of one value per channel cannot be normalised in training.
  CHECK_THROWS(bn.forward(random_tensor(Shape{1, c}, 32), y, pass));
}

TEST_CASE("nn MaxPool2d, GlobalAvgPool, ReLU6: small literal examples") {
  // One image 4x4, one channel; 2x2 windows.
  Tensor<double> x(Shape{1, 4, 4, 1});
  const double v[16] = {1, 5, 2, 0, 3, 4, 7, 1, -1, -2, 0, 0, -3, -4, 0, 9};
  for (int i = 0; i < 16; ++i) x[i] = v[i];
  MaxPool2d<double> pool;
  Tensor<double> y, dx;
  Pass pass = train_pass();
  pool.forward(x, y, pass);
  REQUIRE(y.shape() == Shape({1, 2, 2, 1}));
  CHECK(y[0] == 5);
  CHECK(y[1] == 7);
  CHECK(y[2] == -1);
  CHECK(y[3] == 9);
  Tensor<double> dy(y.shape());
  dy.fill(1);
  pool.backward(dy, &dx, pass);
  CHECK(dx[1] == 1);
  CHECK(dx[6] == 1);
  CHECK(dx[8] == 1);
  CHECK(dx[15] == 1);
  CHECK(dx.vec().sum() == 4);

  GlobalAvgPool<double> gap;
  gap.forward(x, y, pass);
  REQUIRE(y.shape() == Shape({1, 1}));
  CHECK(y[0] == doctest::Approx(22.0 / 16));

  ReLU6<double> r6;
  Tensor<double> z(Shape{1, 4});
  z[0] = -1;
  z[1] = 3;
  z[2] = 6.5;
  z[3] = 0.25;
  r6.forward(z, y, pass);
  CHECK(y[0] == 0);
  CHECK(y[1] == 3);
  CHECK(y[2] == 6);
  CHECK(y[3] == 0.25);
}

TEST_CASE("nn layers: float and double agree") {
  Sequential<double> nd;
  Sequential<float> nf;
  Rng rd(40), rf(40);
  nd.add(std::make_unique<Dense<double>>(10, 16, false)).init(rd);
  nf.add(std::make_unique<Dense<float>>(10, 16, false)).init(rf);
  nd.add(std::make_unique<BatchNorm<double>>(16));
  nf.add(std::make_unique<BatchNorm<float>>(16));
  nd.add(std::make_unique<ReLU6<double>>());
  nf.add(std::make_unique<ReLU6<float>>());
  nd.add(std::make_unique<Dense<double>>(16, 4, true)).init(rd);
  nf.add(std::make_unique<Dense<float>>(16, 4, true)).init(rf);
  const auto xd = random_tensor<double>(Shape{8, 10}, 41);
  const auto xf = random_tensor<float>(Shape{8, 10}, 41);
  Pass pass = train_pass();
  Tensor<double> yd, dxd;
  Tensor<float> yf, dxf;
  nd.forward(xd, yd, pass);
  nf.forward(xf, yf, pass);
  const auto gd = random_tensor<double>(yd.shape(), 42);
  const auto gf = random_tensor<float>(yf.shape(), 42);
  nd.zero_grad();
  nf.zero_grad();
  nd.backward(gd, &dxd, pass);
  nf.backward(gf, &dxf, pass);
  for (int64_t i = 0; i < yd.size(); ++i) CHECK(yf[i] == doctest::Approx(yd[i]).epsilon(1e-4));
  for (int64_t i = 0; i < dxd.size(); ++i)
    CHECK(std::abs(dxf[i] - dxd[i]) < 1e-4 * (1 + std::abs(dxd[i])));
  auto pd = nd.params();
  auto pf = nf.params();
  REQUIRE(pd.size() == pf.size());
  for (size_t k = 0; k < pd.size(); ++k)
    for (int64_t i = 0; i < pd[k].grad->size(); ++i)
      CHECK(std::abs((*pf[k].grad)[i] - (*pd[k].grad)[i]) <
            1e-4 * (1 + std::abs((*pd[k].grad)[i])));
}

TEST_CASE("nn layers: frozen parameters get no gradient, dx unchanged") {
  Pass pass = train_pass();
  const auto x = random_tensor(Shape{4, 6}, 50);
  const auto dy = random_tensor(Shape{4, 3}, 51);
  Dense<double> live(6, 3, true), frozen(6, 3, true);
  fill_random(live, 52);
  fill_random(frozen, 52);
  frozen.set_frozen(true);
  for (auto& p : frozen.params()) CHECK(p.frozen);
  Tensor<double> y, dx_live, dx_frozen;
  live.forward(x, y, pass);
  frozen.forward(x, y, pass);
  live.zero_grad();
  frozen.zero_grad();
  live.backward(dy, &dx_live, pass);
  frozen.backward(dy, &dx_frozen, pass);
  for (auto& p : frozen.params()) CHECK(p.grad->vec().cwiseAbs().maxCoeff() == 0);
  CHECK(live.params()[0].grad->vec().cwiseAbs().maxCoeff() > 0);
  for (int64_t i = 0; i < dx_live.size(); ++i) CHECK(dx_frozen[i] == dx_live[i]);

  // A frozen BatchNorm inside a Sequential: the input gradient still passes the gradient check
  // (grad_check skips frozen parameters), and gamma/beta stay at zero gradient.
  Sequential<double> net;
  Rng rng(53);
  net.add(std::make_unique<Dense<double>>(6, 5, false), "fc").init(rng);
  net.add(std::make_unique<BatchNorm<double>>(5), "bn").set_frozen(true);
  const auto r = grad_check(net, x, pass);
  CHECK(r.max_rel_error < 1e-6);
  CHECK(r.checked == 24 + 30);
  for (auto& p : net.layer("bn").params()) CHECK(p.grad->vec().cwiseAbs().maxCoeff() == 0);
}

TEST_CASE("nn Sequential: taps, injected tap gradients, names, cost") {
  Pass pass = train_pass();
  Sequential<double> net;
  Rng rng(60);
  auto& fc = net.add(std::make_unique<Dense<double>>(4, 3, false), "fc");
  fc.init(rng);
  net.add(std::make_unique<ReLU<double>>(), "relu");
  CHECK(net.index_of("relu") == 1);
  CHECK_THROWS(net.index_of("nope"));
  CHECK_THROWS(net.add(std::make_unique<ReLU<double>>(), "fc"));
  const auto x = random_tensor(Shape{5, 4}, 61);
  Tensor<double> y;
  net.forward(x, y, pass);
  for (int64_t i = 0; i < y.size(); ++i) CHECK(y[i] == net.tap("relu")[i]);
  for (int64_t i = 0; i < y.size(); ++i) CHECK(y[i] == std::max(0.0, net.tap(0)[i]));

  // dL/dx = (dy * [pre > 0] + g) W when g is injected at the Dense output.
  const auto dy = random_tensor(Shape{5, 3}, 62);
  const auto g = random_tensor(Shape{5, 3}, 63);
  net.add_tap_grad(0, g);
  Tensor<double> dx;
  net.zero_grad();
  net.backward(dy, &dx, pass);
  for (int n = 0; n < 5; ++n)
    for (int i = 0; i < 4; ++i) {
      double s = 0;
      for (int o = 0; o < 3; ++o) {
        const double pre = net.tap(0)[n * 3 + o];
        s += ((pre > 0 ? dy[n * 3 + o] : 0) + g[n * 3 + o]) * fc.weight()[o * 4 + i];
      }
      CHECK(dx[n * 4 + i] == doctest::Approx(s).epsilon(1e-12));
    }
  // The injected gradient applies to one backward only.
  Tensor<double> dx2;
  net.backward(dy, &dx2, pass);
  bool differs = false;
  for (int64_t i = 0; i < dx.size(); ++i) differs |= dx[i] != dx2[i];
  CHECK(differs);

  const auto params = net.params();
  REQUIRE(params.size() == 1);
  CHECK(params[0].name == "fc/W");

  // Spec 2.6: the mlp 784-256-128-10 costs 234,752 MAC per image.
  Sequential<float> mlp;
  mlp.add(std::make_unique<Flatten<float>>());
  mlp.add(std::make_unique<Dense<float>>(784, 256, false));
  mlp.add(std::make_unique<BatchNorm<float>>(256));
  mlp.add(std::make_unique<ReLU<float>>());
  mlp.add(std::make_unique<Dense<float>>(256, 128, false));
  mlp.add(std::make_unique<BatchNorm<float>>(128));
  mlp.add(std::make_unique<ReLU<float>>());
  mlp.add(std::make_unique<Dense<float>>(128, 10, true));
  CHECK(mlp.cost(Shape{1, 28, 28, 1}).macs == 234752);
  CHECK(mlp.cost(Shape{1, 28, 28, 1}).params == 234752 + 10 + 2 * (256 + 128));
  CHECK(mlp.out_shape(Shape{7, 28, 28, 1}) == Shape({7, 10}));
}

TEST_CASE("nn he_normal: standard deviation sqrt(2 / fan_in)") {
  Tensor<double> w(Shape{200, 100});
  Rng rng(70);
  he_normal(w, 50, rng);
  const double mean = w.vec().mean();
  const double sd = std::sqrt((w.vec().array() - mean).square().mean());
  // 20000 draws: the sample sd is within 2 % of 0.2 with overwhelming probability (se ~ 0.5 %).
  CHECK(std::abs(mean) < 0.01);
  CHECK(sd == doctest::Approx(0.2).epsilon(0.02));
}
