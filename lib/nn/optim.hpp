// SGD with momentum and weight decay, and learning-rate schedules (spec quantize-climbq 2.6, 3.1).
#pragma once

#include <cstdint>
#include <vector>

#include "nn/param.hpp"
#include "nn/tensor.hpp"

namespace effinfer::nn {

// Learning rate as a pure function of the global step t (0-based, counted over all epochs) and the
// epoch (0-based). Kinds:
//   constant:  lr0
//   cosine:    lr0 * 1/2 (1 + cos(pi t' / T')), t' = t - warmup_steps clamped to [0, T'],
//              T' = total_steps - warmup_steps (per step; spec 2.6)
//   multistep: lr0 * gamma^#{m in milestones : m <= epoch} (per epoch, PyTorch MultiStepLR; a
//              caller that emulates "scheduler.step() at epoch start" passes epoch + 1)
// Linear warmup (any kind): for t < warmup_steps the value above is scaled by (t + 1) /
// warmup_steps.
struct Schedule {
  enum class Kind { kConstant, kCosine, kMultiStep };
  Kind kind = Kind::kConstant;
  double lr0 = 0.05;
  int64_t total_steps = 0;      // cosine: T (> warmup_steps)
  std::vector<int> milestones;  // multistep: epochs
  double gamma = 0.1;           // multistep factor
  int64_t warmup_steps = 0;

  static Schedule constant(double lr0);
  static Schedule cosine(double lr0, int64_t total_steps, int64_t warmup_steps = 0);
  static Schedule multistep(double lr0, std::vector<int> milestones, double gamma = 0.1);

  // ConfigError (78) on an invalid schedule (lr0 < 0, cosine total_steps <= warmup_steps,
  // negative warmup, gamma <= 0).
  void validate() const;
  double lr(int64_t step, int epoch) const;
};

// Stochastic gradient descent with PyTorch SGD semantics (no dampening, no Nesterov): per
// trainable, non-frozen parameter with a gradient,
//   g = grad + wd * w   (only when Param::decay; the grad tensor itself is left unchanged)
//   v = mu * v + g      (v starts at 0, so the first step has v = g)
//   w = w - lr * v
// Buffers (grad == nullptr) and frozen parameters are skipped. The momentum buffers belong to the
// optimizer; the parameter views must stay valid (and keep their shapes) while it is used.
template <class T>
class Sgd {
 public:
  Sgd(std::vector<Param<T>> params, double momentum, double weight_decay);

  // One update with learning rate lr; does not zero the gradients.
  void step(double lr);
  // Zeroes the gradients of all parameters (frozen ones too).
  void zero_grad();
  // Forgets the momentum (the next step starts again from v = g).
  void reset();

  const std::vector<Param<T>>& params() const { return params_; }
  // Momentum buffer of params()[i] (empty before its first step).
  const Tensor<T>& velocity(size_t i) const { return velocity_[i]; }
  double momentum() const { return momentum_; }
  double weight_decay() const { return weight_decay_; }
  int64_t steps() const { return steps_; }

 private:
  std::vector<Param<T>> params_;
  std::vector<Tensor<T>> velocity_;
  double momentum_;
  double weight_decay_;
  int64_t steps_ = 0;
};

extern template class Sgd<float>;
extern template class Sgd<double>;

}  // namespace effinfer::nn
