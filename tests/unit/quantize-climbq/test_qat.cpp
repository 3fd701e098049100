// Spec quantize-climbq 2.6 `qat`, 3.3 `compare` (run list, shards, merge), check 10 (climbq-noscale
// uses sigma = 2 exactly) and check 18 (determinism) on the synthetic long-tailed set.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "compare.hpp"
#include "core/blas.hpp"
#include "core/error.hpp"
#include "qat.hpp"
#include "test_support.hpp"

namespace cq = effinfer::climbq;
namespace nn = effinfer::nn;

namespace {

const cq::Dataset& synth() {
  static const cq::Dataset d = [] {
    cq::DataOptions o;
    o.source = "synth";
    o.n_max = 100;  // rho 10: 100 ... 10 per class; 200 test per class
    return cq::build_dataset(o, 0);
  }();
  return d;
}

cq::Network<float> trained_fp32() {
  const cq::Dataset& d = synth();
  cq::ModelSpec spec;
  spec.height = d.height, spec.width = d.width, spec.channels = d.channels;
  spec.classes = d.classes;
  spec.pixel_scale = d.pixel_scale, spec.norm_mean = d.norm_mean, spec.norm_std = d.norm_std;
  spec.class_counts = d.class_counts;
  cq::Network<float> net = cq::build_model<float>(spec, 0);
  const cq::ClassificationLoss ce(
      cq::LossKind::kCe, std::vector<double>(d.class_counts.begin(), d.class_counts.end()));
  cq::TrainOptions t;
  t.epochs = 6;
  t.batch_size = 32;
  cq::train_epochs(net.seq(), net.feature_tap(), cq::train_view(d), ce, t, 0, 1);
  return net;
}

cq::QatOptions small_qat(cq::LossKind loss) {
  cq::QatOptions o;
  o.loss = loss;
  o.train.epochs = 2;
  o.train.lr = 0.01;
  o.train.batch_size = 32;
  o.calibration.calib_batches = 4;
  o.calibration.calib_batch_size = 100;
  return o;
}

// Max relative difference of all parameters and buffers (0 = bitwise identical).
double max_param_diff(cq::Network<float>& a, cq::Network<float>& b) {
  auto pa = a.params(), pb = b.params();
  auto ba = a.buffers(), bb = b.buffers();
  pa.insert(pa.end(), ba.begin(), ba.end());
  pb.insert(pb.end(), bb.begin(), bb.end());
  REQUIRE(pa.size() == pb.size());
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    REQUIRE(pa[i].value->shape() == pb[i].value->shape());
    for (int64_t k = 0; k < pa[i].value->size(); ++k) {
      const double x = (*pa[i].value)[k], y = (*pb[i].value)[k];
      worst = std::max(worst, std::abs(x - y) / std::max(1.0, std::abs(x)));
    }
  }
  return worst;
}

}  // namespace

TEST_CASE("climbq qat: every method x loss trains the latent weights from the FP32 model") {
  effinfer::set_blas_threads(1);
  const cq::Dataset& d = synth();
  cq::Network<float> fp32 = trained_fp32();
  for (cq::Method m :
       {cq::Method::kClimbq, cq::Method::kClimbqNoscale, cq::Method::kUniform, cq::Method::kLsq})
    for (cq::LossKind l : {cq::LossKind::kCe, cq::LossKind::kCb, cq::LossKind::kHomoVar}) {
      CAPTURE(cq::method_name(m));
      CAPTURE(cq::to_string(l));
      cq::QatResult r = cq::qat(fp32, m, 4, 4, d, small_qat(l), 0, 1);
      CHECK(r.net.spec().mode == "qat");
      CHECK(r.net.spec().method == m);
      CHECK(r.net.spec().loss == cq::to_string(l));
      CHECK(r.train.epoch_loss.size() == 2);
      for (double loss : r.train.epoch_loss) CHECK(std::isfinite(loss));
      // The first Dense layer's latent weights moved away from the FP32 ones.
      auto& w0 = dynamic_cast<nn::Dense<float>&>(fp32.seq().layer(fp32.weight_layers()[0]));
      auto& w1 = dynamic_cast<nn::Dense<float>&>(r.net.seq().layer(r.net.weight_layers()[0]));
      double moved = 0;
      for (int64_t k = 0; k < w0.weight().size(); ++k)
        moved = std::max(moved, std::abs(static_cast<double>(w0.weight()[k] - w1.weight()[k])));
      CHECK(moved > 1e-5);
      // 4-bit QAT stays far above chance (10 %) on the synthetic set.
      const cq::EvalMetrics e = cq::evaluate_test(r.net, d, {}, 500, 1);
      CHECK(e.acc > 0.5);
    }
}

TEST_CASE("climbq qat: class-wise sigma in training; climbq-noscale uses sigma = 2 (check 10)") {
  effinfer::set_blas_threads(1);
  const cq::Dataset& d = synth();
  cq::Network<float> fp32 = trained_fp32();
  for (cq::Method m : {cq::Method::kClimbq, cq::Method::kClimbqNoscale}) {
    cq::QatResult r = cq::qat(fp32, m, 2, 2, d, small_qat(cq::LossKind::kHomoVar), 0, 1);
    // One training forward with labels of an imbalanced batch.
    nn::Tensor<float> x(r.net.input_shape(6));
    for (int64_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(0.01 * (i % 37));
    const std::vector<int> labels{0, 0, 0, 1, 1, 2};
    nn::Pass pass;
    pass.training = true;
    pass.labels = &labels;
    r.net.forward(x, pass);
    REQUIRE(!r.net.act_quantizers().empty());
    for (const auto& a : r.net.act_quantizers()) {
      const auto* q = dynamic_cast<cq::ClimbqActivation<float>*>(a.quantizer);
      REQUIRE(q != nullptr);
      const auto& s = q->sigmas();
      REQUIRE(s.size() == labels.size());
      if (m == cq::Method::kClimbqNoscale) {
        for (double v : s) CHECK(v == 2.0);
      } else {
        // sigma_j = 2 - cnt(y_j) / sum_c cnt(c)^2 with counts 3, 2, 1 (sum of squares 14).
        CHECK(s[0] == doctest::Approx(2.0 - 3.0 / 14.0).epsilon(1e-12));
        CHECK(s[3] == doctest::Approx(2.0 - 2.0 / 14.0).epsilon(1e-12));
        CHECK(s[5] == doctest::Approx(2.0 - 1.0 / 14.0).epsilon(1e-12));
      }
    }
  }
}

TEST_CASE("climbq qat: determinism (check 18) and bad input") {
  const cq::Dataset& d = synth();
  effinfer::set_blas_threads(1);
  cq::Network<float> fp32 = trained_fp32();
  const cq::QatOptions o = small_qat(cq::LossKind::kHomoVar);
  cq::QatResult a = cq::qat(fp32, cq::Method::kClimbq, 2, 2, d, o, 3, 1);
  cq::QatResult b = cq::qat(fp32, cq::Method::kClimbq, 2, 2, d, o, 3, 1);
  CHECK(a.train.epoch_loss == b.train.epoch_loss);
  CHECK(max_param_diff(a.net, b.net) == 0.0);
  effinfer::set_blas_threads(2);
  cq::QatResult t2 = cq::qat(fp32, cq::Method::kClimbq, 2, 2, d, o, 3, 2);
  effinfer::set_blas_threads(1);
  CHECK(t2.train.epoch_loss.front() == doctest::Approx(a.train.epoch_loss.front()).epsilon(1e-3));

  CHECK_THROWS_AS(cq::qat(a.net, cq::Method::kClimbq, 2, 2, d, o, 0, 1), effinfer::ConfigError);
  CHECK_THROWS_AS(cq::qat(fp32, cq::Method::kFp32, 2, 2, d, o, 0, 1), effinfer::ConfigError);
  CHECK_THROWS_AS(cq::qat(fp32, cq::Method::kUniform, 17, 17, d, o, 0, 1), effinfer::ConfigError);
  cq::Dataset empty = d;
  empty.class_counts[4] = 0;
  CHECK_THROWS_AS(cq::qat(fp32, cq::Method::kClimbq, 2, 2, empty, o, 0, 1), effinfer::DataError);
}

TEST_CASE("climbq compare: run list, shards cover it exactly, merge equals the unsharded run") {
  cq::CompareOptions o;
  o.methods = {cq::Method::kUniform, cq::Method::kLsq, cq::Method::kClimbq};
  o.losses = {cq::LossKind::kCe, cq::LossKind::kHomoVar};
  o.bits = {2, 4};
  o.seeds = {0, 1, 2};
  o.qat = true;
  const auto plan = cq::plan_compare(o, cq::LossKind::kCe);
  // Per (bits, seed): PTQ for uniform and climbq (lsq is QAT only), QAT for 3 methods x 2 losses.
  CHECK(plan.size() == 2 * 3 * (2 + 3 * 2));
  std::set<std::string> labels;
  for (const auto& r : plan) labels.insert(r.label());
  CHECK(labels.size() == plan.size());
  for (const auto& r : plan) CHECK(!(r.mode == "ptq" && r.method == cq::Method::kLsq));
  o.qat = false;
  CHECK(cq::plan_compare(o, cq::LossKind::kCe).size() == 2 * 3 * 2);
  o.bits = {1};
  CHECK_THROWS_AS(cq::plan_compare(o, cq::LossKind::kCe), effinfer::ConfigError);

  // Shards: contiguous blocks whose union is the plan, each run once, for N = 1..7.
  for (int n = 1; n <= 7; ++n) {
    int64_t next = 0;
    for (int i = 0; i < n; ++i) {
      const auto [lo, hi] = effinfer::Shard{i, n}.range(static_cast<int64_t>(plan.size()));
      CHECK(lo == next);
      next = hi;
    }
    CHECK(next == static_cast<int64_t>(plan.size()));
  }
}

TEST_CASE("climbq compare: merge joins shard files and refuses mismatches") {
  const effinfer::test::TempDir tmp("climbq_merge");
  const cq::Dataset& d = synth();
  cq::ResultsHeader header{d.class_names, d.class_counts,
                           cq::class_splits(d.class_counts, cq::SplitRule::kRank, 0.3, 100, 20)};
  auto record = [&](const std::string& method, const std::string& mode, int bits, int seed) {
    cq::RunRecord r;
    r.method = method, r.mode = mode, r.loss = "ce", r.bits_w = r.bits_a = bits, r.seed = seed;
    std::vector<int> pred, labels;
    for (int c = 0; c < d.classes; ++c)
      for (int k = 0; k < 10; ++k) {
        labels.push_back(c);
        pred.push_back(k < (c + bits + seed) % 10 ? c : (c + 1) % d.classes);
      }
    r.metrics = cq::compute_metrics(pred, labels, d.classes, header.splits);
    return r;
  };
  const cq::RunRecord fp32 = record("fp32", "fp32", 0, 0);
  const std::vector<cq::RunRecord> all{record("uniform", "ptq", 2, 0),
                                       record("climbq", "ptq", 2, 0),
                                       record("uniform", "ptq", 4, 0)};
  cq::CompareIdentity id{"aaa", "bbb", "plan", {}};
  auto write = [&](const std::string& name, std::vector<cq::RunRecord> runs, int index, int count,
                   const std::string& data_sha) {
    const std::string path = tmp.file(name);
    auto f = effinfer::io::H5File::create(path);
    runs.insert(runs.begin(), fp32);
    cq::write_results(f, header, runs);
    cq::CompareIdentity i = id;
    i.data_sha256 = data_sha;
    i.shard = effinfer::Shard{index, count};
    cq::write_compare_identity(f, i);
    return path;
  };
  const std::string s0 = write("s0.h5", {all[0]}, 0, 2, "aaa");
  const std::string s1 = write("s1.h5", {all[1], all[2]}, 1, 2, "aaa");
  const std::string other = write("x1.h5", {all[1], all[2]}, 1, 2, "zzz");
  cq::CompareIdentity merged;
  const cq::ResultsFile m = cq::merge_compare({s1, s0}, &merged);
  REQUIRE(m.runs.size() == 4);
  CHECK(m.runs[0].mode == "fp32");
  for (size_t k = 0; k < all.size(); ++k) {
    CHECK(m.runs[k + 1].method == all[k].method);
    CHECK(m.runs[k + 1].bits_w == all[k].bits_w);
    CHECK(m.runs[k + 1].metrics.confusion == all[k].metrics.confusion);
    CHECK(m.runs[k + 1].metrics.few == doctest::Approx(all[k].metrics.few));
    CHECK(m.runs[k + 1].drops.acc == doctest::Approx(fp32.metrics.acc - all[k].metrics.acc));
  }
  CHECK(merged.shard.count == 1);
  CHECK_THROWS_AS(cq::merge_compare({s0}, nullptr), effinfer::DataError);         // 1/2 missing
  CHECK_THROWS_AS(cq::merge_compare({s0, s0}, nullptr), effinfer::DataError);     // duplicate
  CHECK_THROWS_AS(cq::merge_compare({s0, other}, nullptr), effinfer::DataError);  // other data
}
