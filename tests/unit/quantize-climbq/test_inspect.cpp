// `inspect` of quantize-climbq (spec 3.3, 3.6): totals equal check 3's exact counts, per-layer
// figures add up to them, code histograms count every weight and follow ClimbQ's equal-probability
// bins on Gaussian weights (spec 2.2.2).
#include <doctest/doctest.h>

#include <cmath>
#include <numeric>

#include "core/rng.hpp"
#include "inspect.hpp"
#include "int_export.hpp"
#include "io/hdf5.hpp"
#include "model.hpp"
#include "nn/layers.hpp"
#include "test_support.hpp"

namespace cq = effinfer::climbq;
namespace nn = effinfer::nn;

namespace {

cq::ModelSpec spec_of(cq::Arch arch, cq::Method method, int64_t h, int64_t w, int bits = 4) {
  cq::ModelSpec s;
  s.arch = arch, s.method = method;
  s.height = h, s.width = w, s.channels = 1;
  s.classes = 10;
  s.bits_w = bits, s.bits_a = bits;
  s.class_counts.assign(10, 5);
  return s;
}

int64_t sum(const std::vector<int64_t>& v) {
  return std::accumulate(v.begin(), v.end(), int64_t{0});
}

}  // namespace

TEST_CASE("quantize-climbq inspect: check 3 totals (MACs, BOPs, weight bytes) and layer sums") {
  auto net = cq::build_model<float>(spec_of(cq::Arch::kMlp, cq::Method::kClimbq, 28, 28), 0);
  const cq::InspectReport r = cq::inspect_network(net);
  CHECK(r.macs == 234752);
  CHECK(r.bops == 7110656);
  CHECK(r.quantized_weights == 233472);
  CHECK(r.quantized_weights_bytes == 116736);
  CHECK(r.quantized_weights_fp32_bytes == 933888);
  // spec 2.8.7 / check 14: 4 x (234,752 weights + 10 biases + 2 x 384 BN channels) = 942,120.
  CHECK(r.fp32_bytes == 942120);
  int64_t macs = 0, bytes = 0, params = 0;
  for (const auto& l : r.layers) macs += l.macs, bytes += l.bytes, params += l.params;
  CHECK(macs == r.macs);
  CHECK(bytes == r.model_bytes);
  CHECK(params == r.params);
  // 234,752 weights + 10 biases + 2 x 384 BN parameters.
  CHECK(r.params == 235530);
  // 116,736 quantized weights + 4 x (1,280 + 10) classifier + 8 x 384 BN = 124,968.
  CHECK(r.model_bytes == 124968);
  REQUIRE(r.layers.size() == 9);  // (dense bn actq relu) x 2 + dense
  CHECK(r.layers[0].shape == "[256,784]");
  CHECK(r.layers[0].bits == 4);
  CHECK(r.layers[2].type == "actq");
  CHECK(r.layers[2].bits == 4);
  CHECK(r.layers[8].bits == 32);  // FP32 classifier
  CHECK(r.layers[8].histogram.empty());

  auto cnn = cq::build_model<float>(spec_of(cq::Arch::kCnn, cq::Method::kFp32, 28, 28), 0);
  CHECK(cq::inspect_network(cnn).macs == 1054720);
  auto digits = cq::build_model<float>(spec_of(cq::Arch::kMlp, cq::Method::kFp32, 8, 8), 0);
  const auto rd = cq::inspect_network(digits);
  CHECK(rd.macs == 6464);
  // FP32 weights (32 bit) on uint8 pixels, then float activations: 4,096 x 32 x 8 + (2,048 +
  // 320) x 32 x 32 = 3,473,408.
  CHECK(rd.bops == 3473408);
  CHECK(rd.quantized_weights == 0);
}

TEST_CASE("quantize-climbq inspect: histograms count every weight; ClimbQ bins are equiprobable") {
  for (auto method : {cq::Method::kClimbq, cq::Method::kUniform}) {
    for (int bits : {2, 4}) {
      CAPTURE(bits);
      auto net = cq::build_model<float>(spec_of(cq::Arch::kMlp, method, 28, 28, bits), 3);
      const auto r = cq::inspect_network(net);
      int checked = 0;
      for (const auto& l : r.layers) {
        if (l.histogram.empty()) continue;
        ++checked;
        const int64_t weights = l.name == "00_dense" ? 784 * 256 : 256 * 128;
        CHECK(sum(l.histogram) == weights);
        CHECK(l.levels == static_cast<int64_t>(l.histogram.size()));
        CHECK(l.levels_used <= l.levels);
        if (method == cq::Method::kClimbq) {
          CHECK(l.levels == (int64_t{1} << bits));  // v2023: 2^k levels
          CHECK(std::isfinite(l.mu));
          CHECK(l.sigma > 0);
          // He-normal weights are Gaussian, so with n = 2^k - 1 the interior bins of Phi(z)
          // hold 1/n each and the end bins 1/(2n) (spec 2.2.2); 200,704 / 32,768 draws.
          const double n = static_cast<double>(l.levels - 1);
          for (size_t k = 0; k < l.histogram.size(); ++k) {
            const bool end = k == 0 || k + 1 == l.histogram.size();
            const double want = end ? 0.5 / n : 1.0 / n;
            const double sd = std::sqrt(want * (1 - want) / static_cast<double>(weights));
            CHECK(std::abs(static_cast<double>(l.histogram[k]) / weights - want) <= 4 * sd);
          }
          CHECK(l.levels_used == l.levels);
        } else {
          CHECK(l.levels == 2 * ((int64_t{1} << (bits - 1)) - 1) + 1);  // -Q..Q
          CHECK(l.step > 0);
        }
      }
      CHECK(checked == 2);  // first and second Dense; classifier FP32
    }
  }
}

TEST_CASE("quantize-climbq inspect: saved model gives the same report; HDF5 and JSON outputs") {
  effinfer::test::TempDir dir;
  auto net = cq::build_model<float>(spec_of(cq::Arch::kMlp, cq::Method::kClimbq, 8, 8), 5);
  const std::string path = (dir.path() / "m.h5").string();
  {
    auto f = effinfer::io::H5File::create(path);
    cq::save_model(f, net);
  }
  auto loaded = cq::load_model<float>(path);
  const auto a = cq::inspect_network(net);
  const auto b = cq::inspect_network(loaded);
  REQUIRE(a.layers.size() == b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    CHECK(a.layers[i].histogram == b.layers[i].histogram);
    CHECK(a.layers[i].bytes == b.layers[i].bytes);
  }
  const std::string out = (dir.path() / "inspect.h5").string();
  {
    auto f = effinfer::io::H5File::create(out);
    cq::write_inspect(f, b);
  }
  const auto f = effinfer::io::H5File::open(out);
  CHECK(f.read_int_vector("/results/inspect/macs").size() == b.layers.size());
  CHECK(f.read_int_vector("/results/inspect/total_macs")[0] == 6464);
  CHECK(f.read_int_vector("/results/inspect/histograms/00_dense").size() == 16);
  CHECK(sum(f.read_int_vector("/results/inspect/histograms/00_dense")) == 64 * 64);
  const std::string json = cq::inspect_json(b).dump();
  for (const char* key : {"\"layers\":", "\"macs\":6464", "\"bops\":", "\"size_bytes\":{"})
    CHECK(effinfer::test::contains(json, key));
}

TEST_CASE(
    "quantize-climbq inspect: int model has the same MACs, BOPs and codes; sizes of check 14") {
  auto net = cq::build_model<float>(spec_of(cq::Arch::kMlp, cq::Method::kClimbq, 28, 28), 7);
  const auto f = cq::inspect_network(net);
  CHECK(f.int_bytes == 251322);
  CHECK(f.packed_bytes == 134586);
  const auto r = cq::inspect_int_model(cq::export_int_model<float>(net));
  CHECK(r.content == "int_model");
  CHECK(r.macs == 234752);
  CHECK(r.bops == 7110656);
  CHECK(r.fp32_bytes == 942120);
  CHECK(r.int_bytes == 251322);
  CHECK(r.model_bytes == r.int_bytes);   // the layer bytes add up to spec 2.8.7's int_bytes
  CHECK(r.quantized_weights == 233472);  // check 3, as for the float model
  CHECK(r.quantized_weights_bytes == 116736);
  CHECK(r.quantized_weights_fp32_bytes == 933888);
  // v2023 stores c = (lambda - 1) / 2 = j - 2^(k-1) for code j, so the int8 histogram over
  // [-8, 7] is the float model's code histogram.
  std::vector<std::vector<int64_t>> want, got;
  for (const auto& l : f.layers)
    if (!l.histogram.empty()) want.push_back(l.histogram);
  for (const auto& l : r.layers)
    if (!l.histogram.empty()) got.push_back(l.histogram);
  REQUIRE(got.size() == 2);
  CHECK(got == want);
  CHECK(sum(got[0]) == 784 * 256);
  // An FP32 model has no integer export.
  auto fp = cq::build_model<float>(spec_of(cq::Arch::kMlp, cq::Method::kFp32, 28, 28), 7);
  CHECK(cq::inspect_network(fp).int_bytes == -1);
}
