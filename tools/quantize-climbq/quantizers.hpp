// Quantizers of quantize-climbq (spec 2.1-2.3, 2.5, 2.8): the ClimbQ CDF weight quantizer (a
// WeightTransform) and activation quantizer with class-wise variance scaling (a Layer), after
// T.-A. Chen, D.-N. Yang, M.-S. Chen, "ClimbQ", NeurIPS 2022 (semantics of the official code as
// described in the spec); the uniform min-max baseline; LSQ (Esser et al., ICLR 2020).
//
// Every ClimbQ variant is one rule on the standard-normal CDF of z:
//   code c = nearbyint(a * Phi(z) + b)  (ties to even, spec 2.1),  value = s * c + o,
// so the code is #{thresholds t_c <= z} over Phi^-1((c - 1/2 - b) / a), and the STE derivative is
// d value / dz = s * a * phi(z) (spec 2.2.3, 2.3.2):
//   v2023 weights      a = n,      b = 0,    s = 2/n,  o = -1   (codes 0..n)
//   v2022 weights      a = 2n,     b = -n,   s = 1/n,  o = 0    (codes -n..n)
//   v2023 activations  a = n,      b = 0,    s = 2A/n, o = -A   (codes 0..n)
//   v2022 activations  a = 2nA,    b = -nA,  s = 1/n,  o = 0    (codes -round(nA)..round(nA))
// with n = 2^k - 1 and A = act_range.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/layer.hpp"
#include "nn/tensor.hpp"

namespace effinfer::climbq {

enum class LevelsVariant { kV2023, kV2022 };
enum class ForwardPath { kBucketize, kErfc };  // climbq.forward
enum class OneBit { kError, kSign };           // climbq.one_bit

LevelsVariant parse_levels_variant(const std::string& name);  // v2023 | v2022 (ConfigError)
ForwardPath parse_forward_path(const std::string& name);      // bucketize | erfc
OneBit parse_one_bit(const std::string& name);                // error | sign

// The climbq config keys used by the quantizers (spec 3.4).
struct ClimbqOptions {
  int bits = 4;
  LevelsVariant variant = LevelsVariant::kV2023;
  ForwardPath forward = ForwardPath::kBucketize;
  OneBit one_bit = OneBit::kError;
  double act_range = 2.0;   // A
  double sigma_base = 2.0;  // sigma_j = sigma_base - p~_j in training
  double sigma_test = 2.0;  // sigma without labels / with class scaling off
  bool class_scaling = true;
};

// Validates bits (2..16, or 1 with one_bit sign) and the ranges of spec 3.4; ConfigError (78).
void validate(const ClimbqOptions& o);

// The affine code rule above on Phi(z).
struct CdfRule {
  double a = 1, b = 0;  // code = nearbyint(a Phi(z) + b)
  // value = scale (mult code + add) / n, i.e. s code + o, evaluated so that the levels are the
  // exact doubles of (2j - n)/n, A (2j - n)/n and r/n.
  double scale = 1, mult = 1, add = 0, n = 1;
  double s = 1, o = 0;
  int64_t code_min = 0;  // codes code_min..code_max
  int64_t code_max = 0;
  std::vector<double> z_thresholds;  // ascending, code = code_min + #{t <= z}; size max - min
  double value(int64_t code) const {
    return scale * ((mult * static_cast<double>(code) + add) / n);
  }
  int64_t bucketize(double z) const;  // code from the double thresholds
  // The same for n values: codes and values (the hot path of the forward). Up to 64 thresholds
  // (k <= 6 bits) it counts branch-free over blocks (vectorised compares); above, binary search.
  void bucketize_many(const double* z, int64_t n, int32_t* codes, double* values) const;
  std::vector<double> value_table;  // value(code_min + i), built with the thresholds
};
// The rule of spec 2.2 (weights, A = 1) or 2.3 (activations, A = act_range) for k >= 2 bits.
CdfRule climbq_weight_rule(int bits, LevelsVariant variant);
CdfRule climbq_activation_rule(int bits, LevelsVariant variant, double act_range);

// ClimbQ weight quantizer, per tensor (spec 2.2): mu, sigma (unbiased) over all entries, z = (w -
// mu)/sigma, w_hat = rule value; backward through Phi, mu and sigma with STE on rounding. A
// constant tensor (sigma = 0, or one entry) maps to z = 0 and gets a zero gradient.
template <class T>
class ClimbqWeight : public nn::WeightTransform<T> {
 public:
  explicit ClimbqWeight(const ClimbqOptions& o);
  void forward(const nn::Tensor<T>& w, nn::Tensor<T>& w_hat, nn::Pass& pass) override;
  void backward(const nn::Tensor<T>& w, const nn::Tensor<T>& dw_hat, nn::Tensor<T>& dw,
                nn::Pass& pass) override;
  std::string name() const override { return "climbq_weight"; }

  // Integer path (spec 2.8), valid after a forward: w_hat = value(code).
  const CdfRule& rule() const { return rule_; }
  bool one_bit() const { return one_bit_; }  // then codes are sign(w - mu) in {-1, 0, 1}
  double mu() const { return mu_; }
  double sigma() const { return sigma_; }
  const std::vector<int32_t>& codes() const { return codes_; }

 private:
  ClimbqOptions opt_;
  bool one_bit_ = false;
  CdfRule rule_;
  double slope_ = 2;  // d w_hat / dz = slope phi(z)
  double mu_ = 0, sigma_ = 0;
  std::vector<int32_t> codes_;
  int64_t forward_size_ = -1;  // weights of the last forward (backward recomputes z)
};

// ClimbQ activation quantizer (spec 2.3) on BN outputs of any shape [N, ...]: per sample j,
// sigma_j = sigma_base - cnt_B(y_j) / sum_c cnt_B(c)^2 when training with class scaling and batch
// labels in the Pass, else sigma_test; x_hat = value(code of x / sigma_j). Backward (STE): dL/dx =
// dL/dx_hat * s a phi(x/sigma_j)/sigma_j. Disabled: identity.
template <class T>
class ClimbqActivation : public nn::Layer<T> {
 public:
  explicit ClimbqActivation(const ClimbqOptions& o);
  nn::Shape out_shape(const nn::Shape& in) const override { return in; }
  void forward(const nn::Tensor<T>& x, nn::Tensor<T>& y, nn::Pass& pass) override;
  void backward(const nn::Tensor<T>& dy, nn::Tensor<T>* dx, nn::Pass& pass) override;
  std::string name() const override { return "climbq_act"; }

  void set_enabled(bool on) { enabled_ = on; }
  bool enabled() const { return enabled_; }
  const CdfRule& rule() const { return rule_; }
  bool one_bit() const { return one_bit_; }  // then x_hat = sign(x)
  const ClimbqOptions& options() const { return opt_; }
  // sigma per sample of the last forward.
  const std::vector<double>& sigmas() const { return sigma_; }
  // Post-ReLU integer path (spec 2.8.3): real thresholds sigma_test * t on x for the positive
  // codes (v2023: L = 2^(k-1), j = (n-1)/2..n-1; v2022: r = 1..round(nA)) and x_hat = s_a * q.
  std::vector<double> post_relu_thresholds() const;
  std::vector<int32_t> post_relu_lut() const;  // level -> q (v2023: 0,1,3,..,n; v2022: 0..R)
  double post_relu_scale() const;              // s_a (v2023: A/n; v2022: 1/n)

 private:
  ClimbqOptions opt_;
  bool one_bit_ = false;
  bool enabled_ = true;
  CdfRule rule_;
  double slope_ = 4;  // d x_hat / dz = slope phi(z) = 2A phi(z)
  std::vector<double> sigma_;
  nn::Tensor<T> x_;  // cached input
  int64_t per_sample_ = 0;
};

// Class-wise sigma_j of spec 2.3.1: sigma_base - cnt_B(y_j) / sum_c cnt_B(c)^2.
std::vector<double> class_scaled_sigmas(const std::vector<int>& labels, double sigma_base);

// Uniform symmetric min-max weight quantizer (spec 2.5): Q = 2^(k-1) - 1, s_w = max|W|/Q, code =
// clamp(nearbyint(w/s_w), -Q, Q), w_hat = s_w code; recomputed every forward; STE (dW = dW_hat).
template <class T>
class UniformWeight : public nn::WeightTransform<T> {
 public:
  explicit UniformWeight(int bits);
  void forward(const nn::Tensor<T>& w, nn::Tensor<T>& w_hat, nn::Pass& pass) override;
  void backward(const nn::Tensor<T>& w, const nn::Tensor<T>& dw_hat, nn::Tensor<T>& dw,
                nn::Pass& pass) override;
  std::string name() const override { return "uniform_weight"; }
  double step() const { return step_; }
  int64_t qmax() const { return q_; }
  const std::vector<int32_t>& codes() const { return codes_; }

 private:
  int bits_;
  int64_t q_;
  double step_ = 0;
  std::vector<int32_t> codes_;
};

enum class ClipRule { kMax, kPercentile };  // uniform.act_clip
ClipRule parse_clip_rule(const std::string& name);

// Uniform post-ReLU activation quantizer (spec 2.5): s_a = c/(2^k - 1), q = clamp(nearbyint(x/s_a),
// 0, 2^k - 1), x_hat = s_a q; STE gradient 1 for x <= c, 0 above. c comes from calibration (max or
// percentile of all calibration values, numpy's linear interpolation); in training forwards c
// follows an EMA of the batch max (initialised from calibration, else from the first batch).
// While calibrating (or disabled) the layer is the identity.
template <class T>
class UniformActivation : public nn::Layer<T> {
 public:
  UniformActivation(int bits, ClipRule rule, double percentile = 99.99, double ema = 0.99);
  nn::Shape out_shape(const nn::Shape& in) const override { return in; }
  void forward(const nn::Tensor<T>& x, nn::Tensor<T>& y, nn::Pass& pass) override;
  void backward(const nn::Tensor<T>& dy, nn::Tensor<T>* dx, nn::Pass& pass) override;
  std::vector<nn::Param<T>> buffers() override;  // "clip" [1]
  std::string name() const override { return "uniform_act"; }

  void begin_calibration();
  void end_calibration();  // sets c; InternalError without observed values
  void set_enabled(bool on) { enabled_ = on; }
  bool calibrated() const { return has_clip_; }
  double clip() const { return static_cast<double>(clip_[0]); }
  void set_clip(double c);
  double step() const { return clip() / static_cast<double>(qmax_); }
  int64_t qmax() const { return qmax_; }
  // Post-ReLU thresholds (r - 1/2) step, r = 1..2^k - 1 (spec 2.8.3).
  std::vector<double> post_relu_thresholds() const;

 private:
  int bits_;
  int64_t qmax_;
  ClipRule rule_;
  double percentile_, ema_;
  bool enabled_ = true, calibrating_ = false, has_clip_ = false;
  nn::Tensor<T> clip_;
  std::vector<T> calib_;
  double calib_max_ = 0;
  nn::Tensor<T> x_;
  double used_clip_ = 0;
};

// LSQ (Esser et al., ICLR 2020; spec 2.5): v_hat = s nearbyint(clamp(v/s, -Q_N, Q_P)); dv_hat/dv =
// 1 inside, 0 outside; dv_hat/ds = nearbyint(v/s) - v/s inside, -Q_N or Q_P outside, times
// 1/sqrt(N Q_P) with grad_scale. s is kept >= 1e-12 in the forward (a non-positive step after an
// optimiser update would otherwise divide by zero).
struct LsqRange {
  int64_t qn, qp;
};
template <class T>
class LsqWeight : public nn::WeightTransform<T> {
 public:
  LsqWeight(int bits, bool grad_scale = true);  // Q_N = 2^(k-1), Q_P = 2^(k-1) - 1
  void forward(const nn::Tensor<T>& w, nn::Tensor<T>& w_hat, nn::Pass& pass) override;
  void backward(const nn::Tensor<T>& w, const nn::Tensor<T>& dw_hat, nn::Tensor<T>& dw,
                nn::Pass& pass) override;
  std::vector<nn::Param<T>> params() override;  // "step" [1]; initialised at the first forward
  std::string name() const override { return "lsq_weight"; }
  bool initialized() const { return init_; }
  double step() const { return static_cast<double>(s_[0]); }
  void set_step(double s);
  LsqRange range() const { return r_; }
  const std::vector<int32_t>& codes() const { return codes_; }

 private:
  LsqRange r_;
  bool grad_scale_, init_ = false;
  nn::Tensor<T> s_, ds_;
  std::vector<int32_t> codes_;
};

template <class T>
class LsqActivation : public nn::Layer<T> {
 public:
  LsqActivation(int bits, bool grad_scale = true);  // post-ReLU: Q_N = 0, Q_P = 2^k - 1
  nn::Shape out_shape(const nn::Shape& in) const override { return in; }
  void forward(const nn::Tensor<T>& x, nn::Tensor<T>& y, nn::Pass& pass) override;
  void backward(const nn::Tensor<T>& dy, nn::Tensor<T>* dx, nn::Pass& pass) override;
  std::vector<nn::Param<T>> params() override;  // "step" [1]; initialised from the first batch
  std::string name() const override { return "lsq_act"; }
  void set_enabled(bool on) { enabled_ = on; }
  bool initialized() const { return init_; }
  double step() const { return static_cast<double>(s_[0]); }
  void set_step(double s);
  LsqRange range() const { return r_; }
  std::vector<double> post_relu_thresholds() const;  // (r - 1/2) step, r = 1..Q_P

 private:
  LsqRange r_;
  bool grad_scale_, init_ = false, enabled_ = true;
  nn::Tensor<T> s_, ds_, x_;
  double used_step_ = 1;
};

}  // namespace effinfer::climbq
