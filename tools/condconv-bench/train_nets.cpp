// Networks of spec condconv-bench 2.8; see train_nets.hpp.
#include "train_nets.hpp"

#include <cmath>
#include <cstdlib>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "nn/condconv.hpp"
#include "nn/conv2d.hpp"
#include "nn/dropout.hpp"

namespace effinfer::condconv {

std::string variant_name(Variant v) {
  switch (v) {
    case Variant::kStatic:
      return "static";
    case Variant::kCondConv:
      return "condconv";
    case Variant::kStaticEqualMacs:
      return "static_equal_macs";
    case Variant::kStaticEqualParams:
      return "static_equal_params";
  }
  return "?";
}

bool parse_variant(const std::string& name, Variant& out) {
  for (Variant v : {Variant::kStatic, Variant::kCondConv, Variant::kStaticEqualMacs,
                    Variant::kStaticEqualParams})
    if (variant_name(v) == name) {
      out = v;
      return true;
    }
  return false;
}

int64_t static_macs(int64_t c) { return 1016064 + 14122 * c + 441 * c * c; }
int64_t static_params(int64_t c) { return 4810 + 300 * c + 9 * c * c; }
int64_t condconv_macs(int64_t n) { return 3726208 + 56234 * n; }
int64_t condconv_params(int64_t n) { return 4800 + 56237 * n; }

namespace {

template <class F>
int64_t argmin_width(int64_t target, F f) {
  int64_t best = 1;
  for (int64_t c = 1; c <= 4096; ++c)
    if (std::llabs(f(c) - target) < std::llabs(f(best) - target)) best = c;
  return best;
}

}  // namespace

int64_t width_equal_macs(int64_t n) { return argmin_width(condconv_macs(n), static_macs); }
int64_t width_equal_params(int64_t n) { return argmin_width(condconv_params(n), static_params); }

NetSpec make_net_spec(Variant v, int64_t n, double dropout) {
  NetSpec s;
  s.variant = v;
  s.dropout = dropout;
  s.experts = v == Variant::kStatic ? 0 : n;
  s.width = v == Variant::kStaticEqualMacs     ? width_equal_macs(n)
            : v == Variant::kStaticEqualParams ? width_equal_params(n)
                                               : 64;
  return s;
}

template <class T>
std::unique_ptr<nn::Sequential<T>> build_net(const NetSpec& spec, uint64_t seed) {
  using nn::Padding;
  if (spec.variant == Variant::kCondConv && spec.experts < 1)
    throw UsageError("condconv variant needs at least one expert, found " +
                     std::to_string(spec.experts));
  Rng rng(seed, named_stream("init"));
  auto net = std::make_unique<nn::Sequential<T>>();
  const int64_t c = spec.width;
  auto conv = [&](int64_t cin, int64_t cout, int64_t stride, const std::string& name) {
    auto l = std::make_unique<nn::Conv2d<T>>(cin, cout, 3, 3, stride, 0, true, Padding::kSame);
    nn::he_normal(l->weight(), 3 * 3 * cout, rng);  // official: fan_out = kh kw Cout
    l->bias()->set_zero();
    net->add(std::move(l), name);
  };
  auto condconv = [&](nn::CondConvKind kind, int64_t cin, int64_t cout, int64_t k, int64_t stride,
                      const std::string& name) {
    nn::CondConvSpec cs;
    cs.kind = kind, cs.cin = cin, cs.cout = cout, cs.kh = cs.kw = k, cs.stride = stride;
    cs.padding = Padding::kSame, cs.experts = spec.experts, cs.expert_bias = true;
    auto l = std::make_unique<nn::CondConv<T>>(cs);
    l->init(rng);
    net->add(std::move(l), name);
  };
  const bool cc = spec.variant == Variant::kCondConv;
  conv(1, 16, 1, "conv1");
  net->add(std::make_unique<nn::ReLU<T>>(), "relu1");
  conv(16, 32, 2, "conv2");
  net->add(std::make_unique<nn::ReLU<T>>(), "relu2");
  if (cc)
    condconv(nn::CondConvKind::kConv, 32, c, 3, 2, "conv3");
  else
    conv(32, c, 2, "conv3");
  net->add(std::make_unique<nn::ReLU<T>>(), "relu3");
  if (cc)
    condconv(nn::CondConvKind::kConv, c, c, 3, 1, "conv4");
  else
    conv(c, c, 1, "conv4");
  net->add(std::make_unique<nn::ReLU<T>>(), "relu4");
  net->add(std::make_unique<nn::GlobalAvgPool<T>>(), "gap");
  net->add(std::make_unique<nn::Dropout<T>>(spec.dropout), "dropout");
  if (cc) {
    condconv(nn::CondConvKind::kFc, c, spec.classes, 1, 1, "fc");
  } else {
    auto fc = std::make_unique<nn::Dense<T>>(c, spec.classes, true);
    nn::uniform_symmetric(fc->weight(), 1.0 / std::sqrt(static_cast<double>(spec.classes)), rng);
    fc->bias()->set_zero();
    net->add(std::move(fc), "fc");
  }
  return net;
}

template <class T>
std::vector<nn::Param<T>> train_params(nn::Sequential<T>& net) {
  std::vector<nn::Param<T>> ps = net.params();
  for (auto& p : ps) {
    const std::string& n = p.name;
    const auto slash = n.rfind('/');
    const std::string leaf = slash == std::string::npos ? n : n.substr(slash + 1);
    // Kernels "W", "experts" and "routing/kernel" decay; biases "b", "expert_bias",
    // "routing/bias" do not (spec 2.8).
    p.decay = leaf == "W" || leaf == "experts" || leaf == "kernel";
  }
  return ps;
}

double madds_other(const NetSpec& spec, int64_t h, int64_t w) {
  const int64_t h2 = (h + 1) / 2, w2 = (w + 1) / 2, h3 = (h2 + 1) / 2, w3 = (w2 + 1) / 2;
  const int64_t c = spec.width;
  double flops = static_cast<double>(h * w * 16 + h2 * w2 * 32 + 2 * h3 * w3 * c + spec.classes);
  flops += static_cast<double>(h3 * w3 * c);  // GAP
  if (spec.variant == Variant::kCondConv)
    flops += static_cast<double>(h2 * w2 * 32 + h3 * w3 * c + 3 * spec.experts);
  return flops / 2;
}

template std::unique_ptr<nn::Sequential<float>> build_net<float>(const NetSpec&, uint64_t);
template std::unique_ptr<nn::Sequential<double>> build_net<double>(const NetSpec&, uint64_t);
template std::vector<nn::Param<float>> train_params<float>(nn::Sequential<float>&);
template std::vector<nn::Param<double>> train_params<double>(nn::Sequential<double>&);

}  // namespace effinfer::condconv
