// The small networks of part (c) (spec condconv-bench 2.8): S, C(n), S'(n) (equal MACs) and
// S''(n) (equal params), built from lib/nn layers with the official initialisers of spec 2.7.
//   S:    conv3x3(1->16,s1) conv3x3(16->32,s2) conv3x3(32->c,s2) conv3x3(c->c,s1) GAP dropout
//         FC(c->10); SAME, bias, ReLU after each conv, no BN; c = 64 (S), widened (S', S'').
//   C(n): conv3, conv4 and FC are CondConv with expert biases, each routed from its own input.
// Layer names (HDF5 paths of saved models): conv1 relu1 conv2 relu2 conv3 relu3 conv4 relu4 gap
// dropout fc.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/layers.hpp"

namespace effinfer::condconv {

enum class Variant { kStatic, kCondConv, kStaticEqualMacs, kStaticEqualParams };

// "static", "condconv", "static_equal_macs", "static_equal_params".
std::string variant_name(Variant v);
// false when `name` is none of the above.
bool parse_variant(const std::string& name, Variant& out);
inline const std::vector<std::string>& variant_names() {
  static const std::vector<std::string> names{"static", "condconv", "static_equal_macs",
                                              "static_equal_params"};
  return names;
}

// Spec 2.8 closed forms at 28x28x1 (Fashion-MNIST): MACs and params of S with conv3/conv4 width
// c, and of C(n).
int64_t static_macs(int64_t c);      // 1,016,064 + 14,122 c + 441 c^2
int64_t static_params(int64_t c);    // 4,810 + 300 c + 9 c^2
int64_t condconv_macs(int64_t n);    // 3,726,208 + 56,234 n
int64_t condconv_params(int64_t n);  // 4,800 + 56,237 n
// The integer c minimising |static_macs(c) - condconv_macs(n)| (S'), resp. params (S'');
// ties go to the smaller c.
int64_t width_equal_macs(int64_t n);
int64_t width_equal_params(int64_t n);

struct NetSpec {
  Variant variant = Variant::kStatic;
  int64_t experts = 0;  // C(n): n >= 1; 0 for the static variants
  int64_t width = 64;   // conv3/conv4 channels (64 for S and C(n))
  double dropout = 0.2;
  int64_t classes = 10;
};

// Resolves width (and experts for the static variants) from variant + n: S and C(n) width 64,
// S'(n) width_equal_macs(n), S''(n) width_equal_params(n); experts kept for labelling only.
NetSpec make_net_spec(Variant v, int64_t n, double dropout);

// Builds the network for 1-channel inputs and initialises it per spec 2.7 from
// Rng(seed, named_stream("init")): conv kernels and every expert N(0, 2 / fan_out), fan_out =
// kh*kw*Cout; routing kernels Glorot-uniform; classifier U(+-1/sqrt(Cout)); biases 0.
template <class T>
std::unique_ptr<nn::Sequential<T>> build_net(const NetSpec& spec, uint64_t seed);

// Marks decay per spec 2.8: on conv / FC kernels, experts and routing kernels; off on biases.
template <class T>
std::vector<nn::Param<T>> train_params(nn::Sequential<T>& net);

// flops_other / 2 of the madds_tf convention (spec 2.5) for an input of h x w: BiasAdd per output
// element of every conv and the FC, GAP Mean per input element, routing Mean per input element of
// each routed conv (the FC's routing input is already a vector) plus n routing biases.
double madds_other(const NetSpec& spec, int64_t h, int64_t w);

}  // namespace effinfer::condconv
