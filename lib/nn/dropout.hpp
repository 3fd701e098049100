// Inverted dropout (spec condconv-bench 2.8, 3): in training each element is kept with
// probability 1 - p and scaled by 1 / (1 - p), so evaluation is the identity. The mask is drawn
// from Rng(pass.seed, named_stream("dropout", pass.stream)): the caller advances pass.stream (e.g.
// the global step) so every batch gets a fresh, reproducible mask.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/layer.hpp"
#include "nn/tensor.hpp"

namespace effinfer::nn {

template <class T>
class Dropout : public Layer<T> {
 public:
  explicit Dropout(double p);
  double p() const { return p_; }

  Shape out_shape(const Shape& in) const override { return in; }
  void forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) override;
  void backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) override;
  std::string name() const override { return "dropout"; }

 private:
  double p_;
  Tensor<T> mask_;  // 0 or 1/(1-p) per element of the last training forward
  bool cached_ = false, identity_ = true;
};

}  // namespace effinfer::nn
