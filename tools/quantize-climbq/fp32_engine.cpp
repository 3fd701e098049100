// Float32 baseline engine of benchmark B1 (spec 7).
#include "fp32_engine.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/blas.hpp"
#include "core/error.hpp"
#include "nn/conv2d.hpp"
#include "nn/layers.hpp"

namespace effinfer::climbq {
namespace {

// Loops smaller than this stay on one thread (OpenMP start-up costs more than the work).
constexpr int64_t kParallelMin = 16384;

std::vector<float> copy_of(const nn::Tensor<float>& t) {
  return std::vector<float>(t.data(), t.data() + t.size());
}

}  // namespace

Fp32Engine::Fp32Engine(Network<float>& net, int64_t max_batch) : max_batch_(max_batch) {
  if (max_batch < 1) throw InternalError("Fp32Engine: max_batch must be >= 1");
  const ModelSpec& spec = net.spec();
  in_h_ = spec.height, in_w_ = spec.width, in_c_ = spec.channels;
  classes_ = spec.classes;
  // x = (p scale - mean) / std = p (scale / std) + (-mean / std), the factors rounded once.
  in_scale_ = static_cast<float>(spec.pixel_scale / spec.norm_std);
  in_shift_ = static_cast<float>(-spec.norm_mean / spec.norm_std);

  auto& seq = net.seq();
  nn::Shape shape = net.input_shape(1);
  int64_t max_act = shape.numel(), max_col = 0;
  bool last_is_weight = false;  // the previous step can take an epilogue (BN, ReLU)
  for (size_t i = 0; i < seq.size(); ++i) {
    nn::Layer<float>& l = seq.layer(i);
    const nn::Shape out = l.out_shape(shape);
    if (auto* d = dynamic_cast<nn::Dense<float>*>(&l)) {
      Step s;
      s.kind = Kind::kDense;
      s.in = shape.inner(), s.out = out[1];
      s.w = copy_of(d->weight());
      s.scale.assign(static_cast<size_t>(s.out), 1.0f);
      s.shift = d->bias() ? copy_of(*d->bias()) : std::vector<float>(s.out, 0.0f);
      steps_.push_back(std::move(s));
      last_is_weight = true;
    } else if (auto* c = dynamic_cast<nn::Conv2d<float>*>(&l)) {
      Step s;
      s.kind = Kind::kConv;
      const nn::Tensor<float>& w = c->weight();  // [kh, kw, cin, cout]
      s.kh = w.dim(0), s.kw = w.dim(1), s.c = w.dim(2), s.out = w.dim(3);
      s.h = shape[1], s.w_in = shape[2];
      s.stride = c->stride(), s.pad = c->pad();
      s.ho = out[1], s.wo = out[2];
      s.in = s.kh * s.kw * s.c;
      s.w = copy_of(w);
      s.scale.assign(static_cast<size_t>(s.out), 1.0f);
      s.shift = c->bias() ? copy_of(*c->bias()) : std::vector<float>(s.out, 0.0f);
      max_col = std::max(max_col, s.ho * s.wo * s.in);
      steps_.push_back(std::move(s));
      last_is_weight = true;
    } else if (auto* bn = dynamic_cast<nn::BatchNorm<float>*>(&l)) {
      if (!last_is_weight || steps_.back().relu)
        throw InternalError("Fp32Engine: layer " + seq.layer_name(i) +
                            ": BatchNorm must follow a Dense/Conv2d");
      // BN(acc + b) = g (acc + b - m) / sqrt(v + eps) + beta, in double, then rounded once.
      Step& s = steps_.back();
      for (int64_t k = 0; k < s.out; ++k) {
        const double g = bn->gamma()[k] / std::sqrt(double{bn->running_var()[k]} + bn->eps());
        s.shift[k] =
            static_cast<float>(g * (double{s.shift[k]} - bn->running_mean()[k]) + bn->beta()[k]);
        s.scale[k] = static_cast<float>(g * s.scale[k]);
      }
    } else if (dynamic_cast<nn::ReLU<float>*>(&l)) {
      if (!last_is_weight)
        throw InternalError("Fp32Engine: layer " + seq.layer_name(i) +
                            ": ReLU must follow a Dense/Conv2d block");
      steps_.back().relu = true;
    } else if (dynamic_cast<nn::MaxPool2d<float>*>(&l)) {
      Step s;
      s.kind = Kind::kMaxPool;
      s.h = shape[1], s.w_in = shape[2], s.c = shape[3];
      s.ho = out[1], s.wo = out[2];
      steps_.push_back(std::move(s));
      last_is_weight = false;
    } else if (dynamic_cast<nn::Flatten<float>*>(&l)) {
      // NHWC memory is already the flattened order.
    } else {
      // Activation quantizers: the float baseline has none. Anything else is unexpected.
      const std::string& name = seq.layer_name(i);
      if (name.find("actq") == std::string::npos)
        throw InternalError("Fp32Engine: unsupported layer " + name);
    }
    shape = out;
    max_act = std::max(max_act, shape.numel());
  }
  if (steps_.empty() || steps_.back().kind != Kind::kDense)
    throw InternalError("Fp32Engine: the last layer must be the Dense classifier");
  a_.resize(static_cast<size_t>(max_act * max_batch));
  b_.resize(static_cast<size_t>(max_act * max_batch));
  col_.resize(static_cast<size_t>(max_col * max_batch));
}

void Fp32Engine::conv(const Step& s, const float* x, float* y, int64_t n, int threads) {
  // im2col: row (img, oy, ox), column (i kw + j) cin + c, the HWIO order of the weights.
  const int64_t k = s.in, rows = n * s.ho;
  float* col = col_.data();
#pragma omp parallel for num_threads(threads) if (rows * s.wo * k >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t img = r / s.ho, oy = r % s.ho;
    for (int64_t ox = 0; ox < s.wo; ++ox) {
      float* dst = col + (r * s.wo + ox) * k;
      for (int64_t i = 0; i < s.kh; ++i) {
        const int64_t iy = oy * s.stride - s.pad + i;
        for (int64_t j = 0; j < s.kw; ++j) {
          const int64_t ix = ox * s.stride - s.pad + j;
          float* d = dst + (i * s.kw + j) * s.c;
          if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w_in) {
            std::fill(d, d + s.c, 0.0f);
          } else {
            const float* src = x + ((img * s.h + iy) * s.w_in + ix) * s.c;
            std::copy(src, src + s.c, d);
          }
        }
      }
    }
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows * s.wo),
              static_cast<int>(s.out), static_cast<int>(k), 1.0f, col, static_cast<int>(k),
              s.w.data(), static_cast<int>(s.out), 0.0f, y, static_cast<int>(s.out));
}

void Fp32Engine::forward(const uint8_t* pixels, int64_t n, float* logits, int threads) {
  if (n < 1 || n > max_batch_)
    throw InternalError("Fp32Engine::forward: batch " + std::to_string(n) + " outside 1.." +
                        std::to_string(max_batch_));
  threads = std::max(threads, 1);
  if (blas_threads() != threads) set_blas_threads(threads);
  const int64_t m = n * input_size();
  float* x = a_.data();
  float* y = b_.data();
  const float sc = in_scale_, sh = in_shift_;
#pragma omp parallel for num_threads(threads) if (m >= kParallelMin)
  for (int64_t i = 0; i < m; ++i) x[i] = static_cast<float>(pixels[i]) * sc + sh;

  for (size_t si = 0; si < steps_.size(); ++si) {
    const Step& s = steps_[si];
    const bool last = si + 1 == steps_.size();
    float* out = last ? logits : y;
    if (s.kind == Kind::kMaxPool) {
      const int64_t rows = n * s.ho;
#pragma omp parallel for num_threads(threads) if (rows * s.wo * s.c >= kParallelMin)
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t img = r / s.ho, oy = r % s.ho;
        for (int64_t ox = 0; ox < s.wo; ++ox) {
          const float* p00 = x + ((img * s.h + 2 * oy) * s.w_in + 2 * ox) * s.c;
          const float* p01 = p00 + s.c;
          const float* p10 = p00 + s.w_in * s.c;
          const float* p11 = p10 + s.c;
          float* d = out + (r * s.wo + ox) * s.c;
          for (int64_t c = 0; c < s.c; ++c)
            d[c] = std::max(std::max(p00[c], p01[c]), std::max(p10[c], p11[c]));
        }
      }
    } else {
      int64_t rows = n;
      if (s.kind == Kind::kDense) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n),
                    static_cast<int>(s.out), static_cast<int>(s.in), 1.0f, x,
                    static_cast<int>(s.in), s.w.data(), static_cast<int>(s.in), 0.0f, out,
                    static_cast<int>(s.out));
      } else {
        conv(s, x, out, n, threads);
        rows = n * s.ho * s.wo;
      }
      // Epilogue: folded BN (or the bias) and ReLU, one pass over the output.
      const float* scale = s.scale.data();
      const float* shift = s.shift.data();
      const int64_t co = s.out;
      const bool relu = s.relu;
#pragma omp parallel for num_threads(threads) if (rows * co >= kParallelMin)
      for (int64_t r = 0; r < rows; ++r) {
        float* o = out + r * co;
        if (relu) {
          for (int64_t c = 0; c < co; ++c) o[c] = std::max(o[c] * scale[c] + shift[c], 0.0f);
        } else {
          for (int64_t c = 0; c < co; ++c) o[c] = o[c] * scale[c] + shift[c];
        }
      }
    }
    std::swap(x, y);
  }
}

}  // namespace effinfer::climbq
