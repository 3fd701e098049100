// Export of quantized networks to the integer path (spec 2.8), sizes (2.8.7) and the HDF5
// `int_model` schema (3.5); see int_export.hpp.
#include "int_export.hpp"

#include <hdf5.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "core/error.hpp"
#include "nn/conv2d.hpp"
#include "nn/layers.hpp"

namespace effinfer::climbq {

std::vector<size_t> IntModel::quant_layers() const {
  std::vector<size_t> v;
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].kind == IntLayerKind::kQuant) v.push_back(i);
  return v;
}

namespace {

std::string type_of(const std::string& name) {
  const size_t u = name.find('_');
  return u == std::string::npos ? std::string() : name.substr(u + 1);
}

std::string int_name(size_t index, const std::string& type) {
  std::string n = std::to_string(index);
  if (n.size() < 2) n = "0" + n;
  return n + "_" + type;
}

// Integer weights lambda (w_hat = s_w lambda) of a weight quantizer after its forward.
struct Lambdas {
  std::vector<int64_t> lambda;  // storage order of W
  double s_w = 1;
};

template <class T>
Lambdas lambdas_of(nn::WeightTransform<T>* q, const std::string& where) {
  Lambdas out;
  if (auto* c = dynamic_cast<ClimbqWeight<T>*>(q)) {
    if (!(c->sigma() > 0))
      throw DataError(where +
                      ": constant weights (sigma = 0): the ClimbQ weight quantizer is "
                      "undefined");
    const auto& codes = c->codes();
    out.lambda.resize(codes.size());
    if (c->one_bit()) {
      for (size_t i = 0; i < codes.size(); ++i) out.lambda[i] = codes[i];
      out.s_w = 1;
    } else {
      // value = scale (mult code + add) / n (quantizers.hpp): lambda = mult code + add.
      const CdfRule& r = c->rule();
      const auto mult = static_cast<int64_t>(std::llround(r.mult));
      const auto add = static_cast<int64_t>(std::llround(r.add));
      for (size_t i = 0; i < codes.size(); ++i) out.lambda[i] = mult * codes[i] + add;
      out.s_w = r.scale / r.n;
    }
  } else if (auto* u = dynamic_cast<UniformWeight<T>*>(q)) {
    out.lambda.assign(u->codes().begin(), u->codes().end());
    out.s_w = u->step();
  } else if (auto* l = dynamic_cast<LsqWeight<T>*>(q)) {
    out.lambda.assign(l->codes().begin(), l->codes().end());
    out.s_w = std::max(l->step(), 1e-12);  // the step the forward used
  } else {
    throw DataError(where + ": unsupported weight quantizer '" + q->name() + "'");
  }
  return out;
}

// Post-ReLU thresholds, level -> code table and s_a of an activation quantizer.
struct ActInfo {
  std::vector<double> thr;
  std::vector<int64_t> lut;
  double s_a = 1;
  bool strict = false;  // one-bit sign: x_hat > 0 iff x > 0 (sign(0) = 0), not x >= t
};

template <class T>
ActInfo act_info(nn::Layer<T>& l, const std::string& where) {
  ActInfo a;
  if (auto* c = dynamic_cast<ClimbqActivation<T>*>(&l)) {
    a.thr = c->post_relu_thresholds();
    for (int32_t v : c->post_relu_lut()) a.lut.push_back(v);
    a.s_a = c->post_relu_scale();
    a.strict = c->one_bit();
  } else if (auto* u = dynamic_cast<UniformActivation<T>*>(&l)) {
    if (!u->calibrated() || !(u->step() > 0))
      throw DataError(where + ": activation quantizer not calibrated (clip " +
                      std::to_string(u->calibrated() ? u->clip() : 0.0) + ")");
    a.thr = u->post_relu_thresholds();
    for (int64_t r = 0; r <= u->qmax(); ++r) a.lut.push_back(r);
    a.s_a = u->step();
  } else if (auto* q = dynamic_cast<LsqActivation<T>*>(&l)) {
    if (!q->initialized())
      throw DataError(where + ": LSQ activation step not initialised (run a forward first)");
    a.s_a = std::max(q->step(), 1e-12);
    for (int64_t r = 1; r <= q->range().qp; ++r)
      a.thr.push_back((static_cast<double>(r) - 0.5) * a.s_a);
    for (int64_t r = 0; r <= q->range().qp; ++r) a.lut.push_back(r);
  } else {
    throw DataError(where + ": unsupported activation quantizer '" + l.name() + "'");
  }
  return a;
}

int32_t clamp_threshold(double t) {
  if (t <= static_cast<double>(INT32_MIN)) return INT32_MIN;
  if (t >= static_cast<double>(INT32_MAX)) return INT32_MAX;
  return static_cast<int32_t>(t);
}

// Storage c with lambda = m c + o (spec 2.8.1), range and overflow checks.
void store_weights(IntLayer& L, const std::vector<int64_t>& lambda_rows, int64_t in_max,
                   const std::string& where) {
  bool all_odd = !lambda_rows.empty();
  int64_t max_abs = 0;
  for (int64_t v : lambda_rows) {
    all_odd = all_odd && (v % 2 != 0);
    max_abs = std::max(max_abs, v < 0 ? -v : v);
  }
  L.m = all_odd ? 2 : 1;
  L.o = all_odd ? 1 : 0;
  L.wq.resize(lambda_rows.size());
  for (size_t i = 0; i < lambda_rows.size(); ++i) {
    // Exact: odd lambda - 1 is even.
    const int64_t c = all_odd ? (lambda_rows[i] - 1) / 2 : lambda_rows[i];
    if (c < -128 || c > 127)
      throw DataError(where + ": weight code c = " + std::to_string(c) +
                      " (lambda = " + std::to_string(lambda_rows[i]) +
                      ") outside int8 [-128, 127]; use fewer weight bits or levels_variant v2023");
    L.wq[i] = static_cast<int8_t>(c);
  }
  const double bound =
      static_cast<double>(L.k) * static_cast<double>(max_abs) * static_cast<double>(in_max);
  if (bound >= 2147483648.0)
    throw DataError(where +
                    ": int32 accumulator overflow: K max|lambda| max q = " + std::to_string(L.k) +
                    " x " + std::to_string(max_abs) + " x " + std::to_string(in_max) + " >= 2^31");
}

}  // namespace

template <class T>
IntModel export_int_model(Network<T>& net) {
  const ModelSpec& s = net.spec();
  auto& seq = net.seq();
  const std::string root = "/model/layers/";
  auto path = [&](size_t i) { return root + seq.layer_name(i); };
  if (s.method == Method::kFp32)
    throw DataError(path(net.weight_layers().front()) +
                    ": the model is FP32 (method fp32): export needs a quantized model (ptq or "
                    "qat)");
  IntModel im;
  im.pixel_scale = s.pixel_scale;
  im.norm_mean = s.norm_mean;
  im.norm_std = s.norm_std;
  im.height = s.height;
  im.width = s.width;
  im.channels = s.channels;
  im.num_classes = s.classes;
  im.method = method_name(s.method);
  im.levels_variant = s.climbq.variant == LevelsVariant::kV2023 ? "v2023" : "v2022";
  im.bits_w = s.bits_w;
  im.bits_a = s.bits_a;
  const bool act_before_relu = s.method == Method::kClimbq || s.method == Method::kClimbqNoscale;

  double in_unit = s.pixel_scale / s.norm_std;  // spec 2.8.4
  const double z_in = -s.norm_mean / s.norm_std;
  int64_t in_max = 255;
  bool first = true;
  int64_t h = s.height, w = s.width, c = s.channels;
  nn::Pass pass;
  auto order_error = [&](size_t i, const std::string& expected) {
    const std::string found = i < seq.size() ? type_of(seq.layer_name(i)) : "end of model";
    return DataError((i < seq.size() ? path(i) : root) + ": unsupported layer order: expected " +
                     expected + ", found " + found);
  };
  size_t i = 0;
  while (i < seq.size()) {
    nn::Layer<T>& l = seq.layer(i);
    const std::string type = type_of(seq.layer_name(i));
    auto* dense = dynamic_cast<nn::Dense<T>*>(&l);
    auto* conv = dynamic_cast<nn::Conv2d<T>*>(&l);
    if (i + 1 == seq.size()) {  // classifier
      if (!dense) throw order_error(i, "a dense classifier");
      IntLayer L;
      L.kind = IntLayerKind::kClassifier;
      L.source = path(i);
      L.out = dense->weight().dim(0);
      L.k = dense->weight().dim(1);
      if (L.k != h * w * c)
        throw DataError(path(i) + ": classifier reads " + std::to_string(L.k) + " features, " +
                        "the previous layer gives " + std::to_string(h * w * c));
      if (first) throw order_error(i, "a quantized block before the classifier");
      L.in_unit = in_unit;
      L.in_max = in_max;
      if (dense->transform()) {
        nn::Tensor<T> w_hat;
        dense->transform()->forward(dense->weight(), w_hat, pass);
        const Lambdas lam = lambdas_of(dense->transform(), path(i));
        L.quantized = true;
        L.w_unit = lam.s_w;
        store_weights(L, lam.lambda, in_max, path(i));
      } else {
        L.w.resize(static_cast<size_t>(L.out * L.k));
        for (int64_t j = 0; j < L.out * L.k; ++j) L.w[j] = static_cast<float>(dense->weight()[j]);
      }
      L.b.assign(static_cast<size_t>(L.out), 0.0f);
      if (dense->bias())
        for (int64_t j = 0; j < L.out; ++j) L.b[j] = static_cast<float>((*dense->bias())[j]);
      L.name = int_name(im.layers.size(), "dense");
      im.layers.push_back(std::move(L));
      break;
    }
    if (type == "maxpool2d") {
      if (first) throw order_error(i, "a quantized block before max pooling");
      IntLayer L;
      L.kind = IntLayerKind::kMaxPool;
      L.source = path(i);
      L.in_h = h, L.in_w = w, L.cin = c, L.out = c;
      L.out_h = h / 2, L.out_w = w / 2;
      h /= 2, w /= 2;
      L.name = int_name(im.layers.size(), "maxpool2d");
      im.layers.push_back(std::move(L));
      ++i;
      continue;
    }
    if (type == "flatten") {
      IntLayer L;
      L.kind = IntLayerKind::kFlatten;
      L.source = path(i);
      L.in_h = h, L.in_w = w, L.cin = c;
      L.k = h * w * c;
      L.name = int_name(im.layers.size(), "flatten");
      im.layers.push_back(std::move(L));
      c = h * w * c, h = 1, w = 1;
      ++i;
      continue;
    }
    if (!dense && !conv)
      throw order_error(i,
                        "dense, conv2d, maxpool2d or flatten (a quantized block starts with a "
                        "weight layer)");
    // Block: weight -> BN -> Aq -> ReLU (climbq) or weight -> BN -> ReLU -> Aq (uniform, lsq).
    if (i + 3 >= seq.size()) throw order_error(i + 1, "batchnorm, actq, relu after a weight layer");
    auto* bn = dynamic_cast<nn::BatchNorm<T>*>(&seq.layer(i + 1));
    if (!bn) throw order_error(i + 1, "batchnorm");
    const size_t aq_index = act_before_relu ? i + 2 : i + 3;
    const size_t relu_index = act_before_relu ? i + 3 : i + 2;
    if (type_of(seq.layer_name(aq_index)) != "actq")
      throw order_error(aq_index, std::string("actq (") + im.method + ")");
    if (!dynamic_cast<nn::ReLU<T>*>(&seq.layer(relu_index))) throw order_error(relu_index, "relu");
    const std::string where = path(i);
    nn::WeightTransform<T>* wq = dense ? dense->transform() : conv->transform();
    const nn::Tensor<T>& W = dense ? dense->weight() : conv->weight();
    const nn::Tensor<T>* bias = dense ? dense->bias() : conv->bias();

    IntLayer L;
    L.kind = IntLayerKind::kQuant;
    L.source = where;
    L.conv = conv != nullptr;
    if (dense) {
      L.out = W.dim(0);
      L.k = W.dim(1);
      L.cin = L.k;
      if (L.k != h * w * c)
        throw DataError(where + ": reads " + std::to_string(L.k) + " features, the input has " +
                        std::to_string(h * w * c));
    } else {
      L.kh = W.dim(0), L.kw = W.dim(1), L.cin = W.dim(2), L.out = W.dim(3);
      L.stride = conv->stride(), L.pad = conv->pad();
      if (L.cin != c)
        throw DataError(where + ": expects " + std::to_string(L.cin) + " input channels, found " +
                        std::to_string(c));
      L.in_h = h, L.in_w = w;
      L.out_h = (h + 2 * L.pad - L.kh) / L.stride + 1;
      L.out_w = (w + 2 * L.pad - L.kw) / L.stride + 1;
      L.k = L.kh * L.kw * L.cin;
    }
    // W[out, K] index of storage element j: Dense is [out, in] already; HWIO is [K, out].
    auto row_major = [&](int64_t o, int64_t k) { return dense ? o * L.k + k : k * L.out + o; };
    L.folded_bias = bias != nullptr;
    L.in_unit = in_unit;
    L.in_max = in_max;
    const ActInfo act = act_info(seq.layer(aq_index), path(aq_index));
    if (act.lut.back() > 255)
      throw DataError(path(aq_index) + ": activation code q = " + std::to_string(act.lut.back()) +
                      " > 255 does not fit uint8; use fewer activation bits or levels_variant "
                      "v2023");
    L.levels = static_cast<int64_t>(act.thr.size());
    for (int64_t v : act.lut) L.lut.push_back(static_cast<uint8_t>(v));
    L.out_unit = act.s_a;

    // BN scale a_o = gamma / sqrt(var + eps) and shift (spec 2.8.3).
    std::vector<double> a(static_cast<size_t>(L.out)), shift(static_cast<size_t>(L.out));
    for (int64_t o = 0; o < L.out; ++o) {
      const double g = static_cast<double>(bn->gamma()[o]);
      const double var = static_cast<double>(bn->running_var()[o]);
      a[o] = g / std::sqrt(var + bn->eps());
      shift[o] =
          static_cast<double>(bn->beta()[o]) - a[o] * static_cast<double>(bn->running_mean()[o]);
      if (bias) shift[o] += a[o] * static_cast<double>((*bias)[o]);
      if (!std::isfinite(a[o]) || !std::isfinite(shift[o]))
        throw DataError(path(i + 1) + ": non-finite BatchNorm scale or shift at channel " +
                        std::to_string(o));
    }

    const bool float_path = first && (wq == nullptr || L.pad > 0);
    if (!first && wq == nullptr)
      throw DataError(where +
                      ": unquantized weights inside the network (only the first layer may "
                      "be float)");
    nn::Tensor<T> w_hat;
    if (wq) wq->forward(W, w_hat, pass);
    if (float_path) {
      // spec 2.8.4 `first_layer: float`: float32 GEMM on the (dequantized) weights.
      L.float_input = true;
      im.first_layer = "float";
      const nn::Tensor<T>& we = wq ? w_hat : W;
      L.wf.resize(static_cast<size_t>(L.out * L.k));
      for (int64_t o = 0; o < L.out; ++o)
        for (int64_t k = 0; k < L.k; ++k)
          L.wf[o * L.k + k] = static_cast<float>(we[row_major(o, k)]);
      L.scale = a;
      L.shift = shift;
      L.real_thr = act.thr;
      // z >= the next double above t  <=>  z > t (one-bit sign).
      if (act.strict)
        for (double& t : L.real_thr) t = std::nextafter(t, std::numeric_limits<double>::infinity());
      L.sign.assign(static_cast<size_t>(L.out), 1);
    } else {
      const Lambdas lam = lambdas_of(wq, where);
      std::vector<int64_t> rows(static_cast<size_t>(L.out * L.k));
      for (int64_t o = 0; o < L.out; ++o)
        for (int64_t k = 0; k < L.k; ++k) rows[o * L.k + k] = lam.lambda[row_major(o, k)];
      L.w_unit = lam.s_w;
      store_weights(L, rows, in_max, where);
      L.thr.resize(static_cast<size_t>(L.out * L.levels));
      L.sign.resize(static_cast<size_t>(L.out));
      for (int64_t o = 0; o < L.out; ++o) {
        const double g = a[o] * lam.s_w * in_unit;
        double hh = shift[o];
        if (first) {  // z_in part folded into h (spec 2.8.4)
          int64_t sum = 0;
          for (int64_t k = 0; k < L.k; ++k) sum += rows[o * L.k + k];
          hh += a[o] * lam.s_w * z_in * static_cast<double>(sum);
        }
        L.sign[o] = g < 0 ? -1 : 1;
        for (int64_t t = 0; t < L.levels; ++t) {
          int32_t T_ot;
          if (g == 0) {
            const bool fires = act.strict ? act.thr[t] < hh : act.thr[t] <= hh;
            T_ot = fires ? INT32_MIN : INT32_MAX;
          } else if (act.strict) {  // s acc > u  <=>  s acc >= floor(u) + 1
            T_ot = clamp_threshold(std::floor((act.thr[t] - hh) / std::fabs(g)) + 1.0);
          } else {
            T_ot = clamp_threshold(std::ceil((act.thr[t] - hh) / std::fabs(g)));
          }
          L.thr[o * L.levels + t] = T_ot;
        }
      }
    }
    L.name = int_name(im.layers.size(), L.float_input ? (L.conv ? "fconv2d" : "fdense")
                                                      : (L.conv ? "qconv2d" : "qdense"));
    im.layers.push_back(std::move(L));
    const IntLayer& B = im.layers.back();
    if (B.conv) {
      h = B.out_h, w = B.out_w, c = B.out;
    } else {
      h = 1, w = 1, c = B.out;
    }
    in_unit = act.s_a;
    in_max = act.lut.back();
    first = false;
    i += 4;
  }
  if (im.layers.empty() || im.layers.back().kind != IntLayerKind::kClassifier)
    throw order_error(seq.size(), "a dense classifier last");
  return im;
}

template IntModel export_int_model<float>(Network<float>&);
template IntModel export_int_model<double>(Network<double>&);

// ---------------------------------------------------------------- sizes

namespace {
// Bits of a two's-complement integer holding every c of the layer.
int64_t bits_needed(const std::vector<int8_t>& wq) {
  int lo = 0, hi = 0;
  for (int8_t v : wq) lo = std::min<int>(lo, v), hi = std::max<int>(hi, v);
  for (int64_t b = 1; b <= 8; ++b)
    if (lo >= -(1 << (b - 1)) && hi <= (1 << (b - 1)) - 1) return b;
  return 8;
}
}  // namespace

IntSizes int_model_sizes(const IntModel& m) {
  IntSizes s;
  for (const IntLayer& L : m.layers) {
    const int64_t weights = L.out * L.k;
    if (L.kind == IntLayerKind::kQuant) {
      s.fp32_bytes += 4 * (weights + (L.folded_bias ? L.out : 0) + 2 * L.out);
      int64_t common = 0;
      if (L.float_input) {
        // float32 weights, scale/shift per row and real thresholds (as float32) + lut.
        common = 4 * weights + 8 * L.out + 4 * L.levels + (L.levels + 1);
        s.int_bytes += common;
        s.packed_bytes += common;
      } else {
        common = 4 * L.out * L.levels + L.out + (L.levels + 1);
        s.int_bytes += weights + common;
        s.packed_bytes += (weights * bits_needed(L.wq) + 7) / 8 + common;
      }
    } else if (L.kind == IntLayerKind::kClassifier) {
      s.fp32_bytes += 4 * (weights + L.out);
      if (L.quantized) {
        s.int_bytes += weights + 4 * L.out;
        s.packed_bytes += (weights * bits_needed(L.wq) + 7) / 8 + 4 * L.out;
      } else {
        s.int_bytes += 4 * (weights + L.out);
        s.packed_bytes += 4 * (weights + L.out);
      }
    }
  }
  return s;
}

// ---------------------------------------------------------------- HDF5

namespace {

const char* kRoot = "/int_model";

void write_f32(io::H5File& f, const std::string& path, const std::vector<float>& v,
               std::vector<hsize_t> shape) {
  io::H5Id space(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr));
  io::H5Id ds(H5Dcreate2(f.id(), path.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT,
                         H5P_DEFAULT, H5P_DEFAULT));
  if (!ds.valid() || (!v.empty() && H5Dwrite(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL,
                                             H5P_DEFAULT, v.data()) < 0))
    throw WriteError(f.path() + ":" + path + ": cannot write dataset");
}

void write_f64(io::H5File& f, const std::string& path, const std::vector<double>& v) {
  f.write_vector(path,
                 Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size())));
}

std::string at(const io::H5File& f, const std::string& p) { return f.path() + ":" + p; }

void set_int64_array_attribute(io::H5File& f, const std::string& object, const std::string& name,
                               const std::vector<int64_t>& v) {
  io::H5Id obj(H5Oopen(f.id(), object.c_str(), H5P_DEFAULT));
  const hsize_t n = v.size();
  io::H5Id space(H5Screate_simple(1, &n, nullptr));
  io::H5Id attr(
      H5Acreate2(obj.get(), name.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attr.valid() || H5Awrite(attr.get(), H5T_NATIVE_INT64, v.data()) < 0)
    throw WriteError(at(f, object) + ": cannot write attribute '" + name + "'");
}

double attr_d(const io::H5File& f, const std::string& obj, const std::string& name) {
  if (!f.has_attribute(obj, name))
    throw DataError(at(f, obj) + ": missing attribute '" + name + "'");
  return f.read_attribute_double(obj, name);
}
int64_t attr_i(const io::H5File& f, const std::string& obj, const std::string& name) {
  if (!f.has_attribute(obj, name))
    throw DataError(at(f, obj) + ": missing attribute '" + name + "'");
  return f.read_attribute_int(obj, name);
}
std::string attr_s(const io::H5File& f, const std::string& obj, const std::string& name) {
  if (!f.has_attribute(obj, name))
    throw DataError(at(f, obj) + ": missing attribute '" + name + "'");
  return f.read_attribute_string(obj, name);
}

// Reads a dataset of exactly `shape` into out (converted to the element type of Out).
template <class Out>
void read_exact(const io::H5File& f, const std::string& path, hid_t mem,
                const std::vector<hsize_t>& shape, std::vector<Out>& out, bool integer,
                const std::string& expected) {
  if (!f.is_dataset(path)) throw DataError(at(f, path) + ": missing dataset, expected " + expected);
  const io::DatasetInfo info = f.info(path);
  const bool ok_class = integer ? info.element == io::ElementClass::kInteger
                                : (info.element == io::ElementClass::kFloat ||
                                   info.element == io::ElementClass::kInteger);
  if (info.shape != shape || !ok_class)
    throw DataError(at(f, path) + ": expected " + expected + ", found " + info.describe());
  size_t n = 1;
  for (hsize_t d : shape) n *= d;
  out.resize(n);
  if (n) f.read_raw(path, mem, out.data(), n);
}

std::string shape_str(std::initializer_list<int64_t> d) {
  std::string s = "(";
  bool first = true;
  for (int64_t v : d) {
    if (!first) s += ", ";
    s += std::to_string(v);
    first = false;
  }
  return s + (d.size() == 1 ? ",)" : ")");
}

}  // namespace

void save_int_model(io::H5File& f, const IntModel& m) {
  f.create_group(std::string(kRoot) + "/layers");
  f.set_attribute(kRoot, "input_kind", m.input_kind);
  f.set_attribute(kRoot, "pixel_scale", m.pixel_scale);
  f.set_attribute(kRoot, "norm_mean", m.norm_mean);
  f.set_attribute(kRoot, "norm_std", m.norm_std);
  f.set_attribute(kRoot, "height", m.height);
  f.set_attribute(kRoot, "width", m.width);
  f.set_attribute(kRoot, "channels", m.channels);
  set_int64_array_attribute(f, kRoot, "input_shape", {m.height, m.width, m.channels});
  f.set_attribute(kRoot, "num_classes", static_cast<int64_t>(m.num_classes));
  f.set_attribute(kRoot, "method", m.method);
  f.set_attribute(kRoot, "levels_variant", m.levels_variant);
  f.set_attribute(kRoot, "bits_w", static_cast<int64_t>(m.bits_w));
  f.set_attribute(kRoot, "bits_a", static_cast<int64_t>(m.bits_a));
  f.set_attribute(kRoot, "first_layer", m.first_layer);
  for (const IntLayer& L : m.layers) {
    const std::string p = std::string(kRoot) + "/layers/" + L.name;
    f.create_group(p);
    f.set_attribute(p, "source", L.source);
    const auto out = static_cast<hsize_t>(L.out), k = static_cast<hsize_t>(L.k);
    switch (L.kind) {
      case IntLayerKind::kQuant: {
        f.set_attribute(
            p, "type",
            L.float_input ? (L.conv ? "fconv2d" : "fdense") : (L.conv ? "qconv2d" : "qdense"));
        f.set_attribute(p, "out", L.out);
        f.set_attribute(p, "k", L.k);
        f.set_attribute(p, "kh", L.kh);
        f.set_attribute(p, "kw", L.kw);
        f.set_attribute(p, "cin", L.cin);
        f.set_attribute(p, "stride", L.stride);
        f.set_attribute(p, "pad", L.pad);
        f.set_attribute(p, "in_h", L.in_h);
        f.set_attribute(p, "in_w", L.in_w);
        f.set_attribute(p, "out_h", L.out_h);
        f.set_attribute(p, "out_w", L.out_w);
        f.set_attribute(p, "in_unit", L.in_unit);
        f.set_attribute(p, "out_unit", L.out_unit);
        f.set_attribute(p, "in_max", L.in_max);
        f.set_attribute(p, "folded_bias", static_cast<int64_t>(L.folded_bias));
        f.write_uint8(p + "/lut", L.lut);
        if (L.float_input) {
          write_f32(f, p + "/W", L.wf, {out, k});
          write_f64(f, p + "/scale", L.scale);
          write_f64(f, p + "/shift", L.shift);
          write_f64(f, p + "/thr_real", L.real_thr);
        } else {
          f.set_attribute(p, "m", static_cast<int64_t>(L.m));
          f.set_attribute(p, "o", static_cast<int64_t>(L.o));
          f.set_attribute(p, "w_unit", L.w_unit);
          f.write_int8(p + "/Wq", L.wq, {out, k});
          f.write_int32(p + "/thr", L.thr, {out, static_cast<hsize_t>(L.levels)});
          f.write_int8(p + "/sign", L.sign);
        }
        break;
      }
      case IntLayerKind::kMaxPool:
        f.set_attribute(p, "type", "maxpool2d");
        f.set_attribute(p, "k", static_cast<int64_t>(2));
        f.set_attribute(p, "stride", static_cast<int64_t>(2));
        f.set_attribute(p, "in_h", L.in_h);
        f.set_attribute(p, "in_w", L.in_w);
        f.set_attribute(p, "channels", L.cin);
        break;
      case IntLayerKind::kFlatten:
        f.set_attribute(p, "type", "flatten");
        f.set_attribute(p, "in_h", L.in_h);
        f.set_attribute(p, "in_w", L.in_w);
        f.set_attribute(p, "channels", L.cin);
        break;
      case IntLayerKind::kClassifier:
        f.set_attribute(p, "type", "dense");
        f.set_attribute(p, "in_unit", L.in_unit);
        f.set_attribute(p, "in_max", L.in_max);
        f.set_attribute(p, "quantized", static_cast<int64_t>(L.quantized));
        if (L.quantized) {
          f.set_attribute(p, "m", static_cast<int64_t>(L.m));
          f.set_attribute(p, "o", static_cast<int64_t>(L.o));
          f.set_attribute(p, "w_unit", L.w_unit);
          f.write_int8(p + "/Wq", L.wq, {out, k});
        } else {
          write_f32(f, p + "/W", L.w, {out, k});
        }
        write_f32(f, p + "/b", L.b, {out});
        f.set_attribute(p, "out", L.out);
        f.set_attribute(p, "k", L.k);
        break;
    }
  }
}

void write_int_sizes(io::H5File& f, const IntSizes& s) {
  f.create_group("/results/size");
  const std::pair<const char*, int64_t> items[] = {
      {"fp32_bytes", s.fp32_bytes}, {"int_bytes", s.int_bytes}, {"packed_bytes", s.packed_bytes}};
  for (const auto& [name, v] : items) {
    const std::string p = std::string("/results/size/") + name;
    f.write_int64(p, {v});
    f.set_units(p, "byte");
  }
}

IntModel load_int_model(const io::H5File& f) {
  if (!f.has_attribute("/", "content") || f.read_attribute_string("/", "content") != "int_model")
    throw DataError(at(f, "/") + ": attribute 'content': expected int_model, found '" +
                    (f.has_attribute("/", "content") ? f.read_attribute_string("/", "content")
                                                     : std::string("(missing)")) +
                    "'");
  if (!f.is_group(std::string(kRoot) + "/layers"))
    throw DataError(at(f, std::string(kRoot) + "/layers") + ": missing group");
  IntModel m;
  m.input_kind = attr_s(f, kRoot, "input_kind");
  if (m.input_kind != "pixels")
    throw DataError(at(f, kRoot) + ": attribute 'input_kind': expected pixels, found '" +
                    m.input_kind + "'");
  m.pixel_scale = attr_d(f, kRoot, "pixel_scale");
  m.norm_mean = attr_d(f, kRoot, "norm_mean");
  m.norm_std = attr_d(f, kRoot, "norm_std");
  m.height = attr_i(f, kRoot, "height");
  m.width = attr_i(f, kRoot, "width");
  m.channels = attr_i(f, kRoot, "channels");
  m.num_classes = static_cast<int>(attr_i(f, kRoot, "num_classes"));
  m.method = attr_s(f, kRoot, "method");
  m.levels_variant = attr_s(f, kRoot, "levels_variant");
  m.bits_w = static_cast<int>(attr_i(f, kRoot, "bits_w"));
  m.bits_a = static_cast<int>(attr_i(f, kRoot, "bits_a"));
  m.first_layer = attr_s(f, kRoot, "first_layer");
  if (m.height < 1 || m.width < 1 || m.channels < 1 || m.num_classes < 2 || !(m.norm_std > 0))
    throw DataError(at(f, kRoot) + ": bad input shape, class count or norm_std");

  int64_t h = m.height, w = m.width, c = m.channels;
  const std::vector<std::string> names = f.children(std::string(kRoot) + "/layers");
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string p = std::string(kRoot) + "/layers/" + names[i];
    IntLayer L;
    L.name = names[i];
    if (names[i] != int_name(i, type_of(names[i])))
      throw DataError(at(f, p) + ": expected layer " + std::to_string(i) + " named NN_<type>");
    const std::string type = attr_s(f, p, "type");
    if (type != type_of(names[i]))
      throw DataError(at(f, p) + ": attribute 'type' is '" + type + "', the name says '" +
                      type_of(names[i]) + "'");
    if (f.has_attribute(p, "source")) L.source = f.read_attribute_string(p, "source");
    if (type == "qdense" || type == "qconv2d" || type == "fdense" || type == "fconv2d") {
      L.kind = IntLayerKind::kQuant;
      L.conv = type == "qconv2d" || type == "fconv2d";
      L.float_input = type[0] == 'f';
      L.out = attr_i(f, p, "out");
      L.k = attr_i(f, p, "k");
      L.kh = attr_i(f, p, "kh"), L.kw = attr_i(f, p, "kw"), L.cin = attr_i(f, p, "cin");
      L.stride = attr_i(f, p, "stride"), L.pad = attr_i(f, p, "pad");
      L.in_h = attr_i(f, p, "in_h"), L.in_w = attr_i(f, p, "in_w");
      L.out_h = attr_i(f, p, "out_h"), L.out_w = attr_i(f, p, "out_w");
      L.in_unit = attr_d(f, p, "in_unit");
      L.out_unit = attr_d(f, p, "out_unit");
      L.in_max = attr_i(f, p, "in_max");
      L.folded_bias = attr_i(f, p, "folded_bias") != 0;
      const bool shapes_ok =
          L.out >= 1 && L.k >= 1 && L.stride >= 1 && L.pad >= 0 &&
          (L.conv
               ? (L.k == L.kh * L.kw * L.cin && L.cin == c && L.in_h == h && L.in_w == w &&
                  L.out_h == (h + 2 * L.pad - L.kh) / L.stride + 1 &&
                  L.out_w == (w + 2 * L.pad - L.kw) / L.stride + 1 && L.out_h >= 1 && L.out_w >= 1)
               : L.k == h * w * c);
      if (!shapes_ok)
        throw DataError(at(f, p) + ": layer shape attributes do not match the input " +
                        shape_str({h, w, c}));
      if ((L.float_input && i != 0) || (!L.float_input && i == 0 && m.first_layer == "float"))
        throw DataError(at(f, p) + ": only the first layer may take float input");
      std::vector<uint8_t> lut;
      if (!f.is_dataset(p + "/lut")) throw DataError(at(f, p + "/lut") + ": missing dataset");
      const io::DatasetInfo li = f.info(p + "/lut");
      if (li.shape.size() != 1 || li.shape[0] < 2)
        throw DataError(at(f, p + "/lut") + ": expected uint8 (L+1,), found " + li.describe());
      L.levels = static_cast<int64_t>(li.shape[0]) - 1;
      read_exact(f, p + "/lut", H5T_NATIVE_UINT8, li.shape, L.lut, true, "uint8 (L+1,)");
      const auto out = static_cast<hsize_t>(L.out), k = static_cast<hsize_t>(L.k),
                 lv = static_cast<hsize_t>(L.levels);
      if (L.float_input) {
        read_exact(f, p + "/W", H5T_NATIVE_FLOAT, {out, k}, L.wf, false,
                   "float32 " + shape_str({L.out, L.k}));
        read_exact(f, p + "/scale", H5T_NATIVE_DOUBLE, {out}, L.scale, false, "float64 (out,)");
        read_exact(f, p + "/shift", H5T_NATIVE_DOUBLE, {out}, L.shift, false, "float64 (out,)");
        read_exact(f, p + "/thr_real", H5T_NATIVE_DOUBLE, {lv}, L.real_thr, false, "float64 (L,)");
        L.sign.assign(out, 1);
      } else {
        L.m = static_cast<int>(attr_i(f, p, "m"));
        L.o = static_cast<int>(attr_i(f, p, "o"));
        L.w_unit = attr_d(f, p, "w_unit");
        if (!((L.m == 1 && L.o == 0) || (L.m == 2 && L.o == 1)))
          throw DataError(at(f, p) + ": attributes m, o: expected (1, 0) or (2, 1), found (" +
                          std::to_string(L.m) + ", " + std::to_string(L.o) + ")");
        read_exact(f, p + "/Wq", H5T_NATIVE_INT8, {out, k}, L.wq, true,
                   "int8 " + shape_str({L.out, L.k}));
        read_exact(f, p + "/thr", H5T_NATIVE_INT32, {out, lv}, L.thr, true,
                   "int32 " + shape_str({L.out, L.levels}));
        read_exact(f, p + "/sign", H5T_NATIVE_INT8, {out}, L.sign, true,
                   "int8 " + shape_str({L.out}));
        for (int64_t o = 0; o < L.out; ++o) {
          if (L.sign[o] != 1 && L.sign[o] != -1)
            throw DataError(at(f, p + "/sign") + ": expected +1 or -1, found " +
                            std::to_string(L.sign[o]) + " at index " + std::to_string(o));
          for (int64_t t = 1; t < L.levels; ++t)
            if (L.thr[o * L.levels + t] < L.thr[o * L.levels + t - 1])
              throw DataError(at(f, p + "/thr") + ": row " + std::to_string(o) +
                              " is not non-decreasing at column " + std::to_string(t));
        }
        int64_t max_abs = 0;
        for (int8_t v : L.wq) max_abs = std::max<int64_t>(max_abs, std::abs(L.m * v + L.o));
        if (static_cast<double>(L.k) * max_abs * L.in_max >= 2147483648.0)
          throw DataError(at(f, p) + ": K max|lambda| max q >= 2^31");
      }
      if (L.conv)
        h = L.out_h, w = L.out_w, c = L.out;
      else
        h = 1, w = 1, c = L.out;
    } else if (type == "maxpool2d") {
      L.kind = IntLayerKind::kMaxPool;
      L.in_h = attr_i(f, p, "in_h"), L.in_w = attr_i(f, p, "in_w"),
      L.cin = attr_i(f, p, "channels");
      if (L.in_h != h || L.in_w != w || L.cin != c || h < 2 || w < 2)
        throw DataError(at(f, p) + ": expected input " + shape_str({h, w, c}));
      L.out = c, L.out_h = h / 2, L.out_w = w / 2;
      h /= 2, w /= 2;
    } else if (type == "flatten") {
      L.kind = IntLayerKind::kFlatten;
      L.in_h = h, L.in_w = w, L.cin = c, L.k = h * w * c;
      c = h * w * c, h = 1, w = 1;
    } else if (type == "dense") {
      if (i + 1 != names.size())
        throw DataError(at(f, p) + ": the dense classifier must be the last layer");
      L.kind = IntLayerKind::kClassifier;
      L.out = attr_i(f, p, "out");
      L.k = attr_i(f, p, "k");
      L.in_unit = attr_d(f, p, "in_unit");
      L.in_max = attr_i(f, p, "in_max");
      L.quantized = attr_i(f, p, "quantized") != 0;
      if (L.out != m.num_classes || L.k != h * w * c)
        throw DataError(at(f, p) + ": expected " + std::to_string(m.num_classes) + " x " +
                        std::to_string(h * w * c) + ", found " + std::to_string(L.out) + " x " +
                        std::to_string(L.k));
      const auto out = static_cast<hsize_t>(L.out), k = static_cast<hsize_t>(L.k);
      if (L.quantized) {
        L.m = static_cast<int>(attr_i(f, p, "m"));
        L.o = static_cast<int>(attr_i(f, p, "o"));
        L.w_unit = attr_d(f, p, "w_unit");
        read_exact(f, p + "/Wq", H5T_NATIVE_INT8, {out, k}, L.wq, true,
                   "int8 " + shape_str({L.out, L.k}));
      } else {
        read_exact(f, p + "/W", H5T_NATIVE_FLOAT, {out, k}, L.w, false,
                   "float32 " + shape_str({L.out, L.k}));
      }
      read_exact(f, p + "/b", H5T_NATIVE_FLOAT, {out}, L.b, false, "float32 " + shape_str({L.out}));
    } else {
      throw DataError(at(f, p) + ": unknown layer type '" + type + "'");
    }
    m.layers.push_back(std::move(L));
  }
  if (m.layers.empty() || m.layers.back().kind != IntLayerKind::kClassifier ||
      m.quant_layers().empty())
    throw DataError(at(f, std::string(kRoot) + "/layers") +
                    ": expected quantized layers and a final dense classifier");
  return m;
}

IntModel load_int_model(const std::string& path) {
  const io::H5File f = io::H5File::open(path);
  return load_int_model(f);
}

}  // namespace effinfer::climbq
