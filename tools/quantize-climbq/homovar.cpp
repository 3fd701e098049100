#include "homovar.hpp"

#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <string>

#include "core/error.hpp"
#include "nn/loss.hpp"
#include "stats.hpp"

namespace effinfer::climbq {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void check_counts(std::span<const double> counts, const char* what) {
  for (size_t i = 0; i < counts.size(); ++i) {
    if (!(counts[i] > 0)) {
      throw DataError(std::string(what) + ": class " + std::to_string(i) + " has count " +
                      num(counts[i]) + ", expected > 0");
    }
  }
}

// beta_i of step 7 from the bounds (NaN bounds: no bound).
double class_beta(double beta, double n, double lb, double ub) {
  if (!std::isnan(lb) && n < lb) return std::pow(beta, 1 / (lb - n));
  if (!std::isnan(ub) && n > ub) return std::pow(beta, 1 / (n - ub));
  return beta;
}

}  // namespace

LossKind parse_loss_kind(const std::string& name) {
  if (name == "ce") return LossKind::kCe;
  if (name == "cb") return LossKind::kCb;
  if (name == "homovar") return LossKind::kHomoVar;
  throw ConfigError("loss: expected ce | cb | homovar, found '" + name + "'");
}

HomoVarCounts parse_homovar_counts(const std::string& name) {
  if (name == "dataset") return HomoVarCounts::kDataset;
  if (name == "batch") return HomoVarCounts::kBatch;
  throw ConfigError("homovar.counts: expected dataset | batch, found '" + name + "'");
}

HomoVarMembership parse_homovar_membership(const std::string& name) {
  if (name == "value_mask") return HomoVarMembership::kValueMask;
  if (name == "label") return HomoVarMembership::kLabel;
  throw ConfigError("homovar.membership: expected value_mask | label, found '" + name + "'");
}

const char* to_string(LossKind kind) {
  switch (kind) {
    case LossKind::kCe:
      return "ce";
    case LossKind::kCb:
      return "cb";
    case LossKind::kHomoVar:
      return "homovar";
  }
  return "?";
}

std::vector<double> class_balanced_weights(std::span<const double> counts,
                                           std::span<const double> betas) {
  if (counts.size() != betas.size() || counts.empty()) {
    throw InternalError("class_balanced_weights: " + std::to_string(counts.size()) +
                        " counts for " + std::to_string(betas.size()) + " betas");
  }
  check_counts(counts, "class_balanced_weights");
  const size_t k = counts.size();
  std::vector<double> w(k);
  double sum = 0;
  for (size_t i = 0; i < k; ++i) {
    const double b = betas[i];
    if (!(b > 0 && b < 1)) {
      throw InternalError("class_balanced_weights: beta of class " + std::to_string(i) + " = " +
                          num(b) + " outside (0, 1)");
    }
    // (1 - b)/(1 - b^n) with expm1/log1p: exact enough when b is within 1e-6 of 1.
    w[i] = -std::expm1(std::log(b)) / -std::expm1(counts[i] * std::log(b));
    sum += w[i];
  }
  for (double& v : w) v *= static_cast<double>(k) / sum;
  return w;
}

std::vector<double> class_balanced_weights(std::span<const double> counts, double beta) {
  return class_balanced_weights(counts, std::vector<double>(counts.size(), beta));
}

double homovar_critical_value(int classes, double total, double alpha) {
  if (!(alpha > 0 && alpha < 1)) {
    throw ConfigError("homovar.alpha: expected a value in (0, 1), found " + num(alpha));
  }
  if (classes < 2 || !(total > classes)) {
    throw DataError("homovar: the Levene test needs k >= 2 classes and N > k samples, found k = " +
                    std::to_string(classes) + ", N = " + num(total));
  }
  return f_quantile(1 - alpha, classes - 1, total - classes);
}

template <class T>
HomoVarStats homovar_statistics(const nn::Tensor<T>& features, std::span<const int> labels,
                                std::span<const double> dataset_counts, double f_star,
                                const HomoVarOptions& options) {
  const int64_t b = features.rank() >= 1 ? features.dim(0) : 0;
  const int64_t d = features.rank() >= 1 ? features.shape().inner() : 0;
  const int k_all = static_cast<int>(dataset_counts.size());
  if (static_cast<int64_t>(labels.size()) != b || b == 0 || d == 0) {
    throw InternalError("homovar: features " + features.shape().str() + " for " +
                        std::to_string(labels.size()) + " labels");
  }
  for (int64_t j = 0; j < b; ++j) {
    if (labels[j] < 0 || labels[j] >= k_all) {
      throw InternalError("homovar: label " + std::to_string(labels[j]) + " of sample " +
                          std::to_string(j) + " outside [0, " + std::to_string(k_all) + ")");
    }
  }
  const bool batch_counts = options.counts == HomoVarCounts::kBatch;
  const bool masked = options.membership == HomoVarMembership::kValueMask;

  HomoVarStats s;
  s.counts.assign(k_all, 0.0);
  if (batch_counts) {
    for (int64_t j = 0; j < b; ++j) s.counts[labels[j]] += 1;
  } else {
    check_counts(dataset_counts, "homovar dataset counts");
    s.counts.assign(dataset_counts.begin(), dataset_counts.end());
  }
  // Classes taking part: all (dataset counts) or those present in the batch.
  std::vector<char> in(k_all, 1);
  int k = k_all;
  if (batch_counts) {
    k = 0;
    for (int i = 0; i < k_all; ++i) k += (in[i] = s.counts[i] > 0);
  }
  const double n_total = std::accumulate(s.counts.begin(), s.counts.end(), 0.0);

  // Step 1: class means of the batch features over n_i.
  std::vector<double> mean(static_cast<size_t>(k_all) * d, 0.0);
  for (int64_t j = 0; j < b; ++j) {
    const T* f = features.data() + j * d;
    double* m = mean.data() + static_cast<int64_t>(labels[j]) * d;
    for (int64_t t = 0; t < d; ++t) m[t] += f[t];
  }
  for (int i = 0; i < k_all; ++i) {
    if (!in[i]) continue;
    for (int64_t t = 0; t < d; ++t) mean[i * d + t] /= s.counts[i];
  }
  // Steps 2-3: absolute deviations z_j, class sums S_i, means z-bar_i and z-bar.
  std::vector<double> z(b);
  s.sums.assign(k_all, 0.0);
  for (int64_t j = 0; j < b; ++j) {
    const T* f = features.data() + j * d;
    const double* m = mean.data() + static_cast<int64_t>(labels[j]) * d;
    double zj = 0;
    for (int64_t t = 0; t < d; ++t) {
      if (masked && f[t] == T(0)) continue;
      zj += std::fabs(double(f[t]) - m[t]);
    }
    z[j] = zj;
    s.sums[labels[j]] += zj;
  }
  std::vector<double> zbar_i(k_all, 0.0);
  s.z_bar = 0;
  for (int i = 0; i < k_all; ++i) {
    if (!in[i]) continue;
    zbar_i[i] = s.sums[i] / s.counts[i];
    s.z_bar += zbar_i[i];
  }
  s.z_bar /= k;

  s.n_lb.assign(k_all, kNaN);
  s.n_ub.assign(k_all, kNaN);
  s.beta.assign(k_all, options.beta);
  const bool testable = k >= 2 && n_total > k;
  if (testable) {
    // Step 4: F* (given for dataset counts; from the batch's k and N otherwise).
    s.f_star = (batch_counts || std::isnan(f_star))
                   ? homovar_critical_value(k, n_total, options.alpha)
                   : f_star;
    // Step 5: within-class mean square (batch samples over N - k) and between-class terms.
    double ssw = 0;
    for (int64_t j = 0; j < b; ++j) {
      if (masked && z[j] == 0) continue;
      const double e = z[j] - zbar_i[labels[j]];
      ssw += e * e;
    }
    s.ssw = ssw / (n_total - k);
    std::vector<double> sb(k_all, 0.0);
    double sb_sum = 0;
    for (int i = 0; i < k_all; ++i) {
      if (!in[i]) continue;
      const double e = zbar_i[i] - s.z_bar;
      sb[i] = s.counts[i] * e * e;
      sb_sum += sb[i];
    }
    s.levene_w = s.ssw > 0 ? sb_sum / (k - 1) / s.ssw : kNaN;
    // Step 6: W <= F* as a quadratic in class i's size n (the others fixed):
    //   zbar^2 n^2 - (2 zbar S_i + C_i) n + S_i^2 <= 0,  C_i = F* ssw (k-1) - sum_{l != i} sb_l.
    const double a = s.z_bar * s.z_bar;
    for (int i = 0; i < k_all; ++i) {
      if (!in[i]) continue;
      const double c_i = s.f_star * s.ssw * (k - 1) - (sb_sum - sb[i]);
      const double bq = -(2 * s.z_bar * s.sums[i] + c_i);
      const double cq = s.sums[i] * s.sums[i];
      const double disc = bq * bq - 4 * a * cq;
      if (a == 0 || disc < 0) continue;
      const double root = std::sqrt(disc);
      s.n_lb[i] = std::fabs((-bq - root) / (2 * a));
      s.n_ub[i] = std::fabs((-bq + root) / (2 * a));
      // Step 7.
      s.beta[i] = class_beta(options.beta, s.counts[i], s.n_lb[i], s.n_ub[i]);
    }
  } else {
    s.f_star = kNaN;
  }
  // Step 8: class-balanced weights over the classes taking part.
  std::vector<double> cnt, bet;
  for (int i = 0; i < k_all; ++i) {
    if (!in[i]) continue;
    cnt.push_back(s.counts[i]);
    bet.push_back(s.beta[i]);
  }
  const auto w = class_balanced_weights(cnt, bet);
  s.weights.assign(k_all, 0.0);
  for (int i = 0, t = 0; i < k_all; ++i) {
    if (in[i]) s.weights[i] = w[t++];
  }
  return s;
}

template <class T>
double homovar_loss(const nn::Tensor<T>& features, std::span<const int> labels,
                    const nn::Tensor<T>& logits, std::span<const double> dataset_counts,
                    double f_star, const HomoVarOptions& options,
                    std::type_identity_t<nn::Tensor<T>>* dlogits, HomoVarStats* stats) {
  HomoVarStats s = homovar_statistics(features, labels, dataset_counts, f_star, options);
  // Step 9; the weights are constants, so dL/dfeatures = 0 and only dlogits is produced.
  const double loss = nn::weighted_softmax_bce(logits, labels, s.weights, dlogits);
  if (stats != nullptr) *stats = std::move(s);
  return loss;
}

ClassificationLoss::ClassificationLoss(LossKind kind, std::vector<double> dataset_counts,
                                       const HomoVarOptions& options)
    : kind_(kind), counts_(std::move(dataset_counts)), options_(options) {
  if (kind_ == LossKind::kCe) return;
  if (!(options_.beta > 0 && options_.beta < 1)) {
    throw ConfigError("homovar.beta: expected a value in (0, 1), found " + num(options_.beta));
  }
  check_counts(counts_, "loss dataset counts");
  cb_weights_ = class_balanced_weights(counts_, options_.beta);
  if (kind_ == LossKind::kHomoVar && options_.counts == HomoVarCounts::kDataset) {
    f_star_ = homovar_critical_value(static_cast<int>(counts_.size()),
                                     std::accumulate(counts_.begin(), counts_.end(), 0.0),
                                     options_.alpha);
  } else if (kind_ == LossKind::kHomoVar) {
    f_star_ = kNaN;  // per batch
    if (!(options_.alpha > 0 && options_.alpha < 1)) {
      throw ConfigError("homovar.alpha: expected a value in (0, 1), found " + num(options_.alpha));
    }
  }
}

template <class T>
double ClassificationLoss::operator()(const nn::Tensor<T>& features, std::span<const int> labels,
                                      const nn::Tensor<T>& logits,
                                      std::type_identity_t<nn::Tensor<T>>* dlogits,
                                      HomoVarStats* stats) const {
  switch (kind_) {
    case LossKind::kCe:
      return nn::softmax_cross_entropy(logits, labels, dlogits);
    case LossKind::kCb:
      return nn::weighted_softmax_bce(logits, labels, cb_weights_, dlogits);
    case LossKind::kHomoVar:
      return homovar_loss(features, labels, logits, counts_, f_star_, options_, dlogits, stats);
  }
  throw InternalError("ClassificationLoss: unknown kind");
}

#define EFFINFER_CLIMBQ_HOMOVAR(T)                                                              \
  template HomoVarStats homovar_statistics<T>(const nn::Tensor<T>&, std::span<const int>,       \
                                              std::span<const double>, double,                  \
                                              const HomoVarOptions&);                           \
  template double homovar_loss<T>(const nn::Tensor<T>&, std::span<const int>,                   \
                                  const nn::Tensor<T>&, std::span<const double>, double,        \
                                  const HomoVarOptions&, nn::Tensor<T>*, HomoVarStats*);        \
  template double ClassificationLoss::operator()<T>(const nn::Tensor<T>&, std::span<const int>, \
                                                    const nn::Tensor<T>&, nn::Tensor<T>*,       \
                                                    HomoVarStats*) const;
EFFINFER_CLIMBQ_HOMOVAR(float)
EFFINFER_CLIMBQ_HOMOVAR(double)
#undef EFFINFER_CLIMBQ_HOMOVAR

}  // namespace effinfer::climbq
