// Depthwise 2-D convolution, channel multiplier 1 (spec condconv-bench 2.1, 3): NHWC input
// [N,H,W,C], HWIO weights [kh,kw,C,1], y[n,i,j,c] = sum_{di,dj} x[n, i s - top + di,
// j s - left + dj, c] w[di,dj,c] (+ b[c]). Direct loops (a depthwise conv has too little reuse for
// a GEMM); padding explicit or TensorFlow SAME as Conv2d.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "nn/conv2d.hpp"
#include "nn/layer.hpp"
#include "nn/tensor.hpp"

namespace effinfer::nn {

namespace detail {
// One image: y[ho,wo,C] = depthwise(x[h,w,C], w[kh,kw,C]) (+ bias when not null). g.cin = C.
template <class T>
void depthwise_forward_image(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y);
// One image: dw[kh,kw,C] += weight gradient (when dw is not null); dx[h,w,C] = input gradient
// (overwritten, when dx is not null).
template <class T>
void depthwise_backward_image(const ConvGeometry& g, const T* x, const T* w, const T* dy, T* dw,
                              T* dx);
}  // namespace detail

template <class T>
class DepthwiseConv2d : public Layer<T> {
 public:
  DepthwiseConv2d(int64_t channels, int64_t kh, int64_t kw, int64_t stride = 1,
                  Padding padding = Padding::kSame, int64_t pad = 0, bool bias = false);
  // Official initialiser (spec 2.7): N(0, 2 / fan_out), fan_out = kh*kw (multiplier 1); bias 0.
  void init(Rng& rng);
  Tensor<T>& weight() { return w_; }
  Tensor<T>* bias() { return has_bias_ ? &b_ : nullptr; }
  Tensor<T>& weight_grad() { return dw_; }

  Shape out_shape(const Shape& in) const override;
  void forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) override;
  void backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) override;
  std::vector<Param<T>> params() override;
  Cost cost(const Shape& in) const override;
  std::string name() const override { return "depthwise_conv2d"; }

 private:
  int64_t c_, kh_, kw_, stride_, pad_;
  Padding padding_;
  bool has_bias_;
  Tensor<T> w_, dw_, b_, db_;
  Tensor<T> x_;  // input of the last training forward
  bool cached_ = false;
};

}  // namespace effinfer::nn
