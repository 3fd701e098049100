// Layers of lib/nn (spec quantize-climbq 3.1). Formulas: Dense y = x W^T + b, dW += dy^T x,
// db += sum_n dy, dx = dy W. BatchNorm backward (Ioffe & Szegedy 2015, eq. after alg. 1):
// dx = gamma * inv_std / M * (M dy - sum dy - x_hat * sum(dy x_hat)).
#include "nn/layers.hpp"

#include <cblas.h>
#include <omp.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.hpp"

namespace effinfer::nn {

template <class T>
void he_normal(Tensor<T>& w, int64_t fan_in, Rng& rng) {
  const double sd = std::sqrt(2.0 / static_cast<double>(fan_in));
  for (int64_t i = 0; i < w.size(); ++i) w[i] = static_cast<T>(sd * rng.normal());
}

namespace detail {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          const float* b, float beta, float* c) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, trans_a ? m : k, b,
              trans_b ? k : n, beta, c, n);
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
          const double* a, const double* b, double beta, double* c) {
  if (m == 0 || n == 0) return;
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, trans_a ? m : k, b,
              trans_b ? k : n, beta, c, n);
}

int threads_of(const Pass& pass) { return pass.threads > 0 ? pass.threads : omp_get_max_threads(); }

}  // namespace detail

namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw InternalError(what);
}

// Elementwise loops are parallel only when large enough to pay for the threads.
constexpr int64_t kParallelMin = 1 << 15;

}  // namespace

// ---------------------------------------------------------------- Dense

template <class T>
Dense<T>::Dense(int64_t in, int64_t out, bool bias)
    : in_(in),
      out_(out),
      has_bias_(bias),
      w_(Shape{out, in}),
      dw_(Shape{out, in}),
      b_(bias ? Shape{out} : Shape{}),
      db_(bias ? Shape{out} : Shape{}) {}

template <class T>
void Dense<T>::init(Rng& rng) {
  he_normal(w_, in_, rng);
  b_.set_zero();
}

template <class T>
Shape Dense<T>::out_shape(const Shape& in) const {
  require(in.rank >= 2 && in.inner() == in_,
          "Dense: input " + in.str() + " does not have " + std::to_string(in_) + " features");
  return Shape{in[0], out_};
}

template <class T>
void Dense<T>::forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) {
  y.resize(out_shape(x.shape()));
  const int64_t n = x.dim(0);
  const Tensor<T>* w = &w_;
  if (transform_) {
    transform_->forward(w_, w_hat_, pass);
    w = &w_hat_;
  }
  if (has_bias_) {
    for (int64_t i = 0; i < n; ++i) std::copy(b_.data(), b_.data() + out_, y.data() + i * out_);
  }
  detail::gemm(false, true, n, out_, in_, T(1), x.data(), w->data(), has_bias_ ? T(1) : T(0),
               y.data());
  if (pass.training) x_ = x;
}

template <class T>
void Dense<T>::backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) {
  const int64_t n = x_.dim(0);
  require(dy.shape() == Shape({n, out_}),
          "Dense backward: dy " + dy.shape().str() + " does not match the last training forward");
  if (!this->frozen_) {
    if (transform_) {
      dw_hat_.resize(w_.shape());
      detail::gemm(true, false, out_, in_, n, T(1), dy.data(), x_.data(), T(0), dw_hat_.data());
      transform_->backward(w_, dw_hat_, dw_scratch_, pass);
      dw_.vec() += dw_scratch_.vec();
    } else {
      detail::gemm(true, false, out_, in_, n, T(1), dy.data(), x_.data(), T(1), dw_.data());
    }
    if (has_bias_) db_.vec() += dy.matrix().colwise().sum().transpose();
  }
  if (dx) {
    dx->resize(x_.shape());
    detail::gemm(false, false, n, in_, out_, T(1), dy.data(), effective_weight().data(), T(0),
                 dx->data());
  }
}

template <class T>
std::vector<Param<T>> Dense<T>::params() {
  std::vector<Param<T>> p{{"W", &w_, &dw_, true, this->frozen_}};
  if (has_bias_) p.push_back({"b", &b_, &db_, true, this->frozen_});
  if (transform_) append_prefixed(p, transform_->params(), transform_->name());
  return p;
}

template <class T>
std::vector<Param<T>> Dense<T>::buffers() {
  std::vector<Param<T>> p;
  if (transform_) append_prefixed(p, transform_->buffers(), transform_->name());
  return p;
}

template <class T>
Cost Dense<T>::cost(const Shape& in) const {
  return {in[0] * in_ * out_, in_ * out_ + (has_bias_ ? out_ : 0)};
}

// ---------------------------------------------------------------- BatchNorm

template <class T>
BatchNorm<T>::BatchNorm(int64_t channels, double momentum, double eps)
    : c_(channels),
      momentum_(momentum),
      eps_(eps),
      gamma_(Shape{channels}),
      beta_(Shape{channels}),
      dgamma_(Shape{channels}),
      dbeta_(Shape{channels}),
      running_mean_(Shape{channels}),
      running_var_(Shape{channels}) {
  gamma_.fill(T(1));
  reset_running_stats();
}

template <class T>
void BatchNorm<T>::reset_running_stats() {
  running_mean_.set_zero();
  running_var_.fill(T(1));
}

template <class T>
void BatchNorm<T>::forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) {
  const Shape& s = x.shape();
  require(s.rank >= 2 && s[s.rank - 1] == c_,
          "BatchNorm: input " + s.str() + " does not end in " + std::to_string(c_) + " channels");
  y.resize(s);
  const int64_t m = x.size() / c_;
  using Rows = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  using RowsMut = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  Rows xa(x.data(), m, c_);
  RowsMut ya(y.data(), m, c_);
  if (pass.training) {
    require(m >= 2,
            "BatchNorm: training needs more than one value per channel, got input " + s.str());
    // Means and biased variances (two passes, accumulated in double for float inputs).
    std::vector<double> mean(c_, 0.0), var(c_, 0.0);
    const T* xp = x.data();
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < c_; ++c) mean[c] += xp[r * c_ + c];
    for (int64_t c = 0; c < c_; ++c) mean[c] /= static_cast<double>(m);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < c_; ++c) {
        const double d = xp[r * c_ + c] - mean[c];
        var[c] += d * d;
      }
    inv_std_.resize(Shape{c_});
    std::vector<T> mean_t(c_);
    for (int64_t c = 0; c < c_; ++c) {
      var[c] /= static_cast<double>(m);
      mean_t[c] = static_cast<T>(mean[c]);
      inv_std_[c] = static_cast<T>(1.0 / std::sqrt(var[c] + eps_));
      running_mean_[c] = static_cast<T>((1 - momentum_) * running_mean_[c] + momentum_ * mean[c]);
      running_var_[c] = static_cast<T>((1 - momentum_) * running_var_[c] +
                                       momentum_ * var[c] * m / static_cast<double>(m - 1));
    }
    x_hat_.resize(s);
    T* xh = x_hat_.data();
    T* yp = y.data();
    const T* inv = inv_std_.data();
    const T* gp = gamma_.data();
    const T* bp = beta_.data();
#pragma omp parallel for num_threads(detail::threads_of(pass)) if (x.size() >= kParallelMin)
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < c_; ++c) {
        const int64_t i = r * c_ + c;
        xh[i] = (xp[i] - mean_t[c]) * inv[c];
        yp[i] = gp[c] * xh[i] + bp[c];
      }
    cached_ = true;
  } else {
    // y = gamma (x - mu) / sqrt(var + eps) + beta with running stats, as one scale and shift.
    Eigen::Array<T, 1, Eigen::Dynamic> scale(c_), shift(c_);
    for (int64_t c = 0; c < c_; ++c) {
      scale[c] = static_cast<T>(gamma_[c] / std::sqrt(static_cast<double>(running_var_[c]) + eps_));
      shift[c] = beta_[c] - scale[c] * running_mean_[c];
    }
    ya = (xa.rowwise() * scale).rowwise() + shift;
  }
}

template <class T>
void BatchNorm<T>::backward(const Tensor<T>& dy, Tensor<T>* dx, Pass&) {
  require(cached_ && dy.shape() == x_hat_.shape(),
          "BatchNorm backward: needs a training forward of shape " + dy.shape().str());
  const int64_t m = dy.size() / c_;
  using Rows = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  using RowsMut = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  Rows g(dy.data(), m, c_);
  Rows xh(x_hat_.data(), m, c_);
  Eigen::Array<T, 1, Eigen::Dynamic> sum_g = g.colwise().sum();
  Eigen::Array<T, 1, Eigen::Dynamic> sum_gx = (g * xh).colwise().sum();
  if (!this->frozen_) {
    dgamma_.vec().array() += sum_gx.transpose();
    dbeta_.vec().array() += sum_g.transpose();
  }
  if (dx) {
    dx->resize(dy.shape());
    RowsMut d(dx->data(), m, c_);
    Eigen::Array<T, 1, Eigen::Dynamic> k =
        gamma_.vec().array().transpose() * inv_std_.vec().array().transpose() / T(m);
    d = ((((g * T(m)).rowwise() - sum_g) - (xh.rowwise() * sum_gx)).rowwise() * k);
  }
}

template <class T>
std::vector<Param<T>> BatchNorm<T>::params() {
  return {{"gamma", &gamma_, &dgamma_, true, this->frozen_},
          {"beta", &beta_, &dbeta_, true, this->frozen_}};
}

template <class T>
std::vector<Param<T>> BatchNorm<T>::buffers() {
  return {{"running_mean", &running_mean_, nullptr, false, true},
          {"running_var", &running_var_, nullptr, false, true}};
}

template <class T>
Cost BatchNorm<T>::cost(const Shape&) const {
  return {0, 2 * c_};
}

// ---------------------------------------------------------------- ReLU, ReLU6

template <class T>
void ReLU<T>::forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) {
  y.resize(x.shape());
  const int64_t n = x.size();
  const T* xp = x.data();
  T* yp = y.data();
#pragma omp parallel for num_threads(detail::threads_of(pass)) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) yp[i] = xp[i] > T(0) ? xp[i] : T(0);
  if (pass.training) y_ = y;
}

template <class T>
void ReLU<T>::backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) {
  require(dy.shape() == y_.shape(),
          "ReLU backward: dy " + dy.shape().str() + " does not match the last training forward");
  if (!dx) return;
  dx->resize(dy.shape());
  const int64_t n = dy.size();
  const T* g = dy.data();
  const T* yp = y_.data();
  T* d = dx->data();
#pragma omp parallel for num_threads(detail::threads_of(pass)) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i];  // unconditional load keeps the loop vectorisable
    d[i] = yp[i] > T(0) ? gi : T(0);
  }
}

template <class T>
void ReLU6<T>::forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) {
  y.resize(x.shape());
  const int64_t n = x.size();
  const T* xp = x.data();
  T* yp = y.data();
#pragma omp parallel for num_threads(detail::threads_of(pass)) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) yp[i] = std::min(std::max(xp[i], T(0)), T(6));
  if (pass.training) x_ = x;
}

template <class T>
void ReLU6<T>::backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) {
  require(dy.shape() == x_.shape(),
          "ReLU6 backward: dy " + dy.shape().str() + " does not match the last training forward");
  if (!dx) return;
  dx->resize(dy.shape());
  const int64_t n = dy.size();
  const T* g = dy.data();
  const T* xp = x_.data();
  T* d = dx->data();
#pragma omp parallel for num_threads(detail::threads_of(pass)) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i], xi = xp[i];
    d[i] = (xi > T(0) && xi < T(6)) ? gi : T(0);
  }
}

// ---------------------------------------------------------------- MaxPool2d

template <class T>
Shape MaxPool2d<T>::out_shape(const Shape& in) const {
  require(in.rank == 4 && in[1] >= 2 && in[2] >= 2,
          "MaxPool2d: input " + in.str() + " is not NHWC with H, W >= 2");
  return Shape{in[0], in[1] / 2, in[2] / 2, in[3]};
}

template <class T>
void MaxPool2d<T>::forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) {
  const Shape os = out_shape(x.shape());
  y.resize(os);
  const int64_t n = os[0], ho = os[1], wo = os[2], c = os[3], h = x.dim(1), w = x.dim(2);
  const bool keep = pass.training;
  if (keep) {
    argmax_.resize(static_cast<size_t>(y.size()));
    in_shape_ = x.shape();
  }
  const T* xp = x.data();
  T* yp = y.data();
#pragma omp parallel for num_threads(detail::threads_of(pass)) if (x.size() >= kParallelMin)
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t i = 0; i < ho; ++i)
      for (int64_t j = 0; j < wo; ++j)
        for (int64_t ch = 0; ch < c; ++ch) {
          int64_t best = ((b * h + 2 * i) * w + 2 * j) * c + ch;
          for (int64_t di = 0; di < 2; ++di)
            for (int64_t dj = 0; dj < 2; ++dj) {
              const int64_t idx = ((b * h + 2 * i + di) * w + 2 * j + dj) * c + ch;
              if (xp[idx] > xp[best] || std::isnan(xp[idx])) best = idx;
            }
          const int64_t o = ((b * ho + i) * wo + j) * c + ch;
          yp[o] = xp[best];
          if (keep) argmax_[static_cast<size_t>(o)] = best;
        }
  }
}

template <class T>
void MaxPool2d<T>::backward(const Tensor<T>& dy, Tensor<T>* dx, Pass&) {
  require(
      dy.size() == static_cast<int64_t>(argmax_.size()) && in_shape_.rank == 4,
      "MaxPool2d backward: dy " + dy.shape().str() + " does not match the last training forward");
  if (!dx) return;
  dx->resize(in_shape_);
  dx->set_zero();
  // Windows do not overlap (stride 2 = size 2), so every input gets at most one gradient.
  for (int64_t o = 0; o < dy.size(); ++o) (*dx)[argmax_[static_cast<size_t>(o)]] += dy[o];
}

// ---------------------------------------------------------------- GlobalAvgPool, Flatten

template <class T>
Shape GlobalAvgPool<T>::out_shape(const Shape& in) const {
  require(in.rank == 4, "GlobalAvgPool: input " + in.str() + " is not NHWC");
  return Shape{in[0], in[3]};
}

template <class T>
void GlobalAvgPool<T>::forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) {
  y.resize(out_shape(x.shape()));
  const int64_t n = x.dim(0), hw = x.dim(1) * x.dim(2), c = x.dim(3);
  for (int64_t b = 0; b < n; ++b) {
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> xb(
        x.data() + b * hw * c, hw, c);
    y.matrix().row(b) = xb.colwise().sum() / T(hw);
  }
  if (pass.training) in_shape_ = x.shape();
}

template <class T>
void GlobalAvgPool<T>::backward(const Tensor<T>& dy, Tensor<T>* dx, Pass&) {
  require(in_shape_.rank == 4 && dy.shape() == out_shape(in_shape_),
          "GlobalAvgPool backward: dy " + dy.shape().str() +
              " does not match the last training forward");
  if (!dx) return;
  dx->resize(in_shape_);
  const int64_t n = in_shape_[0], hw = in_shape_[1] * in_shape_[2], c = in_shape_[3];
  for (int64_t b = 0; b < n; ++b)
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t ch = 0; ch < c; ++ch) (*dx)[(b * hw + p) * c + ch] = dy[b * c + ch] / T(hw);
}

template <class T>
void Flatten<T>::forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) {
  y.resize(out_shape(x.shape()));
  std::copy(x.data(), x.data() + x.size(), y.data());
  if (pass.training) in_shape_ = x.shape();
}

template <class T>
void Flatten<T>::backward(const Tensor<T>& dy, Tensor<T>* dx, Pass&) {
  require(dy.size() == in_shape_.numel(),
          "Flatten backward: dy " + dy.shape().str() + " does not match the last training forward");
  if (!dx) return;
  dx->resize(in_shape_);
  std::copy(dy.data(), dy.data() + dy.size(), dx->data());
}

// ---------------------------------------------------------------- Sequential

template <class T>
void Sequential<T>::add_layer(std::unique_ptr<Layer<T>> layer, const std::string& name) {
  const std::string n = name.empty() ? std::to_string(layers_.size()) : name;
  for (const auto& existing : names_)
    require(existing != n, "Sequential: duplicate layer name '" + n + "'");
  layers_.push_back(std::move(layer));
  names_.push_back(n);
  taps_.emplace_back();
  grads_.emplace_back();
  extra_.emplace_back();
  has_extra_.push_back(false);
}

template <class T>
size_t Sequential<T>::index_of(const std::string& name) const {
  for (size_t i = 0; i < names_.size(); ++i)
    if (names_[i] == name) return i;
  throw InternalError("Sequential: no layer named '" + name + "'");
}

template <class T>
void Sequential<T>::add_tap_grad(size_t i, const Tensor<T>& g) {
  require(
      i < taps_.size() && g.shape() == taps_[i].shape(),
      "Sequential: tap gradient " + g.shape().str() + " does not match tap " + std::to_string(i));
  if (has_extra_[i]) {
    extra_[i].vec() += g.vec();
  } else {
    extra_[i] = g;
    has_extra_[i] = true;
  }
}

template <class T>
const Tensor<T>& Sequential<T>::run(const Tensor<T>& x, Pass& pass) {
  require(!layers_.empty(), "Sequential: no layers");
  for (size_t i = 0; i < layers_.size(); ++i)
    layers_[i]->forward(i ? taps_[i - 1] : x, taps_[i], pass);
  return taps_.back();
}

template <class T>
Shape Sequential<T>::out_shape(const Shape& in) const {
  Shape s = in;
  for (const auto& l : layers_) s = l->out_shape(s);
  return s;
}

template <class T>
void Sequential<T>::forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) {
  y = run(x, pass);
}

template <class T>
void Sequential<T>::backward(const Tensor<T>& dy, Tensor<T>* dx, Pass& pass) {
  require(!layers_.empty(), "Sequential: no layers");
  const Tensor<T>* g = &dy;
  for (size_t k = layers_.size(); k-- > 0;) {
    if (has_extra_[k]) {
      // dL/d(tap k) = upstream + injected gradient.
      if (g != &extra_[k]) extra_[k].vec() += g->vec();
      g = &extra_[k];
      has_extra_[k] = false;
    }
    Tensor<T>* out = k ? &grads_[k - 1] : dx;
    layers_[k]->backward(*g, out, pass);
    if (k) g = &grads_[k - 1];
  }
}

template <class T>
std::vector<Param<T>> Sequential<T>::params() {
  std::vector<Param<T>> all;
  for (size_t i = 0; i < layers_.size(); ++i)
    for (auto p : layers_[i]->params()) {
      p.name = names_[i] + "/" + p.name;
      all.push_back(p);
    }
  return all;
}

template <class T>
std::vector<Param<T>> Sequential<T>::buffers() {
  std::vector<Param<T>> all;
  for (size_t i = 0; i < layers_.size(); ++i)
    for (auto p : layers_[i]->buffers()) {
      p.name = names_[i] + "/" + p.name;
      all.push_back(p);
    }
  return all;
}

template <class T>
Cost Sequential<T>::cost(const Shape& in) const {
  Cost total;
  Shape s = in;
  for (const auto& l : layers_) {
    const Cost c = l->cost(s);
    total.macs += c.macs;
    total.params += c.params;
    s = l->out_shape(s);
  }
  return total;
}

template <class T>
void Sequential<T>::zero_grad() {
  for (auto& l : layers_) l->zero_grad();
}

template <class T>
void Sequential<T>::set_frozen(bool frozen) {
  this->frozen_ = frozen;
  for (auto& l : layers_) l->set_frozen(frozen);
}

#define EFFINFER_NN_INSTANTIATE(T)                       \
  template void he_normal<T>(Tensor<T>&, int64_t, Rng&); \
  template class Dense<T>;                               \
  template class BatchNorm<T>;                           \
  template class ReLU<T>;                                \
  template class ReLU6<T>;                               \
  template class MaxPool2d<T>;                           \
  template class GlobalAvgPool<T>;                       \
  template class Flatten<T>;                             \
  template class Sequential<T>;
EFFINFER_NN_INSTANTIATE(float)
EFFINFER_NN_INSTANTIATE(double)
#undef EFFINFER_NN_INSTANTIATE

}  // namespace effinfer::nn
