// Integer GEMM of the quantize-climbq integer inference path (spec 2.8.1-2.8.2): int8-stored
// weights c [rows, K] times uint8 activation codes q [N, K] give exact int32 accumulators
//   acc[n, r] = m * sum_k c[r, k] q[n, k] + o * sum_k q[n, k]      (lambda = m c + o).
// Kernels are chosen at run time with __builtin_cpu_supports; each is compiled with a per-function
// target attribute, so a portable build (no -march) still contains them:
//   vnni512   AVX-512 VNNI vpdpbusd, 64 u8 x s8 MACs per instruction, non-saturating;
//   avxvnni   AVX-VNNI (VEX vpdpbusd on ymm, 32 MACs per instruction);
//   avx2      vpmaddubsw + vpmaddwd: the int16 pair sum saturates, so it is exact only when
//             2 max q max|c| <= 32767 (dispatch refuses it otherwise);
//   portable  plain C++ reference.
// Weights are packed once into blocks of 16 rows, layout [ceil(K/4)][16 rows][4 bytes] per block
// (K and rows zero-padded), so one 64-byte load feeds a vpdpbusd against 16 output rows.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

namespace effinfer::climbq {

// int.kernel (spec 3.4): what the user asks for.
enum class IntKernel { kAuto, kVnni, kAvx2, kPortable };
IntKernel parse_int_kernel(const std::string& name);  // auto|vnni|avx2|portable (ConfigError 78)
std::string int_kernel_name(IntKernel k);

// What actually runs.
enum class GemmImpl { kVnni512, kAvxVnni, kAvx2, kPortable };
std::string gemm_impl_name(GemmImpl g);  // vnni512 | avxvnni | avx2 | portable

// The CPU features the dispatcher looks at (tests pass a mock).
struct CpuFeatures {
  bool avx512vnni = false;  // avx512f + avx512bw + avx512vnni
  bool avxvnni = false;     // AVX-VNNI (and avx2)
  bool avx2 = false;
  bool avx512bw = false;  // used by the vectorised requantization
};
// The features of this CPU that this build can use (an AVX-VNNI kernel needs compiler support).
CpuFeatures cpu_features();
// "avx512_vnni avx_vnni avx512bw avx2" restricted to those present (for the bench table); "none".
std::string cpu_flags_string(const CpuFeatures& f);

// Largest u8 x s8 operands for which the avx2 kernel is exact: 2 max_q max_abs_c <= 32767.
bool avx2_exact(int64_t max_q, int64_t max_abs_c);

// Resolves a request for a layer whose codes are at most max_q and whose weights have
// |c| <= max_abs_c. auto: vnni512 > avxvnni > avx2 (when exact) > portable. vnni without AVX-512
// VNNI or AVX-VNNI -> ConfigError "int.kernel: vnni: this CPU has no AVX-512 VNNI or AVX-VNNI";
// avx2 without AVX2, or when 2 max_q max_abs_c > 32767 -> ConfigError naming the bound.
GemmImpl resolve_kernel(IntKernel request, const CpuFeatures& cpu, int64_t max_q,
                        int64_t max_abs_c);

// 64-byte aligned byte buffer.
class AlignedBytes {
 public:
  AlignedBytes() = default;
  explicit AlignedBytes(size_t n);
  uint8_t* data() { return p_.get(); }
  const uint8_t* data() const { return p_.get(); }
  size_t size() const { return n_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> p_;
  size_t n_ = 0;
};

inline constexpr int64_t kGemmBlockRows = 16;
// K rounded up to a multiple of 4: the row stride (ldq) activation buffers must have at least.
inline int64_t padded_k(int64_t k) { return (k + 3) / 4 * 4; }

struct PackedWeights {
  int64_t rows = 0, k = 0;
  int64_t k4 = 0;      // ceil(K / 4)
  int64_t blocks = 0;  // ceil(rows / 16)
  int m = 1, o = 0;    // lambda = m c + o
  int64_t max_abs_c = 0;
  AlignedBytes data;  // blocks x k4 x 16 x 4 int8
  const int8_t* block(int64_t b) const {
    return reinterpret_cast<const int8_t*>(data.data()) + b * k4 * 64;
  }
};

// Packs c [rows, K] (row-major int8).
PackedWeights pack_weights(const int8_t* c, int64_t rows, int64_t k, int m = 1, int o = 0);

// acc[n, r] (row stride ldacc >= rows) for n < N, r < rows. q rows have stride ldq >= K; the
// kernels read each row up to padded_k(K) bytes (values past K are ignored: the packed weights are
// zero there), so q + (N - 1) ldq + padded_k(K) bytes must be readable. `threads`
// OpenMP threads over tiles of 4 q rows x 64 weight rows. InternalError for an impl this CPU
// lacks or avx2 outside its exact range (max_q = the largest q present, caller's promise).
void int_gemm(const PackedWeights& w, const uint8_t* q, int64_t n, int64_t ldq, int32_t* acc,
              int64_t ldacc, GemmImpl impl, int threads, int64_t max_q = 255);

// Requantization fused into the GEMM epilogue (spec 2.8.3): dst[n, r] = lut[#{l : sign_r acc[n,r]
// >= thr_t[l, r]}]. Only the vnni512 kernel fuses (at most 31 levels: a 32-entry table).
struct RequantParams {
  int64_t levels = 0;                  // L
  const int32_t* thr_t = nullptr;      // [L][rows] (transposed thresholds)
  const int32_t* sign_mask = nullptr;  // [rows]: 0 for sign +1, -1 for sign -1
  const int32_t* lut32 = nullptr;      // [32]: lut[l] for l <= L, rest ignored
};
bool fused_requant_available(GemmImpl impl, int64_t levels);
// Codes dst [n, rows] (row stride lddst >= rows) without the int32 round trip; InternalError when
// !fused_requant_available(impl, p.levels).
void int_gemm_requant(const PackedWeights& w, const uint8_t* q, int64_t n, int64_t ldq,
                      const RequantParams& p, uint8_t* dst, int64_t lddst, GemmImpl impl,
                      int threads);

// The naive reference: int64 accumulation, plain [rows, K] weights (tests).
void int_gemm_naive(const int8_t* c, int64_t rows, int64_t k, int m, int o, const uint8_t* q,
                    int64_t n, int64_t ldq, int64_t* acc);

}  // namespace effinfer::climbq
