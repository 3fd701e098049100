// Seeded mini-batch loader over in-memory samples (spec quantize-climbq 3.1, 4): uint8 or float32
// samples [N, H, W, C] (any per-sample shape of rank <= 3) with int labels, an affine
// normalisation and a per-epoch Fisher-Yates shuffle.
//
// Shuffle stream: epoch e draws from Rng(seed, kShuffleStreamBase + e), kShuffleStreamBase being
// the 64-bit FNV-1a hash of the tag "shuffle". The order is rebuilt from the identity every epoch,
// so it depends only on (seed, epoch) (spec check 9), not on earlier epochs or on batch size.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/rng.hpp"
#include "nn/tensor.hpp"

namespace effinfer::nn {

inline constexpr uint64_t kShuffleStreamBase = named_stream("shuffle");
inline constexpr uint64_t shuffle_stream(int epoch) {
  return kShuffleStreamBase + static_cast<uint64_t>(static_cast<int64_t>(epoch));
}

// x = (p * pixel_scale - norm_mean) / norm_std (spec 4 gives the constants per dataset).
struct Normalization {
  double pixel_scale = 1.0;
  double norm_mean = 0.0;
  double norm_std = 1.0;
  double apply(double p) const { return (p * pixel_scale - norm_mean) / norm_std; }
};

template <class T>
class Loader {
 public:
  // kTrain: shuffled every epoch, a final batch of fewer than 2 samples is dropped (BatchNorm
  // needs two). kEval: natural order (of `indices`), the last batch is kept whatever its size.
  enum class Mode { kTrain, kEval };
  struct Options {
    int64_t batch_size = 128;
    Mode mode = Mode::kTrain;
    uint64_t seed = 0;
    Normalization norm;
  };

  // Views of the data, which must outlive the loader: `pixels` holds N samples of shape
  // `sample_shape` (e.g. [H, W, C]) row-major; `labels` holds N labels. `indices` selects and
  // orders the samples used (empty = all N in order), e.g. a long-tailed subset.
  // InternalError on inconsistent sizes or indices; ConfigError (78) on batch_size < 1 or
  // norm_std <= 0.
  Loader(std::span<const uint8_t> pixels, std::span<const int> labels, const Shape& sample_shape,
         const Options& options, std::vector<int64_t> indices = {});
  Loader(std::span<const float> samples, std::span<const int> labels, const Shape& sample_shape,
         const Options& options, std::vector<int64_t> indices = {});

  // Sets the sample order of the epoch (0-based) and rewinds next(). The constructor starts
  // epoch 0.
  void start_epoch(int epoch);
  // Next batch of the epoch: x [B, sample_shape...] normalised, y its labels. False (x, y
  // untouched) when the epoch is exhausted.
  bool next(Tensor<T>& x, std::vector<int>& y);
  // Batch b of the current epoch (0 <= b < num_batches()).
  void batch(int64_t b, Tensor<T>& x, std::vector<int>& y) const;

  int64_t size() const { return static_cast<int64_t>(indices_.size()); }  // samples in use
  int64_t num_batches() const;
  int64_t batch_size() const { return options_.batch_size; }
  int epoch() const { return epoch_; }
  // Sample indices of the current epoch in visiting order (dropped tail included).
  const std::vector<int64_t>& order() const { return order_; }
  const Shape& sample_shape() const { return sample_shape_; }

 private:
  void init(int64_t n, size_t labels, const Shape& sample_shape, std::vector<int64_t> indices);

  const uint8_t* pixels_u8_ = nullptr;
  const float* pixels_f32_ = nullptr;
  const int* labels_ = nullptr;
  Shape sample_shape_;
  int64_t sample_size_ = 0;
  Options options_;
  std::vector<int64_t> indices_;
  std::vector<int64_t> order_;
  T lut_[256];  // normalised value of each uint8 pixel
  int epoch_ = 0;
  int64_t cursor_ = 0;
};

extern template class Loader<float>;
extern template class Loader<double>;

}  // namespace effinfer::nn
