// Spec quantize-climbq checks 7, 8 and 10 (quantizer parts), class-wise sigma, uniform and LSQ.
// Literals are the spec's (section 5) unless a comment says how they were derived by hand.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "quantizers.hpp"
#include "stats.hpp"
#include "test_support.hpp"

namespace cq = effinfer::climbq;
namespace nn = effinfer::nn;
using effinfer::Rng;

namespace {

template <class T>
nn::Tensor<T> tensor_of(const std::vector<double>& v, nn::Shape shape = {}) {
  if (shape.rank == 0) shape = nn::Shape{static_cast<int64_t>(v.size())};
  nn::Tensor<T> t(shape);
  for (size_t i = 0; i < v.size(); ++i) t[static_cast<int64_t>(i)] = static_cast<T>(v[i]);
  return t;
}

template <class T>
nn::Tensor<T> normal_tensor(int64_t rows, int64_t cols, double sd, uint64_t seed) {
  Rng rng(seed, 7);
  nn::Tensor<T> t(nn::Shape{rows, cols});
  for (int64_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(sd * rng.normal());
  return t;
}

cq::ClimbqOptions opts(int bits, cq::LevelsVariant v = cq::LevelsVariant::kV2023,
                       cq::ForwardPath f = cq::ForwardPath::kBucketize) {
  cq::ClimbqOptions o;
  o.bits = bits;
  o.variant = v;
  o.forward = f;
  return o;
}

// Output of the ClimbQ activation layer (eval, sigma_test) for single values.
std::vector<double> act_values(const cq::ClimbqOptions& o, const std::vector<double>& x) {
  cq::ClimbqActivation<double> q(o);
  nn::Pass pass;
  nn::Tensor<double> y;
  q.forward(tensor_of<double>(x, nn::Shape{static_cast<int64_t>(x.size()), 1}), y, pass);
  return {y.data(), y.data() + y.size()};
}

}  // namespace

TEST_CASE("climbq normal quantile helper") {
  for (double p : {1e-6, 0.01, 0.2, 0.5, 0.7, 0.999, 1 - 1e-7})
    CHECK(std::fabs(cq::normal_cdf(cq::normal_quantile(p)) - p) <= 1e-14 * 1e2);
  CHECK(cq::normal_quantile(0.5) == 0.0);
}

TEST_CASE("climbq weight thresholds and levels (check 7)") {
  const auto r2 = cq::climbq_weight_rule(2, cq::LevelsVariant::kV2023);
  REQUIRE(r2.z_thresholds.size() == 3);
  CHECK(std::fabs(r2.z_thresholds[0] + 0.967422) < 1e-6);
  CHECK(r2.z_thresholds[1] == 0.0);
  CHECK(std::fabs(r2.z_thresholds[2] - 0.967422) < 1e-6);
  const auto r4 = cq::climbq_weight_rule(4, cq::LevelsVariant::kV2023);
  REQUIRE(r4.z_thresholds.size() == 15);
  CHECK(std::fabs(r4.z_thresholds[0] + 1.833915) < 1e-6);
  CHECK(std::fabs(r4.z_thresholds[1] + 1.281552) < 1e-6);
  CHECK(std::fabs(r4.z_thresholds[2] + 0.967422) < 1e-6);
  for (int j = 0; j < 15; ++j) CHECK(r4.z_thresholds[j] == -r4.z_thresholds[14 - j]);
  const auto v22 = cq::climbq_weight_rule(4, cq::LevelsVariant::kV2022);
  CHECK(v22.code_min == -15);
  CHECK(v22.code_max == 15);
  CHECK(v22.z_thresholds.size() == 30);
}

TEST_CASE("climbq weights on 10^6 N(0,1) draws: levels and bin masses (check 7)") {
  const auto w = normal_tensor<double>(1000, 1000, 1.0, 1);
  nn::Pass pass;
  nn::Tensor<double> w_hat;
  cq::ClimbqWeight<double> q(opts(4));
  q.forward(w, w_hat, pass);
  std::set<double> allowed;
  for (int j = 0; j <= 15; ++j) allowed.insert((2.0 * j - 15.0) / 15.0);
  std::vector<int64_t> bins(16, 0);
  bool subset = true;
  for (int64_t i = 0; i < w.size(); ++i) {
    subset = subset && allowed.count(w_hat[i]) == 1;
    ++bins[q.codes()[i]];
  }
  CHECK(subset);
  for (int j = 0; j < 16; ++j) {
    const double frac = static_cast<double>(bins[j]) / 1e6;
    const double expect = (j == 0 || j == 15) ? 1.0 / 30 : 1.0 / 15;
    CHECK(std::fabs(frac - expect) <= 0.002);
  }
  // v2022: exactly 2^(k+1) - 1 values (k = 4: 31; k = 2: 7).
  for (int k : {2, 4}) {
    cq::ClimbqWeight<double> q22(opts(k, cq::LevelsVariant::kV2022));
    q22.forward(w, w_hat, pass);
    std::set<double> values(w_hat.data(), w_hat.data() + w_hat.size());
    CHECK(values.size() == static_cast<size_t>((2 << k) - 1));
    const double n = (1 << k) - 1;
    for (double v : values) CHECK(std::nearbyint(v * n) / n == v);
  }
}

TEST_CASE("climbq weight bucketize == erfc forward; float vs double") {
  const auto w = normal_tensor<double>(1000, 100, 0.1, 2);
  nn::Pass pass;
  for (auto variant : {cq::LevelsVariant::kV2023, cq::LevelsVariant::kV2022}) {
    nn::Tensor<double> a, b;
    cq::ClimbqWeight<double> qb(opts(4, variant, cq::ForwardPath::kBucketize));
    cq::ClimbqWeight<double> qe(opts(4, variant, cq::ForwardPath::kErfc));
    qb.forward(w, a, pass);
    qe.forward(w, b, pass);
    int64_t diff = 0;
    for (int64_t i = 0; i < w.size(); ++i) diff += a[i] != b[i];
    CHECK(diff == 0);
    // float: codes differ only where float rounding of z meets a threshold.
    nn::Tensor<float> wf(w.shape()), af;
    for (int64_t i = 0; i < w.size(); ++i) wf[i] = static_cast<float>(w[i]);
    cq::ClimbqWeight<float> qf(opts(4, variant, cq::ForwardPath::kErfc));
    qf.forward(wf, af, pass);
    int64_t fdiff = 0;
    for (int64_t i = 0; i < w.size(); ++i) {
      if (qf.codes()[i] == qb.codes()[i]) continue;
      ++fdiff;
      const double z = (w[i] - qb.mu()) / qb.sigma();
      double near = 1e9;
      for (double t : qb.rule().z_thresholds) near = std::min(near, std::fabs(z - t));
      CHECK(near < 1e-5);
    }
    CHECK(fdiff <= 10);
    CHECK(std::fabs(qf.mu() - qb.mu()) < 1e-7);
  }
}

TEST_CASE("climbq weight gradient through Phi, mu and sigma vs finite differences (check 7)") {
  // Surrogate L(W) = sum_i g_i (2 Phi(z_i) - 1), z = (w - mean)/std (unbiased), whose gradient is
  // what the STE backward computes.
  const auto w = normal_tensor<double>(4, 5, 0.3, 3);
  Rng rng(4, 1);
  nn::Tensor<double> g(w.shape());
  for (int64_t i = 0; i < g.size(); ++i) g[i] = rng.normal();
  auto loss = [&](const nn::Tensor<double>& v) {
    const int64_t m = v.size();
    double mu = 0, ss = 0;
    for (int64_t i = 0; i < m; ++i) mu += v[i];
    mu /= m;
    for (int64_t i = 0; i < m; ++i) ss += (v[i] - mu) * (v[i] - mu);
    const double sd = std::sqrt(ss / (m - 1));
    double l = 0;
    for (int64_t i = 0; i < m; ++i) l += g[i] * (2 * cq::normal_cdf((v[i] - mu) / sd) - 1);
    return l;
  };
  for (auto variant : {cq::LevelsVariant::kV2023, cq::LevelsVariant::kV2022}) {
    cq::ClimbqWeight<double> q(opts(4, variant));
    nn::Pass pass;
    pass.training = true;
    nn::Tensor<double> w_hat, dw;
    q.forward(w, w_hat, pass);
    q.backward(w, g, dw, pass);
    double max_err = 0, max_fd = 0;
    for (int64_t i = 0; i < w.size(); ++i) {
      auto wp = w, wm = w;
      wp[i] += 1e-6;
      wm[i] -= 1e-6;
      const double fd = (loss(wp) - loss(wm)) / 2e-6;
      max_err = std::max(max_err, std::fabs(dw[i] - fd));
      max_fd = std::max(max_fd, std::fabs(fd));
    }
    CHECK(max_err <= 1e-6 * std::max(1.0, max_fd));
  }
}

TEST_CASE("climbq one bit (check 10)") {
  CHECK_THROWS_AS(cq::ClimbqWeight<double>(opts(1)), effinfer::ConfigError);
  CHECK_THROWS_AS(cq::ClimbqActivation<double>(opts(1)), effinfer::ConfigError);
  CHECK_THROWS_AS(cq::ClimbqWeight<double>(opts(17)), effinfer::ConfigError);
  auto o = opts(1);
  o.one_bit = cq::OneBit::kSign;
  cq::ClimbqWeight<double> q(o);
  nn::Pass pass;
  nn::Tensor<double> w_hat;
  // mean 0.25: w - mu = [-1.25, 0, 0.75, 0.5]
  q.forward(tensor_of<double>({-1.0, 0.25, 1.0, 0.75}), w_hat, pass);
  CHECK(w_hat[0] == -1.0);
  CHECK(w_hat[1] == 0.0);
  CHECK(w_hat[2] == 1.0);
  CHECK(w_hat[3] == 1.0);
  CHECK(act_values(o, {-0.5, 0.0, 2.0}) == std::vector<double>{-1.0, 0.0, 1.0});
}

TEST_CASE("climbq activation goldens, A 2, sigma 2 (check 8)") {
  auto near = [](const std::vector<double>& got, const std::vector<double>& want) {
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(std::fabs(got[i] - want[i]) < 1e-6);
  };
  near(act_values(opts(4), {-3, -1, -0.1, 0, 0.5, 1, 2, 3.67}),
       {-1.733333, -0.666667, -0.133333, 0.133333, 0.4, 0.666667, 1.466667, 2.0});
  near(act_values(opts(2), {0, 1, 2, -1}), {0.666667, 0.666667, 2.0, -0.666667});
  near(act_values(opts(4, cq::LevelsVariant::kV2022), {-1, 0, 1}), {-0.733333, 0, 0.733333});
  // The tie at 0 goes to the even code 2^(k-1) on both paths.
  CHECK(act_values(opts(4, cq::LevelsVariant::kV2023, cq::ForwardPath::kErfc), {0.0})[0] ==
        2.0 / 15);
  CHECK(act_values(opts(4), {0.0})[0] == 2.0 / 15);

  cq::ClimbqActivation<double> q(opts(4));
  const std::vector<double> want{0,        0.335788, 0.681390, 1.048801,
                                 1.455827, 1.934843, 2.563103, 3.667829};
  const auto thr = q.post_relu_thresholds();
  near(thr, want);
  CHECK(q.post_relu_lut() == std::vector<int32_t>{0, 1, 3, 5, 7, 9, 11, 13, 15});
  CHECK(q.post_relu_scale() == doctest::Approx(2.0 / 15));
  // v2022 post-ReLU: round(nA) = 30 thresholds, q = 0..30, s_a = 1/n.
  cq::ClimbqActivation<double> q22(opts(4, cq::LevelsVariant::kV2022));
  CHECK(q22.post_relu_thresholds().size() == 30);
  CHECK(q22.post_relu_lut().size() == 31);
  CHECK(std::fabs(q22.post_relu_thresholds()[0] - 2.0 * cq::normal_quantile(0.5 + 0.5 / 60)) <
        1e-15);
}

TEST_CASE("climbq activation bucketize vs float32 erfc on 10^7 N(0,4) draws (check 8)") {
  const auto x = normal_tensor<double>(1000, 10000, 2.0, 5);
  nn::Tensor<float> xf(x.shape()), yf;
  for (int64_t i = 0; i < x.size(); ++i) xf[i] = static_cast<float>(x[i]);
  nn::Tensor<double> yb;
  nn::Pass pass;
  pass.threads = 2;
  cq::ClimbqActivation<double> qb(opts(4));
  cq::ClimbqActivation<float> qe(opts(4, cq::LevelsVariant::kV2023, cq::ForwardPath::kErfc));
  qb.forward(x, yb, pass);
  qe.forward(xf, yf, pass);
  const auto& t = qb.rule().z_thresholds;
  int64_t diff = 0;
  bool all_near = true;
  for (int64_t i = 0; i < x.size(); ++i) {
    if (std::fabs(static_cast<double>(yf[i]) - yb[i]) < 1e-6) continue;
    ++diff;
    const double z = x[i] / 2.0;
    double d = 1e9;
    for (double v : t) d = std::min(d, std::fabs(z - v));
    all_near = all_near && d <= 1e-6;
  }
  CHECK(static_cast<double>(diff) / static_cast<double>(x.size()) <= 1e-6);
  CHECK(all_near);
}

TEST_CASE("climbq class-wise sigma (spec 2.3.1) by hand") {
  // Labels [0,0,0,1]: counts 3 and 1, sum of squares 10; p~ = 3/10 and 1/10.
  const std::vector<int> labels{0, 1, 0, 0};
  const auto s = cq::class_scaled_sigmas(labels, 2.0);
  CHECK(s == std::vector<double>{2.0 - 0.3, 2.0 - 0.1, 2.0 - 0.3, 2.0 - 0.3});
  cq::ClimbqActivation<double> q(opts(4));
  nn::Tensor<double> x(nn::Shape{4, 3}), y;
  nn::Pass pass;
  pass.training = true;
  pass.labels = &labels;
  q.forward(x, y, pass);
  CHECK(q.sigmas() == s);
  pass.training = false;  // inference: labels unknown
  q.forward(x, y, pass);
  CHECK(q.sigmas() == std::vector<double>(4, 2.0));
  auto off = opts(4);
  off.class_scaling = false;  // climbq-noscale: sigma = 2 exactly (check 10)
  cq::ClimbqActivation<double> qo(off);
  pass.training = true;
  qo.forward(x, y, pass);
  CHECK(qo.sigmas() == std::vector<double>(4, 2.0));
  // x = 1 with sigma 1.7: Phi(1/1.7) = 0.72186..., 15 * 0.72186 = 10.83 -> code 11 -> 2(22-15)/15.
  nn::Tensor<double> one(nn::Shape{4, 1});
  one.fill(1.0);
  q.forward(one, y, pass);
  CHECK(y[0] == doctest::Approx(2.0 * 7 / 15));
}

TEST_CASE("climbq activation STE derivative vs finite differences (check 8)") {
  const std::vector<int> labels{0, 0, 1};
  const auto x = tensor_of<double>({-1.3, 0.2, 2.7, 0.9, -0.4, 3.1}, nn::Shape{3, 2});
  for (auto variant : {cq::LevelsVariant::kV2023, cq::LevelsVariant::kV2022}) {
    cq::ClimbqActivation<double> q(opts(4, variant));
    nn::Pass pass;
    pass.training = true;
    pass.labels = &labels;
    nn::Tensor<double> y, dx;
    q.forward(x, y, pass);
    const auto dy = tensor_of<double>({1, -2, 0.5, 3, 1, -1}, nn::Shape{3, 2});
    q.backward(dy, &dx, pass);
    for (int64_t i = 0; i < x.size(); ++i) {
      const double sig = q.sigmas()[i / 2];
      auto f = [&](double v) { return 2.0 * (2 * cq::normal_cdf(v / sig) - 1); };
      const double fd = dy[i] * (f(x[i] + 1e-6) - f(x[i] - 1e-6)) / 2e-6;
      CHECK(std::fabs(dx[i] - fd) <= 1e-6 * std::max(1.0, std::fabs(fd)));
    }
  }
}

TEST_CASE("uniform weight quantizer: levels and STE (spec 2.5)") {
  // bits 3: Q = 3, s_w = 0.9/3 = 0.3; codes [3, round(-1.33) = -1, round(0.33) = 0, 0].
  cq::UniformWeight<double> q(3);
  nn::Pass pass;
  nn::Tensor<double> w_hat, dw;
  const auto w = tensor_of<double>({0.9, -0.4, 0.1, 0.0});
  q.forward(w, w_hat, pass);
  CHECK(q.step() == doctest::Approx(0.3));
  CHECK(q.codes() == std::vector<int32_t>{3, -1, 0, 0});
  CHECK(w_hat[0] == doctest::Approx(0.9));
  CHECK(w_hat[1] == doctest::Approx(-0.3));
  CHECK(w_hat[2] == 0.0);
  const auto g = tensor_of<double>({1, 2, 3, 4});
  q.backward(w, g, dw, pass);
  for (int i = 0; i < 4; ++i) CHECK(dw[i] == g[i]);
  // On random weights every output is s_w times an integer in [-Q, Q].
  const auto r = normal_tensor<float>(50, 40, 1.0, 9);
  cq::UniformWeight<float> q4(4);
  nn::Tensor<float> rh;
  q4.forward(r, rh, pass);
  std::set<int32_t> codes(q4.codes().begin(), q4.codes().end());
  CHECK(*codes.begin() >= -7);
  CHECK(*codes.rbegin() == 7);
  CHECK_THROWS_AS(cq::UniformWeight<double>(1), effinfer::ConfigError);
}

TEST_CASE("uniform activation quantizer: calibration, EMA, STE (spec 2.5)") {
  nn::Pass pass;
  nn::Tensor<double> y, dx;
  cq::UniformActivation<double> q(2, cq::ClipRule::kMax);
  CHECK_THROWS_AS(q.forward(tensor_of<double>({1.0}, nn::Shape{1, 1}), y, pass),
                  effinfer::InternalError);
  q.begin_calibration();
  q.forward(tensor_of<double>({0, 1, 2, 3}, nn::Shape{2, 2}), y, pass);
  CHECK(y[3] == 3.0);  // identity while calibrating
  q.end_calibration();
  CHECK(q.clip() == 3.0);
  CHECK(q.step() == 1.0);
  q.forward(tensor_of<double>({1.4, 2.6, 5, 0}, nn::Shape{2, 2}), y, pass);
  CHECK(std::vector<double>(y.data(), y.data() + 4) == std::vector<double>{1, 3, 3, 0});
  // Training: c <- 0.99 c + 0.01 max = 2.97 + 0.05 = 3.02; STE 1 for x <= c.
  pass.training = true;
  const auto x = tensor_of<double>({1.0, 3.01, 5.0, 3.05}, nn::Shape{2, 2});
  q.forward(x, y, pass);
  CHECK(q.clip() == doctest::Approx(3.02).epsilon(1e-12));
  q.backward(tensor_of<double>({1, 1, 1, 1}, nn::Shape{2, 2}), &dx, pass);
  CHECK(std::vector<double>(dx.data(), dx.data() + 4) == std::vector<double>{1, 1, 0, 0});
  CHECK(q.post_relu_thresholds().size() == 3);
  // Percentile: numpy.percentile(numpy.arange(10000), 99.99) = 9998.0001.
  cq::UniformActivation<float> qp(8, cq::ClipRule::kPercentile, 99.99);
  std::vector<double> v(10000);
  for (int i = 0; i < 10000; ++i) v[i] = 9999 - i;
  qp.begin_calibration();
  nn::Tensor<float> yf;
  nn::Pass eval;
  qp.forward(tensor_of<float>(v, nn::Shape{100, 100}), yf, eval);
  qp.end_calibration();
  CHECK(qp.clip() == doctest::Approx(9998.0001).epsilon(1e-7));
}

TEST_CASE("LSQ weights and activations (spec 2.5)") {
  nn::Pass pass;
  pass.training = true;
  // bits 3: Q_N 4, Q_P 3; s = 0.2: v/s = [2.3, -10, 1.3, 50] -> codes [2, -4, 1, 3]; ds terms
  // [2 - 2.3, -4, 1 - 1.3, 3] sum -1.6, times 1/sqrt(4 * 3).
  cq::LsqWeight<double> q(3);
  q.set_step(0.2);
  const auto w = tensor_of<double>({0.46, -2.0, 0.26, 10});
  nn::Tensor<double> w_hat, dw;
  q.forward(w, w_hat, pass);
  CHECK(q.codes() == std::vector<int32_t>{2, -4, 1, 3});
  CHECK(w_hat[1] == doctest::Approx(-0.8));
  q.backward(w, tensor_of<double>({1, 1, 1, 1}), dw, pass);
  CHECK(std::vector<double>(dw.data(), dw.data() + 4) == std::vector<double>{1, 0, 1, 0});
  auto params = q.params();
  REQUIRE(params.size() == 1);
  CHECK((*params[0].grad)[0] == doctest::Approx(-1.6 / std::sqrt(12.0)).epsilon(1e-12));
  // Init: s = 2 mean|w| / sqrt(Q_P) = 2 * 3.18 / sqrt(3).
  cq::LsqWeight<double> qi(3);
  qi.forward(w, w_hat, pass);
  CHECK(qi.step() == doctest::Approx(2 * 3.18 / std::sqrt(3.0)).epsilon(1e-12));
  // Activations (post-ReLU, bits 2: Q_N 0, Q_P 3), s = 0.5, N = 2 features per sample:
  // x/s = [0.6, 7, -1, 2.2] -> [1, 3, 0, 2]; ds terms [0.4, 3, 0 (-Q_N), -0.2] with dy [1,1,1,2].
  cq::LsqActivation<double> a(2);
  a.set_step(0.5);
  nn::Tensor<double> y, dx;
  a.forward(tensor_of<double>({0.3, 3.5, -0.5, 1.1}, nn::Shape{2, 2}), y, pass);
  CHECK(std::vector<double>(y.data(), y.data() + 4) == std::vector<double>{0.5, 1.5, 0, 1.0});
  a.backward(tensor_of<double>({1, 1, 1, 2}, nn::Shape{2, 2}), &dx, pass);
  CHECK(std::vector<double>(dx.data(), dx.data() + 4) == std::vector<double>{1, 0, 0, 2});
  CHECK((*a.params()[0].grad)[0] ==
        doctest::Approx((0.4 + 3 + 0 - 0.4) / std::sqrt(2.0 * 3.0)).epsilon(1e-12));
  CHECK(a.post_relu_thresholds().size() == 3);
}
