// gen (spec condconv-bench 2.7, 4) and the layer input HDF5 round trip (section 3, 6).
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <numeric>

#include "core/error.hpp"
#include "gen.hpp"
#include "io/hdf5.hpp"
#include "layer_io.hpp"
#include "test_support.hpp"

namespace cc = effinfer::condconv;

namespace {

double stdev(const std::vector<double>& v) {
  const double m = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size()));
}

cc::GenOptions small(cc::Kind kind) {
  cc::GenOptions o;
  o.shape.kind = kind;
  o.shape.kh = o.shape.kw = 3;
  o.shape.h = o.shape.w = 9;
  o.shape.cin = 16;
  o.shape.cout = 32;
  o.shape.experts = 4;
  o.batch = 5;
  return o;
}

}  // namespace

TEST_CASE("gen: official initialisation statistics (spec 2.7)") {
  cc::GenOptions o = small(cc::Kind::kConv);
  o.shape.expert_bias = true;
  const cc::LayerInput in = cc::generate_layer(o, 7);
  // He-normal with fan_out = kh kw Cout: sd = sqrt(2 / 288) = 0.08333; 18,432 draws.
  CHECK(in.experts.size() == 4u * 9 * 16 * 32);
  CHECK(stdev(in.experts) == doctest::Approx(std::sqrt(2.0 / 288)).epsilon(0.03));
  // Each expert is drawn independently (not copies).
  CHECK(in.experts[0] != in.experts[in.shape.k()]);
  // Glorot-uniform routing kernel: limit sqrt(6 / (Cin + n)) = sqrt(6 / 20); zero bias.
  const double limit = std::sqrt(6.0 / 20);
  double max_abs = 0;
  for (double v : in.routing_kernel) max_abs = std::max(max_abs, std::abs(v));
  CHECK(max_abs <= limit);
  CHECK(max_abs > 0.8 * limit);
  for (double v : in.routing_bias) CHECK(v == 0.0);
  CHECK(stdev(in.expert_bias) == doctest::Approx(0.1).epsilon(0.35));  // 128 draws
  // /routing_weights = sigmoid(GAP(x) R + c), recomputed here in float64 from float32 values.
  for (int64_t b = 0; b < o.batch; ++b)
    for (int64_t i = 0; i < 4; ++i) {
      double z = 0;
      for (int64_t c = 0; c < 16; ++c) {
        double p = 0;
        for (int64_t q = 0; q < 81; ++q) p += static_cast<float>(in.x[(b * 81 + q) * 16 + c]);
        z += p / 81 * static_cast<float>(in.routing_kernel[c * 4 + i]);
      }
      CHECK(in.routing_weights[b * 4 + i] ==
            doctest::Approx(1 / (1 + std::exp(-z))).epsilon(1e-12));
    }
  // Depthwise: fan_out = kh kw, Cout = C.
  const cc::LayerInput dw = cc::generate_layer(small(cc::Kind::kDepthwise), 7);
  CHECK(dw.shape.cout == 16);
  CHECK(stdev(dw.experts) == doctest::Approx(std::sqrt(2.0 / 9)).epsilon(0.1));
}

TEST_CASE("gen: range errors are usage errors") {
  cc::GenOptions o = small(cc::Kind::kConv);
  o.shape.experts = 0;
  CHECK(effinfer::test::contains(
      effinfer::test::error_message<effinfer::UsageError>([&] { cc::generate_layer(o, 1); }),
      "at least one expert"));
  o = small(cc::Kind::kConv);
  o.shape.stride = 0;
  CHECK(effinfer::test::contains(
      effinfer::test::error_message<effinfer::UsageError>([&] { cc::generate_layer(o, 1); }),
      "--stride"));
  o = small(cc::Kind::kConv);
  o.shape.kh = o.shape.kw = 11;
  o.shape.padding = cc::Padding::kValid;
  CHECK(effinfer::test::contains(
      effinfer::test::error_message<effinfer::UsageError>([&] { cc::generate_layer(o, 1); }),
      "empty output"));
}

TEST_CASE("layer input: write then read returns the same layer") {
  const auto dir = std::filesystem::temp_directory_path() / "condconv_layer_io_test";
  std::filesystem::create_directories(dir);
  for (cc::Kind kind : {cc::Kind::kConv, cc::Kind::kDepthwise, cc::Kind::kFc}) {
    for (bool f64 : {false, true}) {
      cc::GenOptions o = small(kind);
      o.shape.stride = 2;
      o.shape.padding = cc::Padding::kValid;
      o.shape.expert_bias = kind != cc::Kind::kDepthwise;
      o.f64 = f64;
      const cc::LayerInput in = cc::generate_layer(o, 3);
      const std::string path =
          (dir / ("l" + std::to_string(static_cast<int>(kind)) + (f64 ? "d" : "f") + ".h5"))
              .string();
      {
        auto f = effinfer::io::H5File::create(path);
        cc::write_layer_input(f, in);
      }
      const cc::LayerInput back = cc::read_layer_input(path, true, true);
      CHECK(back.f64 == f64);
      CHECK(back.batch == in.batch);
      CHECK(back.shape.str() == in.shape.str());
      CHECK(back.shape.expert_bias == in.shape.expert_bias);
      CHECK(back.experts.size() == in.experts.size());
      bool same = true;
      for (size_t i = 0; i < in.experts.size(); ++i)
        same &= back.experts[i] == (f64 ? in.experts[i] : static_cast<float>(in.experts[i]));
      CHECK(same);
      CHECK(back.routing_weights.size() == static_cast<size_t>(in.batch * 4));
    }
  }
  const std::string missing = (dir / "absent.h5").string();
  CHECK(effinfer::test::contains(effinfer::test::error_message<effinfer::InputError>(
                                     [&] { cc::read_layer_input(missing, true, false); }),
                                 "cannot open"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("gen --input camera: crops standardised over the whole tensor") {
  cc::GenOptions o = small(cc::Kind::kConv);
  o.input = "camera";
  if (!std::filesystem::exists(o.camera_path)) {
    MESSAGE("SKIPPED: " << o.camera_path << " absent (install python3-skimage)");
    return;
  }
  const cc::LayerInput in = cc::generate_layer(o, 11);
  const double mean = std::accumulate(in.x.begin(), in.x.end(), 0.0) / in.x.size();
  CHECK(std::abs(mean) < 1e-9);
  CHECK(stdev(in.x) == doctest::Approx(1.0).epsilon(1e-9));
  // Different planes come from different offsets.
  CHECK(in.x[0] != in.x[1]);
}
