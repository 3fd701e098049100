// Inverted dropout; see nn/dropout.hpp.
#include "nn/dropout.hpp"

#include "core/error.hpp"
#include "core/rng.hpp"

namespace effinfer::nn {

template <class T>
Dropout<T>::Dropout(double p) : p_(p) {
  if (!(p >= 0 && p < 1)) throw InternalError("Dropout: p must lie in [0, 1)");
}

template <class T>
void Dropout<T>::forward(const Tensor<T>& x, Tensor<T>& y, Pass& pass) {
  y.resize(x.shape());
  identity_ = !pass.training || p_ == 0;
  cached_ = pass.training;
  if (identity_) {
    std::copy(x.data(), x.data() + x.size(), y.data());
    return;
  }
  // Sequential draws in element order: the mask does not depend on the thread count.
  Rng rng(pass.seed, named_stream("dropout", pass.stream));
  mask_.resize(x.shape());
  const T scale = static_cast<T>(1.0 / (1.0 - p_));
  for (int64_t i = 0; i < x.size(); ++i) mask_[i] = rng.uniform() < p_ ? T(0) : scale;
  for (int64_t i = 0; i < x.size(); ++i) y[i] = x[i] * mask_[i];
}

template <class T>
void Dropout<T>::backward(const Tensor<T>& dy, Tensor<T>* dx, Pass&) {
  if (!cached_) throw InternalError("Dropout backward without a training forward");
  if (!dx) return;
  dx->resize(dy.shape());
  if (identity_) {
    std::copy(dy.data(), dy.data() + dy.size(), dx->data());
    return;
  }
  if (dy.shape() != mask_.shape())
    throw InternalError("Dropout backward: dy " + dy.shape().str() + " vs mask " +
                        mask_.shape().str());
  for (int64_t i = 0; i < dy.size(); ++i) (*dx)[i] = dy[i] * mask_[i];
}

template class Dropout<float>;
template class Dropout<double>;

}  // namespace effinfer::nn
