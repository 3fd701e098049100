// DepthwiseConv2d (multiplier 1) and Conv2d with TensorFlow SAME padding (spec condconv-bench
// 2.1, checks 13 and 15): forward against naive float64 loops written here, the SAME pad
// placement with one-hot inputs, and central-difference gradient checks.
#include <doctest/doctest.h>

#include <cmath>

#include "core/rng.hpp"
#include "nn/conv2d.hpp"
#include "nn/depthwise.hpp"
#include "nn/gradcheck.hpp"
#include "test_support.hpp"

using namespace effinfer::nn;
using effinfer::Rng;

namespace {

Tensor<double> random_tensor(Shape s, uint64_t seed) {
  Tensor<double> x(s);
  Rng rng(seed, 5);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = rng.normal();
  return x;
}

// TF SAME by the spec's formula, computed independently of lib/nn.
void same_pads(int64_t h, int64_t k, int64_t s, int64_t& ho, int64_t& top) {
  ho = (h + s - 1) / s;
  const int64_t total = std::max<int64_t>((ho - 1) * s + k - h, 0);
  top = total / 2;
}

// Naive direct convolution (depthwise when `depthwise`), SAME padding, float64.
Tensor<double> direct(const Tensor<double>& x, const Tensor<double>& w, int64_t s, bool depthwise) {
  const int64_t n = x.dim(0), h = x.dim(1), wd = x.dim(2), cin = x.dim(3);
  const int64_t kh = w.dim(0), kw = w.dim(1), cout = depthwise ? cin : w.dim(3);
  int64_t ho, top, wo, left;
  same_pads(h, kh, s, ho, top);
  same_pads(wd, kw, s, wo, left);
  Tensor<double> y(Shape{n, ho, wo, cout});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < ho; ++i)
      for (int64_t j = 0; j < wo; ++j)
        for (int64_t o = 0; o < cout; ++o) {
          double acc = 0;
          for (int64_t di = 0; di < kh; ++di)
            for (int64_t dj = 0; dj < kw; ++dj) {
              const int64_t r = i * s - top + di, c = j * s - left + dj;
              if (r < 0 || r >= h || c < 0 || c >= wd) continue;
              if (depthwise)
                acc += x[((b * h + r) * wd + c) * cin + o] * w[(di * kw + dj) * cin + o];
              else
                for (int64_t ch = 0; ch < cin; ++ch)
                  acc += x[((b * h + r) * wd + c) * cin + ch] *
                         w[((di * kw + dj) * cin + ch) * cout + o];
            }
          y[((b * ho + i) * wo + j) * cout + o] = acc;
        }
  return y;
}

double max_abs_diff(const Tensor<double>& a, const Tensor<double>& b) {
  REQUIRE(a.shape() == b.shape());
  double m = 0;
  for (int64_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace

TEST_CASE("Conv2d SAME: check 13 pad placement with one-hot inputs") {
  // (H, k, s) -> Ho, (top, bottom) of spec check 13.
  struct Case {
    int64_t h, k, s, ho, top, bottom;
  };
  for (const Case c : {Case{15, 3, 2, 8, 1, 1}, Case{14, 3, 2, 7, 0, 1}, Case{14, 5, 2, 7, 1, 2}}) {
    Conv2d<double> conv(1, 1, c.k, c.k, c.s, 0, false, Padding::kSame);
    CHECK(conv.out_shape(Shape{1, c.h, c.h, 1}) == Shape{1, c.ho, c.ho, 1});
    Tensor<double> x(Shape{1, c.h, c.h, 1});
    for (int64_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(i + 1);
    // A kernel one-hot at tap (di, dj): output (i, j) reads input (i s - top + di, j s - top + dj),
    // zero outside; the last row reads bottom rows below the image at di = k - 1.
    for (int64_t di = 0; di < c.k; ++di)
      for (int64_t dj = 0; dj < c.k; ++dj) {
        conv.weight().set_zero();
        conv.weight()[di * c.k + dj] = 1;
        Tensor<double> y;
        Pass pass;
        conv.forward(x, y, pass);
        for (int64_t i = 0; i < c.ho; ++i)
          for (int64_t j = 0; j < c.ho; ++j) {
            const int64_t r = i * c.s - c.top + di, q = j * c.s - c.top + dj;
            const bool inside = r >= 0 && r < c.h && q >= 0 && q < c.h;
            CHECK(y[i * c.ho + j] == (inside ? x[r * c.h + q] : 0.0));
          }
      }
    CHECK((c.ho - 1) * c.s - c.top + c.k - 1 - (c.h - 1) == c.bottom);
  }
}

TEST_CASE("Conv2d SAME and DepthwiseConv2d: forward against naive float64 loops") {
  for (int64_t k : {1, 3, 5})
    for (int64_t s : {1, 2})
      for (int64_t h : {7, 8}) {
        const Tensor<double> x = random_tensor(Shape{2, h, h, 3}, 1 + k + s + h);
        Conv2d<double> conv(3, 4, k, k, s, 0, false, Padding::kSame);
        conv.weight() = random_tensor(Shape{k, k, 3, 4}, 7);
        Tensor<double> y;
        Pass pass;
        conv.forward(x, y, pass);
        CHECK(max_abs_diff(y, direct(x, conv.weight(), s, false)) < 1e-12);
        DepthwiseConv2d<double> dw(3, k, k, s, Padding::kSame);
        dw.weight() = random_tensor(Shape{k, k, 3, 1}, 8);
        dw.forward(x, y, pass);
        CHECK(max_abs_diff(y, direct(x, dw.weight(), s, true)) < 1e-12);
      }
}

TEST_CASE("Conv2d SAME, DepthwiseConv2d: float64 central-difference gradients (check 15)") {
  Pass pass;
  pass.training = true;
  for (int64_t s : {1, 2}) {
    const Tensor<double> x = random_tensor(Shape{2, 6, 5, 3}, 20 + s);
    Conv2d<double> conv(3, 4, 3, 3, s, 0, true, Padding::kSame);
    Rng rng(3);
    conv.init(rng);
    conv.bias()->fill(0.1);
    const auto rc = grad_check(conv, x, pass);
    CHECK(rc.max_rel_error <= 1e-6);
    CHECK(rc.checked > 100);
    DepthwiseConv2d<double> dw(3, 3, 3, s, Padding::kSame, 0, true);
    dw.init(rng);
    const auto rd = grad_check(dw, x, pass);
    CHECK(rd.max_rel_error <= 1e-6);
    CHECK(rd.checked > 100);
  }
  // Explicit padding (VALID, pad 0) for the depthwise layer too.
  DepthwiseConv2d<double> valid(2, 3, 3, 1, Padding::kExplicit, 0, false);
  Rng rng(4);
  valid.init(rng);
  CHECK(valid.out_shape(Shape{1, 5, 5, 2}) == Shape{1, 3, 3, 2});
  CHECK(grad_check(valid, random_tensor(Shape{2, 5, 5, 2}, 9), pass).max_rel_error <= 1e-6);
}

TEST_CASE("DepthwiseConv2d: cost and official init std sqrt(2 / (kh kw))") {
  DepthwiseConv2d<float> dw(672, 5, 5, 2, Padding::kSame);
  // 14x14 -> 7x7, 25 * 672 MACs per output pixel.
  CHECK(dw.cost(Shape{1, 14, 14, 672}).macs == 49LL * 25 * 672);
  CHECK(dw.cost(Shape{1, 14, 14, 672}).params == 25 * 672);
  Rng rng(1);
  dw.init(rng);
  double ss = 0;
  for (int64_t i = 0; i < dw.weight().size(); ++i) ss += double(dw.weight()[i]) * dw.weight()[i];
  const double sd = std::sqrt(ss / dw.weight().size());
  CHECK(sd == doctest::Approx(std::sqrt(2.0 / 25)).epsilon(0.03));
}
