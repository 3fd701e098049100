// CondConv forward and the full backward of spec condconv-bench 2.8; see nn/condconv.hpp.
#include "nn/condconv.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "nn/depthwise.hpp"
#include "nn/layers.hpp"

namespace effinfer::nn {

template <class T>
void glorot_uniform(Tensor<T>& w, int64_t fan_in, int64_t fan_out, Rng& rng) {
  uniform_symmetric(w, std::sqrt(6.0 / static_cast<double>(fan_in + fan_out)), rng);
}

template <class T>
void uniform_symmetric(Tensor<T>& w, double limit, Rng& rng) {
  for (int64_t i = 0; i < w.size(); ++i) w[i] = static_cast<T>((2 * rng.uniform() - 1) * limit);
}

template void glorot_uniform<float>(Tensor<float>&, int64_t, int64_t, Rng&);
template void glorot_uniform<double>(Tensor<double>&, int64_t, int64_t, Rng&);
template void uniform_symmetric<float>(Tensor<float>&, double, Rng&);
template void uniform_symmetric<double>(Tensor<double>&, double, Rng&);

namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw InternalError("CondConv: " + what);
}

}  // namespace

template <class T>
CondConv<T>::CondConv(const CondConvSpec& spec) : spec_(spec) {
  const auto& s = spec_;
  require(s.experts >= 1, "at least one expert is required, found " + std::to_string(s.experts));
  require(s.cin > 0 && s.cout > 0 && s.kh > 0 && s.kw > 0 && s.stride > 0 && s.pad >= 0,
          "invalid geometry");
  if (s.kind == CondConvKind::kDepthwise)
    require(s.cout == s.cin, "depthwise needs cout == cin (multiplier 1)");
  k_ = s.kind == CondConvKind::kConv        ? s.kh * s.kw * s.cin * s.cout
       : s.kind == CondConvKind::kDepthwise ? s.kh * s.kw * s.cin
                                            : s.cin * s.cout;
  const int64_t n = s.experts;
  e_ = Tensor<T>(Shape{n, k_});
  de_ = Tensor<T>(Shape{n, k_});
  if (s.expert_bias) {
    eb_ = Tensor<T>(Shape{n, s.cout});
    deb_ = Tensor<T>(Shape{n, s.cout});
  }
  if (s.routing) {
    r_ = Tensor<T>(Shape{s.cin, n});
    dr_ = Tensor<T>(Shape{s.cin, n});
    c_ = Tensor<T>(Shape{n});
    dc_ = Tensor<T>(Shape{n});
  }
}

template <class T>
void CondConv<T>::init(Rng& rng) {
  const auto& s = spec_;
  if (s.kind == CondConvKind::kFc) {
    uniform_symmetric(e_, 1.0 / std::sqrt(static_cast<double>(s.cout)), rng);
  } else {
    const int64_t fan_out = s.kind == CondConvKind::kConv ? s.kh * s.kw * s.cout : s.kh * s.kw;
    he_normal(e_, fan_out, rng);  // row by row: every expert independently
  }
  if (s.expert_bias) eb_.set_zero();
  if (s.routing) {
    glorot_uniform(r_, s.cin, s.experts, rng);
    c_.set_zero();
  }
}

template <class T>
void CondConv<T>::set_routing_weights(const Tensor<T>& alpha) {
  require(!spec_.routing, "set_routing_weights on a layer with its own routing");
  require(alpha.rank() == 2 && alpha.dim(1) == spec_.experts,
          "routing weights " + alpha.shape().str() + ", expected [B," +
              std::to_string(spec_.experts) + "]");
  given_ = alpha;
}

template <class T>
detail::ConvGeometry CondConv<T>::geometry(const Shape& in) const {
  const auto& s = spec_;
  require(in.rank == 4 && in[3] == s.cin,
          "input " + in.str() + " is not NHWC with " + std::to_string(s.cin) + " channels");
  return detail::conv_geometry(in[1], in[2], s.cin, s.kh, s.kw, s.stride, s.padding, s.pad);
}

template <class T>
Shape CondConv<T>::out_shape(const Shape& in) const {
  if (spec_.kind == CondConvKind::kFc) {
    require(in.rank >= 2 && in.inner() == spec_.cin,
            "FC input " + in.str() + " does not have " + std::to_string(spec_.cin) + " features");
    return Shape{in[0], spec_.cout};
  }
  const auto g = geometry(in);
  return Shape{in[0], g.ho, g.wo, spec_.cout};
}

template <class T>
void CondConv<T>::forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) {
  const auto& s = spec_;
  const Shape os = out_shape(x.shape());
  const int64_t B = x.dim(0), n = s.experts, cin = s.cin, cout = s.cout;
  const bool fc = s.kind == CondConvKind::kFc;
  const int64_t hw = fc ? 1 : x.dim(1) * x.dim(2), in_size = hw * cin;
  const int threads = detail::threads_of(pass);
  y.resize(os);

  // 1. Routing: alpha = sigmoid(p R + c), p = GAP(x) (FC: x).
  if (s.routing) {
    p_.resize(Shape{B, cin});
    if (fc) {
      std::copy(x.data(), x.data() + B * cin, p_.data());
    } else {
#pragma omp parallel for num_threads(threads) if (B > 1)
      for (int64_t b = 0; b < B; ++b) {
        T* pb = p_.data() + b * cin;
        std::fill(pb, pb + cin, T(0));
        const T* xb = x.data() + b * in_size;
        for (int64_t q = 0; q < hw; ++q)
          for (int64_t ch = 0; ch < cin; ++ch) pb[ch] += xb[q * cin + ch];
        for (int64_t ch = 0; ch < cin; ++ch) pb[ch] /= static_cast<T>(hw);
      }
    }
    alpha_.resize(Shape{B, n});
    for (int64_t b = 0; b < B; ++b) std::copy(c_.data(), c_.data() + n, alpha_.data() + b * n);
    detail::gemm(false, false, B, n, cin, T(1), p_.data(), r_.data(), T(1), alpha_.data());
    for (int64_t i = 0; i < B * n; ++i) alpha_[i] = T(1) / (T(1) + std::exp(-alpha_[i]));
  } else {
    require(
        given_.rank() == 2 && given_.dim(0) == B,
        "given routing weights " + given_.shape().str() + " for a batch of " + std::to_string(B));
    alpha_ = given_;
  }

  // 2. Mixing: one GEMM [B,n] x [n,K]; biases alike.
  wm_.resize(Shape{B, k_});
  detail::gemm(false, false, B, k_, n, T(1), alpha_.data(), e_.data(), T(0), wm_.data());
  if (s.expert_bias) {
    bm_.resize(Shape{B, cout});
    detail::gemm(false, false, B, cout, n, T(1), alpha_.data(), eb_.data(), T(0), bm_.data());
  }

  // 3. One convolution per example with its own kernel.
  if (s.kind == CondConvKind::kConv) {
    const auto g = geometry(x.shape());
    const int64_t rows = g.ho * g.wo, kk = g.k();
    col_.resize(Shape{B, rows * kk});
#pragma omp parallel for num_threads(threads) if (B > 1)
    for (int64_t b = 0; b < B; ++b)
      detail::im2col_image(g, x.data() + b * in_size, col_.data() + b * rows * kk);
    for (int64_t b = 0; b < B; ++b) {
      T* yb = y.data() + b * rows * cout;
      if (s.expert_bias)
        for (int64_t r = 0; r < rows; ++r)
          std::copy(bm_.data() + b * cout, bm_.data() + (b + 1) * cout, yb + r * cout);
      detail::gemm(false, false, rows, cout, kk, T(1), col_.data() + b * rows * kk,
                   wm_.data() + b * k_, s.expert_bias ? T(1) : T(0), yb);
    }
  } else if (s.kind == CondConvKind::kDepthwise) {
    const auto g = geometry(x.shape());
    const int64_t out_size = g.ho * g.wo * cout;
#pragma omp parallel for num_threads(threads) if (B > 1)
    for (int64_t b = 0; b < B; ++b)
      detail::depthwise_forward_image(g, x.data() + b * in_size, wm_.data() + b * k_,
                                      s.expert_bias ? bm_.data() + b * cout : nullptr,
                                      y.data() + b * out_size);
  } else {
#pragma omp parallel for num_threads(threads) if (B > 1)
    for (int64_t b = 0; b < B; ++b) {
      const T* xb = x.data() + b * cin;
      const T* wb = wm_.data() + b * k_;
      T* yb = y.data() + b * cout;
      for (int64_t o = 0; o < cout; ++o) yb[o] = s.expert_bias ? bm_[b * cout + o] : T(0);
      for (int64_t i = 0; i < cin; ++i) {
        const T xi = xb[i];
        const T* wr = wb + i * cout;
        for (int64_t o = 0; o < cout; ++o) yb[o] += xi * wr[o];
      }
    }
  }
  cached_ = pass.training;
  if (pass.training) x_ = x;
}

template <class T>
void CondConv<T>::backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) {
  const auto& s = spec_;
  require(cached_ && dy.shape() == out_shape(x_.shape()),
          "backward: dy " + dy.shape().str() + " does not match the last training forward");
  const int64_t B = x_.dim(0), n = s.experts, cin = s.cin, cout = s.cout;
  const bool fc = s.kind == CondConvKind::kFc;
  const int64_t hw = fc ? 1 : x_.dim(1) * x_.dim(2), in_size = hw * cin;
  const int64_t out_rows = fc ? 1 : dy.dim(1) * dy.dim(2);
  const int threads = detail::threads_of(pass);
  if (dx) dx->resize(x_.shape());

  // S_b = sum_hw dy_b (the bias gradient of example b).
  s_.resize(Shape{B, cout});
  s_.set_zero();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t r = 0; r < out_rows; ++r)
      for (int64_t o = 0; o < cout; ++o) s_[b * cout + o] += dy[(b * out_rows + r) * cout + o];

  // dW_b (per example) and the convolution part of dx_b.
  dwm_.resize(Shape{B, k_});
  if (s.kind == CondConvKind::kConv) {
    const auto g = geometry(x_.shape());
    const int64_t rows = g.ho * g.wo, kk = g.k();
    if (dx) dcol_.resize(Shape{rows, kk});
    for (int64_t b = 0; b < B; ++b) {
      const T* dyb = dy.data() + b * rows * cout;
      detail::gemm(true, false, kk, cout, rows, T(1), col_.data() + b * rows * kk, dyb, T(0),
                   dwm_.data() + b * k_);
      if (dx) {
        detail::gemm(false, true, rows, kk, cout, T(1), dyb, wm_.data() + b * k_, T(0),
                     dcol_.data());
        detail::col2im_image(g, dcol_.data(), dx->data() + b * in_size);
      }
    }
  } else if (s.kind == CondConvKind::kDepthwise) {
    const auto g = geometry(x_.shape());
    const int64_t out_size = g.ho * g.wo * cout;
    dwm_.set_zero();
#pragma omp parallel for num_threads(threads) if (B > 1)
    for (int64_t b = 0; b < B; ++b)
      detail::depthwise_backward_image(g, x_.data() + b * in_size, wm_.data() + b * k_,
                                       dy.data() + b * out_size, dwm_.data() + b * k_,
                                       dx ? dx->data() + b * in_size : nullptr);
  } else {
#pragma omp parallel for num_threads(threads) if (B > 1)
    for (int64_t b = 0; b < B; ++b) {
      const T* xb = x_.data() + b * cin;
      const T* dyb = dy.data() + b * cout;
      const T* wb = wm_.data() + b * k_;
      T* dwb = dwm_.data() + b * k_;
      for (int64_t i = 0; i < cin; ++i)
        for (int64_t o = 0; o < cout; ++o) dwb[i * cout + o] = xb[i] * dyb[o];
      if (dx) {
        T* dxb = dx->data() + b * cin;
        for (int64_t i = 0; i < cin; ++i) {
          T acc = 0;
          for (int64_t o = 0; o < cout; ++o) acc += wb[i * cout + o] * dyb[o];
          dxb[i] = acc;
        }
      }
    }
  }

  // dalpha_b = <E_i, dW_b> + <Eb_i, S_b>: [B,K] x [K,n] (+ [B,Cout] x [Cout,n]).
  dalpha_.resize(Shape{B, n});
  detail::gemm(false, true, B, n, k_, T(1), dwm_.data(), e_.data(), T(0), dalpha_.data());
  if (s.expert_bias)
    detail::gemm(false, true, B, n, cout, T(1), s_.data(), eb_.data(), T(1), dalpha_.data());

  if (!this->frozen_) {
    // dE += alpha^T dW, dEb += alpha^T S.
    detail::gemm(true, false, n, k_, B, T(1), alpha_.data(), dwm_.data(), T(1), de_.data());
    if (s.expert_bias)
      detail::gemm(true, false, n, cout, B, T(1), alpha_.data(), s_.data(), T(1), deb_.data());
  }

  if (s.routing) {
    // g = dalpha . alpha (1 - alpha); dR += P^T g; dc += sum_b g_b; dP = g R^T.
    g_.resize(Shape{B, n});
    for (int64_t i = 0; i < B * n; ++i) g_[i] = dalpha_[i] * alpha_[i] * (T(1) - alpha_[i]);
    if (!this->frozen_) {
      detail::gemm(true, false, cin, n, B, T(1), p_.data(), g_.data(), T(1), dr_.data());
      for (int64_t b = 0; b < B; ++b)
        for (int64_t i = 0; i < n; ++i) dc_[i] += g_[b * n + i];
    }
    if (dx) {
      dp_.resize(Shape{B, cin});
      detail::gemm(false, true, B, cin, n, T(1), g_.data(), r_.data(), T(0), dp_.data());
      const T inv = T(1) / static_cast<T>(hw);
#pragma omp parallel for num_threads(threads) if (B > 1)
      for (int64_t b = 0; b < B; ++b) {
        T* dxb = dx->data() + b * in_size;
        const T* dpb = dp_.data() + b * cin;
        for (int64_t q = 0; q < hw; ++q)
          for (int64_t ch = 0; ch < cin; ++ch) dxb[q * cin + ch] += dpb[ch] * inv;
      }
    }
  }
}

template <class T>
std::vector<Param<T>> CondConv<T>::params() {
  const bool f = this->frozen_;
  std::vector<Param<T>> p{{"experts", &e_, &de_, true, f}};
  if (spec_.expert_bias) p.push_back({"expert_bias", &eb_, &deb_, false, f});
  if (spec_.routing) {
    p.push_back({"routing/kernel", &r_, &dr_, true, f});
    p.push_back({"routing/bias", &c_, &dc_, false, f});
  }
  return p;
}

template <class T>
Cost CondConv<T>::cost(const Shape& in) const {
  const auto& s = spec_;
  const Shape os = out_shape(in);
  const int64_t B = in[0], n = s.experts;
  int64_t conv = 0;
  if (s.kind == CondConvKind::kFc)
    conv = s.cin * s.cout;
  else
    conv = os[1] * os[2] * (s.kind == CondConvKind::kConv ? k_ : s.kh * s.kw * s.cin);
  const int64_t mix = n * k_ + (s.expert_bias ? n * s.cout : 0);
  const int64_t route = s.routing ? s.cin * n : 0;
  const int64_t params =
      n * k_ + (s.expert_bias ? n * s.cout : 0) + (s.routing ? s.cin * n + n : 0);
  return {B * (conv + mix + route), params};
}

template class CondConv<float>;
template class CondConv<double>;

}  // namespace effinfer::nn
