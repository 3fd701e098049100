#include "arch.hpp"

#include <cmath>
#include <sstream>

#include "core/error.hpp"

namespace effinfer::condconv {
namespace {

std::string fmt(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// Appends layers while tracking the running spatial size and channel count.
class Builder {
 public:
  Builder(ArchSpec& arch, int h, int c) : arch_(arch), h_(h), c_(c) {}
  int h() const { return h_; }
  int c() const { return c_; }

  // A convolution (or depthwise) from the current tensor; returns its layer index.
  int conv(const std::string& name, RowKind kind, OpKind op, int kernel, int stride, int c_out,
           int group, bool bn, bool bias, Activation act, int64_t extra = 0) {
    LayerSpec l;
    l.name = name;
    l.group = group;
    l.kind = kind;
    l.op = op;
    l.h_in = l.w_in = h_;
    l.h_out = l.w_out = same_out(h_, stride);
    l.c_in = c_;
    l.c_out = op == OpKind::kDepthwise ? c_ : c_out;
    l.kernel = kernel;
    l.stride = stride;
    l.bn = bn;
    l.bias = bias;
    l.act = act;
    l.extra_flops = extra;
    h_ = l.h_out;
    c_ = l.c_out;
    return push(std::move(l));
  }

  // An FC on a vector (SE FCs, classifiers); does not change the running tensor.
  int fc(const std::string& name, RowKind kind, int c_in, int c_out, int group, bool bias,
         Activation act, int64_t extra = 0) {
    LayerSpec l;
    l.name = name;
    l.group = group;
    l.kind = kind;
    l.op = OpKind::kFc;
    l.c_in = c_in;
    l.c_out = c_out;
    l.bias = bias;
    l.act = act;
    l.extra_flops = extra;
    return push(std::move(l));
  }

  // A routing group whose input is the current tensor.
  int group(const std::string& name, const std::string& routing_name, int block, int stage,
            bool official) {
    GroupSpec g;
    g.name = name;
    g.routing_name = routing_name;
    g.block = block;
    g.stage = stage;
    g.h_in = g.w_in = h_;
    g.c_in = c_;
    g.official = official;
    arch_.groups.push_back(std::move(g));
    return static_cast<int>(arch_.groups.size()) - 1;
  }

  // The classifier on the globally pooled features: pooling (Mean or AvgPool, k^2 per output =
  // H*W*C in either case) and the logits bias are charged to it (spec 2.5).
  void classifier(const std::string& name, int classes) {
    const int g = static_cast<int>(arch_.groups.size());
    GroupSpec spec;
    spec.name = name;
    spec.routing_name = name + "/routing";
    spec.classifier = true;
    spec.c_in = c_;
    spec.official = arch_.fc_condconv;
    arch_.groups.push_back(std::move(spec));
    const int64_t pool = static_cast<int64_t>(h_) * h_ * c_;
    fc(name, RowKind::kClassifier, c_, classes, g, true, Activation::kNone, pool);
  }

  // Later layers of the same block may share a routing group set after their creation.
  void set_group(int layer, int g) { arch_.layers[static_cast<size_t>(layer)].group = g; }

 private:
  int push(LayerSpec l) {
    arch_.layers.push_back(std::move(l));
    const int index = static_cast<int>(arch_.layers.size()) - 1;
    const int g = arch_.layers.back().group;
    if (g >= 0) arch_.groups[static_cast<size_t>(g)].layers.push_back(index);
    return index;
  }
  ArchSpec& arch_;
  int h_, c_;
};

// One MBConv stage row: (repeats, kernel, stride, expand, out, SE, residual allowed).
struct MbStage {
  int repeats, kernel, stride, expand, out;
  bool se;
  bool residual = true;
};

struct MbFamily {
  std::vector<MbStage> stages;
  int stem = 32, head = 1280;
  bool scale_head = true;  // MnasNet keeps 1280 whatever the width
  Activation act = Activation::kSwish;
  int first_cc_stage = 5;  // official CondConv stages first_cc_stage..7 (1-based)
  int cc_last_blocks = 0;  // > 0: the last N blocks instead (MobileNetV2)
  bool expand_always = false;
};

// EfficientNet / MnasNet / MobileNetV2 (spec 2.6). Block: [expand 1x1 + BN + act if expand != 1]
// -> depthwise k x k + BN + act -> [SE on the block-input width * 0.25] -> project 1x1 + BN ->
// residual if stride 1 and Cin == Cout.
void build_mbconv(ArchSpec& a, const MbFamily& f) {
  const int stem = round_filters_efficientnet(f.stem, a.width);
  Builder b(a, a.resolution, a.in_channels);
  b.conv("stem", RowKind::kStem, OpKind::kConv, 3, 2, stem, -1, true, false, f.act);
  int total_blocks = 0;
  for (const auto& s : f.stages) total_blocks += static_cast<int>(std::ceil(a.depth * s.repeats));
  int block = 0;
  a.stages = static_cast<int>(f.stages.size());
  for (size_t si = 0; si < f.stages.size(); ++si) {
    const MbStage& s = f.stages[si];
    const int out = round_filters_efficientnet(s.out, a.width);
    const int repeats = static_cast<int>(std::ceil(a.depth * s.repeats));
    const int stage = static_cast<int>(si) + 1;
    for (int r = 0; r < repeats; ++r, ++block) {
      const int stride = r == 0 ? s.stride : 1;
      const int c_in = b.c();
      const int mid = c_in * s.expand;
      const std::string p = "blocks_" + std::to_string(block) + "/";
      const bool official = f.cc_last_blocks > 0 ? block >= total_blocks - f.cc_last_blocks
                                                 : stage >= f.first_cc_stage;
      const int g =
          b.group("blocks_" + std::to_string(block), p + "routing", block, stage, official);
      if (s.expand != 1)
        b.conv(p + "expand", RowKind::kExpand, OpKind::kConv, 1, 1, mid, g, true, false, f.act);
      b.conv(p + "depthwise", RowKind::kDepthwise, OpKind::kDepthwise, s.kernel, stride, 0, g, true,
             false, f.act);
      const int64_t hw = static_cast<int64_t>(b.h()) * b.h();
      if (s.se) {
        // Squeeze Mean over the depthwise output; reduce FC (+bias, act); expand FC (+bias,
        // sigmoid) and the gating Mul per element (spec 2.5).
        const int reduced = std::max(1, static_cast<int>(std::floor(0.25 * c_in)));
        b.fc(p + "se_reduce", RowKind::kSeReduce, mid, reduced, -1, true, f.act, hw * mid);
        b.fc(p + "se_expand", RowKind::kSeExpand, reduced, mid, -1, true, Activation::kSigmoid,
             hw * mid);
      }
      const bool residual = s.residual && stride == 1 && c_in == out;
      b.conv(p + "project", RowKind::kProject, OpKind::kConv, 1, 1, out, g, true, false,
             Activation::kNone, residual ? hw * out : 0);
    }
  }
  const int head = f.scale_head ? round_filters_efficientnet(f.head, a.width) : f.head;
  b.conv("head", RowKind::kHead, OpKind::kConv, 1, 1, head, -1, true, false, f.act);
  b.classifier("classifier", a.classes);
}

void build_mobilenet_v1(ArchSpec& a) {
  struct Sep {
    int stride, out;
  };
  const std::vector<Sep> seps = {{1, 64},  {2, 128},  {1, 128}, {2, 256}, {1, 256},
                                 {2, 512}, {1, 512},  {1, 512}, {1, 512}, {1, 512},
                                 {1, 512}, {2, 1024}, {1, 1024}};
  Builder b(a, a.resolution, a.in_channels);
  const auto relu6 = Activation::kRelu6;
  b.conv("Conv2d_0", RowKind::kStem, OpKind::kConv, 3, 2, round_filters_mobilenet_v1(32, a.width),
         -1, true, false, relu6);
  a.stages = static_cast<int>(seps.size());
  for (size_t k = 0; k < seps.size(); ++k) {
    const int i = static_cast<int>(k) + 1;
    const std::string p = "Conv2d_" + std::to_string(i);
    // The inferred placement (spec 2.3, [unverified]): Conv2d_7..13, dw and pw share a routing.
    const int g = b.group(p, p + "_routing", i, i, i >= 7);
    b.conv(p + "_depthwise", RowKind::kDepthwise, OpKind::kDepthwise, 3, seps[k].stride, 0, g, true,
           false, relu6);
    b.conv(p + "_pointwise", RowKind::kPointwise, OpKind::kConv, 1, 1,
           round_filters_mobilenet_v1(seps[k].out, a.width), g, true, false, relu6);
  }
  // slim's AvgPool 7x7 VALID is a global pool at 224 (and its kernel shrinks for small inputs);
  // counted as global at every resolution. Logits: 1x1 conv with bias = FC.
  b.classifier("Logits", a.classes);
}

void build_resnet50(ArchSpec& a) {
  struct Stage {
    int blocks, mid, out, stride;
  };
  const std::vector<Stage> stages = {
      {3, 64, 256, 1}, {4, 128, 512, 2}, {6, 256, 1024, 2}, {3, 512, 2048, 2}};
  Builder b(a, a.resolution, a.in_channels);
  const auto relu = Activation::kRelu;
  // MaxPool 3x3/2 SAME after the stem: k^2 FLOPs per output element, charged to `stem`.
  const int h_pool = same_out(same_out(a.resolution, 2), 2);
  const int64_t maxpool = 9LL * h_pool * h_pool * 64;
  b.conv("conv1", RowKind::kStem, OpKind::kConv, 7, 2, 64, -1, true, false, relu, maxpool);
  Builder pool(a, h_pool, 64);  // continue after the MaxPool
  a.stages = static_cast<int>(stages.size());
  int block = 0;
  for (size_t si = 0; si < stages.size(); ++si) {
    const Stage& s = stages[si];
    for (int u = 0; u < s.blocks; ++u, ++block) {
      const int stride = u == 0 ? s.stride : 1;
      const std::string name = "conv" + std::to_string(si + 2) + "_" + std::to_string(u + 1);
      const std::string p = name + "/";
      // Inferred placement (spec 2.3, [unverified]): every conv of conv5_x.
      const int g = pool.group(name, p + "routing", block, static_cast<int>(si) + 1, si == 3);
      const int c_in = pool.c(), h_in = pool.h();
      pool.conv(p + "conv1", RowKind::kConv, OpKind::kConv, 1, 1, s.mid, g, true, false, relu);
      // v1.5: the stride sits on the 3x3.
      pool.conv(p + "conv2", RowKind::kConv, OpKind::kConv, 3, stride, s.mid, g, true, false, relu);
      const int h_out = pool.h();
      const int64_t add = static_cast<int64_t>(h_out) * h_out * s.out;  // residual Add
      pool.conv(p + "conv3", RowKind::kProject, OpKind::kConv, 1, 1, s.out, g, true, false,
                Activation::kNone, add);
      if (u == 0) {
        Builder shortcut(a, h_in, c_in);
        shortcut.conv(p + "shortcut", RowKind::kShortcut, OpKind::kConv, 1, stride, s.out, g, true,
                      false, Activation::kNone);
      }
    }
  }
  pool.classifier("fc", a.classes);
}

// S / S'(c) / C(n) of spec 2.8: SAME convs with bias and ReLU, no BN; GAP; FC.
void build_fmnist_s(ArchSpec& a) {
  const int c = static_cast<int>(a.width);
  Builder b(a, a.resolution, a.in_channels);
  struct Conv {
    int stride, out;
  };
  const std::vector<Conv> convs = {{1, 16}, {2, 32}, {2, c}, {1, c}};
  a.stages = static_cast<int>(convs.size());
  for (size_t k = 0; k < convs.size(); ++k) {
    const int i = static_cast<int>(k) + 1;
    const std::string name = "conv" + std::to_string(i);
    const int g = b.group(name, name + "/routing", i, i, i >= 3);
    b.conv(name, RowKind::kConv, OpKind::kConv, 3, convs[k].stride, convs[k].out, g, false, true,
           Activation::kRelu);
  }
  b.classifier("fc", a.classes);
}

struct Entry {
  const char* name;
  const char* family;
  double width, depth;
  int resolution, experts;
  const char* note;
};

const std::vector<Entry>& entries() {
  static const std::vector<Entry> e = {
      {"efficientnet-b0", "efficientnet", 1.0, 1.0, 224, 0, "CondConv: stages 5-7 (official)"},
      {"efficientnet-b1", "efficientnet", 1.0, 1.1, 240, 0, "CondConv: stages 5-7 (official)"},
      {"efficientnet-b2", "efficientnet", 1.1, 1.2, 260, 0, "CondConv: stages 5-7 (official)"},
      {"efficientnet-b3", "efficientnet", 1.2, 1.4, 300, 0, "CondConv: stages 5-7 (official)"},
      {"efficientnet-condconv-b0-4e", "efficientnet", 1.0, 1.0, 224, 4,
       "CondConv-EfficientNet-B0, 4 experts"},
      {"efficientnet-condconv-b0-8e", "efficientnet", 1.0, 1.0, 224, 8,
       "CondConv-EfficientNet-B0, 8 experts"},
      {"efficientnet-condconv-b0-8e-depth", "efficientnet", 1.0, 1.1, 224, 8,
       "CondConv-EfficientNet-B0-depth, 8 experts"},
      {"mnasnet-a1", "mnasnet", 1.0, 1.0, 224, 0, "CondConv: stages 5-7 (inferred, unverified)"},
      {"mobilenet-v1", "mobilenet-v1", 1.0, 1.0, 224, 0,
       "CondConv: Conv2d_7..13 + Logits with expert biases (inferred, unverified)"},
      {"mobilenet-v2", "mobilenet-v2", 1.0, 1.0, 224, 0,
       "CondConv: last 6 blocks + classifier (d-li14 port; no placement gives the paper's 329M)"},
      {"resnet50", "resnet50", 1.0, 1.0, 224, 0,
       "v1.5; CondConv: every conv of conv5_x (inferred, unverified)"},
      {"fmnist-s", "fmnist-s", 64, 1.0, 28, 0,
       "spec 2.8 S; --width c widens conv3/conv4 (S'); CondConv C(n): conv3, conv4, fc"},
  };
  return e;
}

const Entry& find_entry(const std::string& name) {
  for (const auto& e : entries())
    if (name == e.name) return e;
  std::string valid;
  for (const auto& n : arch_names()) valid += (valid.empty() ? "" : ", ") + n;
  throw UsageError("unknown architecture '" + name + "'; valid names: " + valid);
}

}  // namespace

const char* row_kind_name(RowKind kind) {
  switch (kind) {
    case RowKind::kStem:
      return "stem";
    case RowKind::kExpand:
      return "expand";
    case RowKind::kDepthwise:
      return "depthwise";
    case RowKind::kPointwise:
      return "pointwise";
    case RowKind::kConv:
      return "conv";
    case RowKind::kSeReduce:
      return "se_reduce";
    case RowKind::kSeExpand:
      return "se_expand";
    case RowKind::kProject:
      return "project";
    case RowKind::kShortcut:
      return "shortcut";
    case RowKind::kRouting:
      return "routing";
    case RowKind::kHead:
      return "head";
    case RowKind::kClassifier:
      return "classifier";
  }
  return "?";
}

int round_filters_efficientnet(int channels, double width) {
  // tensorflow/tpu efficientnet_model.round_filters with divisor 8, min_depth 8.
  const double c = channels * width;
  int rounded = std::max(8, static_cast<int>(std::floor((c + 4) / 8)) * 8);
  if (rounded < 0.9 * c) rounded += 8;
  return rounded;
}

int round_filters_mobilenet_v1(int channels, double alpha) {
  // slim mobilenet_v1: depth(d) = max(int(d * depth_multiplier), min_depth = 8).
  return std::max(static_cast<int>(channels * alpha), 8);
}

std::vector<std::string> arch_names() {
  std::vector<std::string> names;
  for (const auto& e : entries()) names.emplace_back(e.name);
  return names;
}

std::string arch_description(const std::string& name) {
  const Entry& e = find_entry(name);
  std::string s = std::string(e.family) + "; width " + fmt(e.width) + ", depth " + fmt(e.depth) +
                  ", resolution " + std::to_string(e.resolution);
  if (e.experts > 0) s += ", experts " + std::to_string(e.experts);
  return s + "; " + e.note;
}

ArchSpec make_arch(const std::string& name, const ArchOverrides& o) {
  const Entry& e = find_entry(name);
  ArchSpec a;
  a.name = name;
  a.family = e.family;
  a.width = o.width.value_or(e.width);
  a.depth = o.depth.value_or(e.depth);
  a.resolution = o.resolution.value_or(e.resolution);
  a.default_experts = e.experts;
  const std::string& f = a.family;
  if (!(a.resolution >= 1 && a.resolution <= 8192))
    throw UsageError("resolution: expected an integer in 1..8192, found " +
                     std::to_string(a.resolution));
  if (f == "fmnist-s") {
    if (!(a.width >= 1 && a.width <= 4096 && a.width == std::floor(a.width)))
      throw UsageError(
          "width: fmnist-s takes the channel count c of conv3/conv4 (spec 2.8), an "
          "integer in 1..4096; found " +
          fmt(a.width));
  } else if (!(std::isfinite(a.width) && a.width > 0 && a.width <= 16)) {
    throw UsageError("width: expected a multiplier in (0, 16], found " + fmt(a.width));
  }
  if (!(std::isfinite(a.depth) && a.depth > 0 && a.depth <= 16))
    throw UsageError("depth: expected a multiplier in (0, 16], found " + fmt(a.depth));
  const bool depth_scales = f == "efficientnet" || f == "mnasnet" || f == "mobilenet-v2";
  if (!depth_scales && a.depth != 1.0)
    throw UsageError("depth: " + name +
                     " has no depth multiplier (only the EfficientNet, "
                     "MnasNet and MobileNetV2 block tables scale repeats); found " +
                     fmt(a.depth));
  if (f == "resnet50" && a.width != 1.0)
    throw UsageError("width: resnet50 has no width multiplier; found " + fmt(a.width));

  if (f == "efficientnet") {
    a.placement_verified = true;
    MbFamily m;
    m.stages = {{1, 3, 1, 1, 16, true}, {2, 3, 2, 6, 24, true},  {2, 5, 2, 6, 40, true},
                {3, 3, 2, 6, 80, true}, {3, 5, 1, 6, 112, true}, {4, 5, 2, 6, 192, true},
                {1, 3, 1, 6, 320, true}};
    build_mbconv(a, m);
  } else if (f == "mnasnet") {
    MbFamily m;
    m.stages = {{1, 3, 1, 1, 16, false, false}, {2, 3, 2, 6, 24, false}, {3, 5, 2, 3, 40, true},
                {4, 3, 2, 6, 80, false},        {2, 3, 1, 6, 112, true}, {3, 5, 2, 6, 160, true},
                {1, 3, 1, 6, 320, false}};
    m.act = Activation::kRelu;
    m.scale_head = false;
    build_mbconv(a, m);
  } else if (f == "mobilenet-v2") {
    a.fc_condconv = true;
    MbFamily m;
    m.stages = {{1, 3, 1, 1, 16, false}, {2, 3, 2, 6, 24, false}, {3, 3, 2, 6, 32, false},
                {4, 3, 2, 6, 64, false}, {3, 3, 1, 6, 96, false}, {3, 3, 2, 6, 160, false},
                {1, 3, 1, 6, 320, false}};
    m.act = Activation::kRelu6;
    m.scale_head = a.width > 1.0;  // MobileNetV2 keeps 1280 for width <= 1
    m.cc_last_blocks = 6;
    build_mbconv(a, m);
  } else if (f == "mobilenet-v1") {
    a.fc_condconv = true;
    build_mobilenet_v1(a);
  } else if (f == "resnet50") {
    build_resnet50(a);
  } else {
    a.fc_condconv = true;
    a.in_channels = 1;
    a.classes = 10;
    build_fmnist_s(a);
  }
  return a;
}

}  // namespace effinfer::condconv
