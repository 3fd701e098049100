// Quantizers of quantize-climbq (spec 2.1-2.3, 2.5); see quantizers.hpp for the formulas.
#include "quantizers.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <type_traits>

#include "core/error.hpp"
#include "nn/layers.hpp"
#include "stats.hpp"

namespace effinfer::climbq {

namespace {

// Phi^-1(num/a) with the upper tail from (a - num)/a, so symmetric thresholds stay symmetric.
double quantile_ratio(double num, double a) {
  if (2.0 * num == a) return 0.0;
  if (2.0 * num < a) return normal_quantile(num / a);
  return -normal_quantile((a - num) / a);
}

CdfRule make_rule(double a, double b, double scale, double mult, double add, double n) {
  CdfRule r;
  r.a = a;
  r.b = b;
  r.scale = scale;
  r.mult = mult;
  r.add = add;
  r.n = n;
  r.s = scale * mult / n;
  r.o = scale * add / n;
  // Code c has a threshold iff p = (c - 1/2 - b)/a lies in (0, 1).
  r.code_min = static_cast<int64_t>(std::floor(0.5 + b));
  r.code_max = static_cast<int64_t>(std::ceil(a + b + 0.5)) - 1;
  for (int64_t c = r.code_min + 1; c <= r.code_max; ++c)
    r.z_thresholds.push_back(quantile_ratio(static_cast<double>(c) - 0.5 - b, a));
  for (int64_t c = r.code_min; c <= r.code_max; ++c) r.value_table.push_back(r.value(c));
  return r;
}

void check_bits(int bits) {
  if (bits < 2 || bits > 16)
    throw ConfigError("quant.bits: expected 2..16 (1 only with climbq.one_bit: sign), found " +
                      std::to_string(bits));
}

int64_t levels_n(int bits) { return (int64_t{1} << bits) - 1; }

// Code of one value on the float path of spec 2.2.2 (`forward: erfc`), computed in T.
template <class T>
int64_t erfc_code(T z, const CdfRule& r) {
  const T phi = T(0.5) * std::erfc(-z / std::sqrt(T(2)));
  const T u = static_cast<T>(r.a) * phi + static_cast<T>(r.b);
  const auto c = static_cast<int64_t>(std::nearbyint(u));
  return std::clamp(c, r.code_min, r.code_max);
}

double sign_of(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }

}  // namespace

LevelsVariant parse_levels_variant(const std::string& name) {
  if (name == "v2023") return LevelsVariant::kV2023;
  if (name == "v2022") return LevelsVariant::kV2022;
  throw ConfigError("climbq.levels_variant: expected v2023|v2022, found '" + name + "'");
}

ForwardPath parse_forward_path(const std::string& name) {
  if (name == "bucketize") return ForwardPath::kBucketize;
  if (name == "erfc") return ForwardPath::kErfc;
  throw ConfigError("climbq.forward: expected bucketize|erfc, found '" + name + "'");
}

OneBit parse_one_bit(const std::string& name) {
  if (name == "error") return OneBit::kError;
  if (name == "sign") return OneBit::kSign;
  throw ConfigError("climbq.one_bit: expected error|sign, found '" + name + "'");
}

ClipRule parse_clip_rule(const std::string& name) {
  if (name == "max") return ClipRule::kMax;
  if (name == "percentile") return ClipRule::kPercentile;
  throw ConfigError("uniform.act_clip: expected max|percentile, found '" + name + "'");
}

void validate(const ClimbqOptions& o) {
  if (!(o.bits == 1 && o.one_bit == OneBit::kSign)) check_bits(o.bits);
  if (!(o.act_range > 0))
    throw ConfigError("climbq.act_range: expected > 0, found " + std::to_string(o.act_range));
  if (!(o.sigma_base > 1))
    throw ConfigError("climbq.sigma_base: expected > 1, found " + std::to_string(o.sigma_base));
  if (!(o.sigma_test > 0))
    throw ConfigError("climbq.sigma_test: expected > 0, found " + std::to_string(o.sigma_test));
}

int64_t CdfRule::bucketize(double z) const {
  return code_min +
         (std::upper_bound(z_thresholds.begin(), z_thresholds.end(), z) - z_thresholds.begin());
}

void CdfRule::bucketize_many(const double* z, int64_t n, int32_t* codes, double* values) const {
  const int64_t L = static_cast<int64_t>(z_thresholds.size());
  const double* t = z_thresholds.data();
  if (L > 64) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = std::upper_bound(t, t + L, z[i]) - t;
      codes[i] = static_cast<int32_t>(code_min + k);
      values[i] = value_table[static_cast<size_t>(k)];
    }
    return;
  }
  // #{t <= z} = upper_bound's index for every non-NaN z; blocks keep the counts in registers.
  constexpr int64_t kBlock = 16;
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t b = std::min(kBlock, n - i0);
    double zb[kBlock];
    for (int64_t j = 0; j < kBlock; ++j)
      zb[j] = j < b ? z[i0 + j] : -std::numeric_limits<double>::infinity();
    int64_t count[kBlock] = {};
    for (int64_t k = 0; k < L; ++k) {
      const double tk = t[k];
      for (int64_t j = 0; j < kBlock; ++j) count[j] += tk <= zb[j];
    }
    for (int64_t j = 0; j < b; ++j) {
      codes[i0 + j] = static_cast<int32_t>(code_min + count[j]);
      values[i0 + j] = value_table[static_cast<size_t>(count[j])];
    }
  }
}

CdfRule climbq_weight_rule(int bits, LevelsVariant variant) {
  check_bits(bits);
  const double n = static_cast<double>(levels_n(bits));
  if (variant == LevelsVariant::kV2023) return make_rule(n, 0.0, 1.0, 2.0, -n, n);
  return make_rule(2.0 * n, -n, 1.0, 1.0, 0.0, n);
}

CdfRule climbq_activation_rule(int bits, LevelsVariant variant, double act_range) {
  check_bits(bits);
  const double n = static_cast<double>(levels_n(bits));
  if (variant == LevelsVariant::kV2023) return make_rule(n, 0.0, act_range, 2.0, -n, n);
  return make_rule(2.0 * n * act_range, -n * act_range, 1.0, 1.0, 0.0, n);
}

std::vector<double> class_scaled_sigmas(const std::vector<int>& labels, double sigma_base) {
  std::map<int, int64_t> count;
  for (int y : labels) ++count[y];
  double sum_sq = 0;
  for (const auto& [label, c] : count) sum_sq += static_cast<double>(c) * static_cast<double>(c);
  std::vector<double> sig(labels.size());
  for (size_t j = 0; j < labels.size(); ++j)
    sig[j] = sigma_base - static_cast<double>(count[labels[j]]) / sum_sq;
  return sig;
}

// ---------------------------------------------------------------------------------------------
// ClimbQ weights (spec 2.2).

template <class T>
ClimbqWeight<T>::ClimbqWeight(const ClimbqOptions& o) : opt_(o) {
  validate(o);
  one_bit_ = o.bits == 1;
  if (!one_bit_) rule_ = climbq_weight_rule(o.bits, o.variant);
  slope_ = 2.0;  // both variants: d w_hat / d Phi = 2
}

namespace {

// Codes and values of x against ascending thresholds thr[0..L) given in x's own units (L <= 64):
// code = code_min + #{thr <= x}, counted branch-free over blocks so the compares vectorise. For
// float x the thresholds are rounded up to float: for a float x, x >= t (double) exactly when x >=
// the smallest float >= t, so the float compares give the same codes as the double ones.
template <class T>
void count_codes(const T* x, int64_t n, const double* thr, int64_t L, const CdfRule& r, T* y,
                 int32_t* codes) {
  constexpr int64_t kBlock = 32;
  T t[64];
  for (int64_t k = 0; k < L; ++k) {
    T v = static_cast<T>(thr[k]);
    if (static_cast<double>(v) < thr[k]) v = std::nextafter(v, std::numeric_limits<T>::infinity());
    t[k] = v;
  }
  for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
    const int64_t b = std::min(kBlock, n - i0);
    T xb[kBlock];
    for (int64_t k = 0; k < kBlock; ++k)
      xb[k] = k < b ? x[i0 + k] : -std::numeric_limits<T>::infinity();
    int32_t count[kBlock] = {};
    for (int64_t k = 0; k < L; ++k) {
      const T tk = t[k];
#pragma omp simd
      for (int64_t q = 0; q < kBlock; ++q) count[q] += tk <= xb[q] ? 1 : 0;
    }
    for (int64_t k = 0; k < b; ++k) {
      y[i0 + k] = static_cast<T>(r.value_table[static_cast<size_t>(count[k])]);
      if (codes) codes[i0 + k] = static_cast<int32_t>(r.code_min + count[k]);
    }
  }
}

}  // namespace

template <class T>
void ClimbqWeight<T>::forward(const nn::Tensor<T>& w, nn::Tensor<T>& w_hat, nn::Pass& pass) {
  (void)pass;
  const int64_t m = w.size();
  w_hat.resize(w.shape());
  codes_.resize(m);
  forward_size_ = m;
  const T* wp = w.data();
  double sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < m; ++i) sum += static_cast<double>(wp[i]);
  mu_ = m ? sum / static_cast<double>(m) : 0.0;
  double ss = 0;
#pragma omp simd reduction(+ : ss)
  for (int64_t i = 0; i < m; ++i) {
    const double d = static_cast<double>(wp[i]) - mu_;
    ss += d * d;
  }
  sigma_ = m > 1 ? std::sqrt(ss / static_cast<double>(m - 1)) : 0.0;
  const bool degenerate = !(sigma_ > 0);
  const bool erfc = opt_.forward == ForwardPath::kErfc;
  const int64_t L = static_cast<int64_t>(rule_.z_thresholds.size());
  if (!one_bit_ && !erfc && !degenerate && L <= 64) {
    // #{t <= (w - mu)/sigma} = #{mu + sigma t <= w}: thresholds moved to weight units once.
    double tw[64];
    for (int64_t k = 0; k < L; ++k) tw[k] = mu_ + sigma_ * rule_.z_thresholds[size_t(k)];
    count_codes(wp, m, tw, L, rule_, w_hat.data(), codes_.data());
    return;
  }
  const T mu_t = static_cast<T>(mu_), sigma_t = static_cast<T>(sigma_);
  for (int64_t i = 0; i < m; ++i) {
    const double z = degenerate ? 0.0 : (static_cast<double>(w[i]) - mu_) / sigma_;
    int64_t c;
    double v;
    if (one_bit_) {
      c = static_cast<int64_t>(sign_of(static_cast<double>(w[i]) - mu_));
      v = static_cast<double>(c);
    } else {
      c = erfc ? erfc_code<T>(degenerate ? T(0) : (w[i] - mu_t) / sigma_t, rule_)
               : rule_.bucketize(z);
      v = rule_.value(c);
    }
    codes_[i] = static_cast<int32_t>(c);
    w_hat[i] = static_cast<T>(v);
  }
}

template <class T>
void ClimbqWeight<T>::backward(const nn::Tensor<T>& w, const nn::Tensor<T>& dw_hat,
                               nn::Tensor<T>& dw, nn::Pass& pass) {
  (void)pass;
  const int64_t m = w.size();
  if (forward_size_ != m || dw_hat.size() != m)
    throw InternalError("ClimbqWeight::backward: no matching forward");
  dw.resize(w.shape());
  if (!(sigma_ > 0)) {
    dw.set_zero();
    return;
  }
  // z_i = (w_i - mu)/sigma, h_i = slope g_i phi(z_i);
  // dL/dw_k = (h_k - mean(h) - z_k sum_i h_i z_i / (M - 1)) / sigma.
  // float32 training takes phi from the vectorised float exp (a few ulps) and keeps h in dw;
  // float64 (the gradient checks) stays exact.
  const T* wp = w.data();
  const T* g = dw_hat.data();
  T* out = dw.data();
  double sum_h = 0, sum_hz = 0;
  if constexpr (std::is_same_v<T, float>) {
    const float mu = static_cast<float>(mu_), inv = static_cast<float>(1.0 / sigma_);
    const float slope = static_cast<float>(slope_);
    // float partial sums over blocks of 1024 (vectorised), accumulated in double.
    for (int64_t i0 = 0; i0 < m; i0 += 1024) {
      const int64_t i1 = std::min(m, i0 + 1024);
      float bh = 0, bhz = 0;
#pragma omp simd reduction(+ : bh, bhz)
      for (int64_t i = i0; i < i1; ++i) {
        const float z = (wp[i] - mu) * inv;
        const float h = slope * g[i] * normal_pdf_fast(z);
        out[i] = h;
        bh += h;
        bhz += h * z;
      }
      sum_h += bh;
      sum_hz += bhz;
    }
    const float mean_h = static_cast<float>(sum_h / static_cast<double>(m));
    const float k = static_cast<float>(sum_hz / static_cast<double>(m - 1));
#pragma omp simd
    for (int64_t i = 0; i < m; ++i) out[i] = (out[i] - mean_h - (wp[i] - mu) * inv * k) * inv;
  } else {
    std::vector<double> h(static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) {
      const double z = (static_cast<double>(wp[i]) - mu_) / sigma_;
      h[size_t(i)] = slope_ * static_cast<double>(g[i]) * normal_pdf(z);
      sum_h += h[size_t(i)];
      sum_hz += h[size_t(i)] * z;
    }
    const double mean_h = sum_h / static_cast<double>(m);
    const double k = sum_hz / static_cast<double>(m - 1);
    for (int64_t i = 0; i < m; ++i) {
      const double z = (static_cast<double>(wp[i]) - mu_) / sigma_;
      out[i] = static_cast<T>((h[size_t(i)] - mean_h - z * k) / sigma_);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ClimbQ activations (spec 2.3).

template <class T>
ClimbqActivation<T>::ClimbqActivation(const ClimbqOptions& o) : opt_(o) {
  validate(o);
  one_bit_ = o.bits == 1;
  if (!one_bit_) rule_ = climbq_activation_rule(o.bits, o.variant, o.act_range);
  slope_ = 2.0 * o.act_range;
}

template <class T>
void ClimbqActivation<T>::forward(const nn::Tensor<T>& x, nn::Tensor<T>& y, nn::Pass& pass) {
  y.resize(x.shape());
  if (!enabled_) {
    y = x;
    if (pass.training) x_ = x;
    return;
  }
  const int64_t n = x.rank() ? x.dim(0) : 0;
  per_sample_ = n ? x.size() / n : 0;
  const bool scaled = pass.training && opt_.class_scaling && pass.labels;
  if (scaled) {
    if (static_cast<int64_t>(pass.labels->size()) != n)
      throw InternalError("ClimbqActivation: " + std::to_string(pass.labels->size()) +
                          " labels for a batch of " + std::to_string(n));
    sigma_ = class_scaled_sigmas(*pass.labels, opt_.sigma_base);
  } else {
    sigma_.assign(n, opt_.sigma_test);
  }
  const bool erfc = opt_.forward == ForwardPath::kErfc;
  const int64_t f = per_sample_;
#pragma omp parallel for num_threads(nn::detail::threads_of(pass)) if (x.size() >= 8192)
  for (int64_t j = 0; j < n; ++j) {
    const double sig = sigma_[j];
    const T sig_t = static_cast<T>(sig);
    if (!one_bit_ && !erfc && rule_.z_thresholds.size() <= 64) {
      // #{t <= x / sigma_j} = #{t sigma_j <= x} (sigma_j > 0): thresholds scaled once per sample.
      const int64_t L = static_cast<int64_t>(rule_.z_thresholds.size());
      double ts[64];
      for (int64_t k = 0; k < L; ++k) ts[k] = rule_.z_thresholds[static_cast<size_t>(k)] * sig;
      count_codes(x.data() + j * f, f, ts, L, rule_, y.data() + j * f, nullptr);
      continue;
    }
    for (int64_t i = j * f; i < (j + 1) * f; ++i) {
      double v;
      if (one_bit_) {
        v = sign_of(static_cast<double>(x[i]));
      } else {
        const int64_t c = erfc ? erfc_code<T>(x[i] / sig_t, rule_)
                               : rule_.bucketize(static_cast<double>(x[i]) / sig);
        v = rule_.value(c);
      }
      y[i] = static_cast<T>(v);
    }
  }
  if (pass.training) x_ = x;
}

template <class T>
void ClimbqActivation<T>::backward(const nn::Tensor<T>& dy, nn::Tensor<T>* dx, nn::Pass& pass) {
  if (!dx) return;
  if (dy.shape() != x_.shape())
    throw InternalError("ClimbqActivation::backward: no matching training forward");
  dx->resize(dy.shape());
  if (!enabled_) {
    *dx = dy;
    return;
  }
  const int64_t n = dy.rank() ? dy.dim(0) : 0;
  const int64_t f = n ? dy.size() / n : 0;
#pragma omp parallel for num_threads(nn::detail::threads_of(pass)) if (dy.size() >= 8192)
  for (int64_t j = 0; j < n; ++j) {
    const double sig = sigma_[j];
    if constexpr (std::is_same_v<T, float>) {
      // float32 training: vectorised phi (see ClimbqWeight::backward).
      const float inv = static_cast<float>(1.0 / sig), k = static_cast<float>(slope_ / sig);
      const float* xs = x_.data() + j * f;
      const float* g = dy.data() + j * f;
      float* out = dx->data() + j * f;
#pragma omp simd
      for (int64_t i = 0; i < f; ++i) out[i] = g[i] * k * normal_pdf_fast(xs[i] * inv);
    } else {
      for (int64_t i = j * f; i < (j + 1) * f; ++i) {
        const double z = static_cast<double>(x_[i]) / sig;
        (*dx)[i] = static_cast<T>(static_cast<double>(dy[i]) * slope_ * normal_pdf(z) / sig);
      }
    }
  }
}

template <class T>
std::vector<double> ClimbqActivation<T>::post_relu_thresholds() const {
  if (one_bit_) return {0.0};
  std::vector<double> t;
  // Codes whose value is > 0: v2023 c >= (n+1)/2; v2022 r >= 1.
  const int64_t first = opt_.variant == LevelsVariant::kV2023 ? (rule_.code_max + 1) / 2 : 1;
  for (int64_t c = first; c <= rule_.code_max; ++c)
    t.push_back(opt_.sigma_test * rule_.z_thresholds[c - rule_.code_min - 1]);
  return t;
}

template <class T>
std::vector<int32_t> ClimbqActivation<T>::post_relu_lut() const {
  if (one_bit_) return {0, 1};
  std::vector<int32_t> lut{0};
  const int64_t first = opt_.variant == LevelsVariant::kV2023 ? (rule_.code_max + 1) / 2 : 1;
  for (int64_t c = first; c <= rule_.code_max; ++c)
    lut.push_back(
        static_cast<int32_t>(opt_.variant == LevelsVariant::kV2023 ? 2 * c - rule_.code_max : c));
  return lut;
}

template <class T>
double ClimbqActivation<T>::post_relu_scale() const {
  if (one_bit_) return 1.0;
  return opt_.variant == LevelsVariant::kV2023
             ? opt_.act_range / static_cast<double>(rule_.code_max)
             : rule_.s;
}

// ---------------------------------------------------------------------------------------------
// Uniform min-max (spec 2.5).

template <class T>
UniformWeight<T>::UniformWeight(int bits) : bits_(bits) {
  check_bits(bits);
  q_ = (int64_t{1} << (bits - 1)) - 1;
}

template <class T>
void UniformWeight<T>::forward(const nn::Tensor<T>& w, nn::Tensor<T>& w_hat, nn::Pass& pass) {
  (void)pass;
  const int64_t m = w.size();
  w_hat.resize(w.shape());
  codes_.resize(m);
  double mx = 0;
  for (int64_t i = 0; i < m; ++i) mx = std::max(mx, std::fabs(static_cast<double>(w[i])));
  step_ = mx / static_cast<double>(q_);
  for (int64_t i = 0; i < m; ++i) {
    int64_t c = 0;
    if (step_ > 0)
      c = std::clamp(static_cast<int64_t>(std::nearbyint(static_cast<double>(w[i]) / step_)), -q_,
                     q_);
    codes_[i] = static_cast<int32_t>(c);
    w_hat[i] = static_cast<T>(step_ * static_cast<double>(c));
  }
}

template <class T>
void UniformWeight<T>::backward(const nn::Tensor<T>& w, const nn::Tensor<T>& dw_hat,
                                nn::Tensor<T>& dw, nn::Pass& pass) {
  (void)w;
  (void)pass;
  dw = dw_hat;  // STE; no gradient to s_w
}

template <class T>
UniformActivation<T>::UniformActivation(int bits, ClipRule rule, double percentile, double ema)
    : bits_(bits), rule_(rule), percentile_(percentile), ema_(ema) {
  check_bits(bits);
  qmax_ = levels_n(bits);
  if (!(percentile > 0 && percentile <= 100))
    throw ConfigError("uniform.act_percentile: expected (0, 100], found " +
                      std::to_string(percentile));
  if (!(ema >= 0 && ema < 1))
    throw ConfigError("uniform.act_ema: expected [0, 1), found " + std::to_string(ema));
  clip_.resize(nn::Shape{1});
  clip_.set_zero();
}

template <class T>
void UniformActivation<T>::set_clip(double c) {
  clip_[0] = static_cast<T>(c);
  has_clip_ = true;
}

template <class T>
void UniformActivation<T>::begin_calibration() {
  calibrating_ = true;
  calib_.clear();
  calib_max_ = 0;
}

template <class T>
void UniformActivation<T>::end_calibration() {
  calibrating_ = false;
  if (rule_ == ClipRule::kMax) {
    set_clip(calib_max_);
    return;
  }
  if (calib_.empty()) throw InternalError("UniformActivation: calibration saw no values");
  // numpy.percentile, linear interpolation: position p/100 (N - 1).
  const double pos = percentile_ / 100.0 * static_cast<double>(calib_.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  std::nth_element(calib_.begin(), calib_.begin() + lo, calib_.end());
  const double a = static_cast<double>(calib_[lo]);
  double b = a;
  if (lo + 1 < calib_.size())
    b = static_cast<double>(*std::min_element(calib_.begin() + lo + 1, calib_.end()));
  set_clip(a + (pos - static_cast<double>(lo)) * (b - a));
  calib_.clear();
  calib_.shrink_to_fit();
}

template <class T>
void UniformActivation<T>::forward(const nn::Tensor<T>& x, nn::Tensor<T>& y, nn::Pass& pass) {
  y.resize(x.shape());
  const int64_t m = x.size();
  if (calibrating_ || !enabled_) {
    if (calibrating_) {
      for (int64_t i = 0; i < m; ++i) calib_max_ = std::max(calib_max_, static_cast<double>(x[i]));
      if (rule_ == ClipRule::kPercentile) calib_.insert(calib_.end(), x.data(), x.data() + m);
    }
    y = x;
    used_clip_ = std::numeric_limits<double>::infinity();
    if (pass.training) x_ = x;
    return;
  }
  if (pass.training) {
    double mx = 0;
    for (int64_t i = 0; i < m; ++i) mx = std::max(mx, static_cast<double>(x[i]));
    set_clip(has_clip_ ? ema_ * clip() + (1.0 - ema_) * mx : mx);
  } else if (!has_clip_) {
    throw InternalError("UniformActivation: evaluated before calibration");
  }
  used_clip_ = clip();
  const double step = used_clip_ / static_cast<double>(qmax_);
#pragma omp parallel for num_threads(nn::detail::threads_of(pass)) if (m >= 8192)
  for (int64_t i = 0; i < m; ++i) {
    int64_t c = 0;
    if (step > 0)
      c = std::clamp(static_cast<int64_t>(std::nearbyint(static_cast<double>(x[i]) / step)),
                     int64_t{0}, qmax_);
    y[i] = static_cast<T>(step * static_cast<double>(c));
  }
  if (pass.training) x_ = x;
}

template <class T>
void UniformActivation<T>::backward(const nn::Tensor<T>& dy, nn::Tensor<T>* dx, nn::Pass& pass) {
  (void)pass;
  if (!dx) return;
  if (dy.shape() != x_.shape())
    throw InternalError("UniformActivation::backward: no matching training forward");
  dx->resize(dy.shape());
  for (int64_t i = 0; i < dy.size(); ++i)
    (*dx)[i] = static_cast<double>(x_[i]) <= used_clip_ ? dy[i] : T(0);
}

template <class T>
std::vector<nn::Param<T>> UniformActivation<T>::buffers() {
  return {nn::Param<T>{"clip", &clip_, nullptr, false, true}};
}

template <class T>
std::vector<double> UniformActivation<T>::post_relu_thresholds() const {
  std::vector<double> t;
  for (int64_t r = 1; r <= qmax_; ++r) t.push_back((static_cast<double>(r) - 0.5) * step());
  return t;
}

// ---------------------------------------------------------------------------------------------
// LSQ (Esser et al., ICLR 2020; spec 2.5).

namespace {
constexpr double kMinStep = 1e-12;

// v_hat code and d v_hat / d s for one value at step s.
struct LsqOut {
  double code, ds;
  bool inside;
};
inline LsqOut lsq_one(double v, double s, const LsqRange& r) {
  const double u = v / s;
  const auto qn = static_cast<double>(r.qn), qp = static_cast<double>(r.qp);
  if (u < -qn) return {-qn, -qn, false};
  if (u > qp) return {qp, qp, false};
  const double c = std::nearbyint(u);
  return {c, c - u, true};
}
}  // namespace

template <class T>
LsqWeight<T>::LsqWeight(int bits, bool grad_scale) : grad_scale_(grad_scale) {
  check_bits(bits);
  r_ = {int64_t{1} << (bits - 1), (int64_t{1} << (bits - 1)) - 1};
  s_.resize(nn::Shape{1});
  s_[0] = T(1);
  ds_.resize(nn::Shape{1});
  ds_.set_zero();
}

template <class T>
void LsqWeight<T>::set_step(double s) {
  s_[0] = static_cast<T>(s);
  init_ = true;
}

template <class T>
void LsqWeight<T>::forward(const nn::Tensor<T>& w, nn::Tensor<T>& w_hat, nn::Pass& pass) {
  (void)pass;
  const int64_t m = w.size();
  if (!init_) {
    double sa = 0;
    for (int64_t i = 0; i < m; ++i) sa += std::fabs(static_cast<double>(w[i]));
    set_step(2.0 * (m ? sa / static_cast<double>(m) : 0.0) / std::sqrt(static_cast<double>(r_.qp)));
  }
  const double s = std::max(static_cast<double>(s_[0]), kMinStep);
  w_hat.resize(w.shape());
  codes_.resize(m);
  for (int64_t i = 0; i < m; ++i) {
    const LsqOut o = lsq_one(static_cast<double>(w[i]), s, r_);
    codes_[i] = static_cast<int32_t>(o.code);
    w_hat[i] = static_cast<T>(s * o.code);
  }
}

template <class T>
void LsqWeight<T>::backward(const nn::Tensor<T>& w, const nn::Tensor<T>& dw_hat, nn::Tensor<T>& dw,
                            nn::Pass& pass) {
  (void)pass;
  const int64_t m = w.size();
  const double s = std::max(static_cast<double>(s_[0]), kMinStep);
  const double g =
      grad_scale_ ? 1.0 / std::sqrt(static_cast<double>(m) * static_cast<double>(r_.qp)) : 1.0;
  dw.resize(w.shape());
  double ds = 0;
  for (int64_t i = 0; i < m; ++i) {
    const LsqOut o = lsq_one(static_cast<double>(w[i]), s, r_);
    dw[i] = o.inside ? dw_hat[i] : T(0);
    ds += static_cast<double>(dw_hat[i]) * o.ds;
  }
  ds_[0] += static_cast<T>(g * ds);
}

template <class T>
std::vector<nn::Param<T>> LsqWeight<T>::params() {
  return {nn::Param<T>{"step", &s_, &ds_, true, false}};
}

template <class T>
LsqActivation<T>::LsqActivation(int bits, bool grad_scale) : grad_scale_(grad_scale) {
  check_bits(bits);
  r_ = {0, levels_n(bits)};
  s_.resize(nn::Shape{1});
  s_[0] = T(1);
  ds_.resize(nn::Shape{1});
  ds_.set_zero();
}

template <class T>
void LsqActivation<T>::set_step(double s) {
  s_[0] = static_cast<T>(s);
  init_ = true;
}

template <class T>
void LsqActivation<T>::forward(const nn::Tensor<T>& x, nn::Tensor<T>& y, nn::Pass& pass) {
  const int64_t m = x.size();
  y.resize(x.shape());
  if (!enabled_) {
    y = x;
    if (pass.training) x_ = x;
    return;
  }
  if (!init_) {
    double sa = 0;
    for (int64_t i = 0; i < m; ++i) sa += std::fabs(static_cast<double>(x[i]));
    set_step(2.0 * (m ? sa / static_cast<double>(m) : 0.0) / std::sqrt(static_cast<double>(r_.qp)));
  }
  used_step_ = std::max(static_cast<double>(s_[0]), kMinStep);
  const double s = used_step_;
#pragma omp parallel for num_threads(nn::detail::threads_of(pass)) if (m >= 8192)
  for (int64_t i = 0; i < m; ++i)
    y[i] = static_cast<T>(s * lsq_one(static_cast<double>(x[i]), s, r_).code);
  if (pass.training) x_ = x;
}

template <class T>
void LsqActivation<T>::backward(const nn::Tensor<T>& dy, nn::Tensor<T>* dx, nn::Pass& pass) {
  (void)pass;
  if (dy.shape() != x_.shape())
    throw InternalError("LsqActivation::backward: no matching training forward");
  if (!enabled_) {
    if (dx) *dx = dy;
    return;
  }
  const int64_t m = dy.size();
  const int64_t n = dy.rank() ? dy.dim(0) : 1;
  const double features = n ? static_cast<double>(m / n) : 1.0;
  const double g = grad_scale_ ? 1.0 / std::sqrt(features * static_cast<double>(r_.qp)) : 1.0;
  if (dx) dx->resize(dy.shape());
  double ds = 0;
  for (int64_t i = 0; i < m; ++i) {
    const LsqOut o = lsq_one(static_cast<double>(x_[i]), used_step_, r_);
    if (dx) (*dx)[i] = o.inside ? dy[i] : T(0);
    ds += static_cast<double>(dy[i]) * o.ds;
  }
  if (!this->frozen_) ds_[0] += static_cast<T>(g * ds);
}

template <class T>
std::vector<nn::Param<T>> LsqActivation<T>::params() {
  return {nn::Param<T>{"step", &s_, &ds_, true, this->frozen_}};
}

template <class T>
std::vector<double> LsqActivation<T>::post_relu_thresholds() const {
  std::vector<double> t;
  for (int64_t r = 1; r <= r_.qp; ++r) t.push_back((static_cast<double>(r) - 0.5) * step());
  return t;
}

template class ClimbqWeight<float>;
template class ClimbqWeight<double>;
template class ClimbqActivation<float>;
template class ClimbqActivation<double>;
template class UniformWeight<float>;
template class UniformWeight<double>;
template class UniformActivation<float>;
template class UniformActivation<double>;
template class LsqWeight<float>;
template class LsqWeight<double>;
template class LsqActivation<float>;
template class LsqActivation<double>;

}  // namespace effinfer::climbq
