#include "nn/optim.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.hpp"

namespace effinfer::nn {

Schedule Schedule::constant(double lr0) {
  Schedule s;
  s.kind = Kind::kConstant;
  s.lr0 = lr0;
  return s;
}

Schedule Schedule::cosine(double lr0, int64_t total_steps, int64_t warmup_steps) {
  Schedule s;
  s.kind = Kind::kCosine;
  s.lr0 = lr0;
  s.total_steps = total_steps;
  s.warmup_steps = warmup_steps;
  return s;
}

Schedule Schedule::multistep(double lr0, std::vector<int> milestones, double gamma) {
  Schedule s;
  s.kind = Kind::kMultiStep;
  s.lr0 = lr0;
  s.milestones = std::move(milestones);
  s.gamma = gamma;
  return s;
}

void Schedule::validate() const {
  if (!(lr0 >= 0) || !std::isfinite(lr0)) {
    throw ConfigError("learning rate " + std::to_string(lr0) + ", expected a finite value >= 0");
  }
  if (warmup_steps < 0) {
    throw ConfigError("warmup steps " + std::to_string(warmup_steps) + ", expected >= 0");
  }
  if (kind == Kind::kCosine && total_steps <= warmup_steps) {
    throw ConfigError("cosine schedule: total steps " + std::to_string(total_steps) +
                      ", expected more than the warmup steps (" + std::to_string(warmup_steps) +
                      ")");
  }
  if (kind == Kind::kMultiStep && !(gamma > 0)) {
    throw ConfigError("multistep gamma " + std::to_string(gamma) + ", expected > 0");
  }
}

double Schedule::lr(int64_t step, int epoch) const {
  double value = lr0;
  switch (kind) {
    case Kind::kConstant:
      break;
    case Kind::kCosine: {
      // Spec 2.6: lr_t = lr0 * 1/2 (1 + cos(pi t / T)), counted after the warmup.
      const int64_t span = std::max<int64_t>(total_steps - warmup_steps, 1);
      const int64_t t = std::clamp<int64_t>(step - warmup_steps, 0, span);
      value =
          lr0 * 0.5 * (1.0 + std::cos(M_PI * static_cast<double>(t) / static_cast<double>(span)));
      break;
    }
    case Kind::kMultiStep: {
      int passed = 0;
      for (int m : milestones) passed += m <= epoch ? 1 : 0;
      value = lr0 * std::pow(gamma, passed);
      break;
    }
  }
  if (warmup_steps > 0 && step < warmup_steps) {
    value *=
        static_cast<double>(std::max<int64_t>(step, 0) + 1) / static_cast<double>(warmup_steps);
  }
  return value;
}

template <class T>
Sgd<T>::Sgd(std::vector<Param<T>> params, double momentum, double weight_decay)
    : params_(std::move(params)),
      velocity_(params_.size()),
      momentum_(momentum),
      weight_decay_(weight_decay) {
  for (const auto& p : params_) {
    if (p.value == nullptr) throw InternalError("nn::Sgd: parameter " + p.name + " has no value");
    if (p.grad != nullptr && p.grad->shape() != p.value->shape()) {
      throw InternalError("nn::Sgd: parameter " + p.name + " value " + p.value->shape().str() +
                          " but gradient " + p.grad->shape().str());
    }
  }
}

template <class T>
void Sgd<T>::step(double lr) {
  const T mu = static_cast<T>(momentum_);
  const T rate = static_cast<T>(lr);
  for (size_t i = 0; i < params_.size(); ++i) {
    const Param<T>& p = params_[i];
    if (p.frozen || p.grad == nullptr) continue;
    T* w = p.value->data();
    const T* g = p.grad->data();
    const int64_t n = p.value->size();
    if (p.grad->size() != n) {
      throw InternalError("nn::Sgd: parameter " + p.name + " changed shape to " +
                          p.value->shape().str());
    }
    const T wd = p.decay ? static_cast<T>(weight_decay_) : T(0);
    Tensor<T>& v = velocity_[i];
    const bool first = v.size() != n;
    if (first) v.resize(p.value->shape());
    T* vd = v.data();
#pragma omp parallel for if (n > 65536) schedule(static)
    for (int64_t k = 0; k < n; ++k) {
      const T gk = g[k] + wd * w[k];
      // PyTorch: the buffer starts as a copy of the first (decayed) gradient.
      vd[k] = first ? gk : mu * vd[k] + gk;
      w[k] -= rate * vd[k];
    }
  }
  ++steps_;
}

template <class T>
void Sgd<T>::zero_grad() {
  for (auto& p : params_)
    if (p.grad != nullptr) p.grad->set_zero();
}

template <class T>
void Sgd<T>::reset() {
  for (auto& v : velocity_) v = Tensor<T>();
  steps_ = 0;
}

template class Sgd<float>;
template class Sgd<double>;

}  // namespace effinfer::nn
