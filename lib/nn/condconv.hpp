// Trainable CondConv layer (Yang et al., NeurIPS 2019, arXiv 1904.04971; spec condconv-bench 2.1,
// 2.5, 2.8) in three kinds: conv (k x k, HWIO experts), depthwise (multiplier 1) and FC.
//   routing  p_b = mean_{h,w} x_b (FC: p_b = x_b), alpha_b = sigmoid(p_b R + c)  (or given alpha)
//   mixing   W_b = sum_i alpha_bi E_i  -- one GEMM [B,n] x [n,K]; b_b = alpha_b Eb
//   conv     y_b = conv(x_b, W_b) + b_b  (per example: im2col + GEMM, direct depthwise, GEMV-like
//   FC)
// Experts are stored as the matrix E [n, K], row i = expert i flattened row-major as
// [kh,kw,Cin,Cout] (conv), [kh,kw,C,1] (depthwise) or [Cin,Cout] (FC), the official layout, so a
// mixed row is the [kh*kw*Cin, Cout] GEMM operand in im2col column order.
// Backward (spec 2.8): dW_b = weight-grad(x_b, dy_b); dE = alpha^T dW; dEb = alpha^T S with
// S_b = sum_hw dy_b; dalpha_b = <E_i, dW_b> + <Eb_i, S_b>; dx_b = input-grad(dy_b, W_b) plus the
// routing path g = dalpha . alpha (1 - alpha), dR = P^T g, dc = sum_b g_b,
// dx_b[h,w,:] += (R g_b) / (H W).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "nn/conv2d.hpp"
#include "nn/layer.hpp"
#include "nn/tensor.hpp"

namespace effinfer::nn {

// Initialisers of spec 2.7 (official TensorFlow code), drawn in storage order.
// Glorot-uniform U(+-sqrt(6 / (fan_in + fan_out))) (tf.layers.Dense default kernel).
template <class T>
void glorot_uniform(Tensor<T>& w, int64_t fan_in, int64_t fan_out, Rng& rng);
// U(-limit, limit) (dense_kernel_initializer: limit = 1 / sqrt(Cout)).
template <class T>
void uniform_symmetric(Tensor<T>& w, double limit, Rng& rng);

enum class CondConvKind { kConv, kDepthwise, kFc };

struct CondConvSpec {
  CondConvKind kind = CondConvKind::kConv;
  int64_t cin = 1;
  int64_t cout = 1;  // depthwise: must equal cin
  int64_t kh = 1, kw = 1, stride = 1;
  Padding padding = Padding::kSame;
  int64_t pad = 0;  // Padding::kExplicit only
  int64_t experts = 1;
  bool expert_bias = false;
  bool routing = true;  // false: alpha given through set_routing_weights()
};

template <class T>
class CondConv : public Layer<T> {
 public:
  // InternalError on an invalid spec (experts < 1, as the official layer refuses).
  explicit CondConv(const CondConvSpec& spec);
  // Spec 2.7: each expert independently N(0, 2 / fan_out), fan_out = kh*kw*Cout (depthwise kh*kw);
  // FC experts U(+-1/sqrt(Cout)); routing kernel Glorot-uniform; all biases 0.
  void init(Rng& rng);

  const CondConvSpec& spec() const { return spec_; }
  int64_t kernel_size() const { return k_; }  // K of spec 2.1
  Tensor<T>& experts() { return e_; }         // [n, K]
  Tensor<T>& experts_grad() { return de_; }
  Tensor<T>* expert_bias() { return spec_.expert_bias ? &eb_ : nullptr; }  // [n, Cout]
  Tensor<T>* routing_kernel() { return spec_.routing ? &r_ : nullptr; }    // [Cin, n]
  Tensor<T>* routing_bias() { return spec_.routing ? &c_ : nullptr; }      // [n]
  // Given routing (spec.routing == false): alpha [B, n] for the next forward.
  void set_routing_weights(const Tensor<T>& alpha);
  // alpha of the last forward [B, n]; dL/dalpha of the last backward (given routing).
  const Tensor<T>& routing_weights() const { return alpha_; }
  const Tensor<T>& routing_weights_grad() const { return dalpha_; }
  // Mixed kernels of the last forward [B, K].
  const Tensor<T>& mixed_kernels() const { return wm_; }

  Shape out_shape(const Shape& in) const override;
  void forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) override;
  void backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) override;
  // "experts" (decay), "expert_bias", "routing/kernel" (decay), "routing/bias".
  std::vector<Param<T>> params() override;
  // macs = macs + macs_mix + routing of spec 2.5 for the whole batch; params = n K (+ n Cout)
  // (+ Cin n + n).
  Cost cost(const Shape& in) const override;
  std::string name() const override { return "condconv"; }

 private:
  detail::ConvGeometry geometry(const Shape& in) const;

  CondConvSpec spec_;
  int64_t k_ = 0;
  Tensor<T> e_, de_, eb_, deb_, r_, dr_, c_, dc_;
  Tensor<T> given_;                             // given alpha
  Tensor<T> p_, alpha_, wm_, bm_;               // routing input, alpha, mixed kernels / biases
  Tensor<T> x_, col_;                           // cached input; im2col of every example (conv)
  Tensor<T> dwm_, s_, dalpha_, g_, dp_, dcol_;  // backward scratch
  bool cached_ = false;
};

}  // namespace effinfer::nn
