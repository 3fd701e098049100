// The networks of quantize-climbq (spec 2.6), their costs (spec 2.8.7, check 3) and their HDF5
// checkpoints (spec 3.5 `model`). A Network wraps an nn::Sequential whose layers are named as in
// the checkpoint ("00_dense", "01_batchnorm", ...), so parameter names map to HDF5 paths.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/hdf5.hpp"
#include "nn/layer.hpp"
#include "nn/layers.hpp"
#include "quantizers.hpp"

namespace effinfer::climbq {

enum class Arch { kMlp, kCnn };
enum class Method { kFp32, kUniform, kLsq, kClimbq, kClimbqNoscale };

Arch parse_arch(const std::string& name);  // mlp | cnn (ConfigError)
std::string arch_name(Arch a);
Method parse_method(const std::string& name);  // fp32|uniform|lsq|climbq|climbq-noscale
std::string method_name(Method m);

struct ModelSpec {
  Arch arch = Arch::kMlp;
  std::vector<int64_t> hidden;  // mlp widths; empty = auto (spec 2.6)
  int64_t height = 28, width = 28, channels = 1;
  int classes = 10;
  Method method = Method::kFp32;
  int bits_w = 4, bits_a = 4;  // ignored for fp32
  bool first_layer = true;     // quantize the first layer's weights
  bool last_layer = false;     // quantize the classifier's weights
  ClimbqOptions climbq;        // bits are set per quantizer from bits_w / bits_a
  ClipRule act_clip = ClipRule::kMax;
  double act_percentile = 99.99, act_ema = 0.99;  // uniform
  bool lsq_grad_scale = true;
  double pixel_scale = 1, norm_mean = 0, norm_std = 1;  // x_norm = (x scale - mean) / std
  std::vector<int64_t> class_counts;                    // saved as /model/class_counts
  std::string mode = "fp32", loss = "ce";               // checkpoint metadata (fp32|ptq|qat)
};

// The quantizer settings of a model (config sections quant, climbq, uniform, lsq; spec 3.4), set
// on the quantized network's spec by ptq and qat.
struct QuantSettings {
  bool first_layer = true, last_layer = false;
  ClimbqOptions climbq;
  ClipRule act_clip = ClipRule::kMax;
  double act_percentile = 99.99, act_ema = 0.99;
  bool lsq_grad_scale = true;
  void apply(ModelSpec& spec) const {
    spec.first_layer = first_layer;
    spec.last_layer = last_layer;
    spec.climbq = climbq;
    spec.act_clip = act_clip;
    spec.act_percentile = act_percentile;
    spec.act_ema = act_ema;
    spec.lsq_grad_scale = lsq_grad_scale;
  }
};

// The hidden widths of spec 2.6: the spec's own, else [256,128] if H W C >= 256, else [64,32].
std::vector<int64_t> resolved_hidden(const ModelSpec& spec);
// ConfigError (78) for bad sizes, cnn with H or W < 16, or bits out of range.
void validate(const ModelSpec& spec);

// Where a quantizer sits in the Sequential.
template <class T>
struct WeightQuantizer {
  size_t layer;  // index of the Dense / Conv2d
  nn::WeightTransform<T>* quantizer;
};
template <class T>
struct ActQuantizer {
  size_t layer;  // index of the activation quantizer layer
  nn::Layer<T>* quantizer;
};

template <class T>
class Network {
 public:
  Network(ModelSpec spec, std::unique_ptr<nn::Sequential<T>> seq);

  const ModelSpec& spec() const { return spec_; }
  nn::Sequential<T>& seq() { return *seq_; }
  const nn::Sequential<T>& seq() const { return *seq_; }
  nn::Shape input_shape(int64_t batch) const;  // [N,H,W,C]

  // Logits [N, classes] (x is [N,H,W,C] normalised input; [N, H W C] is accepted too).
  const nn::Tensor<T>& forward(const nn::Tensor<T>& x, nn::Pass& pass);
  // dL/dlogits of the last training forward; parameter gradients accumulate.
  void backward(const nn::Tensor<T>& dlogits, nn::Pass& pass, nn::Tensor<T>* dx = nullptr);

  // Feature tap: the input of the final classifier (HomoVar features, spec 2.4), [N, d].
  size_t feature_tap() const { return feature_tap_; }
  const nn::Tensor<T>& features() const { return seq_->tap(feature_tap_); }
  void add_feature_grad(const nn::Tensor<T>& g) { seq_->add_tap_grad(feature_tap_, g); }

  std::vector<nn::Param<T>> params() { return seq_->params(); }
  std::vector<nn::Param<T>> buffers() { return seq_->buffers(); }
  void zero_grad() { seq_->zero_grad(); }

  const std::vector<WeightQuantizer<T>>& weight_quantizers() const { return wq_; }
  const std::vector<ActQuantizer<T>>& act_quantizers() const { return aq_; }
  // Indices of the Dense / Conv2d layers (classifier last) and of the BatchNorm layers.
  const std::vector<size_t>& weight_layers() const { return weight_layers_; }
  const std::vector<size_t>& batchnorm_layers() const { return bn_layers_; }
  // Turns every activation quantizer on or off (identity when off).
  void set_act_quantizers_enabled(bool on);

 private:
  ModelSpec spec_;
  std::unique_ptr<nn::Sequential<T>> seq_;
  size_t feature_tap_ = 0;
  std::vector<WeightQuantizer<T>> wq_;
  std::vector<ActQuantizer<T>> aq_;
  std::vector<size_t> weight_layers_, bn_layers_;
};

// Builds the network of spec 2.6: mlp = per hidden width Dense(no bias) -> BN -> [Aq] -> ReLU
// (Uniform/LSQ: ReLU -> Aq), then Dense(classes, bias); cnn = Conv5x5 C->16 -> BN -> [Aq] ->
// ReLU -> MaxPool2 -> Conv5x5 16->32 -> BN -> [Aq] -> ReLU -> MaxPool2 -> Flatten -> Dense.
// He-normal init from Rng(seed, "init"), in layer order.
template <class T>
Network<T> build_model(const ModelSpec& spec, uint64_t seed);

// Per-layer and total inference costs per image (spec 2.8.7, check 3).
struct LayerCost {
  std::string name;  // "00_dense"
  int64_t macs = 0, weights = 0, biases = 0;
  int bits_w = 32, bits_in = 32;  // 32 = float
  bool quantized = false;         // weights quantized
};
struct ModelCost {
  std::vector<LayerCost> layers;  // Dense / Conv2d only
  int64_t macs = 0;
  int64_t quantized_weights = 0;             // weights of quantized layers
  int64_t quantized_weight_bytes = 0;        // sum ceil(count b_w / 8) over quantized layers
  int64_t quantized_weights_fp32_bytes = 0;  // 4 x quantized_weights
  int64_t bops = 0;                          // sum MAC_l b_w b_in
};
// uint8_input: the first layer reads uint8 pixels (b_in 8), else float (32). Later layers read
// quantized activations (b_in = bits_a) when the method quantizes activations.
ModelCost model_cost(const ModelSpec& spec, bool uint8_input = true);

// Writes /model (spec 3.5) into an open file (root attributes are the caller's). Quantized layers
// get W_codes / levels from a forward of their quantizer on the latent weights.
template <class T>
void save_model(io::H5File& file, Network<T>& net);
// Reads a model file; DataError (65) naming file:dataset on malformed content.
template <class T>
Network<T> load_model(const io::H5File& file);
template <class T>
Network<T> load_model(const std::string& path);

}  // namespace effinfer::climbq
