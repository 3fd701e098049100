// Spec quantize-climbq 2.6 `ptq`, check 16: PTQ on digits-LT (rho 10, seed 0) after FP32 training.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <vector>

#include "core/blas.hpp"
#include "core/error.hpp"
#include "metrics.hpp"
#include "model.hpp"
#include "ptq.hpp"
#include "test_support.hpp"
#include "trainer.hpp"

namespace cq = effinfer::climbq;

namespace {

const char* kDigits = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";

double test_acc(cq::Network<float>& net, const cq::Dataset& d) {
  const cq::SplitView v = cq::test_view(d);
  const std::vector<int> pred = cq::evaluate(net.seq(), v, 500, 1);
  int ok = 0;
  for (size_t i = 0; i < pred.size(); ++i) ok += pred[i] == (*v.y)[i];
  // The test split is balanced, so overall accuracy = mean per-class accuracy.
  return 100.0 * ok / static_cast<double>(pred.size());
}

}  // namespace

TEST_CASE("climbq ptq: check 16 on digits-LT (climbq >> uniform at 2 bits, 8-bit ~ FP32)") {
  if (!std::filesystem::exists(kDigits)) {
    MESSAGE("skipped: " << kDigits << " missing (install python3-sklearn)");
    return;
  }
  effinfer::set_blas_threads(1);
  cq::DataOptions o;
  o.source = "digits";
  const cq::Dataset d = cq::build_dataset(o, 0);
  cq::ModelSpec spec;
  spec.height = d.height;
  spec.width = d.width;
  spec.channels = d.channels;
  spec.classes = d.classes;
  spec.pixel_scale = d.pixel_scale;
  spec.norm_mean = d.norm_mean;
  spec.norm_std = d.norm_std;
  spec.class_counts = d.class_counts;
  cq::Network<float> fp32 = cq::build_model<float>(spec, 0);
  std::vector<double> counts(d.class_counts.begin(), d.class_counts.end());
  const cq::ClassificationLoss ce(cq::LossKind::kCe, counts);
  // Defaults (15 epochs, lr 0.05, cosine) but batch 16: digits-LT has 352 training images, so
  // batch 128 gives 3 steps per epoch (45 in all) and stops near 75 %; batch 16 gives 330 steps.
  cq::TrainOptions t;
  t.batch_size = 16;
  cq::train_epochs(fp32.seq(), fp32.feature_tap(), cq::train_view(d), ce, t, 0, 1);
  const double acc_fp32 = test_acc(fp32, d);

  auto run = [&](cq::Method m, int bits, cq::BnRecalibrate bn) {
    cq::PtqOptions po;
    po.bn_recalibrate = bn;
    cq::Network<float> q = cq::ptq(fp32, m, bits, bits, d, po, 0, 1);
    CHECK(q.spec().mode == "ptq");
    CHECK(q.spec().method == m);
    return test_acc(q, d);
  };
  const double climbq2 = run(cq::Method::kClimbq, 2, cq::BnRecalibrate::kAuto);
  const double climbq2_nobn = run(cq::Method::kClimbq, 2, cq::BnRecalibrate::kOff);
  const double uniform2 = run(cq::Method::kUniform, 2, cq::BnRecalibrate::kAuto);
  const double uniform8 = run(cq::Method::kUniform, 8, cq::BnRecalibrate::kAuto);
  MESSAGE("digits-LT: FP32 " << acc_fp32 << " %, 2-bit PTQ climbq " << climbq2
                             << " % (no BN re-estimation " << climbq2_nobn << " %), uniform "
                             << uniform2 << " %, 8-bit uniform " << uniform8 << " %");
  CHECK(acc_fp32 >= 90.0);
  CHECK(climbq2 - uniform2 >= 30.0);
  CHECK(uniform8 >= acc_fp32 - 0.5);
  CHECK(uniform8 <= acc_fp32 + 0.5);
  // Spec 2.6: ClimbQ PTQ without BN re-estimation collapses (codes live on [-1, 1] while the BN
  // statistics are the FP32 ones).
  CHECK(climbq2 - climbq2_nobn >= 20.0);
}

TEST_CASE("climbq ptq: bad options") {
  CHECK(cq::parse_bn_recalibrate("auto") == cq::BnRecalibrate::kAuto);
  CHECK(cq::parse_bn_recalibrate("on") == cq::BnRecalibrate::kOn);
  CHECK(cq::parse_bn_recalibrate("off") == cq::BnRecalibrate::kOff);
  CHECK_THROWS_AS(cq::parse_bn_recalibrate("yes"), effinfer::ConfigError);
  cq::DataOptions o;
  o.source = "synth";
  o.n_max = 20;
  const cq::Dataset d = cq::build_dataset(o, 0);
  cq::ModelSpec spec;
  spec.height = d.height;
  spec.width = d.width;
  spec.channels = d.channels;
  spec.classes = d.classes;
  cq::Network<float> fp32 = cq::build_model<float>(spec, 0);
  CHECK_THROWS_AS(cq::ptq(fp32, cq::Method::kLsq, 4, 4, d), effinfer::ConfigError);
  cq::PtqOptions po;
  po.calib_batches = 0;
  CHECK_THROWS_AS(cq::ptq(fp32, cq::Method::kClimbq, 4, 4, d, po), effinfer::ConfigError);
}
