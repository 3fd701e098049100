// Integer GEMM kernels and run-time dispatch (spec 2.8.2); see int_gemm.hpp for the layout.
#include "int_gemm.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/error.hpp"

// AVX-VNNI (VEX-encoded vpdpbusd) needs GCC >= 11 or clang >= 12; older compilers build without
// that kernel (AVX-512 VNNI, AVX2 and portable remain).
#if (defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && __GNUC__ >= 11)
#define EFFINFER_HAVE_AVXVNNI 1
#else
#define EFFINFER_HAVE_AVXVNNI 0
#endif

#define EFFINFER_TARGET_VNNI512 __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define EFFINFER_TARGET_AVX2 __attribute__((target("avx2")))
#define EFFINFER_TARGET_AVXVNNI __attribute__((target("avx2,avxvnni")))

namespace effinfer::climbq {

IntKernel parse_int_kernel(const std::string& name) {
  if (name == "auto") return IntKernel::kAuto;
  if (name == "vnni") return IntKernel::kVnni;
  if (name == "avx2") return IntKernel::kAvx2;
  if (name == "portable") return IntKernel::kPortable;
  throw ConfigError("int.kernel: expected auto|vnni|avx2|portable, found '" + name + "'");
}

std::string int_kernel_name(IntKernel k) {
  switch (k) {
    case IntKernel::kAuto:
      return "auto";
    case IntKernel::kVnni:
      return "vnni";
    case IntKernel::kAvx2:
      return "avx2";
    case IntKernel::kPortable:
      return "portable";
  }
  return "?";
}

std::string gemm_impl_name(GemmImpl g) {
  switch (g) {
    case GemmImpl::kVnni512:
      return "vnni512";
    case GemmImpl::kAvxVnni:
      return "avxvnni";
    case GemmImpl::kAvx2:
      return "avx2";
    case GemmImpl::kPortable:
      return "portable";
  }
  return "?";
}

CpuFeatures cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.avx512bw = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  f.avx512vnni = f.avx512bw && __builtin_cpu_supports("avx512vnni");
#if EFFINFER_HAVE_AVXVNNI
  f.avxvnni = f.avx2 && __builtin_cpu_supports("avxvnni");
#endif
#endif
  return f;
}

std::string cpu_flags_string(const CpuFeatures& f) {
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += ' ';
    s += name;
  };
  add(f.avx512vnni, "avx512_vnni");
  add(f.avxvnni, "avx_vnni");
  add(f.avx512bw, "avx512bw");
  add(f.avx2, "avx2");
  return s.empty() ? "none" : s;
}

bool avx2_exact(int64_t max_q, int64_t max_abs_c) { return 2 * max_q * max_abs_c <= 32767; }

GemmImpl resolve_kernel(IntKernel request, const CpuFeatures& cpu, int64_t max_q,
                        int64_t max_abs_c) {
  switch (request) {
    case IntKernel::kPortable:
      return GemmImpl::kPortable;
    case IntKernel::kVnni:
      if (cpu.avx512vnni) return GemmImpl::kVnni512;
      if (cpu.avxvnni) return GemmImpl::kAvxVnni;
      throw ConfigError("int.kernel: vnni: this CPU has no AVX-512 VNNI or AVX-VNNI (" +
                        cpu_flags_string(cpu) + "); use auto, avx2 or portable");
    case IntKernel::kAvx2:
      if (!cpu.avx2) throw ConfigError("int.kernel: avx2: this CPU has no AVX2; use portable");
      if (!avx2_exact(max_q, max_abs_c))
        throw ConfigError("int.kernel: avx2: 2 max q max|c| = 2 x " + std::to_string(max_q) +
                          " x " + std::to_string(max_abs_c) +
                          " > 32767 (vpmaddubsw would saturate); use auto, vnni or portable");
      return GemmImpl::kAvx2;
    case IntKernel::kAuto:
      if (cpu.avx512vnni) return GemmImpl::kVnni512;
      if (cpu.avxvnni) return GemmImpl::kAvxVnni;
      if (cpu.avx2 && avx2_exact(max_q, max_abs_c)) return GemmImpl::kAvx2;
      return GemmImpl::kPortable;
  }
  return GemmImpl::kPortable;
}

AlignedBytes::AlignedBytes(size_t n) : n_(n) {
  const size_t bytes = std::max<size_t>(64, (n + 63) / 64 * 64);
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, bytes));
  if (!p) throw InternalError("AlignedBytes: cannot allocate " + std::to_string(bytes) + " bytes");
  std::memset(p, 0, bytes);
  p_.reset(p);
}

PackedWeights pack_weights(const int8_t* c, int64_t rows, int64_t k, int m, int o) {
  PackedWeights w;
  w.rows = rows;
  w.k = k;
  w.k4 = (k + 3) / 4;
  w.blocks = (rows + kGemmBlockRows - 1) / kGemmBlockRows;
  w.m = m;
  w.o = o;
  w.data = AlignedBytes(static_cast<size_t>(std::max<int64_t>(1, w.blocks * w.k4 * 64)));
  auto* dst = reinterpret_cast<int8_t*>(w.data.data());
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t b = r / kGemmBlockRows, i = r % kGemmBlockRows;
    for (int64_t kk = 0; kk < k; ++kk) {
      const int8_t v = c[r * k + kk];
      w.max_abs_c = std::max<int64_t>(w.max_abs_c, v < 0 ? -int64_t{v} : int64_t{v});
      dst[((b * w.k4 + kk / 4) * kGemmBlockRows + i) * 4 + kk % 4] = v;
    }
  }
  return w;
}

namespace {

// One task: q rows [n0, n0 + rn) (rn <= 4) against weight blocks [b0, b0 + rb) (rb <= 4).
struct Task {
  const PackedWeights* w;
  const uint8_t* q;
  int64_t ldq;
  int32_t* acc;
  int64_t ldacc;
  int64_t n0, rn, b0, rb;
  const RequantParams* rq;  // fused requantization (vnni512), else nullptr
  uint8_t* dst;
  int64_t lddst;
};

inline int32_t row_sum(const uint8_t* q, int64_t k) {
  int32_t s = 0;
  for (int64_t i = 0; i < k; ++i) s += q[i];
  return s;
}

inline int64_t valid_rows(const PackedWeights& w, int64_t block) {
  return std::min<int64_t>(kGemmBlockRows, w.rows - block * kGemmBlockRows);
}

// ---- portable reference ---------------------------------------------------------------------

void task_portable(const Task& t) {
  const PackedWeights& w = *t.w;
  for (int64_t r = 0; r < t.rn; ++r) {
    const uint8_t* q = t.q + (t.n0 + r) * t.ldq;
    const int32_t rs = w.o ? row_sum(q, w.k) : 0;
    for (int64_t b = t.b0; b < t.b0 + t.rb; ++b) {
      int32_t s[kGemmBlockRows] = {};
      const int8_t* wb = w.block(b);
      for (int64_t kk = 0; kk < w.k4; ++kk) {
        const uint8_t* qk = q + kk * 4;
        const int8_t* wk = wb + kk * 64;
        for (int i = 0; i < kGemmBlockRows; ++i)
          for (int j = 0; j < 4; ++j) s[i] += int32_t{wk[i * 4 + j]} * int32_t{qk[j]};
      }
      int32_t* out = t.acc + (t.n0 + r) * t.ldacc + b * kGemmBlockRows;
      const int64_t valid = valid_rows(w, b);
      for (int64_t i = 0; i < valid; ++i) out[i] = w.m * s[i] + w.o * rs;
    }
  }
}

// ---- AVX-512 VNNI: tile of RN q rows x RB blocks of 16 rows, RN x RB zmm accumulators ----------

template <int RN, int RB>
EFFINFER_TARGET_VNNI512 inline void tile_vnni512(const Task& t, int64_t b0) {
  const PackedWeights& w = *t.w;
  __m512i c[RN][RB];
  const int8_t* wp[RB];
  const uint8_t* qp[RN];
#pragma GCC unroll 4
  for (int b = 0; b < RB; ++b) wp[b] = w.block(b0 + b);
#pragma GCC unroll 4
  for (int r = 0; r < RN; ++r) {
    qp[r] = t.q + (t.n0 + r) * t.ldq;
#pragma GCC unroll 4
    for (int b = 0; b < RB; ++b) c[r][b] = _mm512_setzero_si512();
  }
  for (int64_t kk = 0; kk < w.k4; ++kk) {
    __m512i wv[RB];
#pragma GCC unroll 4
    for (int b = 0; b < RB; ++b) wv[b] = _mm512_load_si512(wp[b] + kk * 64);
#pragma GCC unroll 4
    for (int r = 0; r < RN; ++r) {
      int32_t v;
      std::memcpy(&v, qp[r] + kk * 4, 4);
      const __m512i a = _mm512_set1_epi32(v);
#pragma GCC unroll 4
      for (int b = 0; b < RB; ++b) c[r][b] = _mm512_dpbusd_epi32(c[r][b], a, wv[b]);
    }
  }
  const __m512i mv = _mm512_set1_epi32(w.m);
#pragma GCC unroll 4
  for (int r = 0; r < RN; ++r) {
    const __m512i ov = _mm512_set1_epi32(w.o ? w.o * row_sum(qp[r], w.k) : 0);
#pragma GCC unroll 4
    for (int b = 0; b < RB; ++b) {
      if (w.m != 1) c[r][b] = _mm512_mullo_epi32(c[r][b], mv);
      c[r][b] = _mm512_add_epi32(c[r][b], ov);
    }
  }
#pragma GCC unroll 4
  for (int b = 0; b < RB; ++b) {
    const int64_t valid = valid_rows(w, b0 + b);
    const __mmask16 mask =
        valid >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << valid) - 1);
    const int64_t row0 = (b0 + b) * kGemmBlockRows;
    if (!t.rq) {
#pragma GCC unroll 4
      for (int r = 0; r < RN; ++r)
        _mm512_mask_storeu_epi32(t.acc + (t.n0 + r) * t.ldacc + row0, mask, c[r][b]);
      continue;
    }
    // Fused requantization (spec 2.8.3): level = #{l : sign acc >= T_l}, code = lut[level].
    const RequantParams& p = *t.rq;
    const __m512i sm = _mm512_maskz_loadu_epi32(mask, p.sign_mask + row0);
    __m512i v[RN], cnt[RN];
#pragma GCC unroll 4
    for (int r = 0; r < RN; ++r) {
      v[r] = _mm512_sub_epi32(_mm512_xor_si512(c[r][b], sm), sm);  // sign acc
      cnt[r] = _mm512_setzero_si512();
    }
    const __m512i one = _mm512_set1_epi32(1);
    for (int64_t l = 0; l < p.levels; ++l) {
      const __m512i T = _mm512_maskz_loadu_epi32(mask, p.thr_t + l * w.rows + row0);
#pragma GCC unroll 4
      for (int r = 0; r < RN; ++r)
        cnt[r] = _mm512_mask_add_epi32(cnt[r], _mm512_cmpge_epi32_mask(v[r], T), cnt[r], one);
    }
    const __m512i lut_lo = _mm512_loadu_si512(p.lut32), lut_hi = _mm512_loadu_si512(p.lut32 + 16);
#pragma GCC unroll 4
    for (int r = 0; r < RN; ++r)
      _mm512_mask_cvtepi32_storeu_epi8(t.dst + (t.n0 + r) * t.lddst + row0, mask,
                                       _mm512_permutex2var_epi32(lut_lo, cnt[r], lut_hi));
  }
}

template <int RN>
EFFINFER_TARGET_VNNI512 void task_vnni512_rn(const Task& t) {
  switch (t.rb) {
    case 4:
      tile_vnni512<RN, 4>(t, t.b0);
      break;
    case 3:
      tile_vnni512<RN, 3>(t, t.b0);
      break;
    case 2:
      tile_vnni512<RN, 2>(t, t.b0);
      break;
    default:
      tile_vnni512<RN, 1>(t, t.b0);
      break;
  }
}

EFFINFER_TARGET_VNNI512 void task_vnni512(const Task& t) {
  switch (t.rn) {
    case 4:
      task_vnni512_rn<4>(t);
      break;
    case 3:
      task_vnni512_rn<3>(t);
      break;
    case 2:
      task_vnni512_rn<2>(t);
      break;
    default:
      task_vnni512_rn<1>(t);
      break;
  }
}

// ---- AVX2 and AVX-VNNI: tile of RN q rows x one block (two ymm of 8 rows)
// ------------------------

// Stores 16 int32 (two ymm) of one block, only the valid rows.
EFFINFER_TARGET_AVX2 inline void store_block_ymm(int32_t* out, __m256i lo, __m256i hi,
                                                 int64_t valid) {
  if (valid >= 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 8), hi);
    return;
  }
  alignas(32) int32_t tmp[16];
  _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), lo);
  _mm256_store_si256(reinterpret_cast<__m256i*>(tmp + 8), hi);
  std::memcpy(out, tmp, sizeof(int32_t) * static_cast<size_t>(valid));
}

// The RN q rows of a tile and their zeroed accumulators (two ymm of 8 output rows each).
template <int RN>
EFFINFER_TARGET_AVX2 inline void start_tile_ymm(const Task& t, const uint8_t* (&qp)[RN],
                                                __m256i (&c)[RN][2]) {
#pragma GCC unroll 4
  for (int r = 0; r < RN; ++r) {
    qp[r] = t.q + (t.n0 + r) * t.ldq;
    c[r][0] = _mm256_setzero_si256();
    c[r][1] = _mm256_setzero_si256();
  }
}

// acc = m (sum c q) + o (sum q) for the RN rows of a tile, stored for the block's valid rows.
template <int RN>
EFFINFER_TARGET_AVX2 inline void finish_tile_ymm(const Task& t, int64_t b, const uint8_t* const* qp,
                                                 __m256i (&c)[RN][2]) {
  const PackedWeights& w = *t.w;
  const __m256i mv = _mm256_set1_epi32(w.m);
#pragma GCC unroll 4
  for (int r = 0; r < RN; ++r) {
    const __m256i ov = _mm256_set1_epi32(w.o ? w.o * row_sum(qp[r], w.k) : 0);
    __m256i lo = c[r][0], hi = c[r][1];
    if (w.m != 1) lo = _mm256_mullo_epi32(lo, mv), hi = _mm256_mullo_epi32(hi, mv);
    lo = _mm256_add_epi32(lo, ov);
    hi = _mm256_add_epi32(hi, ov);
    store_block_ymm(t.acc + (t.n0 + r) * t.ldacc + b * kGemmBlockRows, lo, hi, valid_rows(w, b));
  }
}

// Runs a task's blocks with the tile instantiation for its row count (1..4).
using TileFn = void (*)(const Task&, int64_t);
inline void run_tiles(const Task& t, const TileFn (&tiles)[4]) {
  const TileFn tile = tiles[std::clamp<int64_t>(t.rn, 1, 4) - 1];
  for (int64_t b = t.b0; b < t.b0 + t.rb; ++b) tile(t, b);
}

template <int RN>
EFFINFER_TARGET_AVX2 inline void tile_avx2(const Task& t, int64_t b) {
  const PackedWeights& w = *t.w;
  const int8_t* wp = w.block(b);
  const uint8_t* qp[RN];
  __m256i c[RN][2];
  start_tile_ymm<RN>(t, qp, c);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t kk = 0; kk < w.k4; ++kk) {
    const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wp + kk * 64));
    const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wp + kk * 64 + 32));
#pragma GCC unroll 4
    for (int r = 0; r < RN; ++r) {
      int32_t v;
      std::memcpy(&v, qp[r] + kk * 4, 4);
      const __m256i a = _mm256_set1_epi32(v);
      // u8 x s8 pair sums in int16 (exact under avx2_exact), then pairs of pairs in int32.
      c[r][0] = _mm256_add_epi32(c[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(a, w0), ones));
      c[r][1] = _mm256_add_epi32(c[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(a, w1), ones));
    }
  }
  finish_tile_ymm<RN>(t, b, qp, c);
}

void task_avx2(const Task& t) {
  static constexpr TileFn kTiles[] = {tile_avx2<1>, tile_avx2<2>, tile_avx2<3>, tile_avx2<4>};
  run_tiles(t, kTiles);
}

#if EFFINFER_HAVE_AVXVNNI
template <int RN>
EFFINFER_TARGET_AVXVNNI inline void tile_avxvnni(const Task& t, int64_t b) {
  const PackedWeights& w = *t.w;
  const int8_t* wp = w.block(b);
  const uint8_t* qp[RN];
  __m256i c[RN][2];
  start_tile_ymm<RN>(t, qp, c);
  for (int64_t kk = 0; kk < w.k4; ++kk) {
    const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wp + kk * 64));
    const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(wp + kk * 64 + 32));
#pragma GCC unroll 4
    for (int r = 0; r < RN; ++r) {
      int32_t v;
      std::memcpy(&v, qp[r] + kk * 4, 4);
      const __m256i a = _mm256_set1_epi32(v);
      c[r][0] = _mm256_dpbusd_avx_epi32(c[r][0], a, w0);
      c[r][1] = _mm256_dpbusd_avx_epi32(c[r][1], a, w1);
    }
  }
  finish_tile_ymm<RN>(t, b, qp, c);
}

void task_avxvnni(const Task& t) {
  static constexpr TileFn kTiles[] = {tile_avxvnni<1>, tile_avxvnni<2>, tile_avxvnni<3>,
                                      tile_avxvnni<4>};
  run_tiles(t, kTiles);
}
#endif

}  // namespace

namespace {

// Tiles of 4 q rows x 4 weight blocks (64 rows), spread over OpenMP threads.
void run_tasks(const PackedWeights& w, const uint8_t* q, int64_t n, int64_t ldq, int32_t* acc,
               int64_t ldacc, const RequantParams* rq, uint8_t* dst, int64_t lddst,
               void (*task)(const Task&), int threads) {
  const int64_t n_tiles = (n + 3) / 4;
  const int64_t groups = (w.blocks + 3) / 4;
  const int64_t tasks = n_tiles * groups;
  const int nt = std::max(1, threads);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1 && tasks > 1)
  for (int64_t i = 0; i < tasks; ++i) {
    Task t{&w, q, ldq, acc, ldacc, 0, 0, 0, 0, rq, dst, lddst};
    t.n0 = (i / groups) * 4;
    t.rn = std::min<int64_t>(4, n - t.n0);
    t.b0 = (i % groups) * 4;
    t.rb = std::min<int64_t>(4, w.blocks - t.b0);
    task(t);
  }
}

}  // namespace

void int_gemm(const PackedWeights& w, const uint8_t* q, int64_t n, int64_t ldq, int32_t* acc,
              int64_t ldacc, GemmImpl impl, int threads, int64_t max_q) {
  if (n <= 0 || w.rows <= 0) return;
  if (ldq < w.k || ldacc < w.rows)
    throw InternalError("int_gemm: ldq " + std::to_string(ldq) + " < " + std::to_string(w.k) +
                        " or ldacc " + std::to_string(ldacc) + " < " + std::to_string(w.rows));
  const CpuFeatures cpu = cpu_features();
  void (*task)(const Task&) = task_portable;
  switch (impl) {
    case GemmImpl::kVnni512:
      if (!cpu.avx512vnni) throw InternalError("int_gemm: vnni512 kernel on a CPU without it");
      task = task_vnni512;
      break;
    case GemmImpl::kAvxVnni:
#if EFFINFER_HAVE_AVXVNNI
      if (!cpu.avxvnni) throw InternalError("int_gemm: avxvnni kernel on a CPU without it");
      task = task_avxvnni;
      break;
#else
      throw InternalError("int_gemm: this build has no AVX-VNNI kernel (compiler too old)");
#endif
    case GemmImpl::kAvx2:
      if (!cpu.avx2) throw InternalError("int_gemm: avx2 kernel on a CPU without AVX2");
      if (!avx2_exact(max_q, w.max_abs_c))
        throw InternalError("int_gemm: avx2 kernel outside its exact range (2 x " +
                            std::to_string(max_q) + " x " + std::to_string(w.max_abs_c) +
                            " > 32767)");
      task = task_avx2;
      break;
    case GemmImpl::kPortable:
      break;
  }
  run_tasks(w, q, n, ldq, acc, ldacc, nullptr, nullptr, 0, task, threads);
}

bool fused_requant_available(GemmImpl impl, int64_t levels) {
  return impl == GemmImpl::kVnni512 && levels <= 31 && cpu_features().avx512vnni;
}

void int_gemm_requant(const PackedWeights& w, const uint8_t* q, int64_t n, int64_t ldq,
                      const RequantParams& p, uint8_t* dst, int64_t lddst, GemmImpl impl,
                      int threads) {
  if (n <= 0 || w.rows <= 0) return;
  if (!fused_requant_available(impl, p.levels))
    throw InternalError("int_gemm_requant: needs the vnni512 kernel and at most 31 levels");
  if (ldq < w.k || lddst < w.rows) throw InternalError("int_gemm_requant: ldq or lddst too small");
  run_tasks(w, q, n, ldq, nullptr, 0, &p, dst, lddst, task_vnni512, threads);
}

void int_gemm_naive(const int8_t* c, int64_t rows, int64_t k, int m, int o, const uint8_t* q,
                    int64_t n, int64_t ldq, int64_t* acc) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < rows; ++r) {
      int64_t s = 0;
      for (int64_t kk = 0; kk < k; ++kk)
        s += (int64_t{m} * c[r * k + kk] + o) * int64_t{q[i * ldq + kk]};
      acc[i * rows + r] = s;
    }
}

}  // namespace effinfer::climbq
