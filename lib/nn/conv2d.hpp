// 2-D convolution on NHWC activations with HWIO weights [kh,kw,cin,cout] (spec quantize-climbq
// 3.1): im2col to [N*Ho*Wo, kh*kw*cin] (column index (i*kw + j)*cin + c, the HWIO order, so the
// weights are the [kh*kw*cin, cout] matrix as stored) and one GEMM; backward through col2im.
// Zero padding `pad` on all four sides; Ho = (H + 2 pad - kh) / stride + 1 (floor, as PyTorch).
// Padding::kSame is TensorFlow's SAME (spec condconv-bench 2.1): Ho = ceil(H / stride),
// pad_total = max((Ho - 1) stride + kh - H, 0), top = floor(pad_total / 2), the extra row at the
// bottom (columns alike, extra on the right); `pad` is then ignored.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "nn/layer.hpp"
#include "nn/tensor.hpp"

namespace effinfer::nn {

// kExplicit: `pad` zeros on every side (VALID is pad 0); kSame: TensorFlow SAME.
enum class Padding { kExplicit, kSame };

namespace detail {
// Geometry of one image's convolution; padding may be asymmetric (SAME).
struct ConvGeometry {
  int64_t h = 0, w = 0, cin = 0, ho = 0, wo = 0, kh = 0, kw = 0, stride = 1, pad_top = 0,
          pad_left = 0;
  int64_t k() const { return kh * kw * cin; }
};
// Geometry for an h x w input; InternalError when the output would be empty.
ConvGeometry conv_geometry(int64_t h, int64_t w, int64_t cin, int64_t kh, int64_t kw,
                           int64_t stride, Padding padding, int64_t pad);
// Column matrix [ho*wo, kh*kw*cin] of one NHWC image: row (i*wo + j), column (di*kw + dj)*cin + c.
template <class T>
void im2col_image(const ConvGeometry& g, const T* x, T* col);
// Adjoint of im2col_image: scatter-adds the column gradients into dx (overwrites dx).
template <class T>
void col2im_image(const ConvGeometry& g, const T* dcol, T* dx);
}  // namespace detail

template <class T>
class Conv2d : public Layer<T> {
 public:
  Conv2d(int64_t cin, int64_t cout, int64_t kh, int64_t kw, int64_t stride = 1, int64_t pad = 0,
         bool bias = false, Padding padding = Padding::kExplicit);
  // He-normal weights (fan_in = kh*kw*cin), zero bias.
  void init(Rng& rng);
  Tensor<T>& weight() { return w_; }
  Tensor<T>* bias() { return has_bias_ ? &b_ : nullptr; }
  Tensor<T>& weight_grad() { return dw_; }
  void set_transform(std::shared_ptr<WeightTransform<T>> t) { transform_ = std::move(t); }
  WeightTransform<T>* transform() { return transform_.get(); }
  const Tensor<T>& effective_weight() const { return transform_ ? w_hat_ : w_; }
  int64_t stride() const { return stride_; }
  int64_t pad() const { return pad_; }
  Padding padding() const { return padding_; }

  Shape out_shape(const Shape& in) const override;
  void forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) override;
  void backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) override;
  std::vector<Param<T>> params() override;
  std::vector<Param<T>> buffers() override;
  Cost cost(const Shape& in) const override;
  std::string name() const override { return "conv2d"; }

 private:
  int64_t cin_, cout_, kh_, kw_, stride_, pad_;
  bool has_bias_;
  Padding padding_;
  Tensor<T> w_, dw_, b_, db_;
  std::shared_ptr<WeightTransform<T>> transform_;
  Tensor<T> w_hat_, dw_hat_, dw_scratch_;
  Tensor<T> col_, dcol_;  // im2col of the last training forward; its gradient
  Shape in_shape_;
  bool cached_ = false;
};

}  // namespace effinfer::nn
