// Networks, costs and checkpoints of quantize-climbq (spec 2.6, 2.8.7, 3.5 `model`).
#include "model.hpp"

#include <hdf5.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "nn/conv2d.hpp"

namespace effinfer::climbq {
namespace {

std::string layer_name(size_t index, const std::string& type) {
  std::string n = std::to_string(index);
  if (n.size() < 2) n = "0" + n;
  return n + "_" + type;
}

std::string type_of(const std::string& name) {
  const size_t u = name.find('_');
  return u == std::string::npos ? std::string() : name.substr(u + 1);
}

bool act_after_relu(Method m) { return m == Method::kUniform || m == Method::kLsq; }

// ---- raw HDF5 helpers (float32 / uint16 datasets, int32 array attributes) -----------------

void write_raw(io::H5File& f, const std::string& path, hid_t mem, hid_t file_type,
               const std::vector<hsize_t>& shape, const void* data) {
  const size_t slash = path.rfind('/');
  if (slash > 0) f.create_group(path.substr(0, slash));
  io::H5Id space(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr));
  io::H5Id ds(H5Dcreate2(f.id(), path.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT));
  if (!ds.valid() || H5Dwrite(ds.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    throw WriteError(f.path() + ":" + path + ": cannot write dataset");
}

template <class T>
void write_f32(io::H5File& f, const std::string& path, const nn::Tensor<T>& t) {
  std::vector<float> v(static_cast<size_t>(t.size()));
  for (int64_t i = 0; i < t.size(); ++i) v[static_cast<size_t>(i)] = static_cast<float>(t[i]);
  std::vector<hsize_t> shape;
  for (int i = 0; i < t.rank(); ++i) shape.push_back(static_cast<hsize_t>(t.dim(i)));
  write_raw(f, path, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, shape, v.data());
}

void set_int32_array_attribute(io::H5File& f, const std::string& object, const std::string& name,
                               const std::vector<int32_t>& v) {
  io::H5Id obj(H5Oopen(f.id(), object.c_str(), H5P_DEFAULT));
  const hsize_t n = v.size();
  io::H5Id space(H5Screate_simple(1, &n, nullptr));
  io::H5Id attr(
      H5Acreate2(obj.get(), name.c_str(), H5T_STD_I32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attr.valid() || H5Awrite(attr.get(), H5T_NATIVE_INT32, v.data()) < 0)
    throw WriteError(f.path() + ":" + object + ": cannot write attribute '" + name + "'");
}

std::vector<int64_t> read_int_array_attribute(const io::H5File& f, const std::string& object,
                                              const std::string& name) {
  const std::string where = f.path() + ":" + object;
  if (!f.has_attribute(object, name)) throw DataError(where + ": missing attribute '" + name + "'");
  io::H5Id obj(H5Oopen(f.id(), object.c_str(), H5P_DEFAULT));
  io::H5Id attr(H5Aopen(obj.get(), name.c_str(), H5P_DEFAULT));
  io::H5Id space(H5Aget_space(attr.get()));
  io::H5Id type(H5Aget_type(attr.get()));
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (H5Tget_class(type.get()) != H5T_INTEGER || n < 0)
    throw DataError(where + ": attribute '" + name + "': expected an integer array");
  std::vector<int64_t> v(static_cast<size_t>(n));
  if (H5Aread(attr.get(), H5T_NATIVE_INT64, v.data()) < 0)
    throw DataError(where + ": cannot read attribute '" + name + "'");
  return v;
}

// Reads a numeric dataset of exactly the given shape into t (converted from any float/int type).
template <class T>
void read_into(const io::H5File& f, const std::string& path, nn::Tensor<T>& t) {
  const std::string where = f.path() + ":" + path;
  if (!f.is_dataset(path)) throw DataError(where + ": missing dataset");
  const io::DatasetInfo info = f.info(path);
  std::vector<hsize_t> want;
  for (int i = 0; i < t.rank(); ++i) want.push_back(static_cast<hsize_t>(t.dim(i)));
  if (info.shape != want ||
      (info.element != io::ElementClass::kFloat && info.element != io::ElementClass::kInteger))
    throw DataError(where + ": expected float32 " + t.shape().str() + ", found " + info.describe());
  std::vector<double> v(static_cast<size_t>(t.size()));
  io::H5Id ds(H5Dopen2(f.id(), path.c_str(), H5P_DEFAULT));
  if (!ds.valid() || (!v.empty() && H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL,
                                            H5P_DEFAULT, v.data()) < 0))
    throw DataError(where + ": cannot read");
  for (int64_t i = 0; i < t.size(); ++i) {
    const double x = v[static_cast<size_t>(i)];
    if (!std::isfinite(x))
      throw DataError(where + ": non-finite value at index " + std::to_string(i));
    t[i] = static_cast<T>(x);
  }
}

std::string attr_string(const io::H5File& f, const std::string& obj, const std::string& name) {
  if (!f.has_attribute(obj, name))
    throw DataError(f.path() + ":" + obj + ": missing attribute '" + name + "'");
  return f.read_attribute_string(obj, name);
}
double attr_double(const io::H5File& f, const std::string& obj, const std::string& name) {
  if (!f.has_attribute(obj, name))
    throw DataError(f.path() + ":" + obj + ": missing attribute '" + name + "'");
  return f.read_attribute_double(obj, name);
}
int64_t attr_int(const io::H5File& f, const std::string& obj, const std::string& name) {
  if (!f.has_attribute(obj, name))
    throw DataError(f.path() + ":" + obj + ": missing attribute '" + name + "'");
  return f.read_attribute_int(obj, name);
}

// Codes (as indices into levels) and levels of a weight quantizer after its forward.
template <class T>
void weight_codes(nn::WeightTransform<T>* q, std::vector<int32_t>& codes,
                  std::vector<double>& levels, std::string& method) {
  int64_t lo = 0, hi = 0;
  std::vector<double> value_of;
  if (auto* c = dynamic_cast<ClimbqWeight<T>*>(q)) {
    method = "climbq";
    codes = c->codes();
    if (c->one_bit()) {
      lo = -1, hi = 1;
      for (int64_t k = lo; k <= hi; ++k) value_of.push_back(static_cast<double>(k));
    } else {
      lo = c->rule().code_min, hi = c->rule().code_max;
      for (int64_t k = lo; k <= hi; ++k) value_of.push_back(c->rule().value(k));
    }
  } else if (auto* u = dynamic_cast<UniformWeight<T>*>(q)) {
    method = "uniform";
    codes = u->codes();
    lo = -u->qmax(), hi = u->qmax();
    for (int64_t k = lo; k <= hi; ++k) value_of.push_back(u->step() * static_cast<double>(k));
  } else if (auto* l = dynamic_cast<LsqWeight<T>*>(q)) {
    method = "lsq";
    codes = l->codes();
    lo = -l->range().qn, hi = l->range().qp;
    for (int64_t k = lo; k <= hi; ++k) value_of.push_back(l->step() * static_cast<double>(k));
  } else {
    throw InternalError("save_model: unknown weight quantizer " + q->name());
  }
  for (auto& c : codes) c = static_cast<int32_t>(c - lo);
  levels = value_of;
}

template <class T>
std::shared_ptr<nn::WeightTransform<T>> make_weight_quantizer(const ModelSpec& s) {
  switch (s.method) {
    case Method::kUniform:
      return std::make_shared<UniformWeight<T>>(s.bits_w);
    case Method::kLsq:
      return std::make_shared<LsqWeight<T>>(s.bits_w, s.lsq_grad_scale);
    case Method::kClimbq:
    case Method::kClimbqNoscale: {
      ClimbqOptions o = s.climbq;
      o.bits = s.bits_w;
      return std::make_shared<ClimbqWeight<T>>(o);
    }
    default:
      return nullptr;
  }
}

template <class T>
std::unique_ptr<nn::Layer<T>> make_act_quantizer(const ModelSpec& s) {
  switch (s.method) {
    case Method::kUniform:
      return std::make_unique<UniformActivation<T>>(s.bits_a, s.act_clip, s.act_percentile,
                                                    s.act_ema);
    case Method::kLsq:
      return std::make_unique<LsqActivation<T>>(s.bits_a, s.lsq_grad_scale);
    case Method::kClimbq:
    case Method::kClimbqNoscale: {
      ClimbqOptions o = s.climbq;
      o.bits = s.bits_a;
      o.class_scaling = s.method == Method::kClimbq && s.climbq.class_scaling;
      return std::make_unique<ClimbqActivation<T>>(o);
    }
    default:
      return nullptr;
  }
}

std::string clip_rule_name(ClipRule r) { return r == ClipRule::kMax ? "max" : "percentile"; }

}  // namespace

Arch parse_arch(const std::string& name) {
  if (name == "mlp") return Arch::kMlp;
  if (name == "cnn") return Arch::kCnn;
  throw ConfigError("model.arch: expected mlp|cnn, found '" + name + "'");
}
std::string arch_name(Arch a) { return a == Arch::kMlp ? "mlp" : "cnn"; }

Method parse_method(const std::string& name) {
  if (name == "fp32") return Method::kFp32;
  if (name == "uniform") return Method::kUniform;
  if (name == "lsq") return Method::kLsq;
  if (name == "climbq") return Method::kClimbq;
  if (name == "climbq-noscale") return Method::kClimbqNoscale;
  throw ConfigError("method: expected fp32|uniform|lsq|climbq|climbq-noscale, found '" + name +
                    "'");
}
std::string method_name(Method m) {
  switch (m) {
    case Method::kFp32:
      return "fp32";
    case Method::kUniform:
      return "uniform";
    case Method::kLsq:
      return "lsq";
    case Method::kClimbq:
      return "climbq";
    case Method::kClimbqNoscale:
      return "climbq-noscale";
  }
  return "?";
}

std::vector<int64_t> resolved_hidden(const ModelSpec& s) {
  if (!s.hidden.empty()) return s.hidden;
  if (s.height * s.width * s.channels >= 256) return {256, 128};
  return {64, 32};
}

void validate(const ModelSpec& s) {
  if (s.height < 1 || s.width < 1 || s.channels < 1)
    throw ConfigError("model: input shape must be positive, found " + std::to_string(s.height) +
                      "x" + std::to_string(s.width) + "x" + std::to_string(s.channels));
  if (s.classes < 2)
    throw ConfigError("model: num_classes must be >= 2, found " + std::to_string(s.classes));
  for (int64_t h : s.hidden)
    if (h < 1) throw ConfigError("model.hidden: widths must be >= 1, found " + std::to_string(h));
  if (s.arch == Arch::kCnn && (s.height < 16 || s.width < 16))
    throw ConfigError("model.arch: cnn needs H, W >= 16, found " + std::to_string(s.height) + "x" +
                      std::to_string(s.width));
  if (s.method == Method::kFp32) return;
  const bool climbq = s.method == Method::kClimbq || s.method == Method::kClimbqNoscale;
  for (int b : {s.bits_w, s.bits_a}) {
    if (climbq) {
      ClimbqOptions o = s.climbq;
      o.bits = b;
      validate(o);
    } else if (b < 2 || b > 16) {
      throw ConfigError("quant.bits: " + method_name(s.method) + " needs 2..16 bits, found " +
                        std::to_string(b));
    }
  }
}

// ---------------------------------------------------------------- Network

template <class T>
Network<T>::Network(ModelSpec spec, std::unique_ptr<nn::Sequential<T>> seq)
    : spec_(std::move(spec)), seq_(std::move(seq)) {
  for (size_t i = 0; i < seq_->size(); ++i) {
    nn::Layer<T>& l = seq_->layer(i);
    if (auto* d = dynamic_cast<nn::Dense<T>*>(&l)) {
      weight_layers_.push_back(i);
      if (d->transform()) wq_.push_back({i, d->transform()});
    } else if (auto* c = dynamic_cast<nn::Conv2d<T>*>(&l)) {
      weight_layers_.push_back(i);
      if (c->transform()) wq_.push_back({i, c->transform()});
    } else if (dynamic_cast<nn::BatchNorm<T>*>(&l)) {
      bn_layers_.push_back(i);
    } else if (type_of(seq_->layer_name(i)) == "actq") {
      aq_.push_back({i, &l});
    }
  }
  if (weight_layers_.empty() || weight_layers_.back() != seq_->size() - 1 ||
      weight_layers_.back() == 0)
    throw InternalError("Network: the last layer must be the classifier");
  feature_tap_ = weight_layers_.back() - 1;
}

template <class T>
nn::Shape Network<T>::input_shape(int64_t batch) const {
  return nn::Shape{batch, spec_.height, spec_.width, spec_.channels};
}

template <class T>
const nn::Tensor<T>& Network<T>::forward(const nn::Tensor<T>& x, nn::Pass& pass) {
  const int64_t per = spec_.height * spec_.width * spec_.channels;
  if (x.rank() < 2 || x.shape().inner() != per)
    throw InternalError("Network: input " + x.shape().str() + " does not match " +
                        input_shape(x.rank() ? x.dim(0) : 0).str());
  return seq_->run(x, pass);
}

template <class T>
void Network<T>::backward(const nn::Tensor<T>& dlogits, nn::Pass& pass, nn::Tensor<T>* dx) {
  seq_->backward(dlogits, dx, pass);
}

template <class T>
void Network<T>::set_act_quantizers_enabled(bool on) {
  for (auto& a : aq_) {
    if (auto* c = dynamic_cast<ClimbqActivation<T>*>(a.quantizer)) c->set_enabled(on);
    if (auto* u = dynamic_cast<UniformActivation<T>*>(a.quantizer)) u->set_enabled(on);
    if (auto* l = dynamic_cast<LsqActivation<T>*>(a.quantizer)) l->set_enabled(on);
  }
}

template <class T>
Network<T> build_model(const ModelSpec& spec_in, uint64_t seed) {
  ModelSpec spec = spec_in;
  validate(spec);
  if (spec.arch == Arch::kMlp) spec.hidden = resolved_hidden(spec);
  Rng rng(seed, named_stream("init"));
  auto seq = std::make_unique<nn::Sequential<T>>();
  const bool quant = spec.method != Method::kFp32;
  auto add = [&](std::unique_ptr<nn::Layer<T>> l, const std::string& type) {
    seq->add_layer(std::move(l), layer_name(seq->size(), type));
  };
  // Hidden block: weight layer (already added) -> BN -> [Aq] -> ReLU (Uniform/LSQ: ReLU -> Aq).
  auto block_tail = [&](int64_t channels) {
    add(std::make_unique<nn::BatchNorm<T>>(channels), "batchnorm");
    if (quant && !act_after_relu(spec.method)) add(make_act_quantizer<T>(spec), "actq");
    add(std::make_unique<nn::ReLU<T>>(), "relu");
    if (quant && act_after_relu(spec.method)) add(make_act_quantizer<T>(spec), "actq");
  };
  bool first = true;
  auto wq_for = [&](bool is_classifier) {
    const bool on = quant && (is_classifier ? spec.last_layer : (!first || spec.first_layer));
    first = false;
    return on ? make_weight_quantizer<T>(spec) : nullptr;
  };
  int64_t features = 0;
  if (spec.arch == Arch::kMlp) {
    int64_t in = spec.height * spec.width * spec.channels;
    for (int64_t h : spec.hidden) {
      auto d = std::make_unique<nn::Dense<T>>(in, h, false);
      d->init(rng);
      d->set_transform(wq_for(false));
      add(std::move(d), "dense");
      block_tail(h);
      in = h;
    }
    features = in;
  } else {
    int64_t h = spec.height, w = spec.width, c = spec.channels;
    for (int64_t cout : {16, 32}) {
      auto conv = std::make_unique<nn::Conv2d<T>>(c, cout, 5, 5, 1, 0, false);
      conv->init(rng);
      conv->set_transform(wq_for(false));
      add(std::move(conv), "conv2d");
      block_tail(cout);
      add(std::make_unique<nn::MaxPool2d<T>>(), "maxpool2d");
      h = (h - 4) / 2, w = (w - 4) / 2, c = cout;
    }
    if (h < 1 || w < 1) throw ConfigError("model.arch: cnn input too small");
    add(std::make_unique<nn::Flatten<T>>(), "flatten");
    features = h * w * c;
  }
  auto cls = std::make_unique<nn::Dense<T>>(features, spec.classes, true);
  cls->init(rng);
  cls->set_transform(wq_for(true));
  add(std::move(cls), "dense");
  return Network<T>(std::move(spec), std::move(seq));
}

// ---------------------------------------------------------------- costs

ModelCost model_cost(const ModelSpec& spec_in, bool uint8_input) {
  // Built in float on a throw-away network: shapes and MACs come from the layers themselves.
  Network<float> net = build_model<float>(spec_in, 0);
  const ModelSpec& spec = net.spec();
  const bool quant = spec.method != Method::kFp32;
  ModelCost mc;
  nn::Shape s = net.input_shape(1);
  int bits_in = uint8_input ? 8 : 32;
  auto& seq = net.seq();
  for (size_t i = 0; i < seq.size(); ++i) {
    nn::Layer<float>& l = seq.layer(i);
    const nn::Cost c = l.cost(s);
    LayerCost lc;
    bool weight_layer = false;
    if (auto* d = dynamic_cast<nn::Dense<float>*>(&l)) {
      weight_layer = true;
      lc.weights = d->weight().size();
      lc.biases = d->bias() ? d->bias()->size() : 0;
      lc.quantized = d->transform() != nullptr;
    } else if (auto* cv = dynamic_cast<nn::Conv2d<float>*>(&l)) {
      weight_layer = true;
      lc.weights = cv->weight().size();
      lc.biases = cv->bias() ? cv->bias()->size() : 0;
      lc.quantized = cv->transform() != nullptr;
    }
    if (weight_layer) {
      lc.name = seq.layer_name(i);
      lc.macs = c.macs;
      lc.bits_w = lc.quantized ? spec.bits_w : 32;
      lc.bits_in = bits_in;
      mc.layers.push_back(lc);
      mc.macs += lc.macs;
      mc.bops += lc.macs * lc.bits_w * lc.bits_in;
      if (lc.quantized) {
        mc.quantized_weights += lc.weights;
        mc.quantized_weight_bytes += (lc.weights * lc.bits_w + 7) / 8;
      }
      // The next weight layer reads this block's (quantized) activations.
      bits_in = quant ? spec.bits_a : 32;
    }
    s = l.out_shape(s);
  }
  mc.quantized_weights_fp32_bytes = 4 * mc.quantized_weights;
  return mc;
}

// ---------------------------------------------------------------- checkpoints

template <class T>
void save_model(io::H5File& f, Network<T>& net) {
  const ModelSpec& s = net.spec();
  const std::string root = "/model";
  f.create_group(root + "/layers");
  f.set_attribute(root, "arch", arch_name(s.arch));
  f.set_attribute(root, "num_classes", static_cast<int64_t>(s.classes));
  set_int32_array_attribute(f, root, "input_shape",
                            {static_cast<int32_t>(s.height), static_cast<int32_t>(s.width),
                             static_cast<int32_t>(s.channels)});
  const bool quant = s.method != Method::kFp32;
  f.set_attribute(root, "method", method_name(s.method));
  f.set_attribute(root, "mode", s.mode);
  f.set_attribute(root, "loss", s.loss);
  f.set_attribute(root, "bits_w", static_cast<int64_t>(quant ? s.bits_w : 0));
  f.set_attribute(root, "bits_a", static_cast<int64_t>(quant ? s.bits_a : 0));
  f.set_attribute(root, "levels_variant",
                  s.climbq.variant == LevelsVariant::kV2023 ? "v2023" : "v2022");
  f.set_attribute(root, "pixel_scale", s.pixel_scale);
  f.set_attribute(root, "norm_mean", s.norm_mean);
  f.set_attribute(root, "norm_std", s.norm_std);
  f.write_int64(root + "/class_counts", s.class_counts);

  auto& seq = net.seq();
  nn::Pass pass;
  for (size_t i = 0; i < seq.size(); ++i) {
    const std::string path = root + "/layers/" + seq.layer_name(i);
    const std::string type = type_of(seq.layer_name(i));
    nn::Layer<T>& l = seq.layer(i);
    f.create_group(path);
    f.set_attribute(path, "type", type);
    nn::WeightTransform<T>* wq = nullptr;
    nn::Tensor<T>* w = nullptr;
    if (auto* d = dynamic_cast<nn::Dense<T>*>(&l)) {
      w = &d->weight();
      write_f32(f, path + "/W", *w);
      if (d->bias()) write_f32(f, path + "/b", *d->bias());
      wq = d->transform();
    } else if (auto* c = dynamic_cast<nn::Conv2d<T>*>(&l)) {
      w = &c->weight();
      write_f32(f, path + "/W", *w);
      if (c->bias()) write_f32(f, path + "/b", *c->bias());
      f.set_attribute(path, "stride", c->stride());
      f.set_attribute(path, "pad", c->pad());
      wq = c->transform();
    } else if (auto* bn = dynamic_cast<nn::BatchNorm<T>*>(&l)) {
      write_f32(f, path + "/gamma", bn->gamma());
      write_f32(f, path + "/beta", bn->beta());
      write_f32(f, path + "/running_mean", bn->running_mean());
      write_f32(f, path + "/running_var", bn->running_var());
      f.set_attribute(path, "eps", bn->eps());
      f.set_attribute(path, "momentum", 0.1);
    } else if (type == "maxpool2d") {
      f.set_attribute(path, "k", static_cast<int64_t>(2));
      f.set_attribute(path, "stride", static_cast<int64_t>(2));
    } else if (type == "actq") {
      f.set_attribute(path, "method", method_name(s.method));
      f.set_attribute(path, "bits", static_cast<int64_t>(s.bits_a));
      if (auto* c = dynamic_cast<ClimbqActivation<T>*>(&l)) {
        const ClimbqOptions& o = c->options();
        f.set_attribute(path, "act_range", o.act_range);
        f.set_attribute(path, "sigma_base", o.sigma_base);
        f.set_attribute(path, "sigma_test", o.sigma_test);
        f.set_attribute(path, "levels_variant",
                        o.variant == LevelsVariant::kV2023 ? "v2023" : "v2022");
        f.set_attribute(path, "class_scaling", o.class_scaling ? "batch_freq" : "off");
        f.set_attribute(path, "forward",
                        o.forward == ForwardPath::kBucketize ? "bucketize" : "erfc");
      } else if (auto* u = dynamic_cast<UniformActivation<T>*>(&l)) {
        f.set_attribute(path, "clip", u->calibrated() ? u->clip() : 0.0);
        f.set_attribute(path, "step", u->calibrated() ? u->step() : 0.0);
        f.set_attribute(path, "clip_rule", clip_rule_name(s.act_clip));
      } else if (auto* q = dynamic_cast<LsqActivation<T>*>(&l)) {
        f.set_attribute(path, "step", q->initialized() ? q->step() : 0.0);
      }
    }
    if (wq) {
      nn::Tensor<T> w_hat;
      wq->forward(*w, w_hat, pass);  // codes of the current latent weights
      std::vector<int32_t> codes;
      std::vector<double> levels;
      std::string method;
      weight_codes(wq, codes, levels, method);
      std::vector<hsize_t> shape;
      for (int k = 0; k < w->rank(); ++k) shape.push_back(static_cast<hsize_t>(w->dim(k)));
      if (levels.size() <= 256) {
        std::vector<uint8_t> c8(codes.begin(), codes.end());
        f.write_uint8(path + "/W_codes", c8, shape);
      } else {
        std::vector<uint16_t> c16(codes.begin(), codes.end());
        write_raw(f, path + "/W_codes", H5T_NATIVE_UINT16, H5T_STD_U16LE, shape, c16.data());
      }
      std::vector<float> lv(levels.begin(), levels.end());
      write_raw(f, path + "/levels", H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, {lv.size()}, lv.data());
      f.set_attribute(path, "wq_method", method);
      f.set_attribute(path, "bits", static_cast<int64_t>(s.bits_w));
      if (auto* c = dynamic_cast<ClimbqWeight<T>*>(wq)) {
        f.set_attribute(path, "mu", c->mu());
        f.set_attribute(path, "sigma", c->sigma());
      } else if (auto* u = dynamic_cast<UniformWeight<T>*>(wq)) {
        f.set_attribute(path, "step", u->step());
      } else if (auto* q = dynamic_cast<LsqWeight<T>*>(wq)) {
        f.set_attribute(path, "step", q->step());
      }
    }
  }
}

template <class T>
Network<T> load_model(const io::H5File& f) {
  const std::string root = "/model";
  const std::string at = f.path() + ":";
  if (!f.is_group(root)) throw DataError(at + root + ": missing group");
  if (!f.is_group(root + "/layers")) throw DataError(at + root + "/layers: missing group");
  ModelSpec s;
  try {
    s.arch = parse_arch(attr_string(f, root, "arch"));
    s.method = parse_method(attr_string(f, root, "method"));
    s.climbq.variant = parse_levels_variant(attr_string(f, root, "levels_variant"));
  } catch (const ConfigError& e) {
    throw DataError(at + root + ": " + e.what());
  }
  s.classes = static_cast<int>(attr_int(f, root, "num_classes"));
  const auto shape = read_int_array_attribute(f, root, "input_shape");
  if (shape.size() != 3)
    throw DataError(at + root + ": attribute 'input_shape': expected 3 values, found " +
                    std::to_string(shape.size()));
  s.height = shape[0], s.width = shape[1], s.channels = shape[2];
  s.mode = attr_string(f, root, "mode");
  s.loss = attr_string(f, root, "loss");
  s.bits_w = static_cast<int>(attr_int(f, root, "bits_w"));
  s.bits_a = static_cast<int>(attr_int(f, root, "bits_a"));
  s.pixel_scale = attr_double(f, root, "pixel_scale");
  s.norm_mean = attr_double(f, root, "norm_mean");
  s.norm_std = attr_double(f, root, "norm_std");
  if (!f.is_dataset(root + "/class_counts"))
    throw DataError(at + root + "/class_counts: missing dataset");
  s.class_counts = f.read_int_vector(root + "/class_counts");
  if (static_cast<int64_t>(s.class_counts.size()) != s.classes)
    throw DataError(at + root + "/class_counts: expected " + std::to_string(s.classes) +
                    " entries, found " + std::to_string(s.class_counts.size()));

  // Layer list; hidden widths, first/last-layer quantization and quantizer options from it.
  const std::vector<std::string> names = f.children(root + "/layers");
  std::vector<std::string> weight_names;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string path = root + "/layers/" + names[i];
    if (names[i] != layer_name(i, type_of(names[i])))
      throw DataError(at + path + ": expected layer " + std::to_string(i) + " named NN_<type>");
    const std::string type = attr_string(f, path, "type");
    if (type != type_of(names[i]))
      throw DataError(at + path + ": attribute 'type' is '" + type + "', name says '" +
                      type_of(names[i]) + "'");
    if (type == "dense" || type == "conv2d") weight_names.push_back(path);
    if (type == "actq" && f.has_attribute(path, "act_range")) {
      s.climbq.act_range = attr_double(f, path, "act_range");
      s.climbq.sigma_base = attr_double(f, path, "sigma_base");
      s.climbq.sigma_test = attr_double(f, path, "sigma_test");
      s.climbq.class_scaling = attr_string(f, path, "class_scaling") != "off";
      if (f.has_attribute(path, "forward"))
        s.climbq.forward = parse_forward_path(f.read_attribute_string(path, "forward"));
    }
    if (type == "actq" && f.has_attribute(path, "clip_rule"))
      s.act_clip = parse_clip_rule(f.read_attribute_string(path, "clip_rule"));
  }
  if (weight_names.empty()) throw DataError(at + root + "/layers: no dense/conv2d layer");
  if (s.method == Method::kClimbqNoscale) s.climbq.class_scaling = false;
  if (s.method != Method::kFp32) {
    s.first_layer = f.has_attribute(weight_names.front(), "wq_method");
    s.last_layer = f.has_attribute(weight_names.back(), "wq_method");
    if (s.bits_w == 1 || s.bits_a == 1) s.climbq.one_bit = OneBit::kSign;
  }
  if (s.arch == Arch::kMlp) {
    for (size_t k = 0; k + 1 < weight_names.size(); ++k) {
      const std::string p = weight_names[k] + "/W";
      if (!f.is_dataset(p)) throw DataError(at + p + ": missing dataset");
      const auto info = f.info(p);
      if (info.shape.size() != 2)
        throw DataError(at + p + ": expected rank 2, found " + info.describe());
      s.hidden.push_back(static_cast<int64_t>(info.shape[0]));
    }
  }
  Network<T> net = [&] {
    try {
      return build_model<T>(s, 0);
    } catch (const ConfigError& e) {
      throw DataError(at + root + ": " + e.what());
    }
  }();
  auto& seq = net.seq();
  if (seq.size() != names.size())
    throw DataError(at + root + "/layers: expected " + std::to_string(seq.size()) + " layers for " +
                    arch_name(s.arch) + "/" + method_name(s.method) + ", found " +
                    std::to_string(names.size()));
  for (size_t i = 0; i < seq.size(); ++i) {
    const std::string path = root + "/layers/" + names[i];
    if (names[i] != seq.layer_name(i))
      throw DataError(at + path + ": expected layer " + seq.layer_name(i));
    nn::Layer<T>& l = seq.layer(i);
    nn::WeightTransform<T>* wq = nullptr;
    if (auto* d = dynamic_cast<nn::Dense<T>*>(&l)) {
      read_into(f, path + "/W", d->weight());
      if (d->bias()) read_into(f, path + "/b", *d->bias());
      wq = d->transform();
    } else if (auto* c = dynamic_cast<nn::Conv2d<T>*>(&l)) {
      read_into(f, path + "/W", c->weight());
      if (c->bias()) read_into(f, path + "/b", *c->bias());
      if (attr_int(f, path, "stride") != c->stride() || attr_int(f, path, "pad") != c->pad())
        throw DataError(at + path + ": expected stride " + std::to_string(c->stride()) + ", pad " +
                        std::to_string(c->pad()));
      wq = c->transform();
    } else if (auto* bn = dynamic_cast<nn::BatchNorm<T>*>(&l)) {
      read_into(f, path + "/gamma", bn->gamma());
      read_into(f, path + "/beta", bn->beta());
      read_into(f, path + "/running_mean", bn->running_mean());
      read_into(f, path + "/running_var", bn->running_var());
    } else if (auto* u = dynamic_cast<UniformActivation<T>*>(&l)) {
      const double clip = attr_double(f, path, "clip");
      if (clip > 0) u->set_clip(clip);
    } else if (auto* q = dynamic_cast<LsqActivation<T>*>(&l)) {
      const double step = attr_double(f, path, "step");
      if (step > 0) q->set_step(step);
    }
    if (type_of(names[i]) == "actq" && attr_string(f, path, "method") != method_name(s.method))
      throw DataError(at + path + ": attribute 'method': expected " + method_name(s.method));
    if (wq) {
      if (attr_int(f, path, "bits") != s.bits_w)
        throw DataError(at + path + ": attribute 'bits': expected " + std::to_string(s.bits_w));
      if (auto* q = dynamic_cast<LsqWeight<T>*>(wq)) {
        const double step = attr_double(f, path, "step");
        if (step > 0) q->set_step(step);
      }
    }
  }
  return net;
}

template <class T>
Network<T> load_model(const std::string& path) {
  const io::H5File f = io::H5File::open(path);
  return load_model<T>(f);
}

#define EFFINFER_CLIMBQ_MODEL(T)                                  \
  template class Network<T>;                                      \
  template Network<T> build_model<T>(const ModelSpec&, uint64_t); \
  template void save_model<T>(io::H5File&, Network<T>&);          \
  template Network<T> load_model<T>(const io::H5File&);           \
  template Network<T> load_model<T>(const std::string&);
EFFINFER_CLIMBQ_MODEL(float)
EFFINFER_CLIMBQ_MODEL(double)
#undef EFFINFER_CLIMBQ_MODEL

}  // namespace effinfer::climbq
