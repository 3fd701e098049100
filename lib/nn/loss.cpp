#include "nn/loss.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace effinfer::nn {
namespace {

// Checks logits [B, C] against the labels; returns {B, C}.
template <class T>
std::pair<int64_t, int64_t> check_inputs(const Tensor<T>& logits, std::span<const int> labels,
                                         const char* who) {
  if (logits.rank() != 2) {
    throw InternalError(std::string(who) + ": logits " + logits.shape().str() + ", expected [B,C]");
  }
  const int64_t b = logits.dim(0), c = logits.dim(1);
  if (static_cast<int64_t>(labels.size()) != b) {
    throw InternalError(std::string(who) + ": " + std::to_string(labels.size()) +
                        " labels for logits " + logits.shape().str());
  }
  if (b == 0 || c == 0) throw InternalError(std::string(who) + ": empty logits");
  for (int64_t j = 0; j < b; ++j) {
    if (labels[j] < 0 || labels[j] >= c) {
      throw InternalError(std::string(who) + ": label " + std::to_string(labels[j]) +
                          " outside [0," + std::to_string(c) + ")");
    }
  }
  return {b, c};
}

// Row softmax in double: p = exp(z - max) / sum; returns log sum exp(z).
template <class T>
double softmax_row(const T* z, int64_t c, double* p) {
  double m = z[0];
  for (int64_t i = 1; i < c; ++i) m = std::max(m, double(z[i]));
  double s = 0;
  for (int64_t i = 0; i < c; ++i) s += p[i] = std::exp(double(z[i]) - m);
  for (int64_t i = 0; i < c; ++i) p[i] /= s;
  return m + std::log(s);
}

}  // namespace

template <class T>
double softmax_cross_entropy(const Tensor<T>& logits, std::span<const int> labels,
                             std::type_identity_t<Tensor<T>>* dlogits,
                             const CrossEntropyOptions& options) {
  const auto [b, c] = check_inputs(logits, labels, "softmax_cross_entropy");
  const double eps = options.label_smoothing;
  if (!(eps >= 0 && eps <= 1)) {
    throw InternalError("softmax_cross_entropy: label smoothing " + std::to_string(eps) +
                        ", expected [0,1]");
  }
  const bool by_class = !options.class_weights.empty();
  const bool by_sample = !options.sample_weights.empty();
  if (by_class && static_cast<int64_t>(options.class_weights.size()) != c) {
    throw InternalError("softmax_cross_entropy: " + std::to_string(options.class_weights.size()) +
                        " class weights for " + std::to_string(c) + " classes");
  }
  if (by_sample && static_cast<int64_t>(options.sample_weights.size()) != b) {
    throw InternalError("softmax_cross_entropy: " + std::to_string(options.sample_weights.size()) +
                        " sample weights for batch " + std::to_string(b));
  }
  // Normaliser: B, or the sum of the labels' class weights (PyTorch weighted mean).
  double norm = static_cast<double>(b);
  if (by_class) {
    norm = 0;
    for (int64_t j = 0; j < b; ++j) norm += options.class_weights[labels[j]];
    if (!(norm > 0))
      throw NumericalError("softmax_cross_entropy: class weights of the batch sum to 0");
  }
  if (dlogits != nullptr) dlogits->resize(logits.shape());
  const double off = eps / static_cast<double>(c);  // smoothed target of a wrong class
  const double on = 1.0 - eps + off;                // smoothed target of the label
  std::vector<double> p(c);
  double total = 0;
  for (int64_t j = 0; j < b; ++j) {
    const T* z = logits.data() + j * c;
    const double lse = softmax_row(z, c, p.data());
    // l_j = lse - sum_c q_c z_c (sum_c q_c = 1).
    double dot = on * double(z[labels[j]]);
    if (off != 0) {
      double zsum = 0;
      for (int64_t i = 0; i < c; ++i) zsum += double(z[i]);
      dot += off * (zsum - double(z[labels[j]]));
    }
    double weight = 1;
    if (by_class) weight *= options.class_weights[labels[j]];
    if (by_sample) weight *= options.sample_weights[j];
    total += weight * (lse - dot);
    if (dlogits != nullptr) {
      const double scale = weight / norm;
      T* d = dlogits->data() + j * c;
      for (int64_t i = 0; i < c; ++i) {
        const double q = i == labels[j] ? on : off;
        d[i] = static_cast<T>(scale * (p[i] - q));
      }
    }
  }
  return total / norm;
}

template <class T>
double weighted_softmax_bce(const Tensor<T>& logits, std::span<const int> labels,
                            std::span<const double> class_weights,
                            std::type_identity_t<Tensor<T>>* dlogits) {
  const auto [b, c] = check_inputs(logits, labels, "weighted_softmax_bce");
  if (static_cast<int64_t>(class_weights.size()) != c) {
    throw InternalError("weighted_softmax_bce: " + std::to_string(class_weights.size()) +
                        " class weights for " + std::to_string(c) + " classes");
  }
  const double bk = static_cast<double>(b) * static_cast<double>(c);
  if (dlogits != nullptr) dlogits->resize(logits.shape());
  std::vector<double> p(c), g(c);
  double total = 0;
  for (int64_t j = 0; j < b; ++j) {
    const T* z = logits.data() + j * c;
    const double lse = softmax_row(z, c, p.data());
    const double w = class_weights[labels[j]];
    double row = 0;
    for (int64_t i = 0; i < c; ++i) {
      // log p from the log-softmax (exact for tiny p); log(1 - p) by log1p. Both clamped at -100.
      if (i == labels[j]) {
        row += std::max(double(z[i]) - lse, -100.0);
      } else {
        row += std::max(std::log1p(-p[i]), -100.0);
      }
    }
    total -= w * row;
    if (dlogits != nullptr) {
      double pg = 0;
      for (int64_t i = 0; i < c; ++i) {
        const double y = i == labels[j] ? 1.0 : 0.0;
        g[i] = w * (p[i] - y) / std::max(p[i] * (1.0 - p[i]), 1e-12) / bk;
        pg += p[i] * g[i];
      }
      T* d = dlogits->data() + j * c;
      for (int64_t i = 0; i < c; ++i) d[i] = static_cast<T>(p[i] * (g[i] - pg));
    }
  }
  return total / bk;
}

template double softmax_cross_entropy<float>(const Tensor<float>&, std::span<const int>,
                                             Tensor<float>*, const CrossEntropyOptions&);
template double softmax_cross_entropy<double>(const Tensor<double>&, std::span<const int>,
                                              Tensor<double>*, const CrossEntropyOptions&);
template double weighted_softmax_bce<float>(const Tensor<float>&, std::span<const int>,
                                            std::span<const double>, Tensor<float>*);
template double weighted_softmax_bce<double>(const Tensor<double>&, std::span<const int>,
                                             std::span<const double>, Tensor<double>*);

}  // namespace effinfer::nn
