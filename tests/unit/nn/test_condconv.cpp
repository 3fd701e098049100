// Trainable CondConv (spec condconv-bench 2.1, 2.5, 2.8; check 15): forward against the MoE form
// computed here in float64 (routing, n static convolutions, weighted sum), central-difference
// gradients w.r.t. E, Eb, R, c and x for the kinds conv / depthwise / FC, the given-alpha
// gradient, and cost() = macs + macs_mix + routing.
#include <doctest/doctest.h>

#include <cmath>

#include "core/rng.hpp"
#include "nn/condconv.hpp"
#include "nn/gradcheck.hpp"
#include "test_support.hpp"

using namespace effinfer::nn;
using effinfer::Rng;

namespace {

Tensor<double> random_tensor(Shape s, uint64_t seed, double scale = 1.0) {
  Tensor<double> x(s);
  Rng rng(seed, 6);
  for (int64_t i = 0; i < x.size(); ++i) x[i] = scale * rng.normal();
  return x;
}

CondConvSpec make_spec(CondConvKind kind, int64_t k, int64_t s, int64_t n, bool bias) {
  CondConvSpec sp;
  sp.kind = kind;
  sp.cin = 3;
  sp.cout = kind == CondConvKind::kDepthwise ? 3 : 4;
  sp.kh = sp.kw = kind == CondConvKind::kFc ? 1 : k;
  sp.stride = s;
  sp.experts = n;
  sp.expert_bias = bias;
  return sp;
}

// MoE form in float64: y_b = sum_i alpha_bi conv(x_b, E_i) + alpha_b Eb, SAME padding, with
// alpha_b = sigmoid(mean_hw(x_b) R + c).
Tensor<double> moe_reference(CondConv<double>& layer, const Tensor<double>& x) {
  const CondConvSpec& sp = layer.spec();
  const int64_t B = x.dim(0), n = sp.experts, cin = sp.cin, cout = sp.cout;
  const bool fc = sp.kind == CondConvKind::kFc;
  const int64_t h = fc ? 1 : x.dim(1), w = fc ? 1 : x.dim(2);
  const int64_t ho = (h + sp.stride - 1) / sp.stride, wo = (w + sp.stride - 1) / sp.stride;
  const int64_t k = sp.kh;
  const int64_t top = std::max<int64_t>((ho - 1) * sp.stride + k - h, 0) / 2;
  const int64_t left = std::max<int64_t>((wo - 1) * sp.stride + k - w, 0) / 2;
  Tensor<double> y(fc ? Shape{B, cout} : Shape{B, ho, wo, cout});
  const Tensor<double>& E = layer.experts();
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> alpha(n);
    for (int64_t i = 0; i < n; ++i) {
      double z = (*layer.routing_bias())[i];
      for (int64_t ch = 0; ch < cin; ++ch) {
        double p = 0;
        for (int64_t q = 0; q < h * w; ++q) p += x[(b * h * w + q) * cin + ch];
        z += p / double(h * w) * (*layer.routing_kernel())[ch * n + i];
      }
      alpha[i] = 1 / (1 + std::exp(-z));
    }
    for (int64_t i0 = 0; i0 < ho; ++i0)
      for (int64_t j0 = 0; j0 < wo; ++j0)
        for (int64_t o = 0; o < cout; ++o) {
          double acc = 0;
          for (int64_t e = 0; e < n; ++e) {
            double conv = sp.expert_bias ? (*layer.expert_bias())[e * cout + o] : 0;
            for (int64_t di = 0; di < k; ++di)
              for (int64_t dj = 0; dj < k; ++dj) {
                const int64_t r = i0 * sp.stride - top + di, c = j0 * sp.stride - left + dj;
                if (r < 0 || r >= h || c < 0 || c >= w) continue;
                const double* xp = x.data() + ((b * h + r) * w + c) * cin;
                const double* ep = E.data() + e * layer.kernel_size();
                if (sp.kind == CondConvKind::kDepthwise)
                  conv += xp[o] * ep[(di * k + dj) * cin + o];
                else
                  for (int64_t ch = 0; ch < cin; ++ch)
                    conv += xp[ch] * ep[((di * k + dj) * cin + ch) * cout + o];
              }
            acc += alpha[e] * conv;
          }
          y[((b * ho + i0) * wo + j0) * cout + o] = acc;
        }
  }
  return y;
}

}  // namespace

TEST_CASE("CondConv: forward equals the float64 MoE form (conv, depthwise, FC)") {
  for (auto kind : {CondConvKind::kConv, CondConvKind::kDepthwise, CondConvKind::kFc})
    for (int64_t n : {1, 3})
      for (int64_t s : {1, 2}) {
        CondConv<double> layer(make_spec(kind, 3, kind == CondConvKind::kFc ? 1 : s, n, true));
        Rng rng(10 + n + s);
        layer.init(rng);
        *layer.expert_bias() = random_tensor(layer.expert_bias()->shape(), 3, 0.5);
        *layer.routing_bias() = random_tensor(Shape{n}, 4, 0.5);
        const Tensor<double> x = kind == CondConvKind::kFc ? random_tensor(Shape{3, 3}, 5)
                                                           : random_tensor(Shape{3, 7, 6, 3}, 5);
        Tensor<double> y;
        Pass pass;
        layer.forward(x, y, pass);
        const Tensor<double> ref = moe_reference(layer, x);
        REQUIRE(y.shape() == ref.shape());
        double num = 0, den = 0;
        for (int64_t i = 0; i < y.size(); ++i) {
          num += (y[i] - ref[i]) * (y[i] - ref[i]);
          den += ref[i] * ref[i];
        }
        CHECK(std::sqrt(num / den) <= 1e-12);
        for (int64_t i = 0; i < layer.routing_weights().size(); ++i) {
          CHECK(layer.routing_weights()[i] > 0);
          CHECK(layer.routing_weights()[i] < 1);
        }
      }
}

TEST_CASE("CondConv: float64 central-difference gradients w.r.t. E, Eb, R, c, x (check 15)") {
  Pass pass;
  pass.training = true;
  for (auto kind : {CondConvKind::kConv, CondConvKind::kDepthwise, CondConvKind::kFc})
    for (int64_t n : {1, 4})
      for (bool bias : {false, true}) {
        CAPTURE(static_cast<int>(kind));
        CAPTURE(n);
        CAPTURE(bias);
        CondConv<double> layer(make_spec(kind, 3, kind == CondConvKind::kFc ? 1 : 2, n, bias));
        Rng rng(30 + n);
        layer.init(rng);
        if (bias) *layer.expert_bias() = random_tensor(layer.expert_bias()->shape(), 7, 0.5);
        *layer.routing_bias() = random_tensor(Shape{n}, 8, 0.5);
        // Larger routing kernel so the routing path carries a visible share of dL/dx.
        layer.routing_kernel()->vec() *= 3.0;
        const Tensor<double> x = kind == CondConvKind::kFc ? random_tensor(Shape{4, 3}, 9)
                                                           : random_tensor(Shape{3, 5, 6, 3}, 9);
        const GradCheckResult r = grad_check(layer, x, pass);
        CHECK(r.max_rel_error <= 1e-6);
        const int64_t expected = x.size() + layer.experts().size() + (bias ? n * 4 : 0) +
                                 layer.routing_kernel()->size() + n;
        if (kind != CondConvKind::kDepthwise) CHECK(r.checked == expected);
        if (kind == CondConvKind::kDepthwise) CHECK(r.checked == expected - (bias ? n : 0));
      }
}

TEST_CASE("CondConv: given routing weights, dL/dalpha by central differences") {
  CondConvSpec sp = make_spec(CondConvKind::kConv, 3, 1, 3, true);
  sp.routing = false;
  CondConv<double> layer(sp);
  Rng rng(2);
  layer.init(rng);
  *layer.expert_bias() = random_tensor(layer.expert_bias()->shape(), 1, 0.5);
  const Tensor<double> x = random_tensor(Shape{2, 5, 5, 3}, 3);
  Tensor<double> alpha = random_tensor(Shape{2, 3}, 4);
  Pass pass;
  pass.training = true;
  Tensor<double> y, dx;
  layer.set_routing_weights(alpha);
  layer.forward(x, y, pass);
  const Tensor<double> r = random_tensor(y.shape(), 5);
  auto loss = [&](const Tensor<double>& a) {
    Tensor<double> out;
    Pass p;
    layer.set_routing_weights(a);
    layer.forward(x, out, p);
    double l = 0;
    for (int64_t i = 0; i < out.size(); ++i) l += r[i] * out[i];
    return l;
  };
  layer.set_routing_weights(alpha);
  layer.forward(x, y, pass);
  layer.backward(r, &dx, pass);
  const Tensor<double> dalpha = layer.routing_weights_grad();
  const GradCheckResult g = grad_check(layer, x, pass);  // x, E, Eb with alpha fixed
  CHECK(g.max_rel_error <= 1e-6);
  for (int64_t i = 0; i < alpha.size(); ++i) {
    Tensor<double> ap = alpha, am = alpha;
    ap[i] += 1e-6;
    am[i] -= 1e-6;
    const double num = (loss(ap) - loss(am)) / 2e-6;
    CHECK(std::abs(num - dalpha[i]) / std::max({1.0, std::abs(num), std::abs(dalpha[i])}) <= 1e-6);
  }
}

TEST_CASE("CondConv: cost() = macs + macs_mix + routing (spec 2.5, 2.8 C(n) layers)") {
  // C(n) conv3: 3x3 32->64 stride 2 on 14x14 (-> 7x7), expert biases, own routing.
  for (int64_t n : {1, 8}) {
    CondConvSpec sp;
    sp.kind = CondConvKind::kConv, sp.cin = 32, sp.cout = 64, sp.kh = sp.kw = 3, sp.stride = 2;
    sp.experts = n, sp.expert_bias = true;
    CondConv<float> conv3(sp);
    const Cost c = conv3.cost(Shape{1, 14, 14, 32});
    CHECK(c.macs == 49LL * 18432 + n * (18432 + 64) + 32 * n);
    CHECK(c.params == n * (18432 + 64) + 32 * n + n);
    CHECK(conv3.cost(Shape{5, 14, 14, 32}).macs == 5 * c.macs);
    // FC 64 -> 10: (n + 1) K + n Cout + Cin n.
    CondConvSpec fs;
    fs.kind = CondConvKind::kFc, fs.cin = 64, fs.cout = 10, fs.experts = n, fs.expert_bias = true;
    CondConv<float> fc(fs);
    CHECK(fc.cost(Shape{1, 64}).macs == 640 + n * 650 + 64 * n);
    CHECK(fc.cost(Shape{1, 64}).params == n * 650 + 65 * n);
  }
  CondConvSpec bad;
  bad.experts = 0;
  CHECK(effinfer::test::contains(
      effinfer::test::error_message<effinfer::InternalError>([&] { CondConv<float> l(bad); }),
      "at least one expert"));
}
