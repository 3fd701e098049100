// Dense tensors of lib/nn (spec quantize-climbq 3.1): owning, 64-byte aligned, row-major, rank
// <= 4. Activations are NHWC [N,H,W,C] or [N,F]; Conv2d weights HWIO [kh,kw,cin,cout]; Dense
// [out,in]. matrix() views a tensor as [dim0, product of the other dims] so layers can use Eigen /
// CBLAS.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>

#include "core/error.hpp"

namespace effinfer::nn {

inline constexpr int kMaxRank = 4;

// Up to four dimensions; rank 0 is the empty shape (numel 0).
struct Shape {
  std::array<int64_t, kMaxRank> dims{};
  int rank = 0;

  Shape() = default;
  Shape(std::initializer_list<int64_t> d) {
    if (d.size() > static_cast<size_t>(kMaxRank)) {
      throw InternalError("nn::Shape: rank " + std::to_string(d.size()) + " > 4");
    }
    for (int64_t v : d) {
      if (v < 0) throw InternalError("nn::Shape: negative dimension " + std::to_string(v));
      dims[rank++] = v;
    }
  }
  int64_t operator[](int i) const { return dims[i]; }
  int64_t& operator[](int i) { return dims[i]; }
  int64_t numel() const {
    if (rank == 0) return 0;
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= dims[i];
    return n;
  }
  // Product of all dimensions but the first (the columns of the matrix view).
  int64_t inner() const {
    int64_t n = 1;
    for (int i = 1; i < rank; ++i) n *= dims[i];
    return n;
  }
  bool operator==(const Shape& o) const {
    if (rank != o.rank) return false;
    for (int i = 0; i < rank; ++i)
      if (dims[i] != o.dims[i]) return false;
    return true;
  }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  // "[2,3,4]"
  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank; ++i) {
      if (i) s += ',';
      s += std::to_string(dims[i]);
    }
    return s + "]";
  }
};

template <class T>
class Tensor {
 public:
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using MatrixMap = Eigen::Map<Matrix, Eigen::Aligned64>;
  using ConstMatrixMap = Eigen::Map<const Matrix, Eigen::Aligned64>;
  using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  using VectorMap = Eigen::Map<Vector, Eigen::Aligned64>;
  using ConstVectorMap = Eigen::Map<const Vector, Eigen::Aligned64>;

  Tensor() = default;
  // Zero-filled tensor of the given shape.
  explicit Tensor(const Shape& shape) {
    resize(shape);
    set_zero();
  }
  Tensor(const Tensor& o) { *this = o; }
  Tensor& operator=(const Tensor& o) {
    if (this != &o) {
      resize(o.shape_);
      if (size()) std::memcpy(data_.get(), o.data_.get(), sizeof(T) * size());
    }
    return *this;
  }
  Tensor(Tensor&& o) noexcept { swap(o); }
  Tensor& operator=(Tensor&& o) noexcept {
    swap(o);
    return *this;
  }
  void swap(Tensor& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(capacity_, o.capacity_);
    std::swap(shape_, o.shape_);
  }

  // Sets the shape; storage is reused when large enough. Contents are unspecified afterwards
  // (kept when the storage is reused).
  void resize(const Shape& shape) {
    const int64_t n = shape.numel();
    if (n > capacity_) {
      // Round the byte count up to a multiple of the alignment, as aligned_alloc requires.
      const size_t bytes = (sizeof(T) * static_cast<size_t>(n) + 63) / 64 * 64;
      T* p = static_cast<T*>(std::aligned_alloc(64, bytes));
      if (!p)
        throw InternalError("nn::Tensor: cannot allocate " + std::to_string(bytes) + " bytes");
      data_.reset(p);
      capacity_ = n;
    }
    shape_ = shape;
  }
  void set_zero() { fill(T(0)); }
  void fill(T v) { std::fill(data_.get(), data_.get() + size(), v); }

  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank; }
  int64_t dim(int i) const { return shape_.dims[i]; }
  int64_t size() const { return shape_.numel(); }
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  T& operator[](int64_t i) { return data_.get()[i]; }
  T operator[](int64_t i) const { return data_.get()[i]; }

  // [dim0, product of the rest] row-major view (a rank-1 tensor is a column [dim0, 1]).
  MatrixMap matrix() { return MatrixMap(data_.get(), rows(), cols()); }
  ConstMatrixMap matrix() const { return ConstMatrixMap(data_.get(), rows(), cols()); }
  // Flat view of all elements.
  VectorMap vec() { return VectorMap(data_.get(), size()); }
  ConstVectorMap vec() const { return ConstVectorMap(data_.get(), size()); }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  int64_t rows() const { return shape_.rank ? shape_.dims[0] : 0; }
  int64_t cols() const { return shape_.rank ? shape_.inner() : 0; }

  std::unique_ptr<T, Free> data_;
  int64_t capacity_ = 0;
  Shape shape_;
};

}  // namespace effinfer::nn
