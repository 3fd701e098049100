// Spec quantize-climbq 2.8: the integer export and engine. Check 11 (toy export goldens and 10^5
// random inputs against the float64 fake-quant model), check 13 (agreement of PTQ / QAT models
// with the fake-quant float32 model), check 14 (sizes), check 15 (refusals), the int_model file
// round trip, and identical codes across kernels and thread counts.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/blas.hpp"
#include "core/error.hpp"
#include "int_engine.hpp"
#include "int_export.hpp"
#include "int_gemm.hpp"
#include "io/hdf5.hpp"
#include "lt_dataset.hpp"
#include "model.hpp"
#include "nn/conv2d.hpp"
#include "ptq.hpp"
#include "qat.hpp"
#include "test_support.hpp"
#include "trainer.hpp"

namespace cq = effinfer::climbq;
namespace nn = effinfer::nn;

namespace {

// The toy network of check 11: 2x2x1 uint8 input, Dense(4 -> 2, no bias) -> BN -> Aq -> ReLU ->
// Dense(2 -> 2) classifier; climbq v2023, 4 bits, A 2, sigma 2.
template <class T>
cq::Network<T> toy_network() {
  cq::ModelSpec s;
  s.arch = cq::Arch::kMlp;
  s.height = 2, s.width = 2, s.channels = 1;
  s.classes = 2;
  s.hidden = {2};
  s.method = cq::Method::kClimbq;
  s.bits_w = 4, s.bits_a = 4;
  s.pixel_scale = 1.0 / 255.0;
  s.norm_mean = 0.2860;
  s.norm_std = 0.3530;
  cq::Network<T> net = cq::build_model<T>(s, 0);
  auto& d = dynamic_cast<nn::Dense<T>&>(net.seq().layer(0));
  const double w[8] = {0.2, -0.3, 0.05, 0.1, -0.1, 0.05, 0.4, -0.25};
  for (int i = 0; i < 8; ++i) d.weight()[i] = static_cast<T>(w[i]);
  auto& bn = dynamic_cast<nn::BatchNorm<T>&>(net.seq().layer(1));
  const double g[2] = {1.5, -0.5}, b[2] = {0.1, 0.2}, m[2] = {0.3, -0.2}, v[2] = {4.0, 2.25};
  for (int i = 0; i < 2; ++i) {
    bn.gamma()[i] = static_cast<T>(g[i]);
    bn.beta()[i] = static_cast<T>(b[i]);
    bn.running_mean()[i] = static_cast<T>(m[i]);
    bn.running_var()[i] = static_cast<T>(v[i]);
  }
  return net;
}

// Normalised input of the fake-quant model, as the trainer's loader forms it.
template <class T>
nn::Tensor<T> normalised(const std::vector<uint8_t>& px, int64_t n, int64_t h, int64_t w, int64_t c,
                         const nn::Normalization& norm) {
  nn::Tensor<T> x(nn::Shape{n, h, w, c});
  for (int64_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(norm.apply(px[i]));
  return x;
}

cq::ModelSpec spec_mlp(cq::Method m, int bits_w, int bits_a, int64_t h = 28, int64_t w = 28) {
  cq::ModelSpec s;
  s.arch = cq::Arch::kMlp;
  s.method = m;
  s.bits_w = bits_w, s.bits_a = bits_a;
  s.height = h, s.width = w, s.channels = 1;
  s.classes = 10;
  return s;
}

void calibrate_uniform(cq::Network<float>& net, double clip) {
  for (auto& a : net.act_quantizers())
    if (auto* u = dynamic_cast<cq::UniformActivation<float>*>(a.quantizer)) u->set_clip(clip);
}

template <class F>
int exit_code_of(F&& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const effinfer::Error& e) {
    if (message) *message = e.what();
    return e.exit_code();
  }
  return 0;
}

}  // namespace

TEST_CASE("climbq int export: check 11, toy export goldens") {
  cq::Network<double> net = toy_network<double>();
  const cq::IntModel im = cq::export_int_model(net);
  REQUIRE(im.layers.size() == 2);
  const cq::IntLayer& L = im.layers[0];
  CHECK(L.name == "00_qdense");
  CHECK(L.source == "/model/layers/00_dense");
  // Weight codes j after the export's quantizer forward.
  auto* wq = dynamic_cast<cq::ClimbqWeight<double>*>(net.weight_quantizers()[0].quantizer);
  REQUIRE(wq);
  CHECK(wq->codes() == std::vector<int32_t>{12, 1, 8, 10, 5, 8, 14, 2});
  CHECK(L.wq == std::vector<int8_t>{4, -7, 0, 2, -3, 0, 6, -6});
  CHECK(L.m == 2);
  CHECK(L.o == 1);
  CHECK(L.sign == std::vector<int8_t>{1, -1});
  CHECK(L.levels == 8);
  CHECK(L.thr == std::vector<int32_t>{371, 976, 1598, 2260, 2992, 3855, 4986, 6975, -394, 966, 2366,
                                      3855, 5503, 7444, 9989, 14463});
  CHECK(L.lut == std::vector<uint8_t>{0, 1, 3, 5, 7, 9, 11, 13, 15});
  CHECK(L.out_unit == doctest::Approx(2.0 / 15.0).epsilon(1e-15));

  // Accumulators through every kernel, codes through the engine.
  const std::vector<uint8_t> px{0, 0, 0, 0, 255, 255, 255, 255, 10, 200, 30, 90, 128, 64, 250, 3};
  const cq::PackedWeights pw = cq::pack_weights(L.wq.data(), 2, 4, L.m, L.o);
  std::vector<int32_t> acc(8);
  cq::int_gemm(pw, px.data(), 4, 4, acc.data(), 2, cq::GemmImpl::kPortable, 1);
  CHECK(acc == std::vector<int32_t>{0, 0, 510, -510, -2030, -450, 585, 2641});
  for (auto kernel : {cq::IntKernel::kAuto, cq::IntKernel::kPortable}) {
    cq::IntEngine eng(im, kernel, 1);
    std::vector<float> logits(8);
    cq::IntCodes codes;
    eng.forward(px.data(), 4, logits.data(), &codes);
    REQUIRE(codes.layers.size() == 1);
    CHECK(codes.layers[0] == std::vector<uint8_t>{0, 1, 1, 1, 0, 1, 1, 0});
  }
}

TEST_CASE("climbq int export: check 11, 10^5 random inputs equal the float64 fake-quant codes") {
  cq::Network<double> net = toy_network<double>();
  const cq::IntModel im = cq::export_int_model(net);
  cq::IntEngine eng(im, cq::IntKernel::kAuto, 1, 4096);
  const int64_t n = 100000;
  std::mt19937 gen(11);
  std::uniform_int_distribution<int> d(0, 255);
  std::vector<uint8_t> px(static_cast<size_t>(n * 4));
  for (auto& p : px) p = static_cast<uint8_t>(d(gen));
  std::vector<float> logits(static_cast<size_t>(n * 2));
  cq::IntCodes codes;
  eng.forward(px.data(), n, logits.data(), &codes);
  const nn::Normalization norm{1.0 / 255.0, 0.2860, 0.3530};
  nn::Pass pass;
  net.forward(normalised<double>(px, n, 2, 2, 1, norm), pass);
  const nn::Tensor<double>& relu = net.seq().tap(3);  // Aq -> ReLU output, A (2j - n)/n or 0
  int64_t differ = 0;
  int64_t histogram[16] = {};
  for (int64_t i = 0; i < n * 2; ++i) {
    const double q = std::nearbyint(relu[i] * 15.0 / 2.0);
    differ += q != codes.layers[0][static_cast<size_t>(i)];
    ++histogram[codes.layers[0][static_cast<size_t>(i)]];
  }
  CHECK(differ == 0);
  // The inputs reach several levels (a test that only ever sees code 0 would prove little).
  int used = 0;
  for (int64_t h : histogram) used += h > 0;
  CHECK(used >= 4);
}

TEST_CASE("climbq int export: check 14, sizes") {
  {
    cq::Network<float> net = cq::build_model<float>(spec_mlp(cq::Method::kClimbq, 4, 4), 0);
    const cq::IntSizes s = cq::int_model_sizes(cq::export_int_model(net));
    CHECK(s.fp32_bytes == 942120);
    // 233,472 Wq + 12,288 thr + 384 sign + 18 lut + 5,160 classifier.
    CHECK(s.int_bytes == 251322);
    CHECK(s.packed_bytes == 134586);
  }
  {
    cq::ModelSpec sp = spec_mlp(cq::Method::kClimbq, 4, 4);
    sp.arch = cq::Arch::kCnn;
    cq::Network<float> net = cq::build_model<float>(sp, 0);
    const cq::IntSizes s = cq::int_model_sizes(cq::export_int_model(net));
    CHECK(s.fp32_bytes == 73704);
    CHECK(s.int_bytes == 35322);
    CHECK(s.packed_bytes == 28722);
  }
  {
    cq::Network<float> net = cq::build_model<float>(spec_mlp(cq::Method::kUniform, 4, 4), 0);
    calibrate_uniform(net, 3.0);
    const cq::IntModel im = cq::export_int_model(net);
    CHECK(im.layers[0].levels == 15);
    CHECK(cq::int_model_sizes(im).int_bytes == 262088);
  }
}

TEST_CASE("climbq int export: check 15, refusals (65)") {
  std::string msg;
  {  // FP32 model
    cq::Network<float> net = cq::build_model<float>(spec_mlp(cq::Method::kFp32, 4, 4, 8, 8), 0);
    CHECK(exit_code_of([&] { cq::export_int_model(net); }, &msg) == 65);
    CHECK(msg.find("/model/layers/00_dense") != std::string::npos);
    CHECK(msg.find("FP32") != std::string::npos);
  }
  {  // v2022 at 8 weight bits: lambda in [-255, 255] does not fit int8
    cq::ModelSpec sp = spec_mlp(cq::Method::kClimbq, 8, 4, 8, 8);
    sp.climbq.variant = cq::LevelsVariant::kV2022;
    cq::Network<float> net = cq::build_model<float>(sp, 0);
    CHECK(exit_code_of([&] { cq::export_int_model(net); }, &msg) == 65);
    CHECK(msg.find("/model/layers/00_dense") != std::string::npos);
    CHECK(msg.find("outside int8 [-128, 127]") != std::string::npos);
  }
  {  // v2022 at 8 activation bits: q up to round(255 A) = 510 > 255
    cq::ModelSpec sp = spec_mlp(cq::Method::kClimbq, 4, 8, 8, 8);
    sp.climbq.variant = cq::LevelsVariant::kV2022;
    cq::Network<float> net = cq::build_model<float>(sp, 0);
    CHECK(exit_code_of([&] { cq::export_int_model(net); }, &msg) == 65);
    CHECK(msg.find("/model/layers/02_actq") != std::string::npos);
    CHECK(msg.find("> 255") != std::string::npos);
  }
  {  // int32 overflow: K 258*258 = 66,564, max|lambda| 127 (uniform 8 bit), q 255:
     // 66,564 x 127 x 255 = 2,155,684,500 >= 2^31; one row less (257 x 258 = 66,306) fits.
    cq::ModelSpec sp = spec_mlp(cq::Method::kUniform, 8, 8, 258, 258);
    sp.hidden = {2, 2};
    cq::Network<float> net = cq::build_model<float>(sp, 0);
    calibrate_uniform(net, 2.0);
    CHECK(exit_code_of([&] { cq::export_int_model(net); }, &msg) == 65);
    CHECK(msg.find("/model/layers/00_dense") != std::string::npos);
    CHECK(msg.find("66564 x 127 x 255 >= 2^31") != std::string::npos);
    cq::ModelSpec fits = sp;
    fits.height = 257;
    cq::Network<float> net2 = cq::build_model<float>(fits, 0);
    calibrate_uniform(net2, 2.0);
    CHECK(exit_code_of([&] { cq::export_int_model(net2); }) == 0);
  }
  {  // unsupported layer order: Dense -> ReLU -> classifier
    cq::ModelSpec sp = spec_mlp(cq::Method::kClimbq, 4, 4, 2, 2);
    auto seq = std::make_unique<nn::Sequential<float>>();
    auto d = std::make_unique<nn::Dense<float>>(4, 3, false);
    effinfer::Rng rng(0, 1);
    d->init(rng);
    cq::ClimbqOptions o;
    d->set_transform(std::make_shared<cq::ClimbqWeight<float>>(o));
    seq->add_layer(std::move(d), "00_dense");
    seq->add_layer(std::make_unique<nn::ReLU<float>>(), "01_relu");
    auto cls = std::make_unique<nn::Dense<float>>(3, 10, true);
    cls->init(rng);
    seq->add_layer(std::move(cls), "02_dense");
    cq::Network<float> net(sp, std::move(seq));
    CHECK(exit_code_of([&] { cq::export_int_model(net); }, &msg) == 65);
    CHECK(msg.find("/model/layers/01_relu: unsupported layer order: expected batchnorm") !=
          std::string::npos);
  }
  {  // constant weights
    cq::Network<float> net = cq::build_model<float>(spec_mlp(cq::Method::kClimbq, 4, 4, 8, 8), 0);
    auto& d = dynamic_cast<nn::Dense<float>&>(net.seq().layer(4));
    d.weight().fill(0.5f);
    CHECK(exit_code_of([&] { cq::export_int_model(net); }, &msg) == 65);
    CHECK(msg.find("/model/layers/04_dense: constant weights") != std::string::npos);
  }
}

TEST_CASE("climbq int export: int_model file round trip and bad content") {
  cq::ModelSpec sp = spec_mlp(cq::Method::kClimbq, 4, 4, 16, 16);
  sp.arch = cq::Arch::kCnn;
  cq::Network<float> net = cq::build_model<float>(sp, 3);
  const cq::IntModel im = cq::export_int_model(net);
  const auto dir = std::filesystem::temp_directory_path() / "effinfer_int_export_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "int.h5").string();
  {
    effinfer::io::H5File f = effinfer::io::H5File::create(path);
    f.set_attribute("/", "effinfer_schema", "quantize-climbq/1");
    f.set_attribute("/", "content", "int_model");
    cq::save_int_model(f, im);
    cq::write_int_sizes(f, cq::int_model_sizes(im));
  }
  const cq::IntModel back = cq::load_int_model(path);
  REQUIRE(back.layers.size() == im.layers.size());
  for (size_t i = 0; i < im.layers.size(); ++i) {
    CHECK(back.layers[i].name == im.layers[i].name);
    CHECK(back.layers[i].wq == im.layers[i].wq);
    CHECK(back.layers[i].thr == im.layers[i].thr);
    CHECK(back.layers[i].sign == im.layers[i].sign);
    CHECK(back.layers[i].lut == im.layers[i].lut);
    CHECK(back.layers[i].w == im.layers[i].w);
    CHECK(back.layers[i].b == im.layers[i].b);
    CHECK(back.layers[i].out_unit == im.layers[i].out_unit);
  }
  // Same logits from the original and the reloaded model.
  std::mt19937 gen(5);
  std::uniform_int_distribution<int> d(0, 255);
  std::vector<uint8_t> px(16 * 256);
  for (auto& p : px) p = static_cast<uint8_t>(d(gen));
  std::vector<float> a(160), b(160);
  cq::IntEngine e1(im), e2(back);
  e1.forward(px.data(), 16, a.data());
  e2.forward(px.data(), 16, b.data());
  CHECK(a == b);
  {
    effinfer::io::H5File f = effinfer::io::H5File::create(path);
    f.set_attribute("/", "content", "model");
    cq::save_int_model(f, im);
  }
  std::string msg;
  CHECK(exit_code_of([&] { cq::load_int_model(path); }, &msg) == 65);
  CHECK(msg.find(path + ":/: attribute 'content': expected int_model") != std::string::npos);
  {
    effinfer::io::H5File f = effinfer::io::H5File::create(path);
    f.set_attribute("/", "content", "int_model");
    cq::IntModel broken = im;
    broken.layers[0].thr[1] = broken.layers[0].thr[0] - 1;  // row 0 decreasing
    cq::save_int_model(f, broken);
  }
  CHECK(exit_code_of([&] { cq::load_int_model(path); }, &msg) == 65);
  CHECK(msg.find("/int_model/layers/00_qconv2d/thr: row 0 is not non-decreasing") !=
        std::string::npos);
  std::filesystem::remove_all(dir);
}

namespace {

// FP32 mlp trained briefly on the synthetic set (8x8x1), the test split as verification data.
struct SynthFixture {
  cq::Dataset data;
  cq::Network<float> fp32;
  SynthFixture()
      : data([] {
          cq::DataOptions o;
          o.source = "synth";
          return cq::build_dataset(o, 0);
        }()),
        fp32(make(data)) {}
  static cq::Network<float> make(const cq::Dataset& d) {
    cq::ModelSpec s;
    s.height = d.height, s.width = d.width, s.channels = d.channels;
    s.classes = d.classes;
    s.pixel_scale = d.pixel_scale, s.norm_mean = d.norm_mean, s.norm_std = d.norm_std;
    s.class_counts = d.class_counts;
    cq::Network<float> net = cq::build_model<float>(s, 0);
    std::vector<double> counts(d.class_counts.begin(), d.class_counts.end());
    const cq::ClassificationLoss ce(cq::LossKind::kCe, counts);
    cq::TrainOptions t;
    t.epochs = 3;
    cq::train_epochs(net.seq(), net.feature_tap(), cq::train_view(d), ce, t, 0, 1);
    return net;
  }
};

void check_agreement(cq::Network<float>& q, const cq::Dataset& data, const std::string& what) {
  const cq::IntModel im = cq::export_int_model(q);
  cq::IntEngine eng(im, cq::IntKernel::kAuto, 1);
  const cq::VerifyReport r = cq::verify_int_model(eng, q, cq::test_view(data));
  std::string codes;
  for (double a : r.code_agreement) codes += std::to_string(a) + " ";
  MESSAGE(what << ": n " << r.n << ", labels " << r.label_agreement << ", codes " << codes
               << ", within tau " << r.within_tau << ", max excess " << r.max_excess << ", kernel "
               << eng.kernel_name());
  INFO(what);
  CHECK(r.n == static_cast<int64_t>(data.test.y.size()));
  CHECK(r.label_agreement >= 0.999);
  CHECK(r.codes_min >= 0.9999);
  CHECK(r.within_tau == 1.0);
  CHECK(r.max_excess <= 0.0);
  CHECK(r.pass);
  // The int model's own accuracy agrees with the fake-quant model's evaluation.
  const std::vector<int> pi = cq::int_predict(eng, cq::test_view(data));
  const std::vector<int> pf = cq::evaluate(q.seq(), cq::test_view(data), 500, 1);
  int64_t same = 0;
  for (size_t i = 0; i < pi.size(); ++i) same += pi[i] == pf[i];
  CHECK(static_cast<double>(same) >= 0.999 * static_cast<double>(pi.size()));
}

}  // namespace

TEST_CASE("climbq int export: check 13, agreement of PTQ / QAT mlp models on synth") {
  effinfer::set_blas_threads(1);
  cq::PtqOptions po;
  po.calib_batches = 8;
  SynthFixture fx;
  for (int bits : {2, 4, 8}) {
    cq::Network<float> q = cq::ptq(fx.fp32, cq::Method::kClimbq, bits, bits, fx.data, po, 0, 1);
    CHECK(q.spec().climbq.variant == cq::LevelsVariant::kV2023);
    check_agreement(q, fx.data, "climbq v2023 ptq W" + std::to_string(bits));
    cq::Network<float> u = cq::ptq(fx.fp32, cq::Method::kUniform, bits, bits, fx.data, po, 0, 1);
    check_agreement(u, fx.data, "uniform ptq W" + std::to_string(bits));
  }
  for (int bits : {2, 4, 8}) {
    cq::QatOptions qo;
    qo.train.epochs = 1;
    qo.train.lr = 0.01;
    qo.loss = cq::LossKind::kCe;
    cq::QatResult r = cq::qat(fx.fp32, cq::Method::kLsq, bits, bits, fx.data, qo, 0, 1);
    check_agreement(r.net, fx.data, "lsq qat W" + std::to_string(bits));
  }
  {
    cq::QatOptions qo;
    qo.train.epochs = 1;
    qo.train.lr = 0.01;
    cq::QatResult r = cq::qat(fx.fp32, cq::Method::kClimbq, 4, 4, fx.data, qo, 0, 1);
    check_agreement(r.net, fx.data, "climbq qat homovar W4");
  }
  cq::PtqOptions po22 = po;
  po22.quant.climbq.variant = cq::LevelsVariant::kV2022;
  for (int bits : {2, 4}) {
    cq::Network<float> q = cq::ptq(fx.fp32, cq::Method::kClimbq, bits, bits, fx.data, po22, 0, 1);
    REQUIRE(q.spec().climbq.variant == cq::LevelsVariant::kV2022);
    const cq::IntModel im = cq::export_int_model(q);
    CHECK(im.levels_variant == "v2022");
    CHECK(im.layers[0].m == 1);  // lambda in [-n, n], even values present
    // v2022 post-ReLU codes 0..round(n A): 2n + 1 levels after ReLU, L = round(n A) thresholds.
    CHECK(im.layers[0].levels == ((1 << bits) - 1) * 2);
    check_agreement(q, fx.data, "climbq v2022 ptq W" + std::to_string(bits));
  }
}

TEST_CASE("climbq int export: one-bit sign (climbq.one_bit: sign)") {
  effinfer::set_blas_threads(1);
  cq::PtqOptions po;
  po.calib_batches = 8;
  po.quant.climbq.one_bit = cq::OneBit::kSign;
  SynthFixture fx;
  cq::Network<float> q = cq::ptq(fx.fp32, cq::Method::kClimbq, 1, 1, fx.data, po, 0, 1);
  const cq::IntModel im = cq::export_int_model(q);
  CHECK(im.layers[0].levels == 1);
  CHECK(im.layers[0].lut == std::vector<uint8_t>{0, 1});
  check_agreement(q, fx.data, "climbq one-bit sign ptq");
}

TEST_CASE("climbq int export: float first layer (quant.first_layer off), quantized classifier") {
  effinfer::set_blas_threads(1);
  cq::PtqOptions po;
  po.calib_batches = 8;
  po.quant.first_layer = false;
  po.quant.last_layer = true;
  SynthFixture fx;
  for (auto [m, bits] : {std::pair{cq::Method::kClimbq, 4}, std::pair{cq::Method::kUniform, 4},
                         std::pair{cq::Method::kUniform, 8}}) {
    cq::Network<float> q = cq::ptq(fx.fp32, m, bits, bits, fx.data, po, 0, 1);
    REQUIRE(!q.spec().first_layer);
    REQUIRE(q.spec().last_layer);
    const cq::IntModel im = cq::export_int_model(q);
    CHECK(im.first_layer == "float");
    CHECK(im.layers.front().float_input);
    CHECK(im.layers.front().name == "00_fdense");
    CHECK(im.layers.back().quantized);
    check_agreement(
        q, fx.data,
        "float first layer, int classifier, " + cq::method_name(m) + " W" + std::to_string(bits));
    // File round trip of the float first layer and the integer classifier: same logits.
    const auto dir = std::filesystem::temp_directory_path() / "effinfer_int_export_float_test";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "int.h5").string();
    {
      effinfer::io::H5File f = effinfer::io::H5File::create(path);
      f.set_attribute("/", "content", "int_model");
      cq::save_int_model(f, im);
    }
    const cq::IntModel back = cq::load_int_model(path);
    CHECK(back.first_layer == "float");
    CHECK(back.layers.front().wf == im.layers.front().wf);
    CHECK(back.layers.front().real_thr == im.layers.front().real_thr);
    CHECK(back.layers.back().wq == im.layers.back().wq);
    const int64_t n = 50;
    std::vector<float> a(static_cast<size_t>(n * 10)), b(a.size());
    cq::IntEngine e1(im), e2(back);
    e1.forward(fx.data.test.x.data(), n, a.data());
    e2.forward(fx.data.test.x.data(), n, b.data());
    CHECK(a == b);
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("climbq int export: check 13 cnn, and codes identical across kernels and threads") {
  effinfer::set_blas_threads(1);
  // 16x16x1 random images with labels from a fixed random rule, an untrained cnn, PTQ.
  cq::Dataset d;
  d.source = "random";
  d.height = 16, d.width = 16, d.channels = 1;
  d.classes = 4;
  d.pixel_scale = 1.0 / 255.0, d.norm_mean = 0.5, d.norm_std = 0.25;
  std::mt19937 gen(13);
  std::uniform_int_distribution<int> pix(0, 255), lab(0, 3);
  for (cq::ImageSplit* s : {&d.train, &d.test}) {
    const int64_t n = s == &d.train ? 800 : 600;
    s->x.resize(static_cast<size_t>(n * 256));
    for (auto& p : s->x) p = static_cast<uint8_t>(pix(gen));
    for (int64_t i = 0; i < n; ++i) s->y.push_back(lab(gen));
    s->source_index.assign(static_cast<size_t>(n), -1);
  }
  d.class_counts.assign(4, 0);
  for (int y : d.train.y) ++d.class_counts[y];
  cq::ModelSpec s;
  s.arch = cq::Arch::kCnn;
  s.height = 16, s.width = 16, s.channels = 1;
  s.classes = 4;
  s.pixel_scale = d.pixel_scale, s.norm_mean = d.norm_mean, s.norm_std = d.norm_std;
  s.class_counts = d.class_counts;
  cq::Network<float> fp32 = cq::build_model<float>(s, 1);
  cq::PtqOptions po;
  po.calib_batches = 4;
  po.calib_batch_size = 200;
  for (auto [m, bits] : {std::pair{cq::Method::kClimbq, 4}, std::pair{cq::Method::kUniform, 8},
                         std::pair{cq::Method::kClimbq, 2}}) {
    cq::Network<float> q = cq::ptq(fp32, m, bits, bits, d, po, 0, 1);
    check_agreement(q, d, "cnn " + cq::method_name(m) + " ptq W" + std::to_string(bits));
    // Identical codes and logits whatever the kernel and thread count.
    const cq::IntModel im = cq::export_int_model(q);
    const int64_t n = 64;
    std::vector<float> ref(static_cast<size_t>(n * 4)), out(ref.size());
    cq::IntCodes ref_codes, codes;
    cq::IntEngine base(im, cq::IntKernel::kPortable, 1);
    base.forward(d.test.x.data(), n, ref.data(), &ref_codes);
    // avx2 is exact only while 2 max q max|lambda| <= 32767: climbq 4 bit on pixels 2 x 255 x 15;
    // 8-bit uniform (2 x 255 x 127) must be refused with 78.
    const bool avx2_ok = cq::cpu_features().avx2 && bits <= 4;
    if (cq::cpu_features().avx2 && !avx2_ok) {
      CHECK(exit_code_of([&] { cq::IntEngine e(im, cq::IntKernel::kAvx2, 1); }) == 78);
    }
    std::vector<cq::IntKernel> kernels{cq::IntKernel::kAuto, cq::IntKernel::kPortable};
    if (avx2_ok) kernels.push_back(cq::IntKernel::kAvx2);
    for (auto kernel : kernels)
      for (int threads : {1, 2}) {
        cq::IntEngine e(im, kernel, threads, 16);  // chunks of 16 images
        e.forward(d.test.x.data(), n, out.data(), &codes);
        INFO(e.kernel_name() << " threads " << threads);
        CHECK(codes.layers == ref_codes.layers);
        CHECK(codes.classifier_input == ref_codes.classifier_input);
        CHECK(out == ref);
      }
  }
}

TEST_CASE("climbq int export: padded and strided convolutions (float first layer, int padding)") {
  effinfer::set_blas_threads(1);
  // 10x10x1 -> conv3x3 pad 1 (float first layer: padding is x = 0, not a pixel code) -> BN -> Aq
  // -> ReLU -> conv3x3 pad 1 stride 2 (integer, padding = code 0) -> BN -> Aq -> ReLU -> flatten
  // -> dense; climbq v2023 4 bits, random weights and BN statistics.
  cq::ModelSpec sp;
  sp.arch = cq::Arch::kCnn;
  sp.method = cq::Method::kClimbq;
  sp.height = 10, sp.width = 10, sp.channels = 1;
  sp.classes = 3;
  sp.pixel_scale = 1.0 / 255.0, sp.norm_mean = 0.4, sp.norm_std = 0.3;
  effinfer::Rng rng(4, 2);
  auto seq = std::make_unique<nn::Sequential<float>>();
  cq::ClimbqOptions o;
  auto add_block = [&](int64_t cin, int64_t cout, int64_t stride, const std::string& idx0,
                       const std::string& idx1, const std::string& idx2, const std::string& idx3) {
    auto conv = std::make_unique<nn::Conv2d<float>>(cin, cout, 3, 3, stride, 1, false);
    conv->init(rng);
    conv->set_transform(std::make_shared<cq::ClimbqWeight<float>>(o));
    seq->add_layer(std::move(conv), idx0 + "_conv2d");
    auto bn = std::make_unique<nn::BatchNorm<float>>(cout);
    for (int64_t ch = 0; ch < cout; ++ch) {
      bn->gamma()[ch] = static_cast<float>(0.5 + rng.uniform());
      bn->beta()[ch] = static_cast<float>(rng.normal());
      bn->running_mean()[ch] = static_cast<float>(0.5 * rng.normal());
      bn->running_var()[ch] = static_cast<float>(0.5 + 2.0 * rng.uniform());
    }
    seq->add_layer(std::move(bn), idx1 + "_batchnorm");
    seq->add_layer(std::make_unique<cq::ClimbqActivation<float>>(o), idx2 + "_actq");
    seq->add_layer(std::make_unique<nn::ReLU<float>>(), idx3 + "_relu");
  };
  add_block(1, 4, 1, "00", "01", "02", "03");
  add_block(4, 8, 2, "04", "05", "06", "07");
  seq->add_layer(std::make_unique<nn::Flatten<float>>(), "08_flatten");
  auto cls = std::make_unique<nn::Dense<float>>(5 * 5 * 8, 3, true);
  cls->init(rng);
  seq->add_layer(std::move(cls), "09_dense");
  cq::Network<float> net(sp, std::move(seq));
  const cq::IntModel im = cq::export_int_model(net);
  REQUIRE(im.layers.size() == 4);
  CHECK(im.first_layer == "float");
  CHECK(im.layers[0].name == "00_fconv2d");
  CHECK(im.layers[1].name == "01_qconv2d");
  CHECK(im.layers[1].out_h == 5);
  CHECK(im.layers[1].pad == 1);

  std::vector<uint8_t> x(static_cast<size_t>(1000 * 100));
  std::vector<int32_t> y(1000, 0);
  std::mt19937 gen(17);
  std::uniform_int_distribution<int> pix(0, 255);
  for (auto& p : x) p = static_cast<uint8_t>(pix(gen));
  cq::SplitView view;
  view.x = &x;
  view.y = &y;
  view.sample_shape = nn::Shape{10, 10, 1};
  view.norm = nn::Normalization{sp.pixel_scale, sp.norm_mean, sp.norm_std};
  for (auto kernel : {cq::IntKernel::kAuto, cq::IntKernel::kPortable}) {
    cq::IntEngine eng(im, kernel, 2, 128);
    const cq::VerifyReport r = cq::verify_int_model(eng, net, view);
    MESSAGE("padded conv, " << eng.kernel_name() << ": labels " << r.label_agreement << ", codes "
                            << r.code_agreement[0] << " " << r.code_agreement[1] << ", max excess "
                            << r.max_excess);
    CHECK(r.code_agreement.size() == 2);
    CHECK(r.pass);
    CHECK(r.codes_min >= 0.9999);
  }
  // Both layers use several codes (agreement on all-zero codes would prove little).
  cq::IntEngine eng(im);
  std::vector<float> logits(100 * 3);
  cq::IntCodes codes;
  eng.forward(x.data(), 100, logits.data(), &codes);
  for (const auto& layer : codes.layers) {
    std::vector<int> seen(256, 0);
    for (uint8_t v : layer) seen[v] = 1;
    CHECK(std::count(seen.begin(), seen.end(), 1) >= 4);
  }
}
