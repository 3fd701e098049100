// Classification losses on logits [B, C] (spec quantize-climbq 2.4.9, 3.1). Each returns the loss
// value (accumulated in double) and, when `dlogits` is not null, writes dL/dlogits (resized to
// the logits' shape; `nullptr` for the value only). Labels must lie in [0, C) (InternalError
// otherwise: the data readers have validated them).
#pragma once

#include <span>
#include <type_traits>

#include "nn/tensor.hpp"

namespace effinfer::nn {

struct CrossEntropyOptions {
  // Target (1 - eps) one-hot + eps / C (Szegedy et al. 2016; PyTorch label_smoothing).
  double label_smoothing = 0;
  // Optional per-class weights (size C): L = sum_j w_{y_j} l_j / sum_j w_{y_j} (PyTorch's
  // weighted mean; the whole per-sample loss, smoothing term included, carries the weight).
  std::span<const double> class_weights;
  // Optional per-sample weights (size B): L = sum_j s_j l_j / B. Combines multiplicatively with
  // class weights (then L = sum_j s_j w_{y_j} l_j / sum_j w_{y_j}).
  std::span<const double> sample_weights;
};

// Softmax cross-entropy, mean over the batch: l_j = logsumexp(z_j) - sum_c q_jc z_jc with target
// q_j (one-hot, or smoothed); dl_j/dz_j = softmax(z_j) - q_j.
template <class T>
double softmax_cross_entropy(const Tensor<T>& logits, std::span<const int> labels,
                             std::type_identity_t<Tensor<T>>* dlogits,
                             const CrossEntropyOptions& options = {});

// Class-weighted softmax-BCE of spec 2.4.9 (the CB / HomoVar losses): p = softmax(z),
//   L = -(1/(B k)) sum_j sum_c w_{y_j} [y_jc log p_jc + (1 - y_jc) log(1 - p_jc)],
// logs clamped at -100 (PyTorch BCELoss); gradient
//   g_jc = w_{y_j} (p_jc - y_jc) / max(p_jc (1 - p_jc), 1e-12) / (B k),
//   dL/dz_j = p_j * (g_j - <p_j, g_j>)   (softmax Jacobian-vector product).
// class_weights has size k = C; the weights are constants (no gradient).
template <class T>
double weighted_softmax_bce(const Tensor<T>& logits, std::span<const int> labels,
                            std::span<const double> class_weights,
                            std::type_identity_t<Tensor<T>>* dlogits);

}  // namespace effinfer::nn
