// `inspect` of quantize-climbq (spec 3.3, 3.6).
#include "inspect.hpp"

#include <hdf5.h>

#include <algorithm>

#include "core/error.hpp"
#include "int_export.hpp"
#include "nn/conv2d.hpp"
#include "nn/layers.hpp"

namespace effinfer::climbq {
namespace {

std::string type_of(const std::string& name) {
  const size_t u = name.find('_');
  return u == std::string::npos ? name : name.substr(u + 1);
}

// Codes of a weight quantizer after its forward, shifted so the lowest code is 0, and the number
// of levels.
void fill_weight_quantizer(nn::WeightTransform<float>* q, const nn::Tensor<float>& w,
                           InspectLayer& layer) {
  nn::Tensor<float> w_hat;
  nn::Pass pass;
  q->forward(w, w_hat, pass);
  const std::vector<int32_t>* codes = nullptr;
  int64_t lo = 0, hi = 0;
  if (auto* c = dynamic_cast<ClimbqWeight<float>*>(q)) {
    layer.quantizer = "climbq";
    layer.mu = c->mu(), layer.sigma = c->sigma();
    codes = &c->codes();
    if (c->one_bit()) {
      lo = -1, hi = 1;
    } else {
      lo = c->rule().code_min, hi = c->rule().code_max;
    }
  } else if (auto* u = dynamic_cast<UniformWeight<float>*>(q)) {
    layer.quantizer = "uniform";
    layer.step = u->step();
    codes = &u->codes();
    lo = -u->qmax(), hi = u->qmax();
  } else if (auto* l = dynamic_cast<LsqWeight<float>*>(q)) {
    layer.quantizer = "lsq";
    layer.step = l->step();
    codes = &l->codes();
    lo = -l->range().qn, hi = l->range().qp;
  } else {
    throw InternalError("inspect: unknown weight quantizer " + q->name());
  }
  layer.levels = hi - lo + 1;
  layer.histogram.assign(static_cast<size_t>(layer.levels), 0);
  for (int32_t c : *codes) {
    if (c < lo || c > hi)
      throw InternalError("inspect: " + layer.name + ": code " + std::to_string(c) + " outside " +
                          std::to_string(lo) + ".." + std::to_string(hi));
    ++layer.histogram[static_cast<size_t>(c - lo)];
  }
  layer.levels_used = std::count_if(layer.histogram.begin(), layer.histogram.end(),
                                    [](int64_t k) { return k > 0; });
}

void write_column(io::H5File& f, const std::string& path, const std::vector<double>& v,
                  const std::string& units) {
  f.write_vector(path,
                 Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size())));
  f.set_units(path, units);
}

}  // namespace

InspectReport inspect_network(Network<float>& net) {
  const ModelSpec& spec = net.spec();
  const bool quant = spec.method != Method::kFp32;
  InspectReport r;
  r.arch = arch_name(spec.arch);
  r.method = method_name(spec.method);
  r.mode = spec.mode, r.loss = spec.loss;
  r.bits_w = quant ? spec.bits_w : 0;
  r.bits_a = quant ? spec.bits_a : 0;
  const ModelCost cost = model_cost(spec, true);
  r.macs = cost.macs, r.bops = cost.bops;
  r.quantized_weights = cost.quantized_weights;
  r.quantized_weights_fp32_bytes = cost.quantized_weights_fp32_bytes;
  r.quantized_weights_bytes = cost.quantized_weight_bytes;

  auto& seq = net.seq();
  nn::Shape shape = net.input_shape(1);
  for (size_t i = 0; i < seq.size(); ++i) {
    nn::Layer<float>& l = seq.layer(i);
    const nn::Shape out = l.out_shape(shape);
    InspectLayer layer;
    layer.name = seq.layer_name(i);
    layer.type = type_of(layer.name);
    const nn::Cost c = l.cost(shape);
    layer.macs = c.macs;
    layer.params = c.params;
    std::string s = "[";  // output shape per image (batch dimension dropped)
    for (int k = 1; k < out.rank; ++k) {
      if (k > 1) s += ',';
      s += std::to_string(out[k]);
    }
    layer.shape = s + "]";

    const nn::Tensor<float>* w = nullptr;
    const nn::Tensor<float>* b = nullptr;
    nn::WeightTransform<float>* wq = nullptr;
    if (auto* d = dynamic_cast<nn::Dense<float>*>(&l)) {
      w = &d->weight(), b = d->bias(), wq = d->transform();
    } else if (auto* cv = dynamic_cast<nn::Conv2d<float>*>(&l)) {
      w = &cv->weight(), b = cv->bias(), wq = cv->transform();
    }
    if (w) {
      layer.shape = w->shape().str();
      const int64_t nb = b ? b->size() : 0;
      r.fp32_bytes += 4 * (w->size() + nb);
      if (wq) {
        layer.bits = spec.bits_w;
        fill_weight_quantizer(wq, *w, layer);
        layer.bytes = (w->size() * spec.bits_w + 7) / 8 + 4 * nb;
      } else {
        layer.bits = 32;
        layer.bytes = 4 * (w->size() + nb);
      }
    } else if (auto* bn = dynamic_cast<nn::BatchNorm<float>*>(&l)) {
      layer.bits = 32;
      layer.bytes = 8 * bn->gamma().size();
      r.fp32_bytes += layer.bytes;
    } else if (layer.type == "actq") {
      layer.bits = spec.bits_a;
      layer.quantizer = spec.method == Method::kClimbqNoscale ? "climbq" : method_name(spec.method);
      if (auto* ca = dynamic_cast<ClimbqActivation<float>*>(&l)) {
        layer.sigma = ca->options().sigma_test;
        if (!ca->one_bit()) layer.step = ca->post_relu_scale();
      } else if (auto* ua = dynamic_cast<UniformActivation<float>*>(&l)) {
        if (ua->calibrated()) layer.step = ua->step();
      } else if (auto* la = dynamic_cast<LsqActivation<float>*>(&l)) {
        if (la->initialized()) layer.step = la->step();
      }
    }
    r.params += layer.params;
    r.model_bytes += layer.bytes;
    r.layers.push_back(std::move(layer));
    shape = out;
  }
  if (quant) {
    try {
      const IntSizes sizes = int_model_sizes(export_int_model<float>(net));
      r.int_bytes = sizes.int_bytes, r.packed_bytes = sizes.packed_bytes;
    } catch (const DataError& e) {
      r.int_note = std::string("no integer export: ") + e.what();
    }
  }
  return r;
}

InspectReport inspect_int_model(const IntModel& m) {
  InspectReport r;
  r.content = "int_model";
  r.arch = "int";
  r.method = m.method;
  r.mode = "int";
  r.bits_w = m.bits_w, r.bits_a = m.bits_a;
  int bits_in = m.first_layer == "float" ? 32 : 8;  // uint8 pixels
  for (const IntLayer& L : m.layers) {
    InspectLayer layer;
    layer.name = L.name;
    layer.type = type_of(L.name);
    if (L.kind == IntLayerKind::kQuant || (L.kind == IntLayerKind::kClassifier && L.quantized)) {
      const int64_t weights = L.out * L.k;
      layer.shape = "[" + std::to_string(L.out) + "," + std::to_string(L.k) + "]";
      layer.macs = weights * L.out_h * L.out_w;
      layer.params = weights + (L.kind == IntLayerKind::kClassifier ? L.out : 0);
      layer.bits = m.bits_w;
      layer.quantizer = m.method;
      layer.step = L.w_unit;
      const int64_t half = m.bits_w >= 1 && m.bits_w <= 8 ? int64_t{1} << (m.bits_w - 1) : 128;
      int64_t lo = -half, hi = half - 1;
      for (int8_t c : L.wq) lo = std::min<int64_t>(lo, c), hi = std::max<int64_t>(hi, c);
      if (L.float_input) {
        layer.bits = 32;
        layer.bytes = 4 * weights + 8 * L.out + 4 * L.levels + (L.levels + 1);
      } else {
        layer.levels = hi - lo + 1;
        layer.histogram.assign(static_cast<size_t>(layer.levels), 0);
        for (int8_t c : L.wq) ++layer.histogram[static_cast<size_t>(c - lo)];
        layer.levels_used = std::count_if(layer.histogram.begin(), layer.histogram.end(),
                                          [](int64_t k) { return k > 0; });
        layer.bytes = L.kind == IntLayerKind::kQuant
                          ? weights + 4 * L.out * L.levels + L.out + (L.levels + 1)
                          : weights + 4 * L.out;
        r.quantized_weights += weights;
        r.quantized_weights_bytes += (weights * m.bits_w + 7) / 8;
      }
      r.macs += layer.macs;
      r.bops += layer.macs * layer.bits * bits_in;
      bits_in = m.bits_a;
    } else if (L.kind == IntLayerKind::kClassifier) {
      const int64_t weights = L.out * L.k;
      layer.shape = "[" + std::to_string(L.out) + "," + std::to_string(L.k) + "]";
      layer.macs = weights;
      layer.params = weights + L.out;
      layer.bits = 32;
      layer.bytes = 4 * (weights + L.out);
      r.macs += layer.macs;
      r.bops += layer.macs * 32 * bits_in;
    }
    r.params += layer.params;
    r.model_bytes += layer.bytes;
    r.layers.push_back(std::move(layer));
  }
  r.quantized_weights_fp32_bytes = 4 * r.quantized_weights;
  const IntSizes sizes = int_model_sizes(m);
  r.fp32_bytes = sizes.fp32_bytes;
  r.int_bytes = sizes.int_bytes, r.packed_bytes = sizes.packed_bytes;
  return r;
}

void write_inspect(io::H5File& f, const InspectReport& r) {
  const std::string g = "/results/inspect";
  f.create_group(g + "/histograms");
  f.create_group(g + "/size");
  f.set_attribute(g, "arch", r.arch);
  f.set_attribute(g, "method", r.method);
  f.set_attribute(g, "mode", r.mode);
  f.set_attribute(g, "loss", r.loss);
  f.set_attribute(g, "bits_w", r.bits_w);
  f.set_attribute(g, "bits_a", r.bits_a);
  std::vector<std::string> name, type, shape, quantizer;
  std::vector<int32_t> bits, levels, used;
  std::vector<int64_t> macs, params, bytes;
  std::vector<double> mu, sigma, step;
  for (const auto& l : r.layers) {
    name.push_back(l.name), type.push_back(l.type), shape.push_back(l.shape);
    quantizer.push_back(l.quantizer);
    bits.push_back(l.bits);
    levels.push_back(static_cast<int32_t>(l.levels));
    used.push_back(static_cast<int32_t>(l.levels_used));
    macs.push_back(l.macs), params.push_back(l.params), bytes.push_back(l.bytes);
    mu.push_back(l.mu), sigma.push_back(l.sigma), step.push_back(l.step);
    if (!l.histogram.empty()) {
      const std::string p = g + "/histograms/" + l.name;
      f.write_int64(p, l.histogram);
      f.set_units(p, "1");
    }
  }
  f.write_strings(g + "/name", name);
  f.write_strings(g + "/type", type);
  f.write_strings(g + "/shape", shape);
  f.write_strings(g + "/quantizer", quantizer);
  f.write_int32(g + "/bits", bits);
  f.set_units(g + "/bits", "bit");
  f.write_int32(g + "/levels", levels);
  f.set_units(g + "/levels", "1");
  f.write_int32(g + "/levels_used", used);
  f.set_units(g + "/levels_used", "1");
  f.write_int64(g + "/macs", macs);
  f.set_units(g + "/macs", "MAC/image");
  f.write_int64(g + "/params", params);
  f.set_units(g + "/params", "1");
  f.write_int64(g + "/bytes", bytes);
  f.set_units(g + "/bytes", "byte");
  write_column(f, g + "/mu", mu, "1");
  write_column(f, g + "/sigma", sigma, "1");
  write_column(f, g + "/step", step, "1");
  auto scalar = [&](const std::string& path, int64_t v, const std::string& units) {
    f.write_int64(path, {v});
    f.set_units(path, units);
  };
  scalar(g + "/total_macs", r.macs, "MAC/image");
  scalar(g + "/total_bops", r.bops, "bit-op/image");
  scalar(g + "/total_params", r.params, "1");
  scalar(g + "/size/fp32_bytes", r.fp32_bytes, "byte");
  scalar(g + "/size/model_bytes", r.model_bytes, "byte");
  scalar(g + "/size/quantized_weights", r.quantized_weights, "1");
  scalar(g + "/size/quantized_weights_fp32_bytes", r.quantized_weights_fp32_bytes, "byte");
  scalar(g + "/size/quantized_weights_bytes", r.quantized_weights_bytes, "byte");
  if (r.int_bytes >= 0) {
    scalar(g + "/size/int_bytes", r.int_bytes, "byte");
    scalar(g + "/size/packed_bytes", r.packed_bytes, "byte");
  }
  f.set_attribute(g, "content", r.content);
}

Json inspect_json(const InspectReport& r, int64_t max_histogram) {
  Json layers = Json(Json::Array{});
  for (const auto& l : r.layers) {
    Json j = Json::object();
    j.set("name", l.name);
    j.set("type", l.type);
    j.set("shape", l.shape);
    j.set("bits", l.bits);
    if (!l.quantizer.empty()) j.set("quantizer", l.quantizer);
    if (l.mu == l.mu) j.set("mu", l.mu);
    if (l.sigma == l.sigma) j.set("sigma", l.sigma);
    if (l.step == l.step) j.set("step", l.step);
    if (l.levels) {
      j.set("levels", static_cast<long long>(l.levels));
      j.set("levels_used", static_cast<long long>(l.levels_used));
      if (l.levels <= max_histogram) j.set("histogram", Json::array_of(l.histogram));
    }
    j.set("macs", static_cast<long long>(l.macs));
    j.set("params", static_cast<long long>(l.params));
    j.set("bytes", static_cast<long long>(l.bytes));
    layers.push_back(std::move(j));
  }
  Json out = Json::object();
  out.set("arch", r.arch);
  out.set("method", r.method);
  out.set("mode", r.mode);
  out.set("bits_w", r.bits_w);
  out.set("bits_a", r.bits_a);
  out.set("layers", std::move(layers));
  out.set("macs", static_cast<long long>(r.macs));
  out.set("bops", static_cast<long long>(r.bops));
  out.set("params", static_cast<long long>(r.params));
  Json size = Json::object();
  size.set("fp32", static_cast<long long>(r.fp32_bytes));
  size.set("model", static_cast<long long>(r.model_bytes));
  size.set("quantized_weights_fp32", static_cast<long long>(r.quantized_weights_fp32_bytes));
  size.set("quantized_weights", static_cast<long long>(r.quantized_weights_bytes));
  if (r.int_bytes >= 0) {
    size.set("int", static_cast<long long>(r.int_bytes));
    size.set("packed", static_cast<long long>(r.packed_bytes));
  }
  out.set("size_bytes", std::move(size));
  if (!r.int_note.empty()) out.set("int_note", r.int_note);
  return out;
}

}  // namespace effinfer::climbq
