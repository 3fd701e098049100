// Classification losses of quantize-climbq (spec 2.4): `ce` (softmax CE), `cb` (class-balanced
// softmax-BCE, Cui et al., CVPR 2019) and `homovar` (class-balanced weights whose per-class beta
// comes from the bounds of a Levene test of homogeneous feature spread, after the official
// ClimbQ utils/lt_loss.py semantics). The statistics run in double for T in {float, double}; the
// class weights are constants (no gradient to the features).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "nn/tensor.hpp"

namespace effinfer::climbq {

enum class LossKind { kCe, kCb, kHomoVar };
// Which class counts n_i enter 2.4 (and the weights): the dataset's (official) or the batch's.
enum class HomoVarCounts { kDataset, kBatch };
// Which samples count in steps 2 and 5: nonzero features / z_j (official) or all by label.
enum class HomoVarMembership { kValueMask, kLabel };

LossKind parse_loss_kind(const std::string& name);                    // ce | cb | homovar
HomoVarCounts parse_homovar_counts(const std::string& name);          // dataset | batch
HomoVarMembership parse_homovar_membership(const std::string& name);  // value_mask | label
const char* to_string(LossKind kind);

// Class-balanced weights (spec 2.4.8): w_i = (1 - beta_i)/(1 - beta_i^{n_i}), normalised to sum
// k. DataError when some n_i <= 0; InternalError when sizes differ or a beta_i is outside (0, 1).
std::vector<double> class_balanced_weights(std::span<const double> counts,
                                           std::span<const double> betas);
// The same with one beta for every class (the `cb` loss).
std::vector<double> class_balanced_weights(std::span<const double> counts, double beta);

// F* = F^-1_{k-1, N-k}(1 - alpha) (spec 2.4.4), computed once per run from the dataset counts.
// ConfigError when alpha is outside (0, 1); DataError when k < 2 or N <= k.
double homovar_critical_value(int classes, double total, double alpha);

struct HomoVarOptions {
  double alpha = 0.05;
  double beta = 0.999;
  HomoVarCounts counts = HomoVarCounts::kDataset;
  HomoVarMembership membership = HomoVarMembership::kValueMask;
};

// The quantities of 2.4 steps 1-8 for one batch, for reporting and tests. Per class (size k):
struct HomoVarStats {
  std::vector<double> counts;   // n_i used (dataset or batch counts)
  std::vector<double> sums;     // S_i
  std::vector<double> n_lb;     // |r-|, NaN when there is no bound (discriminant < 0 or a = 0)
  std::vector<double> n_ub;     // |r+|, NaN likewise
  std::vector<double> beta;     // beta_i (step 7)
  std::vector<double> weights;  // w_i (step 8; 0 for a class absent under batch counts)
  double f_star = 0;            // F* used
  double z_bar = 0;             // unweighted mean of the class means z-bar_i
  double ssw = 0;               // within-class mean square (step 5)
  double levene_w = 0;          // (sum_i sb_i/(k-1))/ssw (NaN when ssw = 0)
};

// Steps 1-8 given features [B, d] (the classifier's input), labels and the dataset counts n_i
// (size k). With `dataset` counts f_star is F* from homovar_critical_value (pass NaN to compute
// it here). With `batch` counts the classes absent from the batch are left out (k, N = B and F*
// from the classes present, recomputed here; absent classes get weight 0); with fewer than 2
// classes present, or B <= k, there are no bounds (beta_i = beta). InternalError on bad shapes
// or labels; DataError on a dataset count <= 0.
template <class T>
HomoVarStats homovar_statistics(const nn::Tensor<T>& features, std::span<const int> labels,
                                std::span<const double> dataset_counts, double f_star,
                                const HomoVarOptions& options);

// The HomoVar loss (steps 1-9): the weights of homovar_statistics in nn::weighted_softmax_bce.
// Returns L; writes dL/dlogits when dlogits is not null and the statistics when stats is not null.
template <class T>
double homovar_loss(const nn::Tensor<T>& features, std::span<const int> labels,
                    const nn::Tensor<T>& logits, std::span<const double> dataset_counts,
                    double f_star, const HomoVarOptions& options,
                    std::type_identity_t<nn::Tensor<T>>* dlogits, HomoVarStats* stats = nullptr);

// One of ce | cb | homovar with its per-run constants (CB weights, F*) computed at construction.
class ClassificationLoss {
 public:
  ClassificationLoss(LossKind kind, std::vector<double> dataset_counts,
                     const HomoVarOptions& options = {});

  // features are used by homovar only (may be empty otherwise).
  template <class T>
  double operator()(const nn::Tensor<T>& features, std::span<const int> labels,
                    const nn::Tensor<T>& logits, std::type_identity_t<nn::Tensor<T>>* dlogits,
                    HomoVarStats* stats = nullptr) const;

  LossKind kind() const { return kind_; }
  double f_star() const { return f_star_; }
  const std::vector<double>& cb_weights() const { return cb_weights_; }

 private:
  LossKind kind_;
  std::vector<double> counts_;
  HomoVarOptions options_;
  double f_star_ = 0;
  std::vector<double> cb_weights_;
};

}  // namespace effinfer::climbq
