// CondConv inference kernels (spec condconv-bench 2.1, 2.2, 2.4): routing (GAP -> Dense ->
// sigmoid) or given alpha, the mixing as one GEMM [B,n] x [n,K], and the convolution under each
// execution strategy, for conv k x k (im2col + GEMM; 1x1 stride 1 as one GEMM), depthwise
// (multiplier 1, vectorised direct loop) and FC, in float and double, NHWC, TF SAME/VALID padding.
// Experts are row-major [n, kh, kw, Cin, Cout] (HWIO per expert), so a mixed row is the
// [kh*kw*Cin, Cout] GEMM operand in im2col order; depthwise [n, kh, kw, C, 1]; FC [n, Cin, Cout].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "strategy.hpp"

namespace effinfer::condconv {

enum class Kind { kConv, kDepthwise, kFc };
enum class Padding { kSame, kValid };

std::string kind_name(Kind k);        // "conv", "depthwise", "fc"
std::string padding_name(Padding p);  // "same", "valid"

// TF padding of one spatial axis (spec 2.1). SAME: out = ceil(in/s), total = max((out-1) s + k -
// in, 0), before = floor(total/2), the extra one after. VALID: out = floor((in-k)/s) + 1 (<= 0
// when k > in: an empty output), no padding.
struct AxisPadding {
  int64_t out = 0, before = 0, after = 0;
};
AxisPadding tf_padding(int64_t in, int64_t k, int64_t stride, Padding p);

// One CondConv layer. FC: h = w = kh = kw = 1, stride 1. Depthwise: cout == cin.
struct LayerShape {
  Kind kind = Kind::kConv;
  int64_t h = 1, w = 1, cin = 1, cout = 1, kh = 1, kw = 1, stride = 1;
  Padding padding = Padding::kSame;
  int64_t experts = 1;
  bool expert_bias = false;

  AxisPadding pad_h() const { return tf_padding(h, kh, stride, padding); }
  AxisPadding pad_w() const { return tf_padding(w, kw, stride, padding); }
  int64_t ho() const { return kind == Kind::kFc ? 1 : pad_h().out; }
  int64_t wo() const { return kind == Kind::kFc ? 1 : pad_w().out; }
  // Elements of one expert: kh kw Cin Cout (conv), kh kw C (depthwise), Cin Cout (FC).
  int64_t k() const;
  // Length of an im2col patch row (kh kw Cin); Cin for FC.
  int64_t patch() const { return kind == Kind::kFc ? cin : kh * kw * cin; }
  int64_t in_size() const { return h * w * cin; }          // per example
  int64_t out_size() const { return ho() * wo() * cout; }  // per example
  // A conv that needs no im2col (1x1, stride 1: the input is already the GEMM operand).
  bool direct_gemm() const { return kind == Kind::kConv && kh == 1 && kw == 1 && stride == 1; }
  // MACs per example (spec 2.5): macs (one convolution), macs_mix (n K + n Cout with biases),
  // routing Cin n, macs_moe = n macs + n Ho Wo Cout.
  int64_t macs() const;
  int64_t macs_mix() const;
  int64_t macs_route() const { return cin * experts; }
  int64_t macs_moe() const;
  std::string str() const;  // e.g. "conv 3x3/2 same 14x14 112->672 n=8"
};

// Workspace bytes of `s` (resolved, not kAuto) for a chunk of `chunk` examples with `threads`
// OpenMP threads (spec 2.2 chunking): mixed kernels chunk K (+ chunk Cout biases), im2col per
// thread, the moe-concat intermediate chunk Ho Wo n Cout, the packed expert copy of moe-concat.
int64_t workspace_bytes(const LayerShape& s, Strategy strategy, int64_t chunk, int threads,
                        int elem_bytes);

// The largest chunk <= batch whose workspace fits max_bytes; 0 when even chunk 1 does not fit.
int64_t choose_chunk(const LayerShape& s, Strategy strategy, int64_t batch, int threads,
                     int elem_bytes, int64_t max_bytes);

// Non-owning views of a layer's parameters (T = float or double).
template <class T>
struct LayerWeights {
  const T* experts = nullptr;         // [n, K]; `static` uses expert 0 as its one kernel
  const T* expert_bias = nullptr;     // [n, Cout] or null (used only when shape.expert_bias)
  const T* routing_kernel = nullptr;  // [Cin, n] (routing from the input)
  const T* routing_bias = nullptr;    // [n] or null (zero)
  const T* static_bias = nullptr;     // [Cout] or null: post-conv bias never mixed (BN shift t)
};

// alpha[b, i] = sigmoid(mean_hw(x_b) . R[:, i] + c_i) (spec 2.1 step 1), accumulated in double.
// x: [B, H, W, Cin] (FC [B, Cin]).
template <class T>
void compute_routing(const LayerShape& s, int64_t batch, const T* x, const T* routing_kernel,
                     const T* routing_bias, T* alpha);

// Mixed kernels W[b] = sum_i alpha[b, i] E_i as one GEMM [B, n] x [n, K] (spec 2.1 step 2).
// blas_threads: BLAS threads for the call (restored afterwards).
template <class T>
void mix_kernels(const LayerShape& s, int64_t batch, const T* alpha, const T* experts, T* mixed,
                 int blas_threads = 1);

// One layer's forward with a fixed strategy, batch size and thread count; the workspace is
// allocated once in the constructor (chunked to fit max_workspace_bytes) so forward() does not
// allocate. UsageError (64) when even a chunk of one example exceeds the limit (message: the MiB
// needed, `limits.max_workspace_mb`, hint `--strategy auto`).
template <class T>
class CondConvExecutor {
 public:
  // strategy kAuto is resolved here (resolve_strategy); batch >= 1; threads >= 1.
  CondConvExecutor(const LayerShape& shape, int64_t batch, Strategy strategy, int threads,
                   int64_t max_workspace_bytes);

  // Binds the weights; moe-concat packs the experts into [patch, n Cout] once here (inference
  // weights are static, so this is not part of forward()). Views must outlive forward() calls.
  void bind(const LayerWeights<T>& w);

  // y [B, Ho, Wo, Cout] (FC [B, Cout]) from x [B, H, W, Cin] (FC [B, Cin]) and alpha [B, n]
  // (ignored by `static`). Uses the bound weights.
  void forward(const T* x, const T* alpha, T* y);
  // Routing from the input into alpha [B, n] (needs bound routing_kernel), then forward().
  void forward_routed(const T* x, T* alpha, T* y);

  const LayerShape& shape() const { return shape_; }
  int64_t batch() const { return batch_; }
  int64_t chunk() const { return chunk_; }
  Strategy strategy() const { return strategy_; }
  int threads() const { return threads_; }
  int64_t workspace_bytes() const { return workspace_bytes_; }

 private:
  void run_chunk(int64_t b0, int64_t nb, const T* x, const T* alpha, T* y);
  void conv_one(const T* x, const T* kernel, const T* bias, T* y, T* col, int blas_threads);
  void conv_batch(int64_t nb, const T* x, const T* kernel, int64_t ldb, T* y, int64_t ldc, T* col,
                  int blas_threads);

  LayerShape shape_;
  int64_t batch_, chunk_ = 0;
  Strategy strategy_;
  int threads_;
  int64_t workspace_bytes_ = 0;
  LayerWeights<T> w_;
  std::vector<T> mixed_, mixed_bias_, col_, inter_, packed_;
};

// y = conv(x, kernel) (+ bias) with one kernel for the whole batch (the `static` baseline).
template <class T>
void static_forward(const LayerShape& s, int64_t batch, const T* x, const T* kernel, const T* bias,
                    T* y, int threads);

// Float64 oracle for --verify: per example, the mixed kernel in double, then a direct (naive)
// convolution with TF padding, plus mixed expert bias and static bias.
template <class T>
void reference_forward(const LayerShape& s, int64_t batch, const T* x, const T* alpha,
                       const LayerWeights<T>& w, double* y);

// ||a - b|| / ||b|| (0 when both are zero).
template <class A, class B>
double rel_l2(const A* a, const B* b, int64_t n);

// BN folding (spec 2.4): y = gamma (z - mean) / sqrt(var + eps) + beta. Scales output channel co
// of every expert (and expert bias) by s = gamma / sqrt(var + eps) in place and returns the
// static shift t = beta - s mean [Cout], to be added after the conv, never mixed.
template <class T>
std::vector<T> fold_batch_norm(const LayerShape& s, T* experts, T* expert_bias, const T* gamma,
                               const T* beta, const T* mean, const T* var, double eps);

}  // namespace effinfer::condconv
