// Networks of quantize-climbq (spec 2.6), check 3 (MACs, weight bytes, BOPs) and the `model`
// checkpoint of spec 3.5 (round trips, malformed files).
#include <doctest/doctest.h>
#include <hdf5.h>

#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/hdf5.hpp"
#include "model.hpp"
#include "nn/gradcheck.hpp"
#include "test_support.hpp"

namespace cq = effinfer::climbq;
namespace nn = effinfer::nn;

namespace {

template <class T>
nn::Tensor<T> random_input(const nn::Shape& s, uint64_t seed) {
  effinfer::Rng rng(seed, 7);
  nn::Tensor<T> t(s);
  for (int64_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(rng.normal());
  return t;
}

cq::ModelSpec spec_of(cq::Arch arch, cq::Method method, int64_t h, int64_t w) {
  cq::ModelSpec s;
  s.arch = arch;
  s.method = method;
  s.height = h, s.width = w, s.channels = 1;
  s.classes = 10;
  return s;
}

std::vector<std::string> names_of(cq::Network<float>& net) {
  std::vector<std::string> v;
  for (size_t i = 0; i < net.seq().size(); ++i) v.push_back(net.seq().layer_name(i));
  return v;
}

}  // namespace

TEST_CASE("quantize-climbq check 3: MACs, quantized weight bytes, BOPs") {
  // 784*256 + 256*128 + 128*10 = 234,752 (spec 2.6).
  CHECK(cq::model_cost(spec_of(cq::Arch::kMlp, cq::Method::kFp32, 28, 28)).macs == 234752);
  // 24*24*16*25 + 8*8*32*400 + 512*10 = 1,054,720.
  CHECK(cq::model_cost(spec_of(cq::Arch::kCnn, cq::Method::kFp32, 28, 28)).macs == 1054720);
  // digits 8x8x1: 64*64 + 64*32 + 32*10 = 6,464.
  CHECK(cq::model_cost(spec_of(cq::Arch::kMlp, cq::Method::kFp32, 8, 8)).macs == 6464);

  const auto c = cq::model_cost(spec_of(cq::Arch::kMlp, cq::Method::kClimbq, 28, 28));
  CHECK(c.quantized_weights == 233472);             // 200,704 + 32,768
  CHECK(c.quantized_weight_bytes == 116736);        // 4 bit
  CHECK(c.quantized_weights_fp32_bytes == 933888);  // 4 B each
  // BOPs = sum MAC_l b_w b_in: 200,704*4*8 (uint8 pixels) + 32,768*4*4 + 1,280*32*4 (FP32
  // classifier on 4-bit activations) = 6,422,528 + 524,288 + 163,840 = 7,110,656.
  CHECK(c.bops == 7110656);
  REQUIRE(c.layers.size() == 3);
  CHECK(c.layers[0].bits_in == 8);
  CHECK(c.layers[2].bits_w == 32);
  CHECK(c.layers[2].bits_in == 4);
  // Uniform: same quantized layers and activations, same count.
  CHECK(cq::model_cost(spec_of(cq::Arch::kMlp, cq::Method::kUniform, 28, 28)).bops == 7110656);
  // Float input: the first layer reads 32-bit values.
  CHECK(cq::model_cost(spec_of(cq::Arch::kMlp, cq::Method::kClimbq, 28, 28), false).bops ==
        7110656 + 200704 * 4 * 24);
}

TEST_CASE("quantize-climbq model: builder layers and shapes") {
  SUBCASE("mlp climbq: Aq before ReLU, auto hidden [256,128]") {
    auto net = cq::build_model<float>(spec_of(cq::Arch::kMlp, cq::Method::kClimbq, 28, 28), 3);
    CHECK(names_of(net) == std::vector<std::string>{"00_dense", "01_batchnorm", "02_actq",
                                                    "03_relu", "04_dense", "05_batchnorm",
                                                    "06_actq", "07_relu", "08_dense"});
    CHECK(net.spec().hidden == std::vector<int64_t>{256, 128});
    CHECK(net.weight_quantizers().size() == 2);  // classifier stays FP32
    CHECK(net.act_quantizers().size() == 2);
    CHECK(net.feature_tap() == 7);
    nn::Pass pass;
    const auto& y = net.forward(random_input<float>(net.input_shape(3), 1), pass);
    CHECK(y.shape() == nn::Shape{3, 10});
    CHECK(net.features().shape() == nn::Shape{3, 128});
  }
  SUBCASE("mlp uniform: Aq after ReLU; digits hidden [64,32]; last_layer") {
    auto s = spec_of(cq::Arch::kMlp, cq::Method::kUniform, 8, 8);
    s.last_layer = true;
    s.first_layer = false;
    auto net = cq::build_model<float>(s, 3);
    CHECK(names_of(net) == std::vector<std::string>{"00_dense", "01_batchnorm", "02_relu",
                                                    "03_actq", "04_dense", "05_batchnorm",
                                                    "06_relu", "07_actq", "08_dense"});
    CHECK(net.spec().hidden == std::vector<int64_t>{64, 32});
    REQUIRE(net.weight_quantizers().size() == 2);
    CHECK(net.weight_quantizers()[0].layer == 4);
    CHECK(net.weight_quantizers()[1].layer == 8);
  }
  SUBCASE("cnn") {
    auto net = cq::build_model<float>(spec_of(cq::Arch::kCnn, cq::Method::kLsq, 28, 28), 3);
    CHECK(names_of(net) == std::vector<std::string>{"00_conv2d", "01_batchnorm", "02_relu",
                                                    "03_actq", "04_maxpool2d", "05_conv2d",
                                                    "06_batchnorm", "07_relu", "08_actq",
                                                    "09_maxpool2d", "10_flatten", "11_dense"});
    nn::Pass pass;
    pass.training = true;
    const auto& y = net.forward(random_input<float>(net.input_shape(2), 1), pass);
    CHECK(y.shape() == nn::Shape{2, 10});
    CHECK(net.features().shape() == nn::Shape{2, 512});
    CHECK(effinfer::test::contains(effinfer::test::error_message<effinfer::ConfigError>([] {
                                     cq::build_model<float>(
                                         spec_of(cq::Arch::kCnn, cq::Method::kFp32, 8, 8), 0);
                                   }),
                                   "16"));
  }
  SUBCASE("init is seeded") {
    auto s = spec_of(cq::Arch::kMlp, cq::Method::kFp32, 8, 8);
    auto a = cq::build_model<float>(s, 5), b = cq::build_model<float>(s, 5),
         c = cq::build_model<float>(s, 6);
    auto& wa = dynamic_cast<nn::Dense<float>&>(a.seq().layer(0)).weight();
    auto& wb = dynamic_cast<nn::Dense<float>&>(b.seq().layer(0)).weight();
    auto& wc = dynamic_cast<nn::Dense<float>&>(c.seq().layer(0)).weight();
    CHECK(wa.vec() == wb.vec());
    CHECK(wa.vec() != wc.vec());
    // He-normal: variance 2/fan_in = 2/64 over 4096 draws (std error of the variance ~2.2 %).
    const double var = wa.vec().cast<double>().squaredNorm() / static_cast<double>(wa.size());
    CHECK(var == doctest::Approx(2.0 / 64).epsilon(0.1));
  }
}

TEST_CASE("quantize-climbq model: gradients through the Network") {
  SUBCASE("fp32 mlp in double: central differences") {
    auto s = spec_of(cq::Arch::kMlp, cq::Method::kFp32, 3, 3);
    s.hidden = {5, 4};
    s.classes = 3;
    auto net = cq::build_model<double>(s, 1);
    nn::Pass pass;
    pass.training = true;
    const auto r = nn::grad_check(net.seq(), random_input<double>(net.input_shape(6), 2), pass);
    CHECK(r.checked > 0);
    CHECK(r.max_rel_error < 1e-6);
  }
  SUBCASE("climbq mlp: feature tap feeds the classifier, backward gives finite gradients") {
    auto s = spec_of(cq::Arch::kMlp, cq::Method::kClimbq, 4, 4);
    s.hidden = {8, 6};
    s.classes = 3;
    auto net = cq::build_model<double>(s, 1);
    std::vector<int> labels{0, 0, 1, 2, 0, 1};
    nn::Pass pass;
    pass.training = true;
    pass.labels = &labels;
    const auto x = random_input<double>(net.input_shape(6), 3);
    const nn::Tensor<double> logits = net.forward(x, pass);
    auto& cls = dynamic_cast<nn::Dense<double>&>(net.seq().layer(net.seq().size() - 1));
    Eigen::MatrixXd expect = net.features().matrix() * cls.weight().matrix().transpose();
    expect.rowwise() += cls.bias()->vec().transpose();
    CHECK((expect - logits.matrix()).cwiseAbs().maxCoeff() < 1e-12);
    net.zero_grad();
    nn::Tensor<double> dy(logits.shape());
    dy.fill(1.0);
    net.backward(dy, pass);
    double g0 = 0;
    for (auto& p : net.params()) {
      CHECK(p.grad->vec().allFinite());
      if (p.name == "00_dense/W") g0 = p.grad->vec().norm();
    }
    CHECK(g0 > 0);  // the gradient reaches the first (quantized) layer through the STE
  }
}

namespace {

// Trains one step so BN running stats move, then compares eval outputs after a round trip.
void round_trip(cq::ModelSpec s, const std::string& file) {
  auto net = cq::build_model<float>(s, 11);
  std::vector<int> labels{0, 1, 2, 3, 0, 1, 0, 0};
  nn::Pass train;
  train.training = true;
  train.labels = &labels;
  const auto x = random_input<float>(net.input_shape(8), 4);
  net.forward(x, train);
  nn::Pass eval;
  const nn::Tensor<float> before = net.forward(x, eval);
  {
    auto f = effinfer::io::H5File::create(file);
    cq::save_model(f, net);
  }
  auto back = cq::load_model<float>(file);
  CHECK(names_of(back) == names_of(net));
  CHECK(back.spec().hidden == net.spec().hidden);
  CHECK(back.spec().method == net.spec().method);
  CHECK(back.spec().class_counts == net.spec().class_counts);
  const nn::Tensor<float> after = back.forward(x, eval);
  REQUIRE(after.shape() == before.shape());
  CHECK(after.vec() == before.vec());
}

}  // namespace

TEST_CASE("quantize-climbq model: checkpoint round trips (spec 3.5)") {
  effinfer::io::silence_hdf5_errors();
  effinfer::test::TempDir dir;
  auto s = spec_of(cq::Arch::kMlp, cq::Method::kFp32, 4, 4);
  s.class_counts = {5, 4, 3, 2, 1, 1, 1, 1, 1, 1};
  SUBCASE("fp32 mlp") { round_trip(s, dir.file("fp32.h5")); }
  SUBCASE("climbq W4A4 mlp, codes index levels") {
    s.method = cq::Method::kClimbq;
    s.mode = "qat";
    s.loss = "homovar";
    round_trip(s, dir.file("climbq.h5"));
    const auto f = effinfer::io::H5File::open(dir.file("climbq.h5"));
    const std::string p = "/model/layers/00_dense";
    CHECK(f.read_attribute_string(p, "wq_method") == "climbq");
    CHECK(f.info(p + "/W_codes").element == effinfer::io::ElementClass::kInteger);
    CHECK(f.info(p + "/W_codes").element_size == 1);
    CHECK(f.info(p + "/W").describe() == "float32 (64, 16)");
    CHECK(f.info(p + "/levels").element_size == 4);
    const auto levels = f.read_vector(p + "/levels");
    REQUIRE(levels.size() == 16);  // (2j - 15)/15
    CHECK(levels[0] == doctest::Approx(-1.0));
    CHECK(levels[15] == doctest::Approx(1.0));
    CHECK(f.read_attribute_string("/model/layers/02_actq", "method") == "climbq");
    CHECK(f.read_attribute_double("/model/layers/02_actq", "sigma_test") == 2.0);
    // levels[W_codes] is the climbq value of (W - mu)/sigma.
    const auto w = f.read_matrix(p + "/W");
    const auto codes = f.read_matrix(p + "/W_codes");
    const double mu = f.read_attribute_double(p, "mu"), sigma = f.read_attribute_double(p, "sigma");
    const double n = 15;
    int bad = 0;
    for (Eigen::Index i = 0; i < w.size(); ++i) {
      const double z = (w.data()[i] - mu) / sigma;
      const double phi = 0.5 * std::erfc(-z / std::sqrt(2.0));
      const double expect = 2 * std::nearbyint(n * phi) / n - 1;
      if (std::fabs(levels[static_cast<Eigen::Index>(codes.data()[i])] - expect) > 1e-6) ++bad;
    }
    CHECK(bad == 0);
  }
  SUBCASE("uniform cnn with calibrated clips, lsq mlp with steps") {
    auto c = spec_of(cq::Arch::kCnn, cq::Method::kUniform, 16, 16);
    c.class_counts = s.class_counts;
    round_trip(c, dir.file("uniform.h5"));
    s.method = cq::Method::kLsq;
    s.bits_w = 3;
    s.bits_a = 2;
    round_trip(s, dir.file("lsq.h5"));
  }
}

TEST_CASE("quantize-climbq model: malformed checkpoints give DataError naming file:dataset") {
  effinfer::io::silence_hdf5_errors();
  effinfer::test::TempDir dir;
  auto s = spec_of(cq::Arch::kMlp, cq::Method::kClimbq, 4, 4);
  s.class_counts.assign(10, 1);
  auto net = cq::build_model<float>(s, 1);
  const std::string path = dir.file("m.h5");
  {
    auto f = effinfer::io::H5File::create(path);
    cq::save_model(f, net);
    H5Ldelete(f.id(), "/model/layers/01_batchnorm/gamma", H5P_DEFAULT);
  }
  const std::string msg =
      effinfer::test::error_message<effinfer::DataError>([&] { cq::load_model<float>(path); });
  CHECK(effinfer::test::contains(msg, path + ":/model/layers/01_batchnorm/gamma"));

  const std::string empty = dir.file("empty.h5");
  effinfer::io::H5File::create(empty).close();
  CHECK(effinfer::test::contains(
      effinfer::test::error_message<effinfer::DataError>([&] { cq::load_model<float>(empty); }),
      empty + ":/model"));
}
