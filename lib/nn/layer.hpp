// The layer interface of lib/nn (spec quantize-climbq 3.1, DESIGN.md lib/nn).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/param.hpp"
#include "nn/tensor.hpp"

namespace effinfer::nn {

// Context of one forward/backward pass.
struct Pass {
  bool training = false;                     // caches for backward, batch statistics in BatchNorm
  const std::vector<int>* labels = nullptr;  // batch labels (ClimbQ class-wise sigma_j), optional
  int threads = 1;                           // OpenMP threads for the layer's loops (0 = default)
  uint64_t seed = 0;                         // RNG stream for stochastic layers: Rng(seed, stream)
  uint64_t stream = 0;
};

// Inference cost per sample batch of the given input shape.
struct Cost {
  int64_t macs = 0;    // multiply-accumulates for the whole input batch
  int64_t params = 0;  // number of parameters
};

template <class T>
class Layer {
 public:
  virtual ~Layer() = default;
  virtual Shape out_shape(const Shape& in) const = 0;
  // y is resized to out_shape(x.shape()). Caches what backward needs when pass.training.
  virtual void forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) = 0;
  // Given dL/dy of the last training forward: accumulates (+=) parameter gradients of non-frozen
  // parameters and, when dx is not null, writes dL/dx (resized to the input shape).
  virtual void backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) = 0;
  // Trainable parameters (views into the layer).
  virtual std::vector<Param<T>> params() { return {}; }
  // Non-trainable state saved with the model (BatchNorm running stats); grad is nullptr.
  virtual std::vector<Param<T>> buffers() { return {}; }
  virtual Cost cost(const Shape& in) const {
    (void)in;
    return {};
  }
  virtual std::string name() const = 0;
  // Zeroes every parameter gradient.
  virtual void zero_grad() {
    for (auto& p : params())
      if (p.grad) p.grad->set_zero();
  }
  // A frozen layer reports its parameters as frozen, accumulates no parameter gradient and still
  // passes gradients back (DESIGN.md lib/nn).
  virtual void set_frozen(bool frozen) { frozen_ = frozen; }
  bool frozen() const { return frozen_; }

 protected:
  bool frozen_ = false;
};

// Weight transform of Dense / Conv2d (weight quantizers, spec 3.1): latent W -> W_hat for the
// forward pass, dL/dW_hat -> dL/dW for the backward pass. The layer without a transform uses W.
template <class T>
class WeightTransform {
 public:
  virtual ~WeightTransform() = default;
  // w_hat is resized to w's shape. Called once per forward; may cache for backward.
  virtual void forward(const Tensor<T>& w, Tensor<T>& w_hat, Pass& pass) = 0;
  // Writes (overwrites) dL/dW given dL/dW_hat for the weights of the last forward; accumulates the
  // gradients of the transform's own parameters (e.g. LSQ step sizes).
  virtual void backward(const Tensor<T>& w, const Tensor<T>& dw_hat, Tensor<T>& dw, Pass& pass) = 0;
  virtual std::vector<Param<T>> params() { return {}; }
  virtual std::vector<Param<T>> buffers() { return {}; }
  virtual std::string name() const = 0;
};

// The identity transform (W_hat = W), for tests and as an explicit default.
template <class T>
class IdentityTransform : public WeightTransform<T> {
 public:
  void forward(const Tensor<T>& w, Tensor<T>& w_hat, Pass&) override { w_hat = w; }
  void backward(const Tensor<T>&, const Tensor<T>& dw_hat, Tensor<T>& dw, Pass&) override {
    dw = dw_hat;
  }
  std::string name() const override { return "identity"; }
};

}  // namespace effinfer::nn
