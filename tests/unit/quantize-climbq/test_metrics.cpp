// Spec quantize-climbq 2.7 / 3.5 / 3.6 reporting: confusion, per-class accuracy, overall (mean per
// class), many/medium/few means, worst class, drops against FP32, /results writer and JSON.
// Expected values are worked out by hand in the comments.
#include <doctest/doctest.h>

#include <cmath>

#include "core/error.hpp"
#include "io/hdf5.hpp"
#include "metrics.hpp"
#include "test_support.hpp"

namespace cq = effinfer::climbq;
using cq::Split;

namespace {

// Class 0: 4 samples, 3 right (0.75); class 1: 2 samples, 1 right (0.5); class 2: 2 of 2 (1.0);
// class 3: 4 samples, 1 right (0.25).
const std::vector<int> kLabels{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 3};
const std::vector<int> kPreds{0, 0, 0, 1, 1, 2, 2, 2, 3, 0, 0, 0};
const std::vector<Split> kSplits{Split::kMany, Split::kMedium, Split::kMedium, Split::kFew};

}  // namespace

TEST_CASE("climbq metrics: confusion, per-class, splits, worst class") {
  const cq::EvalMetrics m = cq::compute_metrics(kPreds, kLabels, 4, kSplits);
  CHECK(m.confusion ==
        std::vector<int64_t>{3, 1, 0, 0, /**/ 0, 1, 1, 0, /**/ 0, 0, 2, 0, /**/ 3, 0, 0, 1});
  REQUIRE(m.per_class_acc.size() == 4);
  CHECK(m.per_class_acc[0] == 0.75);
  CHECK(m.per_class_acc[1] == 0.5);
  CHECK(m.per_class_acc[2] == 1.0);
  CHECK(m.per_class_acc[3] == 0.25);
  CHECK(m.acc == doctest::Approx(0.625).epsilon(1e-15));  // (0.75 + 0.5 + 1 + 0.25) / 4
  CHECK(m.many == 0.75);
  CHECK(m.medium == doctest::Approx(0.75).epsilon(1e-15));  // (0.5 + 1) / 2
  CHECK(m.few == 0.25);
  CHECK(m.worst_class == 3);
  CHECK(m.worst_class_acc == 0.25);
  CHECK(m.warnings.empty());

  // Drops against a perfect reference: 1 - value (positive = worse).
  const cq::EvalMetrics ref = cq::compute_metrics(kLabels, kLabels, 4, kSplits);
  CHECK(ref.acc == 1.0);
  const cq::Drops d = cq::drops_against(ref, m);
  CHECK(d.acc == doctest::Approx(0.375).epsilon(1e-15));
  CHECK(d.many == doctest::Approx(0.25).epsilon(1e-15));
  CHECK(d.medium == doctest::Approx(0.25).epsilon(1e-15));
  CHECK(d.few == doctest::Approx(0.75).epsilon(1e-15));
  // Against itself: zero; reversed: negative (better).
  CHECK(cq::drops_against(m, m).acc == 0.0);
  CHECK(cq::drops_against(m, ref).few == doctest::Approx(-0.75).epsilon(1e-15));
}

TEST_CASE("climbq metrics: empty split is NaN with a warning; ties; bad input") {
  const std::vector<Split> no_few{Split::kMany, Split::kMany, Split::kMedium, Split::kMedium};
  const cq::EvalMetrics m = cq::compute_metrics(kPreds, kLabels, 4, no_few);
  CHECK(m.many == doctest::Approx(0.625).epsilon(1e-15));    // (0.75 + 0.5) / 2
  CHECK(m.medium == doctest::Approx(0.625).epsilon(1e-15));  // (1 + 0.25) / 2
  CHECK(std::isnan(m.few));
  REQUIRE(m.warnings.size() == 1);
  CHECK(effinfer::test::contains(m.warnings[0], "few"));
  const cq::EvalMetrics ref = cq::compute_metrics(kLabels, kLabels, 4, no_few);
  CHECK(std::isnan(cq::drops_against(ref, m).few));

  // Two classes tied at 0.5: the smaller label is the worst class.
  const cq::EvalMetrics t =
      cq::compute_metrics(std::vector<int>{0, 1, 1, 0}, std::vector<int>{0, 0, 1, 1}, 2, {});
  CHECK(t.worst_class == 0);
  CHECK(t.worst_class_acc == 0.5);
  CHECK(std::isnan(t.many));
  CHECK(t.warnings.empty());

  CHECK_THROWS_AS(cq::compute_metrics(std::vector<int>{0, 2}, std::vector<int>{0, 1}, 2, {}),
                  effinfer::InternalError);
  CHECK_THROWS_AS(cq::compute_metrics(std::vector<int>{0}, std::vector<int>{0, 1}, 2, {}),
                  effinfer::InternalError);
}

TEST_CASE("climbq metrics: /results writer round trip and JSON fields") {
  effinfer::io::silence_hdf5_errors();
  const cq::EvalMetrics ref = cq::compute_metrics(kLabels, kLabels, 4, kSplits);
  const cq::EvalMetrics m = cq::compute_metrics(kPreds, kLabels, 4, kSplits);
  cq::RunRecord fp32{"fp32", "fp32", "ce", 0, 0, 0, ref, {}, true, false, 0};
  cq::RunRecord q{"climbq", "qat", "homovar", 4, 4, 7, m, cq::drops_against(ref, m),
                  true,     true,  0.999};
  CHECK(cq::run_name(0, fp32) == "000_fp32_fp32_ce_w0a0_s0");
  CHECK(cq::run_name(12, q) == "012_climbq_qat_homovar_w4a4_s7");

  effinfer::test::TempDir dir;
  const std::string path = dir.file("r.h5");
  {
    auto f = effinfer::io::H5File::create(path);
    cq::write_results(f, {{"a", "b", "c", "d"}, {50, 20, 20, 5}, kSplits}, {fp32, q});
  }
  auto f = effinfer::io::H5File::open(path);
  CHECK(f.read_strings("/results/class_names") == std::vector<std::string>{"a", "b", "c", "d"});
  CHECK(f.read_int_vector("/results/class_counts") == std::vector<int64_t>{50, 20, 20, 5});
  CHECK(f.read_int_vector("/results/split/many") == std::vector<int64_t>{0});
  CHECK(f.read_int_vector("/results/split/medium") == std::vector<int64_t>{1, 2});
  CHECK(f.read_int_vector("/results/split/few") == std::vector<int64_t>{3});

  const std::string g = "/results/runs/001_climbq_qat_homovar_w4a4_s7";
  const Eigen::VectorXd acc = f.read_vector(g + "/per_class_acc");
  REQUIRE(acc.size() == 4);
  CHECK(acc[0] == 0.75);
  CHECK(acc[3] == 0.25);
  CHECK(f.read_attribute_string(g + "/per_class_acc", "units") == "1");
  const auto conf = f.read_matrix(g + "/confusion");
  REQUIRE(conf.rows() == 4);
  REQUIRE(conf.cols() == 4);
  CHECK(conf(0, 1) == 1);
  CHECK(conf(3, 0) == 3);
  CHECK(f.info(g + "/confusion").element == effinfer::io::ElementClass::kInteger);
  CHECK(f.read_attribute_string(g, "method") == "climbq");
  CHECK(f.read_attribute_string(g, "loss") == "homovar");
  CHECK(f.read_attribute_int(g, "bits_w") == 4);
  CHECK(f.read_attribute_int(g, "seed") == 7);
  CHECK(f.read_attribute_double(g, "acc") == doctest::Approx(0.625));
  CHECK(f.read_attribute_int(g, "worst_class") == 3);
  CHECK(f.read_attribute_double(g, "drop_few") == doctest::Approx(0.75));
  CHECK(f.read_attribute_double(g, "label_agreement_int") == 0.999);
  const std::string g0 = "/results/runs/000_fp32_fp32_ce_w0a0_s0";
  CHECK(f.read_attribute_double(g0, "drop_acc") == 0.0);
  CHECK(!f.has_attribute(g0, "label_agreement_int"));

  CHECK(f.read_strings("/results/table/run") ==
        std::vector<std::string>{"000_fp32_fp32_ce_w0a0_s0", "001_climbq_qat_homovar_w4a4_s7"});
  CHECK(f.read_strings("/results/table/mode") == std::vector<std::string>{"fp32", "qat"});
  CHECK(f.read_int_vector("/results/table/bits_a") == std::vector<int64_t>{0, 4});
  const Eigen::VectorXd tacc = f.read_vector("/results/table/acc");
  REQUIRE(tacc.size() == 2);
  CHECK(tacc[0] == 1.0);
  CHECK(tacc[1] == doctest::Approx(0.625));
  CHECK(f.read_attribute_string("/results/table/acc", "units") == "1");
  const Eigen::VectorXd agree = f.read_vector("/results/table/label_agreement_int");
  CHECK(std::isnan(agree[0]));
  CHECK(agree[1] == 0.999);

  const std::string js = cq::run_json(q).dump();
  CHECK(effinfer::test::contains(js, "\"method\":\"climbq\""));
  CHECK(effinfer::test::contains(js, "\"worst_class\":3"));
  CHECK(effinfer::test::contains(js, "\"drop\":{\"acc\":"));
  CHECK(effinfer::test::contains(js, "\"few\":0.75"));
  CHECK(!effinfer::test::contains(cq::run_json(cq::RunRecord{}).dump(), "drop"));
}

TEST_CASE("climbq metrics: an empty split is written as an empty column") {
  effinfer::io::silence_hdf5_errors();
  const std::vector<Split> no_few{Split::kMany, Split::kMany, Split::kMedium, Split::kMedium};
  const cq::EvalMetrics m = cq::compute_metrics(kPreds, kLabels, 4, no_few);
  effinfer::test::TempDir dir;
  const std::string path = dir.file("e.h5");
  {
    auto f = effinfer::io::H5File::create(path);
    cq::write_results(f, {{"a", "b", "c", "d"}, {500, 200, 50, 40}, no_few},
                      {cq::RunRecord{"fp32", "fp32", "ce", 0, 0, 0, m, {}, false, false, 0}});
  }
  auto f = effinfer::io::H5File::open(path);
  CHECK(f.read_int_vector("/results/split/few").empty());
  CHECK(std::isnan(f.read_attribute_double("/results/runs/000_fp32_fp32_ce_w0a0_s0", "few")));
  CHECK(std::isnan(f.read_vector("/results/table/drop_acc")[0]));  // no reference
}
