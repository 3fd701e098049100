// Conv2d: forward against a naive direct convolution (stride 2, pad 1), gradient checks in
// double, weight transforms, float/double agreement and the spec's cnn cost.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "core/rng.hpp"
#include "nn/conv2d.hpp"
#include "nn/gradcheck.hpp"
#include "nn/layers.hpp"
#include "test_support.hpp"

using namespace effinfer::nn;
using effinfer::Rng;

namespace {

template <class T = double>
Tensor<T> random_tensor(Shape s, uint64_t seed) {
  Tensor<T> x(s);
  Rng rng(seed, 11);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(rng.normal());
  return x;
}

// y[n,i,j,o] = b[o] + sum_{di,dj,c} x[n, i*s - p + di, j*s - p + dj, c] w[di,dj,c,o], zero
// outside the image.
Tensor<double> direct_conv(const Tensor<double>& x, const Tensor<double>& w, const double* b,
                           int64_t s, int64_t p) {
  const int64_t n = x.dim(0), h = x.dim(1), wd = x.dim(2), cin = x.dim(3);
  const int64_t kh = w.dim(0), kw = w.dim(1), cout = w.dim(3);
  const int64_t ho = (h + 2 * p - kh) / s + 1, wo = (wd + 2 * p - kw) / s + 1;
  Tensor<double> y(Shape{n, ho, wo, cout});
  for (int64_t b0 = 0; b0 < n; ++b0)
    for (int64_t i = 0; i < ho; ++i)
      for (int64_t j = 0; j < wo; ++j)
        for (int64_t o = 0; o < cout; ++o) {
          double acc = b ? b[o] : 0;
          for (int64_t di = 0; di < kh; ++di)
            for (int64_t dj = 0; dj < kw; ++dj) {
              const int64_t r = i * s - p + di, c = j * s - p + dj;
              if (r < 0 || r >= h || c < 0 || c >= wd) continue;
              for (int64_t ch = 0; ch < cin; ++ch)
                acc += x[((b0 * h + r) * wd + c) * cin + ch] *
                       w[((di * kw + dj) * cin + ch) * cout + o];
            }
          y[((b0 * ho + i) * wo + j) * cout + o] = acc;
        }
  return y;
}

// W_hat = 2 W (so dL/dW = 2 dL/dW_hat): a transform whose effect is visible in every check.
class Double : public WeightTransform<double> {
 public:
  void forward(const Tensor<double>& w, Tensor<double>& w_hat, Pass&) override {
    w_hat = w;
    w_hat.vec() *= 2.0;
  }
  void backward(const Tensor<double>&, const Tensor<double>& dw_hat, Tensor<double>& dw,
                Pass&) override {
    dw = dw_hat;
    dw.vec() *= 2.0;
  }
  std::string name() const override { return "double"; }
};

}  // namespace

TEST_CASE("nn Conv2d: forward equals a direct convolution (stride 2, pad 1, bias)") {
  Conv2d<double> conv(3, 4, 3, 3, 2, 1, true);
  Rng rng(1);
  conv.init(rng);
  for (int o = 0; o < 4; ++o) (*conv.bias())[o] = 0.1 * (o + 1);
  const auto x = random_tensor(Shape{2, 7, 6, 3}, 2);
  Tensor<double> y;
  Pass pass;
  pass.threads = 2;
  conv.forward(x, y, pass);
  const auto ref = direct_conv(x, conv.weight(), conv.bias()->data(), 2, 1);
  REQUIRE(y.shape() == ref.shape());
  CHECK(y.shape() == Shape({2, 4, 3, 4}));
  for (int64_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(ref[i]).epsilon(1e-12));

  // 5x5 VALID, stride 1, no bias.
  Conv2d<double> valid(2, 3, 5, 5);
  valid.init(rng);
  const auto x2 = random_tensor(Shape{1, 8, 9, 2}, 3);
  valid.forward(x2, y, pass);
  const auto ref2 = direct_conv(x2, valid.weight(), nullptr, 1, 0);
  REQUIRE(y.shape() == Shape({1, 4, 5, 3}));
  for (int64_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(ref2[i]).epsilon(1e-12));
}

TEST_CASE("nn Conv2d: gradient checks in double") {
  Pass pass;
  pass.training = true;
  pass.threads = 2;  // exercises the OpenMP im2col / col2im loops over the batch
  Rng rng(4);
  SUBCASE("stride 2, pad 1, bias") {
    Conv2d<double> conv(3, 4, 3, 3, 2, 1, true);
    conv.init(rng);
    for (int o = 0; o < 4; ++o) (*conv.bias())[o] = 0.2 * o - 0.3;
    const auto r = grad_check(conv, random_tensor(Shape{2, 5, 6, 3}, 5), pass);
    CHECK(r.max_rel_error < 1e-6);
    CHECK(r.checked == 180 + 108 + 4);
  }
  SUBCASE("stride 1, VALID, weight transform") {
    Conv2d<double> conv(2, 3, 3, 2, 1, 0, false);
    conv.init(rng);
    conv.set_transform(std::make_shared<Double>());
    CHECK(grad_check(conv, random_tensor(Shape{2, 4, 5, 2}, 6), pass).max_rel_error < 1e-6);
    // Forward uses W_hat = 2W.
    const auto x = random_tensor(Shape{1, 4, 5, 2}, 7);
    Tensor<double> y;
    conv.forward(x, y, pass);
    Tensor<double> w2 = conv.weight();
    w2.vec() *= 2.0;
    const auto ref = direct_conv(x, w2, nullptr, 1, 0);
    for (int64_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(ref[i]).epsilon(1e-12));
  }
  SUBCASE("cnn block Conv-BN-ReLU-MaxPool-Flatten-Dense") {
    Sequential<double> net;
    net.add(std::make_unique<Conv2d<double>>(1, 3, 3, 3, 1, 1), "conv1").init(rng);
    net.add(std::make_unique<BatchNorm<double>>(3), "bn1");
    net.add(std::make_unique<ReLU<double>>(), "relu1");
    net.add(std::make_unique<MaxPool2d<double>>(), "pool1");
    net.add(std::make_unique<Flatten<double>>(), "flat");
    net.add(std::make_unique<Dense<double>>(12, 2, true), "fc").init(rng);
    CHECK(grad_check(net, random_tensor(Shape{2, 4, 4, 1}, 8), pass).max_rel_error < 1e-6);
  }
}

TEST_CASE("nn Conv2d: frozen weights get no gradient, dx unchanged; float matches double") {
  Pass pass;
  pass.training = true;
  Rng r1(9), r2(9);
  Conv2d<double> live(2, 3, 3, 3, 2, 1, true), frozen(2, 3, 3, 3, 2, 1, true);
  live.init(r1);
  frozen.init(r2);
  frozen.set_frozen(true);
  const auto x = random_tensor(Shape{2, 5, 5, 2}, 10);
  Tensor<double> y, dxl, dxf;
  live.forward(x, y, pass);
  frozen.forward(x, y, pass);
  const auto dy = random_tensor(y.shape(), 11);
  live.zero_grad();
  frozen.zero_grad();
  live.backward(dy, &dxl, pass);
  frozen.backward(dy, &dxf, pass);
  CHECK(frozen.weight_grad().vec().cwiseAbs().maxCoeff() == 0);
  CHECK(live.weight_grad().vec().cwiseAbs().maxCoeff() > 0);
  for (int64_t i = 0; i < dxl.size(); ++i) CHECK(dxf[i] == dxl[i]);

  Conv2d<float> cf(2, 3, 3, 3, 2, 1, true);
  for (int64_t i = 0; i < cf.weight().size(); ++i)
    cf.weight()[i] = static_cast<float>(live.weight()[i]);
  cf.bias()->set_zero();
  const auto xf = random_tensor<float>(Shape{2, 5, 5, 2}, 10);
  Tensor<float> yf, dxff;
  cf.forward(xf, yf, pass);
  live.forward(x, y, pass);
  for (int64_t i = 0; i < y.size(); ++i)
    CHECK(std::abs(yf[i] - y[i]) < 1e-5 * (1 + std::abs(y[i])));
  const auto dyf = random_tensor<float>(y.shape(), 11);
  cf.zero_grad();
  live.zero_grad();
  cf.backward(dyf, &dxff, pass);
  live.backward(dy, &dxl, pass);
  for (int64_t i = 0; i < dxl.size(); ++i)
    CHECK(std::abs(dxff[i] - dxl[i]) < 1e-5 * (1 + std::abs(dxl[i])));
  for (int64_t i = 0; i < live.weight_grad().size(); ++i)
    CHECK(std::abs(cf.weight_grad()[i] - live.weight_grad()[i]) <
          1e-4 * (1 + std::abs(live.weight_grad()[i])));
}

TEST_CASE("nn Conv2d: the spec's cnn costs 1,054,720 MAC per image") {
  Sequential<float> cnn;
  cnn.add(std::make_unique<Conv2d<float>>(1, 16, 5, 5));
  cnn.add(std::make_unique<BatchNorm<float>>(16));
  cnn.add(std::make_unique<ReLU<float>>());
  cnn.add(std::make_unique<MaxPool2d<float>>());
  cnn.add(std::make_unique<Conv2d<float>>(16, 32, 5, 5));
  cnn.add(std::make_unique<BatchNorm<float>>(32));
  cnn.add(std::make_unique<ReLU<float>>());
  cnn.add(std::make_unique<MaxPool2d<float>>());
  cnn.add(std::make_unique<Flatten<float>>());
  cnn.add(std::make_unique<Dense<float>>(512, 10, true));
  CHECK(cnn.cost(Shape{1, 28, 28, 1}).macs == 1054720);
  CHECK(cnn.out_shape(Shape{3, 28, 28, 1}) == Shape({3, 10}));
  // Runs end to end in float.
  Tensor<float> x(Shape{3, 28, 28, 1}), y;
  x.fill(0.5f);
  Pass pass;
  pass.training = true;
  cnn.forward(x, y, pass);
  CHECK(y.shape() == Shape({3, 10}));
}
