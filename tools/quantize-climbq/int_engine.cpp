// Integer inference engine and verification (spec 2.8, 2.8.6); see int_engine.hpp.
#include "int_engine.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "nn/layers.hpp"

namespace effinfer::climbq {

namespace {

constexpr int64_t kSlack = 64;  // bytes past every code buffer: the GEMM reads rows to padded K

// level = #{t : sign acc >= T[t]}, next code = lut[level] for `rows` rows of `out` accumulators;
// thresholds transposed [L][out] so the count vectorises across outputs.
__attribute__((always_inline)) inline void requant_body(const int32_t* acc, int64_t r0, int64_t r1,
                                                        int64_t out, int64_t levels,
                                                        const int32_t* thr_t, const int32_t* sign,
                                                        const uint8_t* lut, uint8_t* dst) {
  constexpr int64_t kChunk = 64;
  for (int64_t r = r0; r < r1; ++r) {
    const int32_t* a = acc + r * out;
    uint8_t* d = dst + r * out;
    for (int64_t o0 = 0; o0 < out; o0 += kChunk) {
      const int64_t len = std::min(kChunk, out - o0);
      int32_t v[kChunk], cnt[kChunk];
      for (int64_t j = 0; j < len; ++j) {
        v[j] = sign[o0 + j] * a[o0 + j];
        cnt[j] = 0;
      }
      for (int64_t t = 0; t < levels; ++t) {
        const int32_t* T = thr_t + t * out + o0;
        for (int64_t j = 0; j < len; ++j) cnt[j] += v[j] >= T[j] ? 1 : 0;
      }
      for (int64_t j = 0; j < len; ++j) d[o0 + j] = lut[cnt[j]];
    }
  }
}

// AVX-512 form for L <= 31 (a 32-entry table): 16 outputs per step, one compare and masked add
// per threshold, the table lookup by a two-source permute.
__attribute__((target("avx512f,avx512bw"))) void requant_avx512(
    const int32_t* acc, int64_t r0, int64_t r1, int64_t out, int64_t levels, const int32_t* thr_t,
    const int32_t* sign, const uint8_t* lut, uint8_t* dst) {
  const int32_t* sign_mask = sign + out;  // [out] of 0 / -1 after the [out] of +1 / -1
  alignas(64) int32_t table[32] = {};
  for (int64_t i = 0; i <= levels; ++i) table[i] = lut[i];
  const __m512i lut_lo = _mm512_load_si512(table), lut_hi = _mm512_load_si512(table + 16);
  const __m512i one = _mm512_set1_epi32(1);
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t o0 = 0; o0 < out; o0 += 16) {
      const int64_t len = std::min<int64_t>(16, out - o0);
      const __mmask16 mask =
          len == 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << len) - 1);
      const __m512i a = _mm512_maskz_loadu_epi32(mask, acc + r * out + o0);
      // sign acc as (acc ^ s) - s with s = 0 (+1) or -1 (-1).
      const __m512i sm = _mm512_maskz_loadu_epi32(mask, sign_mask + o0);
      const __m512i v = _mm512_sub_epi32(_mm512_xor_si512(a, sm), sm);
      __m512i cnt = _mm512_setzero_si512();
      for (int64_t t = 0; t < levels; ++t) {
        const __m512i T = _mm512_maskz_loadu_epi32(mask, thr_t + t * out + o0);
        cnt = _mm512_mask_add_epi32(cnt, _mm512_cmpge_epi32_mask(v, T), cnt, one);
      }
      const __m512i q = _mm512_permutex2var_epi32(lut_lo, cnt, lut_hi);
      _mm512_mask_cvtepi32_storeu_epi8(dst + r * out + o0, mask, q);
    }
  }
}

void requant_plain(const int32_t* acc, int64_t r0, int64_t r1, int64_t out, int64_t levels,
                   const int32_t* thr_t, const int32_t* sign, const uint8_t* lut, uint8_t* dst) {
  requant_body(acc, r0, r1, out, levels, thr_t, sign, lut, dst);
}

// Many levels (e.g. 8-bit uniform, 255): binary search in the row's thresholds.
void requant_search(const int32_t* acc, int64_t r0, int64_t r1, const IntLayer& L, uint8_t* dst) {
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t o = 0; o < L.out; ++o) {
      const int32_t v = L.sign[o] * acc[r * L.out + o];
      const int32_t* row = L.thr.data() + o * L.levels;
      const auto level = std::upper_bound(row, row + L.levels, v) - row;
      dst[r * L.out + o] = L.lut[level];
    }
}

inline bool use_parallel(int threads, int64_t work) { return threads > 1 && work >= 16384; }

// Row stride of the uint8 im2col buffer: room for the copies' spill past K (see im2col below).
inline int64_t col_stride(int64_t k) { return padded_k(k + 15); }

// Copies len bytes in 16-byte (wide) or 8-byte moves: up to 15 bytes more are read and written.
inline void copy_run(uint8_t* d, const uint8_t* s, int64_t len, bool wide) {
  if (wide) {
    for (int64_t b = 0; b < len; b += 16) std::memcpy(d + b, s + b, 16);
  } else {
    for (int64_t b = 0; b < len; b += 8) std::memcpy(d + b, s + b, 8);
  }
}

}  // namespace

IntEngine::IntEngine(const IntModel& model, IntKernel kernel, int threads, int64_t max_batch)
    : model_(model), threads_(std::max(1, threads)), max_batch_(std::max<int64_t>(1, max_batch)) {
  const CpuFeatures cpu = cpu_features();
  avx512_requant_ = cpu.avx512bw;
  const size_t nl = model_.layers.size();
  packed_.resize(nl);
  thr_t_.resize(nl);
  sign_.resize(nl);
  lut32_.resize(nl);
  if (nl == 0 || model_.layers.back().kind != IntLayerKind::kClassifier)
    throw InternalError("IntEngine: the model must end with a classifier");
  // Per-image buffer sizes.
  int64_t codes = model_.input_size(), col = padded_k(model_.input_size()), acc = 0;
  int64_t fx = 0, fcol = 0, fy = 0;
  for (size_t i = 0; i < nl; ++i) {
    const IntLayer& L = model_.layers[i];
    const bool gemm = (L.kind == IntLayerKind::kQuant && !L.float_input) ||
                      (L.kind == IntLayerKind::kClassifier && L.quantized);
    if (gemm) {
      // The kernels take lambda itself when it fits int8 (climbq v2023 up to 7 bits): no
      // o sum_k q term then. Else the stored c with (m, o).
      std::vector<int8_t> lambda(L.wq.size());
      bool fits = true;
      for (size_t j = 0; j < L.wq.size(); ++j) {
        const int v = L.m * L.wq[j] + L.o;
        fits = fits && v >= -127 && v <= 127;
        lambda[j] = static_cast<int8_t>(fits ? v : 0);
      }
      packed_[i] = fits ? pack_weights(lambda.data(), L.out, L.k, 1, 0)
                        : pack_weights(L.wq.data(), L.out, L.k, L.m, L.o);
      impls_.push_back(resolve_kernel(kernel, cpu, L.in_max, packed_[i].max_abs_c));
    }
    const int64_t rows = L.conv ? L.out_h * L.out_w : 1;
    if (L.kind == IntLayerKind::kQuant) {
      codes = std::max(codes, rows * L.out);
      acc = std::max(acc, rows * L.out);
      if (L.conv) col = std::max(col, rows * col_stride(L.k));
      if (L.float_input) {
        fx = std::max(fx, model_.input_size());
        if (L.conv) fcol = std::max(fcol, rows * L.k);
        fy = std::max(fy, rows * L.out);
      } else {
        std::vector<int32_t>& tt = thr_t_[i];
        tt.resize(static_cast<size_t>(L.levels * L.out));
        for (int64_t o = 0; o < L.out; ++o)
          for (int64_t t = 0; t < L.levels; ++t) tt[t * L.out + o] = L.thr[o * L.levels + t];
        sign_[i].assign(L.sign.begin(), L.sign.end());
        for (int8_t v : L.sign) sign_[i].push_back(v < 0 ? -1 : 0);
        lut32_[i].assign(32, 0);
        for (int64_t l = 0; l <= std::min<int64_t>(L.levels, 31); ++l) lut32_[i][l] = L.lut[l];
      }
    } else if (L.kind == IntLayerKind::kMaxPool) {
      codes = std::max(codes, L.out_h * L.out_w * L.out);
    } else if (L.kind == IntLayerKind::kClassifier) {
      if (L.quantized)
        acc = std::max(acc, L.out);
      else
        fx = std::max(fx, L.k);
    }
  }
  const auto B = static_cast<size_t>(max_batch_);
  buf_a_.assign(B * codes + kSlack, 0);
  buf_b_.assign(B * codes + kSlack, 0);
  col_.assign(B * col + kSlack, 0);
  acc_.assign(B * std::max<int64_t>(acc, 1), 0);
  fx_.assign(B * std::max<int64_t>(fx, 1), 0.0f);
  fcol_.assign(B * std::max<int64_t>(fcol, 1), 0.0f);
  fy_.assign(B * std::max<int64_t>(fy, 1), 0.0f);
  norm_lut_.resize(256);
  for (int p = 0; p < 256; ++p)
    norm_lut_[p] = static_cast<float>(
        (static_cast<double>(p) * model_.pixel_scale - model_.norm_mean) / model_.norm_std);
}

std::string IntEngine::kernel_name() const {
  std::string s;
  for (GemmImpl g : impls_) {
    const std::string n = gemm_impl_name(g);
    if (s.find(n) == std::string::npos) s += (s.empty() ? "" : "+") + n;
  }
  return s.empty() ? "none" : s;
}

void IntEngine::forward(const uint8_t* pixels, int64_t n, float* logits, IntCodes* codes) {
  if (codes) {
    const std::vector<size_t> ql = model_.quant_layers();
    codes->layers.resize(ql.size());
    for (size_t j = 0; j < ql.size(); ++j) {
      const IntLayer& L = model_.layers[ql[j]];
      const int64_t per = (L.conv ? L.out_h * L.out_w : 1) * L.out;
      codes->layers[j].resize(static_cast<size_t>(n * per));
    }
    codes->classifier_input.resize(static_cast<size_t>(n * model_.layers.back().k));
  }
  for (int64_t off = 0; off < n; off += max_batch_) {
    const int64_t nb = std::min(max_batch_, n - off);
    run_chunk(pixels + off * model_.input_size(), nb, logits + off * model_.num_classes, codes,
              off);
  }
}

void IntEngine::run_chunk(const uint8_t* pixels, int64_t n, float* logits, IntCodes* codes,
                          int64_t offset) {
  const int threads = threads_;
  const uint8_t* cur = pixels;
  uint8_t* bufs[2] = {buf_a_.data(), buf_b_.data()};
  int which = 0;
  size_t impl_index = 0, quant_index = 0;
  int64_t h = model_.height, w = model_.width, c = model_.channels;
  for (size_t li = 0; li < model_.layers.size(); ++li) {
    const IntLayer& L = model_.layers[li];
    uint8_t* dst = bufs[which];
    if (L.kind == IntLayerKind::kQuant) {
      const int64_t rows = n * (L.conv ? L.out_h * L.out_w : 1);
      if (L.float_input) {
        // First layer on float input (spec 2.8.4 first_layer: float): float32 GEMM, BN in double.
        const int64_t in = model_.input_size();
        float* fx = fx_.data();
#pragma omp parallel for num_threads(threads) if (use_parallel(threads, n * in))
        for (int64_t i = 0; i < n * in; ++i) fx[i] = norm_lut_[pixels[i]];
        const float* X = fx;
        if (L.conv) {
          float* col = fcol_.data();
#pragma omp parallel for num_threads(threads) if (use_parallel(threads, rows * L.k))
          for (int64_t r = 0; r < rows; ++r) {
            const int64_t img = r / (L.out_h * L.out_w), pos = r % (L.out_h * L.out_w);
            const int64_t oy = pos / L.out_w, ox = pos % L.out_w;
            float* dr = col + r * L.k;
            for (int64_t ky = 0; ky < L.kh; ++ky)
              for (int64_t kx = 0; kx < L.kw; ++kx) {
                const int64_t iy = oy * L.stride - L.pad + ky, ix = ox * L.stride - L.pad + kx;
                float* d = dr + (ky * L.kw + kx) * L.cin;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
                  std::fill(d, d + L.cin, 0.0f);
                } else {
                  std::memcpy(d, fx + ((img * h + iy) * w + ix) * c, sizeof(float) * L.cin);
                }
              }
          }
          X = col;
        }
        nn::detail::gemm(false, true, rows, L.out, L.k, 1.0f, X, L.wf.data(), 0.0f, fy_.data());
        const float* y = fy_.data();
#pragma omp parallel for num_threads(threads) if (use_parallel(threads, rows * L.out))
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t o = 0; o < L.out; ++o) {
            const double z = L.scale[o] * static_cast<double>(y[r * L.out + o]) + L.shift[o];
            const auto level =
                std::upper_bound(L.real_thr.begin(), L.real_thr.end(), z) - L.real_thr.begin();
            dst[r * L.out + o] = L.lut[level];
          }
      } else {
        const uint8_t* q = cur;
        int64_t ldq = L.k;
        if (L.conv) {
          // im2col on codes: [n Ho Wo, kh kw cin] in HWIO column order, zero code at padding
          // (code 0 is x = 0 after ReLU).
          ldq = col_stride(L.k);
          uint8_t* col = col_.data();
          // Kernel rows are copied in 8- or 16-byte moves that may read up to 15 bytes past the
          // row: the caller's pixels have no slack, so they go to the free buffer first.
          if (cur == pixels) {
            std::memcpy(bufs[which ^ 1], pixels, static_cast<size_t>(n * h * w * c));
            cur = bufs[which ^ 1];
          }
          const int64_t run = L.kw * L.cin;  // one kernel row: contiguous in NHWC
          const bool wide = run >= 16;
#pragma omp parallel for num_threads(threads) if (use_parallel(threads, rows * L.k))
          for (int64_t strip = 0; strip < n * L.out_h; ++strip) {  // one output row per task
            const int64_t img = strip / L.out_h, oy = strip % L.out_h;
            for (int64_t ox = 0; ox < L.out_w; ++ox) {
              uint8_t* dr = col + (strip * L.out_w + ox) * ldq;
              const int64_t ix0 = ox * L.stride - L.pad;
              // Later kernel rows overwrite the spill; the last spills into the row's slack
              // (ldq >= K + 15).
              if (L.pad == 0) {  // every kernel row lies inside the image
                const uint8_t* s0 = cur + ((img * h + oy * L.stride) * w + ix0) * c;
                for (int64_t ky = 0; ky < L.kh; ++ky)
                  copy_run(dr + ky * run, s0 + ky * w * c, run, wide);
                continue;
              }
              for (int64_t ky = 0; ky < L.kh; ++ky) {
                const int64_t iy = oy * L.stride - L.pad + ky;
                uint8_t* d = dr + ky * run;
                if (iy >= 0 && iy < h && ix0 >= 0 && ix0 + L.kw <= w) {
                  copy_run(d, cur + ((img * h + iy) * w + ix0) * c, run, wide);
                  continue;
                }
                for (int64_t kx = 0; kx < L.kw; ++kx) {
                  const int64_t ix = ix0 + kx;
                  uint8_t* dk = d + kx * L.cin;
                  if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                    std::memset(dk, 0, static_cast<size_t>(L.cin));
                  else
                    std::memcpy(dk, cur + ((img * h + iy) * w + ix) * c,
                                static_cast<size_t>(L.cin));
                }
              }
            }
          }
          q = col;
        } else if (cur == pixels && L.k % 4 != 0) {
          // The caller's pixels have no slack for the padded-K reads: copy.
          ldq = padded_k(L.k);
          for (int64_t r = 0; r < n; ++r)
            std::memcpy(col_.data() + r * ldq, pixels + r * L.k, static_cast<size_t>(L.k));
          q = col_.data();
        }
        const GemmImpl impl = impls_[impl_index++];
        if (fused_requant_available(impl, L.levels)) {
          RequantParams rp;
          rp.levels = L.levels;
          rp.thr_t = thr_t_[li].data();
          rp.sign_mask = sign_[li].data() + L.out;
          rp.lut32 = lut32_[li].data();
          int_gemm_requant(packed_[li], q, rows, ldq, rp, dst, L.out, impl, threads);
        } else {
          int_gemm(packed_[li], q, rows, ldq, acc_.data(), L.out, impl, threads, L.in_max);
          const int32_t* acc = acc_.data();
          const int64_t chunk = std::max<int64_t>(1, (rows + threads - 1) / threads);
#pragma omp parallel for num_threads(threads) if (use_parallel(threads, rows * L.out))
          for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
            const int64_t r1 = std::min(rows, r0 + chunk);
            if (L.levels > 32)
              requant_search(acc, r0, r1, L, dst);
            else if (avx512_requant_ && L.levels <= 31)
              requant_avx512(acc, r0, r1, L.out, L.levels, thr_t_[li].data(), sign_[li].data(),
                             L.lut.data(), dst);
            else
              requant_plain(acc, r0, r1, L.out, L.levels, thr_t_[li].data(), sign_[li].data(),
                            L.lut.data(), dst);
          }
        }
      }
      if (codes) {
        const int64_t per = rows / n * L.out;
        std::memcpy(codes->layers[quant_index].data() + offset * per, dst,
                    static_cast<size_t>(n * per));
      }
      ++quant_index;
      if (L.conv)
        h = L.out_h, w = L.out_w, c = L.out;
      else
        h = 1, w = 1, c = L.out;
      cur = dst;
      which ^= 1;
    } else if (L.kind == IntLayerKind::kMaxPool) {
      // Max pooling on codes (monotone in x = s_a q; spec 2.8.5); 2x2, stride 2.
      const int64_t oh = h / 2, ow = w / 2;
#pragma omp parallel for num_threads(threads) if (use_parallel(threads, n * oh * ow * c))
      for (int64_t r = 0; r < n * oh; ++r) {
        const int64_t img = r / oh, oy = r % oh;
        for (int64_t ox = 0; ox < ow; ++ox) {
          const uint8_t* a = cur + ((img * h + 2 * oy) * w + 2 * ox) * c;
          const uint8_t* b = a + w * c;
          uint8_t* d = dst + (r * ow + ox) * c;
          for (int64_t ch = 0; ch < c; ++ch)
            d[ch] = std::max(std::max(a[ch], a[c + ch]), std::max(b[ch], b[c + ch]));
        }
      }
      h = oh, w = ow;
      cur = dst;
      which ^= 1;
    } else if (L.kind == IntLayerKind::kFlatten) {
      c = h * w * c, h = 1, w = 1;  // NHWC codes are already flat
    } else {                        // classifier
      if (codes)
        std::memcpy(codes->classifier_input.data() + offset * L.k, cur,
                    static_cast<size_t>(n * L.k));
      if (L.quantized) {
        int_gemm(packed_[li], cur, n, L.k, acc_.data(), L.out, impls_[impl_index++], threads,
                 L.in_max);
        const double unit = L.w_unit * L.in_unit;
        for (int64_t r = 0; r < n; ++r)
          for (int64_t o = 0; o < L.out; ++o)
            logits[r * L.out + o] = static_cast<float>(
                unit * static_cast<double>(acc_[r * L.out + o]) + static_cast<double>(L.b[o]));
      } else {
        // x = s_a q in float32, as the fake-quant model forms it (spec 2.8.5).
        float val[256];
        for (int v = 0; v < 256; ++v)
          val[v] = static_cast<float>(L.in_unit * static_cast<double>(v));
        float* fx = fx_.data();
        for (int64_t i = 0; i < n * L.k; ++i) fx[i] = val[cur[i]];
        nn::detail::gemm(false, true, n, L.out, L.k, 1.0f, fx, L.w.data(), 0.0f, logits);
        for (int64_t r = 0; r < n; ++r)
          for (int64_t o = 0; o < L.out; ++o) logits[r * L.out + o] += L.b[o];
      }
    }
  }
}

std::vector<int> int_predict(IntEngine& engine, const SplitView& split, int64_t batch) {
  if (!split.x || !split.y) throw InternalError("int_predict: empty split view");
  const int64_t n = static_cast<int64_t>(split.y->size());
  const int64_t per = engine.input_size();
  if (static_cast<int64_t>(split.x->size()) != n * per)
    throw DataError("int_predict: the images have " +
                    std::to_string(split.x->size() / std::max<int64_t>(n, 1)) +
                    " pixels each, the int model expects " + std::to_string(per));
  const int classes = engine.classes();
  std::vector<float> logits(static_cast<size_t>(std::max<int64_t>(batch, 1) * classes));
  std::vector<int> pred;
  pred.reserve(static_cast<size_t>(n));
  for (int64_t off = 0; off < n; off += batch) {
    const int64_t nb = std::min(batch, n - off);
    engine.forward(split.x->data() + off * per, nb, logits.data());
    for (int64_t i = 0; i < nb; ++i) {
      const float* row = logits.data() + i * classes;
      int best = 0;
      for (int k = 1; k < classes; ++k)
        if (row[k] > row[best]) best = k;
      pred.push_back(best);
    }
  }
  return pred;
}

// ---------------------------------------------------------------- verification

VerifyReport verify_int_model(IntEngine& engine, Network<float>& fake, const SplitView& split,
                              const VerifyOptions& opt) {
  const IntModel& im = engine.model();
  if (!split.x || !split.y) throw InternalError("verify_int_model: empty split view");
  const int64_t n = static_cast<int64_t>(split.y->size());
  const int64_t per = im.input_size();
  if (static_cast<int64_t>(split.x->size()) != n * per)
    throw DataError("verify: the images do not match the int model's input shape " +
                    std::to_string(im.height) + "x" + std::to_string(im.width) + "x" +
                    std::to_string(im.channels));
  const std::vector<size_t> ql = im.quant_layers();
  // Taps of the fake-quant model holding the post-ReLU quantized activations of each block.
  auto& seq = fake.seq();
  std::vector<size_t> taps;
  for (size_t i = 0; i + 1 < seq.size(); ++i) {
    const std::string& name = seq.layer_name(i);
    const std::string type = name.substr(name.find('_') + 1);
    if ((type == "dense" || type == "conv2d") && i + 3 < seq.size())
      taps.push_back(i + 3);  // ReLU (climbq: Aq before it) or Aq (after ReLU)
  }
  if (taps.size() != ql.size())
    throw InternalError("verify_int_model: " + std::to_string(taps.size()) +
                        " quantized blocks in the network, " + std::to_string(ql.size()) +
                        " in the int model");
  const IntLayer& cls = im.layers.back();
  const int classes = im.num_classes;
  std::vector<float> Wabs(static_cast<size_t>(cls.out * cls.k));
  for (int64_t j = 0; j < cls.out * cls.k; ++j)
    Wabs[j] = cls.quantized
                  ? static_cast<float>(std::fabs(cls.w_unit * (cls.m * cls.wq[j] + cls.o)))
                  : std::fabs(cls.w[j]);

  VerifyReport rep;
  rep.n = n;
  std::vector<int64_t> same(ql.size()), total(ql.size());
  int64_t labels_same = 0, within = 0;
  double max_excess = -std::numeric_limits<double>::infinity();
  const int64_t batch = std::max<int64_t>(1, opt.batch);
  std::vector<float> logits_int(static_cast<size_t>(batch * classes));
  nn::Tensor<float> x;
  IntCodes codes;
  std::vector<double> dq(static_cast<size_t>(cls.k));
  const int old_threads = engine.threads();
  engine.set_threads(opt.threads);
  for (int64_t off = 0; off < n; off += batch) {
    const int64_t nb = std::min(batch, n - off);
    const uint8_t* px = split.x->data() + off * per;
    x.resize(nn::Shape{nb, im.height, im.width, im.channels});
    for (int64_t i = 0; i < nb * per; ++i)
      x[i] = static_cast<float>(split.norm.apply(static_cast<double>(px[i])));
    nn::Pass pass;
    pass.training = false;
    pass.threads = opt.threads;
    const nn::Tensor<float>& lf = fake.forward(x, pass);
    engine.forward(px, nb, logits_int.data(), &codes);
    for (size_t j = 0; j < ql.size(); ++j) {
      const nn::Tensor<float>& t = seq.tap(taps[j]);
      const double unit = im.layers[ql[j]].out_unit;
      const std::vector<uint8_t>& ci = codes.layers[j];
      if (static_cast<size_t>(t.size()) != ci.size())
        throw InternalError("verify_int_model: code count mismatch at layer " +
                            im.layers[ql[j]].name);
      for (int64_t e = 0; e < t.size(); ++e) {
        const double qf = std::nearbyint(static_cast<double>(t[e]) / unit);
        same[j] += qf == static_cast<double>(ci[static_cast<size_t>(e)]);
      }
      total[j] += t.size();
    }
    // Classifier input codes of the fake model (feature tap) and the logit tolerance.
    const nn::Tensor<float>& feat = fake.features();
    for (int64_t i = 0; i < nb; ++i) {
      const float* a = lf.data() + i * classes;
      const float* b = logits_int.data() + i * classes;
      int la = 0, lb = 0;
      double mx = 0;
      for (int k = 0; k < classes; ++k) {
        if (a[k] > a[la]) la = k;
        if (b[k] > b[lb]) lb = k;
        mx = std::max(mx, std::fabs(static_cast<double>(a[k])));
      }
      labels_same += la == lb;
      for (int64_t k = 0; k < cls.k; ++k) {
        const double qf = std::nearbyint(static_cast<double>(feat[i * cls.k + k]) / cls.in_unit);
        dq[k] = std::fabs(qf - static_cast<double>(codes.classifier_input[i * cls.k + k]));
      }
      bool ok = true;
      for (int c = 0; c < classes; ++c) {
        double tau = opt.logit_rtol * (1.0 + mx);
        for (int64_t k = 0; k < cls.k; ++k)
          if (dq[k] != 0) tau += cls.in_unit * dq[k] * Wabs[c * cls.k + k];
        const double excess = std::fabs(static_cast<double>(a[c]) - b[c]) - tau;
        max_excess = std::max(max_excess, excess);
        ok = ok && excess <= 0;
      }
      within += ok;
    }
  }
  engine.set_threads(old_threads);
  rep.label_agreement = n ? static_cast<double>(labels_same) / n : 1.0;
  rep.within_tau = n ? static_cast<double>(within) / n : 1.0;
  rep.max_excess = n ? max_excess : 0.0;
  rep.codes_min = 1.0;
  for (size_t j = 0; j < ql.size(); ++j) {
    const double a = total[j] ? static_cast<double>(same[j]) / total[j] : 1.0;
    rep.code_agreement.push_back(a);
    rep.layer_names.push_back(im.layers[ql[j]].name);
    rep.codes_min = std::min(rep.codes_min, a);
  }
  rep.pass = rep.label_agreement >= opt.min_label_agreement &&
             rep.codes_min >= opt.min_code_agreement && within == n;
  return rep;
}

void write_verify(io::H5File& f, const VerifyReport& r) {
  const std::string g = "/results/verify";
  f.create_group(g);
  f.write_int64(g + "/n", {r.n});
  f.write_vector(g + "/label_agreement", Eigen::VectorXd::Constant(1, r.label_agreement));
  f.set_units(g + "/label_agreement", "1");
  f.write_vector(g + "/code_agreement",
                 Eigen::Map<const Eigen::VectorXd>(
                     r.code_agreement.data(), static_cast<Eigen::Index>(r.code_agreement.size())));
  f.set_units(g + "/code_agreement", "1");
  f.write_strings(g + "/layers", r.layer_names);
  f.write_vector(g + "/max_excess", Eigen::VectorXd::Constant(1, r.max_excess));
  f.write_vector(g + "/within_tau", Eigen::VectorXd::Constant(1, r.within_tau));
  f.set_units(g + "/within_tau", "1");
  f.write_uint8(g + "/pass", {static_cast<uint8_t>(r.pass ? 1 : 0)});
}

}  // namespace effinfer::climbq
