// `gen`: synthetic CondConv layer inputs (spec condconv-bench sections 2.7 and 4).
#include "gen.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/png.hpp"

namespace effinfer::condconv {
namespace {

void require_min(const std::string& what, int64_t v, int64_t min, const std::string& why = "") {
  if (v < min)
    throw UsageError(what + ": expected " + (why.empty() ? "" : why + ", i.e. ") +
                     "an integer >= " + std::to_string(min) + ", found " + std::to_string(v));
}

// x from camera.png (spec 4): each (b, c) plane an H x W crop at a seeded offset, scaled to
// [0, 1], then standardised over the whole tensor (per-plane standardisation would make every
// GAP routing input zero).
void camera_input(const GenOptions& o, uint64_t seed, std::vector<double>& x) {
  const LayerShape& s = o.shape;
  const io::GrayImage img = io::read_png_gray(o.camera_path);
  const int64_t h = s.kind == Kind::kFc ? 1 : s.h, w = s.kind == Kind::kFc ? 1 : s.w;
  if (img.height() < h || img.width() < w)
    throw UsageError("--hw: camera crops of " + std::to_string(h) + "x" + std::to_string(w) +
                     " exceed the image " + std::to_string(img.height()) + "x" +
                     std::to_string(img.width()) + " of " + o.camera_path);
  Rng rng(seed, named_stream("gen.camera"));
  const int64_t cin = s.cin;
  for (int64_t b = 0; b < o.batch; ++b)
    for (int64_t c = 0; c < cin; ++c) {
      const int64_t r0 = static_cast<int64_t>(rng.uniform_int(img.height() - h + 1));
      const int64_t c0 = static_cast<int64_t>(rng.uniform_int(img.width() - w + 1));
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j)
          x[((b * h + i) * w + j) * cin + c] = img.gray(r0 + i, c0 + j);
    }
  double mean = 0, sq = 0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  for (double v : x) sq += (v - mean) * (v - mean);
  const double sd = std::sqrt(sq / static_cast<double>(x.size()));
  for (double& v : x) v = sd > 0 ? (v - mean) / sd : 0.0;
}

}  // namespace

LayerInput generate_layer(const GenOptions& o, uint64_t seed) {
  LayerShape s = o.shape;
  require_min("--experts (gen.experts)", s.experts, 1, "at least one expert");
  require_min("--batch (gen.batch)", o.batch, 1);
  require_min("--cin (gen.cin)", s.cin, 1);
  if (s.kind == Kind::kDepthwise) s.cout = s.cin;  // multiplier 1
  require_min("--cout (gen.cout)", s.cout, 1);
  if (s.kind == Kind::kFc) {
    s.h = s.w = s.kh = s.kw = s.stride = 1;
    s.padding = Padding::kValid;
  } else {
    require_min("--kernel (gen.kernel)", s.kh, 1);
    require_min("--stride (gen.stride)", s.stride, 1);
    require_min("--hw (gen.hw)", std::min(s.h, s.w), 1);
    if (s.ho() < 1 || s.wo() < 1)
      throw UsageError("--padding valid with kernel " + std::to_string(s.kh) +
                       " larger than the input " + std::to_string(s.h) + "x" + std::to_string(s.w) +
                       " gives an empty output");
  }
  if (o.input != "gaussian" && o.input != "camera")
    throw UsageError("--input (gen.input): expected gaussian or camera, found '" + o.input + "'");

  LayerInput in;
  in.shape = s;
  in.batch = o.batch;
  in.f64 = o.f64;
  in.x.resize(o.batch * s.in_size());
  if (o.input == "camera") {
    camera_input(o, seed, in.x);
  } else {
    Rng rng(seed, named_stream("gen.x"));
    for (double& v : in.x) v = rng.normal();
  }
  // Experts: each independently He-normal with fan_out = kh kw Cout (depthwise kh kw; FC Cout)
  // (spec 2.7, efficientnet_model.py conv_kernel_initializer).
  const int64_t fan_out = s.kind == Kind::kDepthwise ? s.kh * s.kw : s.kh * s.kw * s.cout;
  const double sd = std::sqrt(2.0 / static_cast<double>(fan_out));
  in.experts.resize(s.experts * s.k());
  for (int64_t i = 0; i < s.experts; ++i) {
    Rng rng(seed, named_stream("gen.experts", static_cast<uint64_t>(i)));
    for (int64_t e = 0; e < s.k(); ++e) in.experts[i * s.k() + e] = sd * rng.normal();
  }
  if (s.expert_bias) {
    Rng rng(seed, named_stream("gen.expert_bias"));
    in.expert_bias.resize(s.experts * s.cout);
    for (double& v : in.expert_bias) v = 0.1 * rng.normal();
  }
  // Routing Dense: Glorot-uniform kernel, zero bias (tf.layers.Dense defaults).
  {
    Rng rng(seed, named_stream("gen.routing"));
    const double limit = std::sqrt(6.0 / static_cast<double>(s.cin + s.experts));
    in.routing_kernel.resize(s.cin * s.experts);
    for (double& v : in.routing_kernel) v = limit * (2 * rng.uniform() - 1);
    in.routing_bias.assign(s.experts, 0.0);
    in.has_routing = true;
  }
  // The routing weights the layer would compute, in float64 from the stored (rounded) values.
  {
    std::vector<double> x = in.x, rk = in.routing_kernel;
    if (!o.f64) {
      for (double& v : x) v = static_cast<float>(v);
      for (double& v : rk) v = static_cast<float>(v);
    }
    in.routing_weights.resize(o.batch * s.experts);
    compute_routing<double>(s, o.batch, x.data(), rk.data(), in.routing_bias.data(),
                            in.routing_weights.data());
    in.has_routing_weights = true;
  }
  return in;
}

}  // namespace effinfer::condconv
