// HomoVar / class-balanced losses of quantize-climbq (spec 2.4; checks 5, 6, 10). The literals
// are the spec's (checks 5 and 6); gradients are checked against central differences.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "homovar.hpp"
#include "stats.hpp"
#include "test_support.hpp"

namespace cq = effinfer::climbq;
using effinfer::nn::Tensor;

namespace {

template <class T>
Tensor<T> make(int64_t rows, int64_t cols, const std::vector<double>& v) {
  Tensor<T> t({rows, cols});
  for (size_t i = 0; i < v.size(); ++i) t[i] = static_cast<T>(v[i]);
  return t;
}

// The batch of check 6.
template <class T>
Tensor<T> golden_features() {
  return make<T>(6, 2, {1, .5, 2, 0, .5, 1.5, 3, 1, .2, .4, 1.2, 2.2});
}
template <class T>
Tensor<T> golden_logits() {
  return make<T>(6, 3, {2, 0, -1, 1, 1, 0, 0, 2, 0, .5, 1.5, -.5, 0, 0, 0, -1, 0, 1});
}
const std::vector<int> kLabels = {0, 0, 0, 1, 1, 2};

void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("index " << i << ": " << got[i] << " vs " << want[i]);
    CHECK(std::fabs(got[i] - want[i]) <= tol);
  }
}

// HomoVar loss of check 6 with the given counts (double), its dlogits and statistics.
double golden(const std::vector<double>& counts, Tensor<double>* dlogits, cq::HomoVarStats* s,
              const cq::HomoVarOptions& options = {}) {
  const double f_star = cq::homovar_critical_value(3, counts[0] + counts[1] + counts[2], 0.05);
  return cq::homovar_loss(golden_features<double>(), kLabels, golden_logits<double>(), counts,
                          f_star, options, dlogits, s);
}

// ||dlogits - central differences||_inf for the loss of check 6 (weights fixed by the features).
double fd_error(const std::vector<double>& counts, const cq::HomoVarOptions& options = {}) {
  const auto features = golden_features<double>();
  auto logits = golden_logits<double>();
  const double f_star = cq::homovar_critical_value(3, counts[0] + counts[1] + counts[2], 0.05);
  Tensor<double> g;
  cq::homovar_loss(features, kLabels, logits, counts, f_star, options, &g);
  double err = 0;
  const double h = 1e-6;
  for (int64_t i = 0; i < logits.size(); ++i) {
    const double v = logits[i];
    logits[i] = v + h;
    const double up =
        cq::homovar_loss<double>(features, kLabels, logits, counts, f_star, options, nullptr);
    logits[i] = v - h;
    const double down =
        cq::homovar_loss<double>(features, kLabels, logits, counts, f_star, options, nullptr);
    logits[i] = v;
    err = std::max(err, std::fabs((up - down) / (2 * h) - g[i]));
  }
  return err;
}

}  // namespace

TEST_CASE("climbq class-balanced weights (check 5)") {
  // iterative(5000, 10) counts (check 1), beta 0.999.
  const std::vector<double> counts = {5000, 3871, 2997, 2320, 1796, 1390, 1076, 833, 644, 498};
  const auto w = cq::class_balanced_weights(counts, 0.999);
  check_close(w,
              {0.686806, 0.696679, 0.717990, 0.756442, 0.817790, 0.908257, 1.034833, 1.206480,
               1.436245, 1.738478},
              1e-6);
  double sum = 0;
  for (double v : w) sum += v;
  CHECK(std::fabs(sum - 10) < 1e-12);
  // Analytic: equal counts give weight 1 each.
  check_close(cq::class_balanced_weights(std::vector<double>{7, 7, 7}, 0.9), {1, 1, 1}, 1e-15);
  CHECK_THROWS_AS(cq::class_balanced_weights(std::vector<double>{5, 0}, 0.999),
                  effinfer::DataError);
}

TEST_CASE("climbq HomoVar golden, counts [6,3,1] (check 6)") {
  cq::HomoVarStats s;
  Tensor<double> g;
  const double loss = golden({6, 3, 1}, &g, &s);
  CHECK(std::fabs(s.f_star - 4.7374141278) < 1e-8);
  check_close(s.n_lb, {1.77508229, 1.61496471, 0}, 1e-8);
  check_close(s.n_ub, {19.08803043, 22.96189271, 10.21597527}, 1e-8);
  check_close(s.weights, {0.33400048, 0.66699996, 1.99899956}, 1e-8);
  CHECK(std::fabs(loss - 0.2945230290) < 1e-8);
  check_close({g[0], g[1], g[2]}, {-0.00560354, 0.00414500, 0.00145855}, 1e-8);
  check_close({g[15], g[16], g[17]}, {0.01675704, 0.05166792, -0.06842495}, 1e-8);
  // Every n_i inside its bounds: beta_i = beta, i.e. the `cb` loss (check 10).
  check_close(s.beta, {0.999, 0.999, 0.999}, 0);
  cq::ClassificationLoss cb(cq::LossKind::kCb, {6, 3, 1});
  Tensor<double> g_cb;
  const double loss_cb = cb(Tensor<double>(), kLabels, golden_logits<double>(), &g_cb);
  CHECK(std::fabs(loss_cb - loss) <= 1e-12);
  for (int64_t i = 0; i < g.size(); ++i) CHECK(std::fabs(g_cb[i] - g[i]) <= 1e-12);
  CHECK(fd_error({6, 3, 1}) <= 1e-8);
}

TEST_CASE("climbq HomoVar golden, counts [600,3,1] and [60,30,2] (check 6)") {
  cq::HomoVarStats s;
  Tensor<double> g;
  double loss = golden({600, 3, 1}, &g, &s);
  // Class 0: negative discriminant (no bound); classes 1 and 2 below n_lb.
  CHECK(std::isnan(s.n_lb[0]));
  CHECK(std::isnan(s.n_ub[0]));
  CHECK(s.n_lb[1] > 3);
  CHECK(s.n_lb[2] > 1);
  check_close(s.beta, {0.999, 0.99999818, 0.99999828}, 1e-8);
  check_close(s.weights, {0.00497674, 0.74875684, 2.24626643}, 1e-8);
  CHECK(std::fabs(loss - 0.2112610133) < 1e-8);
  CHECK(fd_error({600, 3, 1}) <= 1e-8);

  loss = golden({60, 30, 2}, &g, &s);
  check_close(s.weights, {0.09344918, 0.18413515, 2.72241567}, 1e-8);
  CHECK(std::fabs(loss - 0.1760835465) < 1e-8);
  CHECK(fd_error({60, 30, 2}) <= 1e-8);
}

TEST_CASE("climbq HomoVar options: float, label membership, batch counts") {
  // float follows double to float precision.
  cq::HomoVarStats sd, sf;
  Tensor<double> gd;
  const double ld = golden({600, 3, 1}, &gd, &sd);
  Tensor<float> gf;
  const double lf = cq::homovar_loss(golden_features<float>(), kLabels, golden_logits<float>(),
                                     std::vector<double>{600, 3, 1}, sd.f_star, {}, &gf, &sf);
  CHECK(std::fabs(lf - ld) < 1e-6);
  for (int64_t i = 0; i < gd.size(); ++i) CHECK(std::fabs(gf[i] - gd[i]) < 1e-6);

  // `label` membership: the zero feature of sample 1 now counts, so z_1 (and S_0) grow by
  // |0 - m_{0,1}| = (0.5 + 0 + 1.5)/6 = 1/3 (counts [6,3,1]).
  cq::HomoVarStats sv, sl;
  golden({6, 3, 1}, nullptr, &sv);
  cq::HomoVarOptions label;
  label.membership = cq::HomoVarMembership::kLabel;
  golden({6, 3, 1}, nullptr, &sl, label);
  CHECK(std::fabs(sl.sums[0] - sv.sums[0] - 1.0 / 3) < 1e-14);
  CHECK(sl.sums[1] == sv.sums[1]);
  CHECK(fd_error({6, 3, 1}, label) <= 1e-8);

  // `batch` counts equal `dataset` counts when the dataset counts are the batch's, [3,2,1].
  cq::HomoVarOptions batch;
  batch.counts = cq::HomoVarCounts::kBatch;
  cq::HomoVarStats sb, sd2;
  const double lb = golden({100, 100, 100}, nullptr, &sb, batch);
  const double l2 = golden({3, 2, 1}, nullptr, &sd2);
  CHECK(std::fabs(lb - l2) < 1e-14);
  check_close(sb.counts, {3, 2, 1}, 0);
  check_close(sb.weights, sd2.weights, 1e-14);
  CHECK(std::fabs(sb.f_star - cq::f_quantile(0.95, 2, 3)) < 1e-14);
  // A class absent from the batch is left out: weight 0, the others sum to k = 2.
  const std::vector<int> two = {0, 0, 0, 1, 1, 1};
  const auto s2 = cq::homovar_statistics(golden_features<double>(), two,
                                         std::vector<double>{5, 5, 5}, std::nan(""), batch);
  CHECK(s2.weights[2] == 0);
  CHECK(std::fabs(s2.weights[0] + s2.weights[1] - 2) < 1e-14);
}

TEST_CASE("climbq HomoVar Levene statistic and bounds are consistent") {
  // At n = n_lb or n_ub (class i's size, the rest fixed) the Levene W equals F*: recompute W
  // from S_i, n and the others' sb with n substituted (spec 2.4.5-6).
  cq::HomoVarStats s;
  golden({6, 3, 1}, nullptr, &s);
  const std::vector<double> n = {6, 3, 1};
  auto sb = [&](int i, double ni) {
    const double e = s.sums[i] / ni - s.z_bar;
    return ni * e * e;
  };
  for (int i = 0; i < 3; ++i) {
    for (double bound : {s.n_lb[i], s.n_ub[i]}) {
      if (bound == 0) continue;
      double total = 0;
      for (int l = 0; l < 3; ++l) total += l == i ? sb(i, bound) : sb(l, n[l]);
      const double w = total / 2 / s.ssw;
      INFO("class " << i << " bound " << bound);
      CHECK(std::fabs(w - s.f_star) < 1e-9 * s.f_star);
    }
  }
}

TEST_CASE("climbq loss kinds and errors") {
  CHECK(cq::parse_loss_kind("homovar") == cq::LossKind::kHomoVar);
  CHECK(std::string(cq::to_string(cq::LossKind::kCb)) == "cb");
  CHECK_THROWS_AS(cq::parse_loss_kind("focal"), effinfer::ConfigError);
  CHECK_THROWS_AS(cq::parse_homovar_counts("epoch"), effinfer::ConfigError);
  CHECK_THROWS_AS(cq::parse_homovar_membership("mask"), effinfer::ConfigError);
  const auto msg = effinfer::test::error_message<effinfer::DataError>([] {
    cq::ClassificationLoss l(cq::LossKind::kHomoVar, {6, 0, 1});
  });
  CHECK(effinfer::test::contains(msg, "class 1"));
  // `ce` equals the softmax cross-entropy: for zero logits L = log C.
  cq::ClassificationLoss ce(cq::LossKind::kCe, {6, 3, 1});
  Tensor<double> zero({2, 3});
  CHECK(std::fabs(ce(Tensor<double>(), std::vector<int>{0, 2}, zero, nullptr) - std::log(3.0)) <
        1e-15);
  // homovar through ClassificationLoss = homovar_loss with F* from the dataset counts.
  cq::ClassificationLoss hv(cq::LossKind::kHomoVar, {6, 3, 1});
  CHECK(std::fabs(hv.f_star() - 4.7374141278) < 1e-8);
  CHECK(std::fabs(hv(golden_features<double>(), kLabels, golden_logits<double>(), nullptr) -
                  0.2945230290) < 1e-8);
}
