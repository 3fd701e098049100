// CondConv inference kernels (spec condconv-bench 2.1, 2.2, 2.4). See condconv_kernels.hpp.
#include "condconv_kernels.hpp"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "core/blas.hpp"
#include "core/error.hpp"

namespace effinfer::condconv {
namespace {

// C[m, n] = A[m, k] B[k, n], row-major. One row is the GEMV B^T a: OpenBLAS's GEMM would pack
// all of B first, doubling the traffic of a bandwidth-bound product (mixing and FC at B = 1).
void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
          float* c, int64_t ldc) {
  if (m == 1) {
    cblas_sgemv(CblasRowMajor, CblasTrans, static_cast<int>(k), static_cast<int>(n), 1.0f, b,
                static_cast<int>(ldb), a, 1, 0.0f, c, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb), 0.0f,
              c, static_cast<int>(ldc));
}
void gemm(int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b,
          int64_t ldb, double* c, int64_t ldc) {
  if (m == 1) {
    cblas_dgemv(CblasRowMajor, CblasTrans, static_cast<int>(k), static_cast<int>(n), 1.0, b,
                static_cast<int>(ldb), a, 1, 0.0, c, 1);
    return;
  }
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), 1.0, a, static_cast<int>(lda), b, static_cast<int>(ldb), 0.0, c,
              static_cast<int>(ldc));
}

// Mixing (spec 2.1 step 2): out[B, K] = alpha[B, n] x E[n, K], one GEMM (a GEMV for one row).
template <class T>
void mix(int64_t rows, int64_t n, int64_t k, const T* alpha, const T* e, T* out) {
  gemm(rows, k, n, alpha, n, e, k, out, k);
}

// Sets the BLAS thread count for a scope and restores the previous one.
class BlasThreads {
 public:
  explicit BlasThreads(int n) : saved_(blas_threads()) {
    if (n != saved_) set_blas_threads(n);
  }
  ~BlasThreads() {
    if (blas_threads() != saved_) set_blas_threads(saved_);
  }
  BlasThreads(const BlasThreads&) = delete;
  BlasThreads& operator=(const BlasThreads&) = delete;

 private:
  int saved_;
};

// im2col of output rows [oi0, oi1) of one example into col (row (oi*wo + oj), patch order
// (di, dj, c): the HWIO order of a mixed kernel row, spec 2.1 "Layout").
template <class T>
void im2col_rows(const LayerShape& s, const T* x, T* col, int64_t oi0, int64_t oi1) {
  const int64_t wo = s.wo(), patch = s.patch(), top = s.pad_h().before, left = s.pad_w().before;
  for (int64_t oi = oi0; oi < oi1; ++oi)
    for (int64_t oj = 0; oj < wo; ++oj) {
      T* row = col + (oi * wo + oj) * patch;
      for (int64_t di = 0; di < s.kh; ++di) {
        const int64_t r = oi * s.stride - top + di;
        for (int64_t dj = 0; dj < s.kw; ++dj) {
          const int64_t c = oj * s.stride - left + dj;
          T* dst = row + (di * s.kw + dj) * s.cin;
          if (r < 0 || r >= s.h || c < 0 || c >= s.w)
            std::fill(dst, dst + s.cin, T(0));
          else
            std::memcpy(dst, x + (r * s.w + c) * s.cin, sizeof(T) * s.cin);
        }
      }
    }
}

template <class T>
void im2col(const LayerShape& s, const T* x, T* col, int threads) {
  const int64_t ho = s.ho();
  if (threads <= 1) {
    im2col_rows(s, x, col, 0, ho);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t oi = 0; oi < ho; ++oi) im2col_rows(s, x, col, oi, oi + 1);
}

// Depthwise (multiplier 1) direct loop over output rows [oi0, oi1) of one example: y[p, c] =
// sum_taps x[tap(p), c] k[tap, m c' ...]. `mult` kernels per channel block: kernel rows hold
// mult*C values per tap (kernel[tap, i*C + c]) and y rows mult*C values (moe-concat with the
// experts packed side by side); mult = 1 is the plain depthwise conv. Accumulation order is fixed
// (taps row-major), so results do not depend on how rows are spread over threads.
template <class T>
void depthwise_rows(const LayerShape& s, const T* x, const T* kernel, int64_t mult, T* y,
                    int64_t oi0, int64_t oi1) {
  const int64_t wo = s.wo(), c = s.cin, top = s.pad_h().before, left = s.pad_w().before;
  const int64_t width = mult * c;
  // Channel blocks of kBlock accumulate over all taps in a local array the compiler keeps in
  // vector registers, so each output is stored once (not once per tap).
  constexpr int64_t kBlock = 64;
  alignas(64) T acc[kBlock];
  for (int64_t oi = oi0; oi < oi1; ++oi) {
    const int64_t r0 = std::max<int64_t>(0, top - oi * s.stride);
    const int64_t r1 = std::min<int64_t>(s.kh, s.h + top - oi * s.stride);
    for (int64_t oj = 0; oj < wo; ++oj) {
      const int64_t c0 = std::max<int64_t>(0, left - oj * s.stride);
      const int64_t c1 = std::min<int64_t>(s.kw, s.w + left - oj * s.stride);
      T* yp = y + (oi * wo + oj) * width;
      for (int64_t i = 0; i < mult; ++i)
        for (int64_t b0 = 0; b0 < c; b0 += kBlock) {
          const int64_t nb = std::min(kBlock, c - b0);
          for (int64_t ch = 0; ch < kBlock; ++ch) acc[ch] = T(0);
          for (int64_t di = r0; di < r1; ++di) {
            const int64_t r = oi * s.stride - top + di;
            for (int64_t dj = c0; dj < c1; ++dj) {
              const int64_t cc = oj * s.stride - left + dj;
              const T* xp = x + (r * s.w + cc) * c + b0;
              const T* kp = kernel + (di * s.kw + dj) * width + i * c + b0;
              if (nb == kBlock) {
#pragma omp simd aligned(acc : 64)
                for (int64_t ch = 0; ch < kBlock; ++ch) acc[ch] += xp[ch] * kp[ch];
              } else {
                for (int64_t ch = 0; ch < nb; ++ch) acc[ch] += xp[ch] * kp[ch];
              }
            }
          }
          std::memcpy(yp + i * c + b0, acc, sizeof(T) * nb);
        }
    }
  }
}

template <class T>
void depthwise(const LayerShape& s, const T* x, const T* kernel, int64_t mult, T* y, int threads) {
  const int64_t ho = s.ho();
  if (threads <= 1) {
    depthwise_rows(s, x, kernel, mult, y, 0, ho);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t oi = 0; oi < ho; ++oi) depthwise_rows(s, x, kernel, mult, y, oi, oi + 1);
}

// y[r, :] += bias for `rows` rows of width cout (bias may be null).
template <class T>
void add_bias(T* y, int64_t rows, int64_t cout, const T* bias) {
  if (!bias) return;
  for (int64_t r = 0; r < rows; ++r) {
    T* yr = y + r * cout;
#pragma omp simd
    for (int64_t c = 0; c < cout; ++c) yr[c] += bias[c];
  }
}

std::string mib(int64_t bytes) {
  std::ostringstream o;
  o.precision(1);
  o << std::fixed << static_cast<double>(bytes) / (1024.0 * 1024.0) << " MiB";
  return o.str();
}

}  // namespace

std::string kind_name(Kind k) {
  switch (k) {
    case Kind::kConv:
      return "conv";
    case Kind::kDepthwise:
      return "depthwise";
    case Kind::kFc:
      return "fc";
  }
  return "?";
}

std::string padding_name(Padding p) { return p == Padding::kSame ? "same" : "valid"; }

AxisPadding tf_padding(int64_t in, int64_t k, int64_t stride, Padding p) {
  AxisPadding a;
  if (p == Padding::kSame) {
    a.out = (in + stride - 1) / stride;
    const int64_t total = std::max<int64_t>((a.out - 1) * stride + k - in, 0);
    a.before = total / 2;
    a.after = total - a.before;
  } else {
    a.out = in >= k ? (in - k) / stride + 1 : 0;
  }
  return a;
}

int64_t LayerShape::k() const {
  switch (kind) {
    case Kind::kConv:
      return kh * kw * cin * cout;
    case Kind::kDepthwise:
      return kh * kw * cin;
    case Kind::kFc:
      return cin * cout;
  }
  return 0;
}

int64_t LayerShape::macs() const {
  switch (kind) {
    case Kind::kConv:
      return ho() * wo() * kh * kw * cin * cout;
    case Kind::kDepthwise:
      return ho() * wo() * kh * kw * cin;
    case Kind::kFc:
      return cin * cout;
  }
  return 0;
}

int64_t LayerShape::macs_mix() const { return experts * (k() + (expert_bias ? cout : 0)); }

int64_t LayerShape::macs_moe() const { return experts * macs() + experts * ho() * wo() * cout; }

std::string LayerShape::str() const {
  std::ostringstream o;
  o << kind_name(kind);
  if (kind != Kind::kFc)
    o << " " << kh << "x" << kw << "/" << stride << " " << padding_name(padding) << " " << h << "x"
      << w;
  o << " " << cin << "->" << cout << " n=" << experts;
  return o.str();
}

int64_t workspace_bytes(const LayerShape& s, Strategy strategy, int64_t chunk, int threads,
                        int elem_bytes) {
  const int64_t rows = s.ho() * s.wo();
  const int64_t col = (s.kind == Kind::kConv && !s.direct_gemm()) ? rows * s.patch() : 0;
  const int64_t bias = s.cout;  // mixed expert bias per example (kept even without biases)
  int64_t e = 0;
  switch (strategy) {
    case Strategy::kPerExample:
      e = chunk * (s.k() + bias) + col;
      break;
    case Strategy::kGrouped:
      e = chunk * (s.k() + bias) + std::max(1, threads) * col;
      break;
    case Strategy::kMoeConcat:
      e = s.experts * s.k() + chunk * (col + rows * s.experts * s.cout + bias);
      break;
    case Strategy::kMoeLoop:
      e = chunk * (col + rows * s.cout + bias);
      break;
    case Strategy::kStatic:
    case Strategy::kAuto:
      e = col;  // conv runs per example (see run_chunk); FC needs none
      break;
  }
  return e * elem_bytes;
}

int64_t choose_chunk(const LayerShape& s, Strategy strategy, int64_t batch, int threads,
                     int elem_bytes, int64_t max_bytes) {
  const int64_t fixed = workspace_bytes(s, strategy, 0, threads, elem_bytes);
  const int64_t per = workspace_bytes(s, strategy, 1, threads, elem_bytes) - fixed;
  if (fixed + per > max_bytes) return 0;
  if (per == 0) return batch;
  return std::clamp<int64_t>((max_bytes - fixed) / per, 1, batch);
}

template <class T>
void compute_routing(const LayerShape& s, int64_t batch, const T* x, const T* routing_kernel,
                     const T* routing_bias, T* alpha) {
  const int64_t hw = s.kind == Kind::kFc ? 1 : s.h * s.w, cin = s.cin, n = s.experts;
  std::vector<double> p(cin);
  for (int64_t b = 0; b < batch; ++b) {
    std::fill(p.begin(), p.end(), 0.0);
    const T* xb = x + b * hw * cin;
    for (int64_t q = 0; q < hw; ++q)
      for (int64_t c = 0; c < cin; ++c) p[c] += xb[q * cin + c];
    for (auto& v : p) v /= static_cast<double>(hw);
    for (int64_t i = 0; i < n; ++i) {
      double z = routing_bias ? routing_bias[i] : 0.0;
      for (int64_t c = 0; c < cin; ++c) z += p[c] * routing_kernel[c * n + i];
      alpha[b * n + i] = static_cast<T>(1.0 / (1.0 + std::exp(-z)));
    }
  }
}

template <class T>
void mix_kernels(const LayerShape& s, int64_t batch, const T* alpha, const T* experts, T* mixed,
                 int blas_threads) {
  BlasThreads bt(blas_threads);
  mix(batch, s.experts, s.k(), alpha, experts, mixed);
}

template <class T>
CondConvExecutor<T>::CondConvExecutor(const LayerShape& shape, int64_t batch, Strategy strategy,
                                      int threads, int64_t max_workspace_bytes)
    : shape_(shape), batch_(batch), strategy_(strategy), threads_(std::max(1, threads)) {
  if (batch < 1) throw UsageError("batch: expected >= 1, found " + std::to_string(batch));
  if (shape.ho() < 1 || shape.wo() < 1)
    throw DataError("layer " + shape.str() + ": empty output (VALID with kernel > input)");
  strategy_ = resolve_strategy(strategy, shape, batch, threads_, max_workspace_bytes, sizeof(T));
  chunk_ = choose_chunk(shape, strategy_, batch, threads_, sizeof(T), max_workspace_bytes);
  if (chunk_ < 1)
    throw UsageError(
        "strategy " + strategy_name(strategy_) + " on " + shape.str() + " needs a workspace of " +
        mib(condconv::workspace_bytes(shape, strategy_, 1, threads_, sizeof(T))) +
        " even at a batch chunk of 1, over limits.max_workspace_mb = " + mib(max_workspace_bytes) +
        "; use --strategy auto or raise it with --set limits.max_workspace_mb=N");
  workspace_bytes_ = condconv::workspace_bytes(shape, strategy_, chunk_, threads_, sizeof(T));
  const int64_t rows = shape.ho() * shape.wo();
  const int64_t col =
      (shape.kind == Kind::kConv && !shape.direct_gemm()) ? rows * shape.patch() : 0;
  switch (strategy_) {
    case Strategy::kPerExample:
    case Strategy::kGrouped:
      mixed_.resize(chunk_ * shape.k());
      mixed_bias_.resize(chunk_ * shape.cout);
      col_.resize((strategy_ == Strategy::kGrouped ? threads_ : 1) * col);
      break;
    case Strategy::kMoeConcat:
      packed_.resize(shape.experts * shape.k());
      col_.resize(chunk_ * col);
      inter_.resize(chunk_ * rows * shape.experts * shape.cout);
      mixed_bias_.resize(chunk_ * shape.cout);
      break;
    case Strategy::kMoeLoop:
      col_.resize(chunk_ * col);
      inter_.resize(chunk_ * rows * shape.cout);
      mixed_bias_.resize(chunk_ * shape.cout);
      break;
    default:
      col_.resize(col);
      break;
  }
}

template <class T>
void CondConvExecutor<T>::bind(const LayerWeights<T>& w) {
  w_ = w;
  if (strategy_ != Strategy::kMoeConcat) return;
  // Concatenated experts (spec 2.2 moe-concat): [patch, n Cout] for conv/FC; per tap [n C] for
  // depthwise, so one pass over the input serves every expert.
  const int64_t n = shape_.experts, k = shape_.k();
  const int64_t rows = shape_.kind == Kind::kDepthwise ? shape_.kh * shape_.kw : shape_.patch();
  const int64_t width = shape_.cout;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(packed_.data() + r * n * width + i * width, w.experts + i * k + r * width,
                  sizeof(T) * width);
}

template <class T>
void CondConvExecutor<T>::conv_one(const T* x, const T* kernel, const T* bias, T* y, T* col,
                                   int threads) {
  const LayerShape& s = shape_;
  const int64_t rows = s.ho() * s.wo();
  switch (s.kind) {
    case Kind::kConv:
      if (s.direct_gemm()) {
        gemm(rows, s.cout, s.cin, x, s.cin, kernel, s.cout, y, s.cout);
      } else {
        im2col(s, x, col, threads);
        gemm(rows, s.cout, s.patch(), col, s.patch(), kernel, s.cout, y, s.cout);
      }
      break;
    case Kind::kDepthwise:
      depthwise(s, x, kernel, 1, y, threads);
      break;
    case Kind::kFc:
      gemm(1, s.cout, s.cin, x, s.cin, kernel, s.cout, y, s.cout);
      break;
  }
  add_bias(y, rows, s.cout, bias);
  add_bias(y, rows, s.cout, w_.static_bias);
}

template <class T>
void CondConvExecutor<T>::conv_batch(int64_t nb, const T* x, const T* kernel, int64_t ldb, T* y,
                                     int64_t ldc, T* col, int threads) {
  // One kernel for nb examples: one GEMM over the stacked im2col rows (conv, FC); depthwise per
  // example. `col` already holds the im2col rows when non-null for a k x k conv.
  const LayerShape& s = shape_;
  const int64_t rows = s.ho() * s.wo();
  switch (s.kind) {
    case Kind::kConv:
      if (s.direct_gemm())
        gemm(nb * rows, ldb, s.cin, x, s.cin, kernel, ldb, y, ldc);
      else
        gemm(nb * rows, ldb, s.patch(), col, s.patch(), kernel, ldb, y, ldc);
      break;
    case Kind::kDepthwise:
      for (int64_t b = 0; b < nb; ++b)
        depthwise(s, x + b * s.in_size(), kernel, ldb / s.cin, y + b * rows * ldc, threads);
      break;
    case Kind::kFc:
      gemm(nb, ldb, s.cin, x, s.cin, kernel, ldb, y, ldc);
      break;
  }
}

template <class T>
void CondConvExecutor<T>::run_chunk(int64_t b0, int64_t nb, const T* x, const T* alpha, T* y) {
  const LayerShape& s = shape_;
  const int64_t rows = s.ho() * s.wo(), n = s.experts, cout = s.cout, in = s.in_size();
  const int64_t out = rows * cout;
  const T* xc = x + b0 * in;
  const T* ac = alpha ? alpha + b0 * n : nullptr;
  T* yc = y + b0 * out;
  const bool need_col = s.kind == Kind::kConv && !s.direct_gemm();
  const bool biases = s.expert_bias && w_.expert_bias;
  if (biases && strategy_ != Strategy::kStatic)
    mix(nb, n, cout, ac, w_.expert_bias, mixed_bias_.data());
  switch (strategy_) {
    case Strategy::kPerExample: {
      mix(nb, n, s.k(), ac, w_.experts, mixed_.data());
      for (int64_t b = 0; b < nb; ++b)
        conv_one(xc + b * in, mixed_.data() + b * s.k(),
                 biases ? mixed_bias_.data() + b * cout : nullptr, yc + b * out, col_.data(),
                 threads_);
      break;
    }
    case Strategy::kGrouped: {
      mix(nb, n, s.k(), ac, w_.experts, mixed_.data());
      // BLAS at one thread inside the region (DESIGN: never nest BLAS threads in OpenMP).
      BlasThreads one(1);
      const int64_t col = need_col ? rows * s.patch() : 0;
#pragma omp parallel for num_threads(threads_) schedule(static)
      for (int64_t b = 0; b < nb; ++b)
        conv_one(xc + b * in, mixed_.data() + b * s.k(),
                 biases ? mixed_bias_.data() + b * cout : nullptr, yc + b * out,
                 col_.data() + omp_get_thread_num() * col, 1);
      break;
    }
    case Strategy::kMoeConcat: {
      const int64_t width = n * cout;
      if (need_col)
        for (int64_t b = 0; b < nb; ++b)
          im2col(s, xc + b * in, col_.data() + b * rows * s.patch(), threads_);
      conv_batch(nb, xc, packed_.data(), width, inter_.data(), width, col_.data(), threads_);
      // y_b = sum_i alpha_bi Y_{i,b} (+ mixed bias): one pass over the intermediate.
      const int64_t total = nb * rows;
#pragma omp parallel for num_threads(threads_) schedule(static)
      for (int64_t r = 0; r < total; ++r) {
        const int64_t b = r / rows;
        const T* ip = inter_.data() + r * width;
        T* yp = yc + r * cout;
        const T* ab = ac + b * n;
        {
          const T a = ab[0];
#pragma omp simd
          for (int64_t c = 0; c < cout; ++c) yp[c] = a * ip[c];
        }
        for (int64_t i = 1; i < n; ++i) {
          const T a = ab[i];
          const T* ii = ip + i * cout;
#pragma omp simd
          for (int64_t c = 0; c < cout; ++c) yp[c] += a * ii[c];
        }
        if (biases) add_bias(yp, 1, cout, mixed_bias_.data() + b * cout);
        add_bias(yp, 1, cout, w_.static_bias);
      }
      break;
    }
    case Strategy::kMoeLoop: {
      if (need_col)
        for (int64_t b = 0; b < nb; ++b)
          im2col(s, xc + b * in, col_.data() + b * rows * s.patch(), threads_);
      for (int64_t i = 0; i < n; ++i) {
        conv_batch(nb, xc, w_.experts + i * s.k(), cout, inter_.data(), cout, col_.data(),
                   threads_);
        for (int64_t b = 0; b < nb; ++b) {
          const T a = ac[b * n + i];
          const T* ip = inter_.data() + b * out;
          T* yp = yc + b * out;
          if (i == 0) {
#pragma omp simd
            for (int64_t e = 0; e < out; ++e) yp[e] = a * ip[e];
          } else {
#pragma omp simd
            for (int64_t e = 0; e < out; ++e) yp[e] += a * ip[e];
          }
        }
      }
      for (int64_t b = 0; b < nb; ++b) {
        if (biases) add_bias(yc + b * out, rows, cout, mixed_bias_.data() + b * cout);
        add_bias(yc + b * out, rows, cout, w_.static_bias);
      }
      break;
    }
    case Strategy::kStatic:
    case Strategy::kAuto: {
      const T* bias0 = biases ? w_.expert_bias : nullptr;
      if (s.kind == Kind::kFc || s.direct_gemm()) {
        // A static FC or 1x1 stride-1 conv over a batch is one GEMM [B Ho Wo, Cin] x [Cin, Cout]:
        // the baseline a static network really runs (OpenBLAS may round a row differently for
        // another M, so n = 1 with alpha = 1 matches per-example bitwise only at B = 1).
        conv_batch(nb, xc, w_.experts, cout, yc, cout, nullptr, threads_);
        add_bias(yc, nb * rows, cout, bias0);
        add_bias(yc, nb * rows, cout, w_.static_bias);
      } else {
        // k x k conv and depthwise: the same per-example calls as per-example with the one kernel
        // (im2col per example; a batched im2col would only add workspace), so n = 1 with
        // alpha = 1 is bitwise static.
        for (int64_t b = 0; b < nb; ++b)
          conv_one(xc + b * in, w_.experts, bias0, yc + b * out, col_.data(), threads_);
      }
      break;
    }
  }
}

template <class T>
void CondConvExecutor<T>::forward(const T* x, const T* alpha, T* y) {
  if (!w_.experts) throw InternalError("CondConvExecutor::forward: weights not bound");
  // Per-example, moe and static: multi-threaded BLAS per GEMM; grouped switches to one inside.
  BlasThreads bt(threads_);
  for (int64_t b0 = 0; b0 < batch_; b0 += chunk_)
    run_chunk(b0, std::min(chunk_, batch_ - b0), x, alpha, y);
}

template <class T>
void CondConvExecutor<T>::forward_routed(const T* x, T* alpha, T* y) {
  if (!w_.routing_kernel)
    throw InternalError("CondConvExecutor::forward_routed: no routing kernel bound");
  compute_routing(shape_, batch_, x, w_.routing_kernel, w_.routing_bias, alpha);
  forward(x, alpha, y);
}

template <class T>
void static_forward(const LayerShape& s, int64_t batch, const T* x, const T* kernel, const T* bias,
                    T* y, int threads) {
  LayerShape one = s;
  one.experts = 1;
  one.expert_bias = bias != nullptr;
  CondConvExecutor<T> ex(one, batch, Strategy::kStatic, threads, int64_t{1} << 62);
  LayerWeights<T> w;
  w.experts = kernel;
  w.expert_bias = bias;
  ex.bind(w);
  ex.forward(x, nullptr, y);
}

template <class T>
void reference_forward(const LayerShape& s, int64_t batch, const T* x, const T* alpha,
                       const LayerWeights<T>& w, double* y) {
  const int64_t n = s.experts, k = s.k(), ho = s.ho(), wo = s.wo(), cout = s.cout;
  const int64_t top = s.kind == Kind::kFc ? 0 : s.pad_h().before;
  const int64_t left = s.kind == Kind::kFc ? 0 : s.pad_w().before;
  std::vector<double> kern(k), bias(cout);
  for (int64_t b = 0; b < batch; ++b) {
    std::fill(kern.begin(), kern.end(), 0.0);
    std::fill(bias.begin(), bias.end(), 0.0);
    for (int64_t i = 0; i < n; ++i) {
      const double a = alpha[b * n + i];
      for (int64_t e = 0; e < k; ++e) kern[e] += a * static_cast<double>(w.experts[i * k + e]);
      if (s.expert_bias && w.expert_bias)
        for (int64_t c = 0; c < cout; ++c)
          bias[c] += a * static_cast<double>(w.expert_bias[i * cout + c]);
    }
    if (w.static_bias)
      for (int64_t c = 0; c < cout; ++c) bias[c] += static_cast<double>(w.static_bias[c]);
    const T* xb = x + b * s.in_size();
    double* yb = y + b * ho * wo * cout;
    for (int64_t oi = 0; oi < ho; ++oi)
      for (int64_t oj = 0; oj < wo; ++oj)
        for (int64_t co = 0; co < cout; ++co) {
          double acc = bias[co];
          for (int64_t di = 0; di < s.kh; ++di)
            for (int64_t dj = 0; dj < s.kw; ++dj) {
              const int64_t r = oi * s.stride - top + di, c = oj * s.stride - left + dj;
              if (r < 0 || r >= s.h || c < 0 || c >= s.w) continue;
              const T* xp = xb + (r * s.w + c) * s.cin;
              if (s.kind == Kind::kDepthwise) {
                acc += static_cast<double>(xp[co]) * kern[(di * s.kw + dj) * s.cin + co];
              } else {
                const double* kp = kern.data() + (di * s.kw + dj) * s.cin * cout + co;
                for (int64_t ci = 0; ci < s.cin; ++ci)
                  acc += static_cast<double>(xp[ci]) * kp[ci * cout];
              }
            }
          yb[(oi * wo + oj) * cout + co] = acc;
        }
  }
}

template <class A, class B>
double rel_l2(const A* a, const B* b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    num += d * d;
    den += static_cast<double>(b[i]) * static_cast<double>(b[i]);
  }
  if (den == 0) return num == 0 ? 0.0 : std::sqrt(num);
  return std::sqrt(num / den);
}

template <class T>
std::vector<T> fold_batch_norm(const LayerShape& s, T* experts, T* expert_bias, const T* gamma,
                               const T* beta, const T* mean, const T* var, double eps) {
  const int64_t cout = s.cout, k = s.k();
  std::vector<T> scale(cout), shift(cout);
  for (int64_t c = 0; c < cout; ++c) {
    const double sc = static_cast<double>(gamma[c]) / std::sqrt(static_cast<double>(var[c]) + eps);
    scale[c] = static_cast<T>(sc);
    shift[c] = static_cast<T>(static_cast<double>(beta[c]) - sc * static_cast<double>(mean[c]));
  }
  // The output channel is the fastest index of every layout ([.., Cout], depthwise [.., C, 1]).
  for (int64_t i = 0; i < s.experts; ++i) {
    T* e = experts + i * k;
    for (int64_t j = 0; j < k; ++j) e[j] *= scale[j % cout];
    if (s.expert_bias && expert_bias)
      for (int64_t c = 0; c < cout; ++c) expert_bias[i * cout + c] *= scale[c];
  }
  return shift;
}

#define EFFINFER_CONDCONV_INSTANTIATE(T)                                                          \
  template void compute_routing<T>(const LayerShape&, int64_t, const T*, const T*, const T*, T*); \
  template void mix_kernels<T>(const LayerShape&, int64_t, const T*, const T*, T*, int);          \
  template class CondConvExecutor<T>;                                                             \
  template void static_forward<T>(const LayerShape&, int64_t, const T*, const T*, const T*, T*,   \
                                  int);                                                           \
  template void reference_forward<T>(const LayerShape&, int64_t, const T*, const T*,              \
                                     const LayerWeights<T>&, double*);                            \
  template std::vector<T> fold_batch_norm<T>(const LayerShape&, T*, T*, const T*, const T*,       \
                                             const T*, const T*, double);
EFFINFER_CONDCONV_INSTANTIATE(float)
EFFINFER_CONDCONV_INSTANTIATE(double)
template double rel_l2<float, double>(const float*, const double*, int64_t);
template double rel_l2<double, double>(const double*, const double*, int64_t);
template double rel_l2<float, float>(const float*, const float*, int64_t);

}  // namespace effinfer::condconv
