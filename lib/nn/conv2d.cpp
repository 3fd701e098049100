// Conv2d through im2col + one GEMM (spec quantize-climbq 3.1):
//   forward  Y[M, cout] = col(X)[M, K] W[K, cout] (+ b), M = N*Ho*Wo, K = kh*kw*cin;
//   backward dW += col^T dY, db += sum_rows dY, dcol = dY W^T, dX = col2im(dcol).
#include "nn/conv2d.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "nn/layers.hpp"

namespace effinfer::nn {

namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw InternalError(what);
}

}  // namespace

namespace detail {

ConvGeometry conv_geometry(int64_t h, int64_t w, int64_t cin, int64_t kh, int64_t kw,
                           int64_t stride, Padding padding, int64_t pad) {
  ConvGeometry g;
  g.h = h, g.w = w, g.cin = cin, g.kh = kh, g.kw = kw, g.stride = stride;
  if (padding == Padding::kSame) {
    // TF SAME (spec condconv-bench 2.1): the odd padding row/column goes to the bottom/right.
    g.ho = (h + stride - 1) / stride;
    g.wo = (w + stride - 1) / stride;
    g.pad_top = std::max<int64_t>((g.ho - 1) * stride + kh - h, 0) / 2;
    g.pad_left = std::max<int64_t>((g.wo - 1) * stride + kw - w, 0) / 2;
  } else {
    const int64_t hp = h + 2 * pad, wp = w + 2 * pad;
    require(hp >= kh && wp >= kw, "Conv2d: input " + std::to_string(h) + "x" + std::to_string(w) +
                                      " smaller than the kernel");
    g.ho = (hp - kh) / stride + 1;
    g.wo = (wp - kw) / stride + 1;
    g.pad_top = g.pad_left = pad;
  }
  require(g.ho > 0 && g.wo > 0, "Conv2d: empty output");
  return g;
}

// Rows of image b of the column matrix: row (i*wo + j), column (di*kw + dj)*cin + c.
template <class T>
void im2col_image(const ConvGeometry& g, const T* x, T* col) {
  const int64_t k = g.k();
  for (int64_t i = 0; i < g.ho; ++i)
    for (int64_t j = 0; j < g.wo; ++j) {
      T* row = col + (i * g.wo + j) * k;
      for (int64_t di = 0; di < g.kh; ++di) {
        const int64_t r = i * g.stride - g.pad_top + di;
        for (int64_t dj = 0; dj < g.kw; ++dj) {
          const int64_t c = j * g.stride - g.pad_left + dj;
          T* dst = row + (di * g.kw + dj) * g.cin;
          // Plain loops: cin is often tiny (1 for the first layer), too short for memcpy calls.
          if (r < 0 || r >= g.h || c < 0 || c >= g.w) {
            for (int64_t ch = 0; ch < g.cin; ++ch) dst[ch] = T(0);
          } else {
            const T* src = x + (r * g.w + c) * g.cin;
            for (int64_t ch = 0; ch < g.cin; ++ch) dst[ch] = src[ch];
          }
        }
      }
    }
}

template <class T>
void col2im_image(const ConvGeometry& g, const T* dcol, T* dx) {
  const int64_t k = g.k();
  std::fill(dx, dx + g.h * g.w * g.cin, T(0));
  for (int64_t i = 0; i < g.ho; ++i)
    for (int64_t j = 0; j < g.wo; ++j) {
      const T* row = dcol + (i * g.wo + j) * k;
      for (int64_t di = 0; di < g.kh; ++di) {
        const int64_t r = i * g.stride - g.pad_top + di;
        if (r < 0 || r >= g.h) continue;
        for (int64_t dj = 0; dj < g.kw; ++dj) {
          const int64_t c = j * g.stride - g.pad_left + dj;
          if (c < 0 || c >= g.w) continue;
          const T* src = row + (di * g.kw + dj) * g.cin;
          T* dst = dx + (r * g.w + c) * g.cin;
          for (int64_t ch = 0; ch < g.cin; ++ch) dst[ch] += src[ch];
        }
      }
    }
}

template void im2col_image<float>(const ConvGeometry&, const float*, float*);
template void im2col_image<double>(const ConvGeometry&, const double*, double*);
template void col2im_image<float>(const ConvGeometry&, const float*, float*);
template void col2im_image<double>(const ConvGeometry&, const double*, double*);

}  // namespace detail

template <class T>
Conv2d<T>::Conv2d(int64_t cin, int64_t cout, int64_t kh, int64_t kw, int64_t stride, int64_t pad,
                  bool bias, Padding padding)
    : cin_(cin),
      cout_(cout),
      kh_(kh),
      kw_(kw),
      stride_(stride),
      pad_(pad),
      has_bias_(bias),
      padding_(padding),
      w_(Shape{kh, kw, cin, cout}),
      dw_(Shape{kh, kw, cin, cout}),
      b_(bias ? Shape{cout} : Shape{}),
      db_(bias ? Shape{cout} : Shape{}) {
  require(cin > 0 && cout > 0 && kh > 0 && kw > 0 && stride > 0 && pad >= 0,
          "Conv2d: invalid geometry");
}

template <class T>
void Conv2d<T>::init(Rng& rng) {
  he_normal(w_, kh_ * kw_ * cin_, rng);
  b_.set_zero();
}

template <class T>
Shape Conv2d<T>::out_shape(const Shape& in) const {
  require(in.rank == 4 && in[3] == cin_,
          "Conv2d: input " + in.str() + " is not NHWC with " + std::to_string(cin_) + " channels");
  if (padding_ == Padding::kExplicit) {
    const int64_t hp = in[1] + 2 * pad_, wp = in[2] + 2 * pad_;
    require(hp >= kh_ && wp >= kw_, "Conv2d: input " + in.str() + " smaller than the kernel");
  }
  const detail::ConvGeometry g =
      detail::conv_geometry(in[1], in[2], cin_, kh_, kw_, stride_, padding_, pad_);
  return Shape{in[0], g.ho, g.wo, cout_};
}

template <class T>
void Conv2d<T>::forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) {
  const Shape os = out_shape(x.shape());
  y.resize(os);
  const int64_t n = x.dim(0);
  const detail::ConvGeometry g =
      detail::conv_geometry(x.dim(1), x.dim(2), cin_, kh_, kw_, stride_, padding_, pad_);
  const int64_t rows_per_image = g.ho * g.wo, k = g.k(), m = n * rows_per_image;
  col_.resize(Shape{m, k});
  T* col = col_.data();
  const T* xp = x.data();
#pragma omp parallel for num_threads(detail::threads_of(pass)) if (n > 1)
  for (int64_t b = 0; b < n; ++b)
    detail::im2col_image(g, xp + b * g.h * g.w * g.cin, col + b * rows_per_image * k);
  const Tensor<T>* w = &w_;
  if (transform_) {
    transform_->forward(w_, w_hat_, pass);
    w = &w_hat_;
  }
  if (has_bias_)
    for (int64_t r = 0; r < m; ++r) std::copy(b_.data(), b_.data() + cout_, y.data() + r * cout_);
  detail::gemm(false, false, m, cout_, k, T(1), col, w->data(), has_bias_ ? T(1) : T(0), y.data());
  cached_ = pass.training;
  if (pass.training) in_shape_ = x.shape();
}

template <class T>
void Conv2d<T>::backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) {
  require(cached_ && dy.shape() == out_shape(in_shape_),
          "Conv2d backward: dy " + dy.shape().str() + " does not match the last training forward");
  const int64_t n = in_shape_[0];
  const detail::ConvGeometry g =
      detail::conv_geometry(in_shape_[1], in_shape_[2], cin_, kh_, kw_, stride_, padding_, pad_);
  const int64_t rows_per_image = g.ho * g.wo, k = g.k(), m = n * rows_per_image;
  if (!this->frozen_) {
    if (transform_) {
      dw_hat_.resize(w_.shape());
      detail::gemm(true, false, k, cout_, m, T(1), col_.data(), dy.data(), T(0), dw_hat_.data());
      transform_->backward(w_, dw_hat_, dw_scratch_, pass);
      dw_.vec() += dw_scratch_.vec();
    } else {
      detail::gemm(true, false, k, cout_, m, T(1), col_.data(), dy.data(), T(1), dw_.data());
    }
    if (has_bias_) {
      Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> d(
          dy.data(), m, cout_);
      db_.vec() += d.colwise().sum().transpose();
    }
  }
  if (dx) {
    dcol_.resize(Shape{m, k});
    detail::gemm(false, true, m, k, cout_, T(1), dy.data(), effective_weight().data(), T(0),
                 dcol_.data());
    dx->resize(in_shape_);
    T* dxp = dx->data();
    const T* dcol = dcol_.data();
#pragma omp parallel for num_threads(detail::threads_of(pass)) if (n > 1)
    for (int64_t b = 0; b < n; ++b)
      detail::col2im_image(g, dcol + b * rows_per_image * k, dxp + b * g.h * g.w * g.cin);
  }
}

template <class T>
std::vector<Param<T>> Conv2d<T>::params() {
  std::vector<Param<T>> p{{"W", &w_, &dw_, true, this->frozen_}};
  if (has_bias_) p.push_back({"b", &b_, &db_, true, this->frozen_});
  if (transform_) append_prefixed(p, transform_->params(), transform_->name());
  return p;
}

template <class T>
std::vector<Param<T>> Conv2d<T>::buffers() {
  std::vector<Param<T>> p;
  if (transform_) append_prefixed(p, transform_->buffers(), transform_->name());
  return p;
}

template <class T>
Cost Conv2d<T>::cost(const Shape& in) const {
  const Shape os = out_shape(in);
  return {os[0] * os[1] * os[2] * kh_ * kw_ * cin_ * cout_,
          kh_ * kw_ * cin_ * cout_ + (has_bias_ ? cout_ : 0)};
}

template class Conv2d<float>;
template class Conv2d<double>;

}  // namespace effinfer::nn
