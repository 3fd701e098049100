// Built-in network architectures of condconv-bench as data (spec condconv-bench 2.3, 2.6, 2.8):
// every layer with its geometry, what follows it (BN, bias, activation), the non-convolution
// operations TensorFlow's profiler charges to it, and the blocks ("groups") that share one
// CondConv routing function. Placement (which groups / layers become CondConv) and the cost
// arithmetic live in count.hpp; `net` and `train` read these tables too.
//
// Conventions: NHWC, square inputs, TF SAME padding for every convolution (Ho = ceil(H/s)).
// Row names follow the reference implementations (EfficientNet/MnasNet/MobileNetV2
// "blocks_<i>/<part>", slim MobileNetV1 "Conv2d_<i>_depthwise", ResNet "conv<s>_<u>/conv<j>").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace effinfer::condconv {

// How a layer's MACs are counted (spec 2.5): Ho*Wo*k*k*Cin*Cout, Ho*Wo*k*k*C, Cin*Cout.
enum class OpKind { kConv, kDepthwise, kFc };

// The `kind` column of /results/layers (spec 3).
enum class RowKind {
  kStem,
  kExpand,
  kDepthwise,
  kPointwise,
  kConv,
  kSeReduce,
  kSeExpand,
  kProject,
  kShortcut,
  kRouting,
  kHead,
  kClassifier
};
const char* row_kind_name(RowKind kind);

// Activation after the layer. Only swish costs anything in madds_tf (x*sigmoid(x): one Mul per
// element); ReLU, ReLU6 and Sigmoid count 0 in TF's flops registry (spec 2.5).
enum class Activation { kNone, kRelu, kRelu6, kSwish, kSigmoid };

struct LayerSpec {
  std::string name;  // unique row name
  int group = -1;    // index into ArchSpec::groups (routing unit); -1 = never CondConv
  RowKind kind = RowKind::kConv;
  OpKind op = OpKind::kConv;
  int h_in = 1, w_in = 1, h_out = 1, w_out = 1;  // 1 for FC / SE layers (they see a vector)
  int c_in = 0, c_out = 0, kernel = 1, stride = 1;
  bool bias = false;  // has its own bias (no BN follows): BiasAdd, one FLOP per output element
  bool bn = false;    // BN follows: 2 parameters (gamma, beta) per output channel
  Activation act = Activation::kNone;
  // The other flops_other items TF charges to this row (spec 2.5): SE squeeze Mean (se_reduce),
  // SE gating Mul (se_expand), residual Add (project / last conv), global pooling (classifier),
  // ResNet MaxPool (stem). Activation Muls and bias adds are derived from act / bias.
  int64_t extra_flops = 0;
};

// A set of layers that shares one routing function computed from the group input (spec 2.3):
// an MBConv block (expand, depthwise, project; never SE), a MobileNetV1 separable layer (dw + pw),
// a ResNet bottleneck (all convs incl. the projection shortcut), one fmnist-s conv, or the
// classifier (its input is the pooled vector, so its routing needs no Mean).
struct GroupSpec {
  std::string name;                  // selectable by --placement layers:<name>
  std::string routing_name;          // row name of its routing row
  int block = -1;                    // the `block` column of its rows
  int stage = 0;                     // 1-based stage for --placement stages:A-B; 0 = the classifier
  int h_in = 1, w_in = 1, c_in = 0;  // the routing input (block input)
  bool classifier = false;           // the FC classifier (governed by fc_condconv)
  bool official = false;             // CondConv in the arch's official (or inferred) placement
  std::vector<int> layers;           // indices into ArchSpec::layers that may become CondConv
};

// Optional overrides of an architecture's own scaling (null config values = not given).
struct ArchOverrides {
  std::optional<double> width;    // width multiplier; fmnist-s: channels c of conv3/conv4 (S')
  std::optional<double> depth;    // depth multiplier (repeats = ceil(d * r))
  std::optional<int> resolution;  // input height = width
};

struct ArchSpec {
  std::string name;    // as requested (aliases kept, e.g. efficientnet-condconv-b0-8e)
  std::string family;  // efficientnet | mnasnet | mobilenet-v1 | mobilenet-v2 | resnet50 | fmnist-s
  double width = 1.0, depth = 1.0;
  int resolution = 224, in_channels = 3, classes = 1000;
  int default_experts = 0;          // the aliases' expert count (count.experts left at default)
  bool placement_verified = false;  // official code exists: only the EfficientNet family
  bool fc_condconv = false;         // classifier CondConv in the official / inferred placement
  bool expert_bias = true;          // CondConv layers with a bias mix it as expert biases
  int stages = 0;                   // number of stages (for stages:A-B)
  std::vector<LayerSpec> layers;    // in execution order
  std::vector<GroupSpec> groups;    // routing groups; layer.group indexes this
};

// The names --arch accepts, in a stable order.
std::vector<std::string> arch_names();
// One line per architecture for --list-archs: family, defaults, placement.
std::string arch_description(const std::string& name);

// Builds an architecture table. UsageError (64) for an unknown name (listing the valid ones) or an
// override out of range or not supported by the family (e.g. --depth for mobilenet-v1); callers
// turn it into ConfigError (78) when the value came from YAML.
ArchSpec make_arch(const std::string& name, const ArchOverrides& overrides = {});

// Channel rounding rules (spec 2.6). EfficientNet / MnasNet / MobileNetV2:
// c' = max(8, floor((c*w + 4)/8)*8), +8 if c' < 0.9*c*w. MobileNetV1: max(floor(c*alpha), 8).
int round_filters_efficientnet(int channels, double width);
int round_filters_mobilenet_v1(int channels, double alpha);

// TF padding arithmetic (spec 2.1): SAME Ho = ceil(H/s); VALID Ho = floor((H-k)/s) + 1.
inline int same_out(int h, int stride) { return (h + stride - 1) / stride; }

}  // namespace effinfer::condconv
