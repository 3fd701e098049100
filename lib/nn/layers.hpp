// The basic layers of lib/nn (spec quantize-climbq 3.1): Dense, BatchNorm, ReLU, ReLU6,
// MaxPool2d, GlobalAvgPool, Flatten and Sequential. Conv2d lives in nn/conv2d.hpp.
// Activations are NHWC [N,H,W,C] or [N,F]; every layer exists for float and double.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "nn/layer.hpp"
#include "nn/tensor.hpp"

namespace effinfer::nn {

// He-normal initialisation w ~ N(0, 2/fan_in) (He et al. 2015), drawn in storage order.
template <class T>
void he_normal(Tensor<T>& w, int64_t fan_in, Rng& rng);

namespace detail {
// Row-major C = alpha * op(A) op(B) + beta * C through CBLAS; op(A) is [m,k], op(B) is [k,n].
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          const float* b, float beta, float* c);
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, const double* b, double beta, double* c);
// OpenMP thread count of a pass (0 = the OpenMP default).
int threads_of(const Pass& pass);
}  // namespace detail

// y = x W_hat^T + b with W [out,in] (PyTorch Linear layout); x is [N,in] or any [N,...] whose
// trailing dims multiply to `in`.
template <class T>
class Dense : public Layer<T> {
 public:
  Dense(int64_t in, int64_t out, bool bias);
  // He-normal weights (fan_in = in), zero bias.
  void init(Rng& rng);
  Tensor<T>& weight() { return w_; }
  Tensor<T>* bias() { return has_bias_ ? &b_ : nullptr; }
  Tensor<T>& weight_grad() { return dw_; }
  // Weight transform (weight quantizer); nullptr = identity.
  void set_transform(std::shared_ptr<WeightTransform<T>> t) { transform_ = std::move(t); }
  WeightTransform<T>* transform() { return transform_.get(); }
  // The weights used by the last forward (W_hat; W itself without a transform).
  const Tensor<T>& effective_weight() const { return transform_ ? w_hat_ : w_; }

  Shape out_shape(const Shape& in) const override;
  void forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) override;
  void backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) override;
  std::vector<Param<T>> params() override;
  std::vector<Param<T>> buffers() override;
  Cost cost(const Shape& in) const override;
  std::string name() const override { return "dense"; }

 private:
  int64_t in_, out_;
  bool has_bias_;
  Tensor<T> w_, dw_, b_, db_;
  std::shared_ptr<WeightTransform<T>> transform_;
  Tensor<T> w_hat_, dw_hat_, dw_scratch_;
  Tensor<T> x_;  // cached input
};

// Batch normalisation over the last axis (PyTorch BatchNorm1d/2d semantics): training normalises
// with the batch mean and biased variance and updates running stats (init 0 and 1) with momentum
// 0.1 and the unbiased variance; evaluation uses the running stats. eps = 1e-5.
template <class T>
class BatchNorm : public Layer<T> {
 public:
  explicit BatchNorm(int64_t channels, double momentum = 0.1, double eps = 1e-5);
  Tensor<T>& gamma() { return gamma_; }
  Tensor<T>& beta() { return beta_; }
  Tensor<T>& running_mean() { return running_mean_; }
  Tensor<T>& running_var() { return running_var_; }
  // Running mean 0, running var 1.
  void reset_running_stats();
  double eps() const { return eps_; }

  Shape out_shape(const Shape& in) const override { return in; }
  void forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) override;
  // Needs a training forward (batch statistics).
  void backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) override;
  std::vector<Param<T>> params() override;
  std::vector<Param<T>> buffers() override;
  Cost cost(const Shape& in) const override;
  std::string name() const override { return "batchnorm"; }

 private:
  int64_t c_;
  double momentum_, eps_;
  Tensor<T> gamma_, beta_, dgamma_, dbeta_, running_mean_, running_var_;
  Tensor<T> x_hat_, inv_std_;  // caches of the last training forward
  bool cached_ = false;
};

// max(x, 0).
template <class T>
class ReLU : public Layer<T> {
 public:
  Shape out_shape(const Shape& in) const override { return in; }
  void forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) override;
  void backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) override;
  std::string name() const override { return "relu"; }

 private:
  Tensor<T> y_;
};

// min(max(x, 0), 6); gradient 1 on the open interval (0, 6).
template <class T>
class ReLU6 : public Layer<T> {
 public:
  Shape out_shape(const Shape& in) const override { return in; }
  void forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) override;
  void backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) override;
  std::string name() const override { return "relu6"; }

 private:
  Tensor<T> x_;
};

// 2x2 max pooling with stride 2 on [N,H,W,C] (odd trailing rows/columns dropped, as PyTorch);
// the first maximum in scan order wins ties; argmax cached for backward.
template <class T>
class MaxPool2d : public Layer<T> {
 public:
  Shape out_shape(const Shape& in) const override;
  void forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) override;
  void backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) override;
  std::string name() const override { return "maxpool2d"; }

 private:
  std::vector<int64_t> argmax_;
  Shape in_shape_;
};

// Mean over H and W: [N,H,W,C] -> [N,C].
template <class T>
class GlobalAvgPool : public Layer<T> {
 public:
  Shape out_shape(const Shape& in) const override;
  void forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) override;
  void backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) override;
  std::string name() const override { return "globalavgpool"; }

 private:
  Shape in_shape_;
};

// [N, ...] -> [N, product of the rest] (row-major order, so NHWC flattens as h, w, c).
template <class T>
class Flatten : public Layer<T> {
 public:
  Shape out_shape(const Shape& in) const override { return Shape{in[0], in.inner()}; }
  void forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) override;
  void backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) override;
  std::string name() const override { return "flatten"; }

 private:
  Shape in_shape_;
};

// A chain of owned layers. Each layer's output is kept as a tap (by index or name) after forward;
// extra gradients can be injected at a tap before backward (e.g. a loss on features, HomoVar).
// Parameters are named "<layer name>/<param name>".
template <class T>
class Sequential : public Layer<T> {
 public:
  // Appends a layer; an empty name becomes its index ("0", "1", ...). Returns the layer.
  template <class L>
  L& add(std::unique_ptr<L> layer, const std::string& name = "") {
    L& ref = *layer;
    add_layer(std::unique_ptr<Layer<T>>(std::move(layer)), name);
    return ref;
  }
  void add_layer(std::unique_ptr<Layer<T>> layer, const std::string& name = "");
  size_t size() const { return layers_.size(); }
  Layer<T>& layer(size_t i) { return *layers_.at(i); }
  Layer<T>& layer(const std::string& name) { return *layers_.at(index_of(name)); }
  const std::string& layer_name(size_t i) const { return names_.at(i); }
  size_t index_of(const std::string& name) const;  // throws InternalError when absent

  // Output of layer i (or the named layer) from the last forward.
  const Tensor<T>& tap(size_t i) const { return taps_.at(i); }
  const Tensor<T>& tap(const std::string& name) const { return taps_.at(index_of(name)); }
  // Adds g to dL/d(output of layer i) for the next backward only (shape of the tap).
  void add_tap_grad(size_t i, const Tensor<T>& g);

  // Runs the chain and returns the last tap (no copy).
  const Tensor<T>& run(const Tensor<T>& x, Pass& pass);

  Shape out_shape(const Shape& in) const override;
  void forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) override;
  void backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) override;
  std::vector<Param<T>> params() override;
  std::vector<Param<T>> buffers() override;
  Cost cost(const Shape& in) const override;
  std::string name() const override { return "sequential"; }
  void zero_grad() override;
  void set_frozen(bool frozen) override;

 private:
  std::vector<std::unique_ptr<Layer<T>>> layers_;
  std::vector<std::string> names_;
  std::vector<Tensor<T>> taps_, grads_, extra_;
  std::vector<bool> has_extra_;
};

}  // namespace effinfer::nn
