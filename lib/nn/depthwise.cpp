// Depthwise convolution (multiplier 1) by direct loops; see nn/depthwise.hpp.
#include "nn/depthwise.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "nn/layers.hpp"

namespace effinfer::nn {

namespace detail {

template <class T>
void depthwise_forward_image(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t c = g.cin;
  for (int64_t i = 0; i < g.ho; ++i)
    for (int64_t j = 0; j < g.wo; ++j) {
      T* out = y + (i * g.wo + j) * c;
      if (bias)
        std::copy(bias, bias + c, out);
      else
        std::fill(out, out + c, T(0));
      for (int64_t di = 0; di < g.kh; ++di) {
        const int64_t r = i * g.stride - g.pad_top + di;
        if (r < 0 || r >= g.h) continue;
        for (int64_t dj = 0; dj < g.kw; ++dj) {
          const int64_t col = j * g.stride - g.pad_left + dj;
          if (col < 0 || col >= g.w) continue;
          const T* src = x + (r * g.w + col) * c;
          const T* wk = w + (di * g.kw + dj) * c;
#pragma omp simd
          for (int64_t ch = 0; ch < c; ++ch) out[ch] += src[ch] * wk[ch];
        }
      }
    }
}

template <class T>
void depthwise_backward_image(const ConvGeometry& g, const T* x, const T* w, const T* dy, T* dw,
                              T* dx) {
  const int64_t c = g.cin;
  if (dx) std::fill(dx, dx + g.h * g.w * c, T(0));
  for (int64_t i = 0; i < g.ho; ++i)
    for (int64_t j = 0; j < g.wo; ++j) {
      const T* d = dy + (i * g.wo + j) * c;
      for (int64_t di = 0; di < g.kh; ++di) {
        const int64_t r = i * g.stride - g.pad_top + di;
        if (r < 0 || r >= g.h) continue;
        for (int64_t dj = 0; dj < g.kw; ++dj) {
          const int64_t col = j * g.stride - g.pad_left + dj;
          if (col < 0 || col >= g.w) continue;
          const int64_t xo = (r * g.w + col) * c, wo = (di * g.kw + dj) * c;
          if (dw)
            for (int64_t ch = 0; ch < c; ++ch) dw[wo + ch] += x[xo + ch] * d[ch];
          if (dx)
            for (int64_t ch = 0; ch < c; ++ch) dx[xo + ch] += w[wo + ch] * d[ch];
        }
      }
    }
}

template void depthwise_forward_image<float>(const ConvGeometry&, const float*, const float*,
                                             const float*, float*);
template void depthwise_forward_image<double>(const ConvGeometry&, const double*, const double*,
                                              const double*, double*);
template void depthwise_backward_image<float>(const ConvGeometry&, const float*, const float*,
                                              const float*, float*, float*);
template void depthwise_backward_image<double>(const ConvGeometry&, const double*, const double*,
                                               const double*, double*, double*);

}  // namespace detail

template <class T>
DepthwiseConv2d<T>::DepthwiseConv2d(int64_t channels, int64_t kh, int64_t kw, int64_t stride,
                                    Padding padding, int64_t pad, bool bias)
    : c_(channels),
      kh_(kh),
      kw_(kw),
      stride_(stride),
      pad_(pad),
      padding_(padding),
      has_bias_(bias),
      w_(Shape{kh, kw, channels, 1}),
      dw_(Shape{kh, kw, channels, 1}),
      b_(bias ? Shape{channels} : Shape{}),
      db_(bias ? Shape{channels} : Shape{}) {
  if (!(channels > 0 && kh > 0 && kw > 0 && stride > 0 && pad >= 0))
    throw InternalError("DepthwiseConv2d: invalid geometry");
}

template <class T>
void DepthwiseConv2d<T>::init(Rng& rng) {
  he_normal(w_, kh_ * kw_, rng);
  b_.set_zero();
}

template <class T>
Shape DepthwiseConv2d<T>::out_shape(const Shape& in) const {
  if (!(in.rank == 4 && in[3] == c_))
    throw InternalError("DepthwiseConv2d: input " + in.str() + " is not NHWC with " +
                        std::to_string(c_) + " channels");
  const auto g = detail::conv_geometry(in[1], in[2], c_, kh_, kw_, stride_, padding_, pad_);
  return Shape{in[0], g.ho, g.wo, c_};
}

template <class T>
void DepthwiseConv2d<T>::forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) {
  y.resize(out_shape(x.shape()));
  const auto g = detail::conv_geometry(x.dim(1), x.dim(2), c_, kh_, kw_, stride_, padding_, pad_);
  const int64_t n = x.dim(0), in_size = g.h * g.w * c_, out_size = g.ho * g.wo * c_;
  const T* bias = has_bias_ ? b_.data() : nullptr;
#pragma omp parallel for num_threads(detail::threads_of(pass)) if (n > 1)
  for (int64_t b = 0; b < n; ++b)
    detail::depthwise_forward_image(g, x.data() + b * in_size, w_.data(), bias,
                                    y.data() + b * out_size);
  cached_ = pass.training;
  if (pass.training) x_ = x;
}

template <class T>
void DepthwiseConv2d<T>::backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) {
  if (!cached_ || dy.shape() != out_shape(x_.shape()))
    throw InternalError("DepthwiseConv2d backward: dy " + dy.shape().str() +
                        " does not match the last training forward");
  const auto g = detail::conv_geometry(x_.dim(1), x_.dim(2), c_, kh_, kw_, stride_, padding_, pad_);
  const int64_t n = x_.dim(0), in_size = g.h * g.w * c_, out_size = g.ho * g.wo * c_;
  if (dx) {
    dx->resize(x_.shape());
#pragma omp parallel for num_threads(detail::threads_of(pass)) if (n > 1)
    for (int64_t b = 0; b < n; ++b)
      detail::depthwise_backward_image<T>(g, x_.data() + b * in_size, w_.data(),
                                          dy.data() + b * out_size, nullptr,
                                          dx->data() + b * in_size);
  }
  if (!this->frozen_) {
    // Examples in order: the weight gradient does not depend on the thread count.
    for (int64_t b = 0; b < n; ++b)
      detail::depthwise_backward_image<T>(g, x_.data() + b * in_size, w_.data(),
                                          dy.data() + b * out_size, dw_.data(), nullptr);
    if (has_bias_)
      for (int64_t r = 0; r < n * g.ho * g.wo; ++r)
        for (int64_t ch = 0; ch < c_; ++ch) db_[ch] += dy[r * c_ + ch];
  }
}

template <class T>
std::vector<Param<T>> DepthwiseConv2d<T>::params() {
  std::vector<Param<T>> p{{"W", &w_, &dw_, true, this->frozen_}};
  if (has_bias_) p.push_back({"b", &b_, &db_, false, this->frozen_});
  return p;
}

template <class T>
Cost DepthwiseConv2d<T>::cost(const Shape& in) const {
  const Shape os = out_shape(in);
  return {os[0] * os[1] * os[2] * kh_ * kw_ * c_, kh_ * kw_ * c_ + (has_bias_ ? c_ : 0)};
}

template class DepthwiseConv2d<float>;
template class DepthwiseConv2d<double>;

}  // namespace effinfer::nn
