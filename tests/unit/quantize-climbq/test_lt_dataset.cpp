// Spec quantize-climbq check 2 (make-data): train histogram = class_counts, disjoint splits,
// balanced test, determinism, digits counts; plus the synthetic set and bad options.
#include <doctest/doctest.h>

#include <filesystem>
#include <set>

#include "core/error.hpp"
#include "io/hdf5.hpp"
#include "lt_dataset.hpp"
#include "test_support.hpp"

namespace cq = effinfer::climbq;

namespace {

std::vector<int64_t> histogram(const cq::ImageSplit& s, int classes) {
  std::vector<int64_t> h(static_cast<size_t>(classes), 0);
  for (int32_t y : s.y) ++h[static_cast<size_t>(y)];
  return h;
}

void check_common(const cq::Dataset& d) {
  CHECK(histogram(d.train, d.classes) == d.class_counts);
  const size_t sample = static_cast<size_t>(d.height * d.width * d.channels);
  CHECK(d.train.x.size() == d.train.y.size() * sample);
  CHECK(d.val.x.size() == d.val.y.size() * sample);
  CHECK(d.test.x.size() == d.test.y.size() * sample);
}

}  // namespace

TEST_CASE("climbq make-data: Fashion-MNIST-LT (check 2)") {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    MESSAGE("SKIPPED: Fashion-MNIST absent (apt-get install dataset-fashion-mnist)");
    return;
  }
  cq::DataOptions o;  // rho 100, n_max 5000, val 200 (auto)
  const cq::Dataset d = cq::build_dataset(o, 0);
  check_common(d);
  CHECK(d.class_counts == std::vector<int64_t>{5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50});
  CHECK(d.train.size() == 12406);
  CHECK(d.val.size() == 2000);
  CHECK(histogram(d.val, 10) == std::vector<int64_t>(10, 200));
  CHECK(histogram(d.test, 10) == std::vector<int64_t>(10, 1000));
  // Train and val come from the same pool and never share an image; test is t10k.
  std::set<int64_t> train(d.train.source_index.begin(), d.train.source_index.end());
  CHECK(train.size() == d.train.source_index.size());
  for (int64_t i : d.val.source_index) CHECK(train.count(i) == 0);
  CHECK(d.pixel_scale == doctest::Approx(1.0 / 255));
  // Same seed, same data; another seed picks other images with the same counts.
  const cq::Dataset again = cq::build_dataset(o, 0);
  CHECK(again.train.x == d.train.x);
  CHECK(again.val.source_index == d.val.source_index);
  const cq::Dataset other = cq::build_dataset(o, 1);
  CHECK(other.class_counts == d.class_counts);
  CHECK(other.train.source_index != d.train.source_index);
  // Reverse class order puts the head at label 9.
  o.class_order = cq::ClassOrder::kReverse;
  const cq::Dataset rev = cq::build_dataset(o, 0);
  CHECK(rev.class_counts[9] == 5000);
  CHECK(rev.class_counts[0] == 50);
  // n_max above a class's pool (6000 - 200 val) is a configuration error unless clamped.
  cq::DataOptions big;
  big.n_max = 6000;
  CHECK_THROWS_AS(cq::build_dataset(big, 0), effinfer::ConfigError);
  big.allow_clamp = true;
  const cq::Dataset clamped = cq::build_dataset(big, 0);
  CHECK(clamped.class_counts[0] == 5800);
  CHECK(!clamped.warnings.empty());
}

TEST_CASE("climbq make-data: digits") {
  if (!std::filesystem::exists(
          "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz")) {
    MESSAGE("SKIPPED: digits absent (apt-get install python3-sklearn)");
    return;
  }
  cq::DataOptions o;
  o.source = "digits";
  const cq::Dataset d = cq::build_dataset(o, 0);
  check_common(d);
  CHECK(d.class_counts == std::vector<int64_t>{87, 67, 52, 40, 31, 24, 18, 14, 11, 8});
  CHECK(d.train.size() == 352);
  CHECK(d.val.size() == 0);
  // The test half: n_c - floor(n_c / 2) of the per-class counts [178, 182, 177, 183, 181, 182,
  // 181, 179, 174, 180] (scikit-learn's digits).
  CHECK(histogram(d.test, 10) == std::vector<int64_t>{89, 91, 89, 92, 91, 91, 91, 90, 87, 90});
  CHECK(d.height == 8);
  CHECK(d.width == 8);
}

TEST_CASE("climbq make-data: synthetic set") {
  cq::DataOptions o;
  o.source = "synth";
  const cq::Dataset d = cq::build_dataset(o, 4);
  check_common(d);
  CHECK(d.class_counts ==
        cq::long_tail_counts(10, 500, 10, cq::CountRule::kClosed));  // natural order
  CHECK(histogram(d.val, 10) == std::vector<int64_t>(10, 50));
  CHECK(histogram(d.test, 10) == std::vector<int64_t>(10, 200));
  // Class means at radius 4 in pixel units: mean pixel of a class ~ 128 +- small; std grows with
  // rank (increasing): the tail class has a larger pixel spread than the head.
  auto spread = [&](int label) {
    double s = 0, s2 = 0, n = 0;
    for (int64_t i = 0; i < d.test.size(); ++i) {
      if (d.test.y[static_cast<size_t>(i)] != label) continue;
      for (int k = 0; k < 64; ++k) {
        const double p = d.test.x[static_cast<size_t>(i * 64 + k)];
        s += p, s2 += p * p, ++n;
      }
    }
    return std::sqrt(s2 / n - (s / n) * (s / n));
  };
  CHECK(spread(9) > 2 * spread(0));
  CHECK(cq::build_dataset(o, 4).test.x == d.test.x);
  o.synth.std_order = "sideways";
  CHECK_THROWS_AS(cq::build_dataset(o, 4), effinfer::ConfigError);
}

TEST_CASE("climbq make-data: data file layout") {
  cq::DataOptions o;
  o.source = "synth";
  o.n_max = 40;
  const cq::Dataset d = cq::build_dataset(o, 2);
  effinfer::test::TempDir dir("climbq_data");
  {
    auto f = effinfer::io::H5File::create(dir.file("d.h5"));
    cq::write_dataset(f, d);
    f.close();
  }
  const auto f = effinfer::io::H5File::open(dir.file("d.h5"));
  CHECK(f.read_int_vector("/data/class_counts") == d.class_counts);
  CHECK(f.info("/data/train/x").shape ==
        std::vector<hsize_t>{static_cast<hsize_t>(d.train.size()), 8, 8, 1});
  CHECK(f.read_strings("/data/class_names").size() == 10);
  CHECK(f.read_attribute_string("/", "content") == "data");
}
