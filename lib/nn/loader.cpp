#include "nn/loader.hpp"

#include <algorithm>
#include <numeric>
#include <string>
#include <utility>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace effinfer::nn {

template <class T>
Loader<T>::Loader(std::span<const uint8_t> pixels, std::span<const int> labels,
                  const Shape& sample_shape, const Options& options, std::vector<int64_t> indices)
    : pixels_u8_(pixels.data()), labels_(labels.data()), options_(options) {
  const int64_t per = sample_shape.numel();
  if (per <= 0 || static_cast<int64_t>(pixels.size()) % per != 0) {
    throw InternalError("nn::Loader: " + std::to_string(pixels.size()) +
                        " pixels are not a whole number of samples " + sample_shape.str());
  }
  init(static_cast<int64_t>(pixels.size()) / per, labels.size(), sample_shape, std::move(indices));
}

template <class T>
Loader<T>::Loader(std::span<const float> samples, std::span<const int> labels,
                  const Shape& sample_shape, const Options& options, std::vector<int64_t> indices)
    : pixels_f32_(samples.data()), labels_(labels.data()), options_(options) {
  const int64_t per = sample_shape.numel();
  if (per <= 0 || static_cast<int64_t>(samples.size()) % per != 0) {
    throw InternalError("nn::Loader: " + std::to_string(samples.size()) +
                        " values are not a whole number of samples " + sample_shape.str());
  }
  init(static_cast<int64_t>(samples.size()) / per, labels.size(), sample_shape, std::move(indices));
}

template <class T>
void Loader<T>::init(int64_t n, size_t labels, const Shape& sample_shape,
                     std::vector<int64_t> indices) {
  if (sample_shape.rank > kMaxRank - 1) {
    throw InternalError("nn::Loader: sample shape " + sample_shape.str() + " has rank > 3");
  }
  if (static_cast<int64_t>(labels) != n) {
    throw InternalError("nn::Loader: " + std::to_string(n) + " samples but " +
                        std::to_string(labels) + " labels");
  }
  if (options_.batch_size < 1) {
    throw ConfigError("batch size " + std::to_string(options_.batch_size) + ", expected >= 1");
  }
  if (!(options_.norm.norm_std > 0)) {
    throw ConfigError("norm_std " + std::to_string(options_.norm.norm_std) + ", expected > 0");
  }
  sample_shape_ = sample_shape;
  sample_size_ = sample_shape.numel();
  if (indices.empty()) {
    indices.resize(n);
    std::iota(indices.begin(), indices.end(), int64_t{0});
  }
  for (int64_t i : indices) {
    if (i < 0 || i >= n) {
      throw InternalError("nn::Loader: sample index " + std::to_string(i) + " outside [0," +
                          std::to_string(n) + ")");
    }
  }
  indices_ = std::move(indices);
  for (int p = 0; p < 256; ++p) lut_[p] = static_cast<T>(options_.norm.apply(p));
  start_epoch(0);
}

template <class T>
void Loader<T>::start_epoch(int epoch) {
  epoch_ = epoch;
  cursor_ = 0;
  order_ = indices_;
  if (options_.mode != Mode::kTrain) return;
  // Fisher-Yates (Durstenfeld): swap position i with a uniform position in [0, i].
  Rng rng(options_.seed, shuffle_stream(epoch));
  for (int64_t i = static_cast<int64_t>(order_.size()) - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng.uniform_int(static_cast<uint64_t>(i) + 1));
    std::swap(order_[i], order_[j]);
  }
}

template <class T>
int64_t Loader<T>::num_batches() const {
  const int64_t n = size(), bs = options_.batch_size;
  const int64_t full = n / bs, rest = n % bs;
  if (options_.mode == Mode::kTrain) return full + (rest >= 2 ? 1 : 0);
  return full + (rest > 0 ? 1 : 0);
}

template <class T>
void Loader<T>::batch(int64_t b, Tensor<T>& x, std::vector<int>& y) const {
  if (b < 0 || b >= num_batches()) {
    throw InternalError("nn::Loader: batch " + std::to_string(b) + " outside [0," +
                        std::to_string(num_batches()) + ")");
  }
  const int64_t begin = b * options_.batch_size;
  const int64_t count = std::min(options_.batch_size, size() - begin);
  Shape shape;
  shape.rank = sample_shape_.rank + 1;
  shape.dims[0] = count;
  for (int i = 0; i < sample_shape_.rank; ++i) shape.dims[i + 1] = sample_shape_.dims[i];
  x.resize(shape);
  y.resize(count);
  const Normalization& nm = options_.norm;
  for (int64_t k = 0; k < count; ++k) {
    const int64_t s = order_[begin + k];
    y[k] = labels_[s];
    T* dst = x.data() + k * sample_size_;
    if (pixels_u8_ != nullptr) {
      const uint8_t* src = pixels_u8_ + s * sample_size_;
      for (int64_t i = 0; i < sample_size_; ++i) dst[i] = lut_[src[i]];
    } else {
      const float* src = pixels_f32_ + s * sample_size_;
      for (int64_t i = 0; i < sample_size_; ++i) dst[i] = static_cast<T>(nm.apply(src[i]));
    }
  }
}

template <class T>
bool Loader<T>::next(Tensor<T>& x, std::vector<int>& y) {
  if (cursor_ >= num_batches()) return false;
  batch(cursor_++, x, y);
  return true;
}

template class Loader<float>;
template class Loader<double>;

}  // namespace effinfer::nn
