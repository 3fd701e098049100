// Loader (lib/nn/loader.hpp): every sample exactly once per epoch, an order that depends only on
// (seed, epoch) (spec quantize-climbq check 9), the documented shuffle stream, the final-batch
// rules of train and eval mode, and the affine normalisation.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "nn/loader.hpp"
#include "test_support.hpp"

namespace effinfer::nn {
namespace {

// n samples of shape [2, 2, 1]; every pixel of sample i is i % 256, its label i % 7.
struct Data {
  explicit Data(int64_t n) : pixels(n * 4), labels(n) {
    for (int64_t i = 0; i < n; ++i) {
      std::fill(pixels.begin() + 4 * i, pixels.begin() + 4 * i + 4, static_cast<uint8_t>(i % 256));
      labels[i] = static_cast<int>(i % 7);
    }
  }
  std::vector<uint8_t> pixels;
  std::vector<int> labels;
};

const Shape kSample{2, 2, 1};

Loader<double>::Options options(int64_t batch, uint64_t seed, bool train = true) {
  Loader<double>::Options o;
  o.batch_size = batch;
  o.seed = seed;
  o.mode = train ? Loader<double>::Mode::kTrain : Loader<double>::Mode::kEval;
  return o;
}

// Sample ids visited in one epoch, read back from the batches (pixel value = id, label = id % 7).
std::vector<int64_t> visit(Loader<double>& loader, int epoch,
                           std::vector<int64_t>* sizes = nullptr) {
  loader.start_epoch(epoch);
  std::vector<int64_t> seen;
  Tensor<double> x;
  std::vector<int> y;
  while (loader.next(x, y)) {
    REQUIRE(x.rank() == 4);
    CHECK(x.dim(1) == 2);
    CHECK(x.dim(2) == 2);
    CHECK(x.dim(3) == 1);
    REQUIRE(x.dim(0) == static_cast<int64_t>(y.size()));
    if (sizes) sizes->push_back(x.dim(0));
    for (int64_t k = 0; k < x.dim(0); ++k) {
      const auto id = static_cast<int64_t>(x[4 * k]);
      CHECK(x[4 * k + 3] == x[4 * k]);
      CHECK(y[k] == id % 7);
      seen.push_back(id);
    }
  }
  return seen;
}

TEST_CASE("loader: every sample exactly once per epoch, last train batch of 2 kept") {
  Data d(103);
  Loader<double> loader(d.pixels, d.labels, kSample, options(10, 42));
  CHECK(loader.size() == 103);
  CHECK(loader.num_batches() == 11);
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::vector<int64_t> sizes;
    std::vector<int64_t> seen = visit(loader, epoch, &sizes);
    CHECK(sizes.back() == 3);
    CHECK(seen == loader.order());
    std::sort(seen.begin(), seen.end());
    std::vector<int64_t> all(103);
    std::iota(all.begin(), all.end(), 0);
    CHECK(seen == all);
  }
}

TEST_CASE("loader: a final training batch of 1 is dropped, eval keeps it in natural order") {
  Data d(101);
  Loader<double> train(d.pixels, d.labels, kSample, options(10, 1));
  CHECK(train.num_batches() == 10);
  const std::vector<int64_t> seen = visit(train, 0);
  CHECK(seen.size() == 100);
  // The one dropped sample is the last of the epoch's permutation.
  std::vector<int64_t> sorted = seen;
  sorted.push_back(train.order().back());
  std::sort(sorted.begin(), sorted.end());
  CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
  CHECK(sorted.size() == 101);

  Loader<double> eval(d.pixels, d.labels, kSample, options(10, 1, false));
  CHECK(eval.num_batches() == 11);
  std::vector<int64_t> sizes;
  const std::vector<int64_t> natural = visit(eval, 3, &sizes);
  CHECK(sizes.back() == 1);
  std::vector<int64_t> all(101);
  std::iota(all.begin(), all.end(), 0);
  CHECK(natural == all);
  // Batch size 1 in training: every batch has one sample, none is dropped (rest = 0).
  Loader<double> ones(d.pixels, d.labels, kSample, options(1, 1));
  CHECK(ones.num_batches() == 101);
}

TEST_CASE("loader: order depends only on (seed, epoch)") {
  Data d(200);
  Loader<double> a(d.pixels, d.labels, kSample, options(16, 7));
  Loader<double> b(d.pixels, d.labels, kSample, options(50, 7));  // another batch size
  Loader<double> c(d.pixels, d.labels, kSample, options(16, 8));  // another seed
  a.start_epoch(2);
  const std::vector<int64_t> a2 = a.order();
  a.start_epoch(0);
  const std::vector<int64_t> a0 = a.order();
  b.start_epoch(5);
  b.start_epoch(2);
  CHECK(b.order() == a2);
  a.start_epoch(2);
  CHECK(a.order() == a2);
  CHECK(a0 != a2);
  c.start_epoch(2);
  CHECK(c.order() != a2);
  std::vector<int64_t> identity(200);
  std::iota(identity.begin(), identity.end(), 0);
  CHECK(a0 != identity);

  // The documented stream: Fisher-Yates from Rng(seed, FNV-1a64("shuffle") + epoch).
  // 0x477c62bf680bf6ae = FNV-1a 64 of "shuffle" (computed with /usr/bin/python3).
  CHECK(kShuffleStreamBase == 0x477c62bf680bf6aeULL);
  Rng rng(7, 0x477c62bf680bf6aeULL + 2);
  std::vector<int64_t> expected = identity;
  for (int64_t i = 199; i > 0; --i) std::swap(expected[i], expected[rng.uniform_int(i + 1)]);
  CHECK(a2 == expected);
}

TEST_CASE("loader: normalisation of uint8 and float32 samples, index subsets") {
  // Fashion-MNIST constants (spec 4): x = (p / 255 - 0.2860) / 0.3530; values from python3.
  std::vector<uint8_t> pixels{0, 255, 100, 0};
  std::vector<int> labels{3};
  Loader<float>::Options o;
  o.batch_size = 4;
  o.mode = Loader<float>::Mode::kEval;
  o.norm = {1.0 / 255, 0.2860, 0.3530};
  Loader<float> fl(pixels, labels, Shape{2, 2, 1}, o);
  Tensor<float> x;
  std::vector<int> y;
  REQUIRE(fl.next(x, y));
  CHECK(x.shape() == Shape{1, 2, 2, 1});
  CHECK(y == std::vector<int>{3});
  CHECK(x[0] == doctest::Approx(-0.8101983002832861).epsilon(1e-7));
  CHECK(x[1] == doctest::Approx(2.0226628895184136).epsilon(1e-7));
  CHECK(x[2] == doctest::Approx(0.30072765650169425).epsilon(1e-7));
  CHECK_FALSE(fl.next(x, y));

  // float32 samples with the digits constants (1/16, 0.3, 0.45), in double.
  std::vector<float> values{16, 3, 0.5f, 8};
  std::vector<int> two{1, 2};
  Loader<double>::Options od = options(8, 0, false);
  od.norm = {1.0 / 16, 0.3, 0.45};
  Loader<double> dl(values, two, Shape{2}, od);
  Tensor<double> xd;
  REQUIRE(dl.next(xd, y));
  CHECK(xd.shape() == Shape{2, 2});
  CHECK(xd[0] == doctest::Approx(1.5555555555555554).epsilon(1e-15));
  CHECK(xd[1] == doctest::Approx(-0.24999999999999997).epsilon(1e-15));
  CHECK(xd[2] == doctest::Approx((0.5 / 16 - 0.3) / 0.45).epsilon(1e-15));
  CHECK(y == std::vector<int>{1, 2});

  // A subset in the given order (eval) and as a permutation of exactly that subset (train).
  Data d(50);
  const std::vector<int64_t> subset{49, 3, 17, 8, 30};
  Loader<double> se(d.pixels, d.labels, kSample, options(2, 0, false), subset);
  CHECK(visit(se, 0) == subset);
  Loader<double> st(d.pixels, d.labels, kSample, options(2, 9), subset);
  std::vector<int64_t> seen = visit(st, 4);
  CHECK(seen.size() == 4);  // 2 + 2, the final batch of 1 dropped
  seen.push_back(st.order().back());
  std::sort(seen.begin(), seen.end());
  std::vector<int64_t> sorted_subset = subset;
  std::sort(sorted_subset.begin(), sorted_subset.end());
  CHECK(seen == sorted_subset);
}

TEST_CASE("loader: errors") {
  Data d(10);
  CHECK_THROWS_AS(
      Loader<double>(d.pixels, std::span<const int>(d.labels.data(), 9), kSample, options(4, 0)),
      InternalError);
  CHECK_THROWS_AS(Loader<double>(std::span<const uint8_t>(d.pixels.data(), 39), d.labels, kSample,
                                 options(4, 0)),
                  InternalError);
  CHECK_THROWS_AS(Loader<double>(d.pixels, d.labels, kSample, options(0, 0)), ConfigError);
  auto bad_std = options(4, 0);
  bad_std.norm.norm_std = 0;
  CHECK_THROWS_AS(Loader<double>(d.pixels, d.labels, kSample, bad_std), ConfigError);
  CHECK_THROWS_AS(
      Loader<double>(d.pixels, d.labels, kSample, options(4, 0), std::vector<int64_t>{3, 10}),
      InternalError);
  Loader<double> ok(d.pixels, d.labels, kSample, options(4, 0));
  Tensor<double> x;
  std::vector<int> y;
  CHECK_THROWS_AS(ok.batch(3, x, y), InternalError);
}

}  // namespace
}  // namespace effinfer::nn
