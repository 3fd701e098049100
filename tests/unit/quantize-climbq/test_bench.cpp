// `bench` of quantize-climbq (spec 7): the statistics helpers on known samples, and the float32
// baseline engine of B1 (BN folded, sgemm, float im2col) against the Network<float> eval forward.
// No test here looks at a time.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "bench.hpp"
#include "core/rng.hpp"
#include "fp32_engine.hpp"
#include "io/hdf5.hpp"
#include "model.hpp"
#include "nn/layers.hpp"
#include "nn/loader.hpp"
#include "ptq.hpp"
#include "test_support.hpp"

namespace cq = effinfer::climbq;
namespace nn = effinfer::nn;

TEST_CASE("quantize-climbq bench: percentile / summarize (linear interpolation)") {
  // Order statistics of 1..10 at position q/100 * 9: p10 = 1 + 0.9 = 1.9, p50 = 5.5, p90 = 9.1.
  const std::vector<double> v{7, 3, 10, 1, 9, 2, 8, 4, 6, 5};
  CHECK(cq::percentile(v, 10) == doctest::Approx(1.9).epsilon(1e-12));
  CHECK(cq::percentile(v, 50) == doctest::Approx(5.5).epsilon(1e-12));
  CHECK(cq::percentile(v, 90) == doctest::Approx(9.1).epsilon(1e-12));
  CHECK(cq::percentile(v, 0) == 1);
  CHECK(cq::percentile(v, 100) == 10);
  const auto s = cq::summarize(v);
  CHECK(s.median == doctest::Approx(5.5).epsilon(1e-12));
  CHECK(s.p10 == doctest::Approx(1.9).epsilon(1e-12));
  CHECK(s.p90 == doctest::Approx(9.1).epsilon(1e-12));
  CHECK(s.n == 10);
  // Odd count: the median is the middle element; [0, 4] at q 25 -> 1.
  CHECK(cq::percentile({5, 1, 3}, 50) == 3);
  CHECK(cq::percentile({0, 4}, 25) == 1);
  CHECK(cq::percentile({2.5}, 90) == 2.5);
  CHECK_THROWS(cq::percentile({}, 50));
  CHECK_THROWS(cq::percentile({1, 2}, 101));
  // time_calls_ms calls the function warmup + repeats times and returns one sample per repeat.
  int calls = 0;
  const auto ms = cq::time_calls_ms([&] { ++calls; }, 3, 5);
  CHECK(calls == 8);
  CHECK(ms.size() == 5);
}

namespace {

cq::ModelSpec spec_of(cq::Arch arch, cq::Method method) {
  cq::ModelSpec s;
  s.arch = arch, s.method = method;
  s.height = 28, s.width = 28, s.channels = 1;
  s.classes = 10;
  s.pixel_scale = 1.0 / 255, s.norm_mean = 0.2860, s.norm_std = 0.3530;
  return s;
}

// Non-trivial BN statistics and affine parameters so the fold is exercised.
void randomise_bn(cq::Network<float>& net, uint64_t seed) {
  effinfer::Rng rng(seed, 11);
  for (size_t i : net.batchnorm_layers()) {
    auto& bn = dynamic_cast<nn::BatchNorm<float>&>(net.seq().layer(i));
    for (int64_t c = 0; c < bn.gamma().size(); ++c) {
      bn.gamma()[c] = static_cast<float>(0.5 + rng.uniform());
      bn.beta()[c] = static_cast<float>(rng.normal() * 0.3);
      bn.running_mean()[c] = static_cast<float>(rng.normal() * 0.5);
      bn.running_var()[c] = static_cast<float>(0.2 + 2 * rng.uniform());
    }
  }
}

// max |a - b| / max(1, max |b|)
double rel_diff(const std::vector<float>& a, const nn::Tensor<float>& b) {
  double d = 0, m = 1;
  for (int64_t i = 0; i < b.size(); ++i) {
    d = std::max(d, std::abs(double{a[static_cast<size_t>(i)]} - b[i]));
    m = std::max(m, std::abs(double{b[i]}));
  }
  return d / m;
}

}  // namespace

TEST_CASE("quantize-climbq bench: Fp32Engine equals the FP32 Network eval forward (mlp, cnn)") {
  for (auto arch : {cq::Arch::kMlp, cq::Arch::kCnn}) {
    CAPTURE(cq::arch_name(arch));
    auto net = cq::build_model<float>(spec_of(arch, cq::Method::kFp32), 2);
    randomise_bn(net, 4);
    const int64_t n = 5, per = 28 * 28;
    effinfer::Rng rng(9, 1);
    std::vector<uint8_t> px(static_cast<size_t>(n * per));
    for (auto& p : px) p = static_cast<uint8_t>(rng.uniform_int(256));
    nn::Tensor<float> x(net.input_shape(n));
    const nn::Normalization norm{net.spec().pixel_scale, net.spec().norm_mean, net.spec().norm_std};
    for (int64_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(norm.apply(px[i]));
    nn::Pass pass;
    const nn::Tensor<float> want = net.forward(x, pass);

    for (int threads : {1, 2}) {
      cq::Fp32Engine engine(net, 8);
      std::vector<float> got(static_cast<size_t>(n * 10));
      engine.forward(px.data(), n, got.data(), threads);
      CHECK(rel_diff(got, want) <= 1e-4);
      // One image at a time gives the same logits.
      std::vector<float> one(10);
      for (int64_t j = 0; j < n; ++j) {
        engine.forward(px.data() + j * per, 1, one.data(), threads);
        for (int c = 0; c < 10; ++c)
          CHECK(std::abs(one[c] - got[static_cast<size_t>(j * 10 + c)]) <=
                1e-5 * std::max(1.0f, std::abs(got[static_cast<size_t>(j * 10 + c)])));
      }
    }
    // A quantized network with the same latent state runs the same float32 baseline: the engine
    // reads latent weights and skips activation quantizers.
    auto q = cq::build_model<float>(spec_of(arch, cq::Method::kClimbq), 0);
    cq::copy_state(net, q);
    cq::Fp32Engine qe(q, n);
    std::vector<float> got(static_cast<size_t>(n * 10));
    qe.forward(px.data(), n, got.data(), 1);
    CHECK(rel_diff(got, want) <= 1e-4);
  }
}

TEST_CASE("quantize-climbq bench: B1 rows and B2 rows are complete (no times asserted)") {
  cq::ModelSpec s = spec_of(cq::Arch::kMlp, cq::Method::kFp32);
  s.height = 8, s.width = 8;
  auto net = cq::build_model<float>(s, 0);
  cq::BenchOptions o;
  o.batches = {1, 3};
  o.threads = {1};
  o.warmup = 0, o.repeats = 2, o.gemm_size = 32;
  const auto r = cq::bench_inference(net, {}, o);
  CHECK(r.rows.size() >= 4);  // fp32 and fakequant per batch (int only for quantized models)
  for (const auto& row : r.rows) {
    CHECK(row.ms.n == 2);
    CHECK(row.ms.p10 <= row.ms.median);
    CHECK(row.ms.median <= row.ms.p90);
  }
  const auto b = cq::bench_quantizers(2000, 0, 2, 0);
  REQUIRE(b.rows.size() == 4);
  CHECK(b.rows[0].name == "climbq_erfc");
  CHECK(b.rows[3].name == "copy");
  const std::string json = cq::bench_json(r).dump();
  for (const char* key :
       {"\"rows\":", "\"ratios\":", "\"kernel\":", "\"blas_core\":", "\"openblas_coretype\":"})
    CHECK(effinfer::test::contains(json, key));
  // spec 3.5 /results/bench: one entry per row in every column.
  effinfer::test::TempDir dir;
  const std::string path = (dir.path() / "bench.h5").string();
  {
    auto f = effinfer::io::H5File::create(path);
    cq::write_bench(f, r);
    cq::write_quantizer_bench(f, b);
  }
  const auto f = effinfer::io::H5File::open(path);
  CHECK(f.read_strings("/results/bench/engine").size() == r.rows.size());
  CHECK(f.read_int_vector("/results/bench/batch").size() == r.rows.size());
  CHECK(f.read_vector("/results/bench/ms_median").size() ==
        static_cast<Eigen::Index>(r.rows.size()));
  CHECK(f.is_dataset("/results/bench/sgemm_gflops"));
  CHECK(f.read_int_vector("/results/bench/fp32_bytes")[0] == r.fp32_bytes);
  CHECK(f.read_strings("/results/bench/quantizers/name").size() == 4);
}

TEST_CASE("quantize-climbq bench: a quantized model adds int rows, ratios and check-14 sizes") {
  auto net = cq::build_model<float>(spec_of(cq::Arch::kMlp, cq::Method::kClimbq), 1);
  cq::BenchOptions o;
  o.batches = {1, 4};
  o.threads = {1, 2};
  o.warmup = 0, o.repeats = 1, o.gemm_size = 64;
  const auto r = cq::bench_inference(net, {}, o);
  REQUIRE(r.int_available);
  CHECK(r.rows.size() == 2 * 2 * 3);
  CHECK(r.ratios.size() == 4);
  CHECK(!r.kernel.empty());
  // spec 2.8.7 / check 14, climbq v2023 W4A4 mlp.
  CHECK(r.fp32_bytes == 942120);
  CHECK(r.int_bytes == 251322);
  CHECK(r.packed_bytes == 134586);
  int int_rows = 0;
  for (const auto& row : r.rows) int_rows += row.engine == "int";
  CHECK(int_rows == 4);
}
