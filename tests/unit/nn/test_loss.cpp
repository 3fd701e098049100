// Losses (lib/nn/loss.hpp): values and gradients against numpy literals, closed forms at equal
// logits, and float64 central-difference gradient checks (spec quantize-climbq check 9:
// ||g - g_fd||_inf <= 1e-6 max(1, ||g_fd||_inf), h = 1e-6).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "nn/loss.hpp"
#include "test_support.hpp"

namespace effinfer::nn {
namespace {

// The case of the numpy literals below: logits [3, 4], labels [2, 0, 3].
Tensor<double> case_logits() {
  Tensor<double> z(Shape{3, 4});
  const double v[] = {1.0, 2.0, 3.0, -0.5, 0.5, -1.0, 2.0, 0.25, -2.0, 0.0, 0.75, 1.5};
  std::copy(v, v + 12, z.data());
  return z;
}
const std::vector<int> kLabels{2, 0, 3};
const std::vector<double> kClassWeights{0.5, 1.2, 2.0, 0.8};
const std::vector<double> kSampleWeights{1.0, 0.5, 2.0};

void check_close(const Tensor<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i);
    CHECK(std::abs(got[i] - want[i]) <= tol);
  }
}

// Central differences of f at z (h = 1e-6) against the analytic gradient g.
void fd_check(const std::function<double(const Tensor<double>&)>& f, Tensor<double> z,
              const Tensor<double>& g) {
  const double h = 1e-6;
  Tensor<double> fd(z.shape());
  for (int64_t i = 0; i < z.size(); ++i) {
    const double keep = z[i];
    z[i] = keep + h;
    const double up = f(z);
    z[i] = keep - h;
    const double down = f(z);
    z[i] = keep;
    fd[i] = (up - down) / (2 * h);
  }
  double err = 0, scale = 1;
  for (int64_t i = 0; i < z.size(); ++i) {
    err = std::max(err, std::abs(g[i] - fd[i]));
    scale = std::max(scale, std::abs(fd[i]));
  }
  CHECK(err <= 1e-6 * scale);
}

// Literals from /usr/bin/python3 with numpy 1.24 (z, y, cw, sw as above; lse = log sum exp(z),
// p = softmax(z), Y = one-hot): q = (1 - eps) Y + eps / C, l = lse - (q z).sum(1), weight
// w = cw[y] * sw, value = (w l).sum() / norm with norm = cw[y].sum() or B, grad = (w / norm) (p -
// q).
TEST_CASE("softmax_cross_entropy: numpy literals (plain, smoothing, class and sample weights)") {
  const Tensor<double> z = case_logits();
  Tensor<double> d;
  CHECK(softmax_cross_entropy(z, kLabels, &d) ==
        doctest::Approx(0.9474679102844571).epsilon(1e-14));
  check_close(d,
              {0.02941920234521925, 0.07996968314276921, -0.11595319681871614, 0.00656431133072783,
               -0.2819217249052792, 0.01147148042204007, 0.23041084358051026, 0.04003940090272895,
               0.00583289616370553, 0.04309959697285754, 0.09124184750753901, -0.1401743406441021},
              1e-15);
  CrossEntropyOptions smooth;
  smooth.label_smoothing = 0.1;
  CHECK(softmax_cross_entropy(z, kLabels, &d, smooth) ==
        doctest::Approx(1.0516345769511235).epsilon(1e-14));
  check_close(d,
              {0.02108586901188592, 0.07163634980943588, -0.09095319681871616, -0.0017690220026055,
               -0.25692172490527926, 0.00313814708870673, 0.22207751024717692, 0.03170606756939562,
               -0.0025004371696278, 0.03476626363952421, 0.08290851417420568, -0.11517434064410215},
              1e-15);
  CrossEntropyOptions by_class;
  by_class.class_weights = kClassWeights;
  CHECK(softmax_cross_entropy(z, kLabels, &d, by_class) ==
        doctest::Approx(0.6745859851404145).epsilon(1e-14));
  check_close(d,
              {0.05348945880948954, 0.14539942389594404, -0.21082399421584755, 0.01193511151041424,
               -0.12814623859330876, 0.00521430928274549, 0.10473220162750467, 0.01819972768305862,
               0.00424210630087675, 0.03134516143480549, 0.0663577072782102, -0.10194497501389248},
              1e-15);
  CrossEntropyOptions by_sample;
  by_sample.sample_weights = kSampleWeights;
  CHECK(softmax_cross_entropy(z, kLabels, &d, by_sample) ==
        doctest::Approx(0.8177978586183579).epsilon(1e-14));
  check_close(d,
              {0.02941920234521925, 0.07996968314276921, -0.11595319681871614, 0.00656431133072783,
               -0.1409608624526396, 0.00573574021102003, 0.11520542179025513, 0.02001970045136447,
               0.01166579232741106, 0.08619919394571508, 0.18248369501507802, -0.2803486812882042},
              1e-15);
  CrossEntropyOptions all;
  all.label_smoothing = 0.2;
  all.class_weights = kClassWeights;
  all.sample_weights = kSampleWeights;
  CHECK(softmax_cross_entropy(z, kLabels, &d, all) ==
        doctest::Approx(1.0025583262824143).epsilon(1e-14));
  check_close(
      d,
      {0.02318642850645924, 0.11509639359291374, -0.11991490330675669, -0.01836791879261606,
       -0.05270948293301802, -0.00118072414650605, 0.04857822202587354, 0.00531198505365052,
       -0.01575821164067075, 0.03844789862718673, 0.10847299031399617, -0.13116267730051226},
      1e-15);
  // Value only (no gradient requested).
  CHECK(softmax_cross_entropy(z, kLabels, nullptr, all) ==
        doctest::Approx(1.0025583262824143).epsilon(1e-14));
}

TEST_CASE("softmax_cross_entropy: closed forms, large logits, float") {
  // Equal logits: l = log C, dL/dz = (1/C - onehot) / B.
  Tensor<double> z(Shape{2, 5});
  z.fill(7.0);
  Tensor<double> d;
  CHECK(softmax_cross_entropy(z, std::vector<int>{1, 4}, &d) ==
        doctest::Approx(std::log(5.0)).epsilon(1e-15));
  CHECK(d[1] == doctest::Approx((0.2 - 1) / 2).epsilon(1e-15));
  CHECK(d[5] == doctest::Approx(0.2 / 2).epsilon(1e-15));
  // Log-sum-exp: logits 1000 apart stay finite; l = log(1 + e^-1000) ~ 0 and 1000 for the other.
  Tensor<float> big(Shape{1, 2});
  big[0] = 1000.0f;
  big[1] = 0.0f;
  Tensor<float> df;
  CHECK(softmax_cross_entropy(big, std::vector<int>{0}, &df) == 0.0);
  CHECK(softmax_cross_entropy(big, std::vector<int>{1}, &df) == doctest::Approx(1000.0));
  CHECK(df[0] == 1.0f);
  CHECK(df[1] == -1.0f);
  // float agrees with double on the literal case.
  Tensor<float> zf(Shape{3, 4});
  const Tensor<double> zd = case_logits();
  for (int i = 0; i < 12; ++i) zf[i] = static_cast<float>(zd[i]);
  CHECK(softmax_cross_entropy(zf, kLabels, &df) ==
        doctest::Approx(0.9474679102844571).epsilon(1e-6));
  CHECK(df[2] == doctest::Approx(-0.11595319681871614).epsilon(1e-5));
  CHECK_THROWS_AS(softmax_cross_entropy(zd, std::vector<int>{2, 0, 4}, &d), InternalError);
  CHECK_THROWS_AS(softmax_cross_entropy(zd, std::vector<int>{2, 0}, &d), InternalError);
}

TEST_CASE("softmax_cross_entropy: finite-difference gradients (float64)") {
  Rng rng(11, 3);
  Tensor<double> z(Shape{5, 7});
  for (int64_t i = 0; i < z.size(); ++i) z[i] = 2 * rng.normal();
  const std::vector<int> y{0, 6, 3, 3, 1};
  const std::vector<double> cw{0.3, 1.0, 2.5, 0.7, 1.1, 0.9, 1.6};
  const std::vector<double> sw{1.0, 0.25, 3.0, 1.5, 0.5};
  for (double eps : {0.0, 0.15}) {
    for (int weights = 0; weights < 4; ++weights) {
      CrossEntropyOptions o;
      o.label_smoothing = eps;
      if (weights & 1) o.class_weights = cw;
      if (weights & 2) o.sample_weights = sw;
      CAPTURE(eps);
      CAPTURE(weights);
      Tensor<double> g;
      softmax_cross_entropy(z, y, &g, o);
      fd_check([&](const Tensor<double>& x) { return softmax_cross_entropy(x, y, nullptr, o); }, z,
               g);
    }
  }
}

// Literal from /usr/bin/python3 with numpy 1.24 (same z, y, cw): w = cw[y][:, None],
// L = -(w (Y max(log p, -100) + (1 - Y) max(log(1 - p), -100))).sum() / (B C),
// g = w (p - Y) / max(p (1 - p), 1e-12) / (B C), d = p (g - (p g).sum(1, keepdims=True)).
TEST_CASE("weighted_softmax_bce: numpy literal (spec 2.4.9)") {
  const Tensor<double> z = case_logits();
  Tensor<double> d;
  CHECK(weighted_softmax_bce(z, kLabels, kClassWeights, &d) ==
        doctest::Approx(0.33743082710206407).epsilon(1e-14));
  check_close(
      d,
      {0.02448088671635154, 0.07529587216785606, -0.10498740069621801, 0.00521064181201045,
       -0.05073336377190736, -0.00053801163568372, 0.05264434726870901, -0.00137297186111793,
       0.00172024991673989, 0.01383755406808115, 0.03346185345088897, -0.04901965743571},
      1e-15);
  Tensor<float> zf(Shape{3, 4}), df;
  for (int i = 0; i < 12; ++i) zf[i] = static_cast<float>(z[i]);
  CHECK(weighted_softmax_bce(zf, kLabels, kClassWeights, &df) ==
        doctest::Approx(0.33743082710206407).epsilon(1e-6));
  CHECK(df[2] == doctest::Approx(-0.10498740069621801).epsilon(1e-5));
}

TEST_CASE("weighted_softmax_bce: closed form at equal logits, clamp, FD gradients") {
  // p = 1/C: L = -(1/(B C)) sum_j w_{y_j} [log(1/C) + (C - 1) log(1 - 1/C)].
  Tensor<double> z(Shape{2, 4});
  z.fill(-3.0);
  const std::vector<double> w{1.0, 2.0, 0.5, 4.0};
  const std::vector<int> y{1, 3};
  const double want = -(2.0 + 4.0) * (std::log(0.25) + 3 * std::log(0.75)) / 8;
  CHECK(weighted_softmax_bce(z, y, w, nullptr) == doctest::Approx(want).epsilon(1e-15));
  // Saturated softmax: log p of the label underflows and is clamped at -100.
  Tensor<double> sat(Shape{1, 2});
  sat[0] = 0;
  sat[1] = 500;
  CHECK(weighted_softmax_bce(sat, std::vector<int>{0}, std::vector<double>{1, 1}, nullptr) ==
        doctest::Approx((100.0 + 100.0) / 2).epsilon(1e-15));

  Rng rng(5, 9);
  Tensor<double> r(Shape{6, 5});
  for (int64_t i = 0; i < r.size(); ++i) r[i] = 1.5 * rng.normal();
  const std::vector<int> yr{4, 0, 2, 2, 1, 3};
  const std::vector<double> wr{0.4, 1.7, 1.0, 0.9, 1.0};
  Tensor<double> g;
  weighted_softmax_bce(r, yr, wr, &g);
  fd_check([&](const Tensor<double>& x) { return weighted_softmax_bce(x, yr, wr, nullptr); }, r, g);
  CHECK_THROWS_AS(weighted_softmax_bce(r, yr, std::vector<double>{1, 1}, &g), InternalError);
}

}  // namespace
}  // namespace effinfer::nn
