// Cross-validation (spec 2.9): psytrack's numpy-compatible fold split, fold data with the gap-aware
// prior, next-training-trial prediction, and the held-out log-likelihood.
#pragma once

#include <cstdint>
#include <vector>

#include "fit.hpp"

namespace effinfer::psytrack {

// numpy.random.RandomState(seed) (legacy MT19937 seeding, init_genrand) and its
// bounded-integer draw by masked rejection, enough to reproduce np.random.permutation.
class NumpyRandomState {
 public:
  explicit NumpyRandomState(uint32_t seed);
  uint32_t next_u32();
  uint64_t interval(uint64_t max);  // uniform on [0, max]
 private:
  uint32_t mt_[624];
  int index_ = 624;
};

std::vector<int64_t> numpy_permutation(int64_t n, uint32_t seed);
// Fold id of every trial: fold f holds out perm[f*c, (f+1)*c), c = N / F; the N mod F leftovers
// go one each to folds 0, 1, ... (identical to psytrack when F divides N).
std::vector<int> psytrack_fold_split(int n_trials, int folds, uint32_t seed);

// Training data of one fold: training trials in order, gaps m_t, held-out session starts moved to
// the next training trial (dropped if none; two on one trial count once).
struct FoldData {
  Dataset train;
  TrialLayout layout;
  std::vector<int> train_index;  // original index of each training trial
};
FoldData make_fold(const Dataset& data, const std::vector<int>& fold_of_trial, int fold);

// Held-out trial t is predicted with the weights of the next training trial; trailing held-out
// trials use the last training weights. Returns, for every trial of `data` in fold `fold`,
// P(y = 0); other entries are left untouched.
void predict_held_out(const Dataset& data, const std::vector<int>& fold_of_trial, int fold,
                      const FoldData& fold_data, const Eigen::Ref<const RowMatrix>& w_train,
                      Eigen::Ref<Eigen::VectorXd> p_left);

struct XvalResult {
  int folds = 0;
  Eigen::VectorXd p_left;     // (N) held-out P(y = 0), psytrack's xval_pL
  double logli = 0;           // sum over trials of the held-out log-likelihood
  Eigen::VectorXd fold_logli;     // (F)
  Eigen::VectorXd fold_log_evidence;  // (F)
  RowMatrix fold_log2_hyper;      // (F, P)
  std::vector<std::string> fold_status;  // ok | not_converged
  std::vector<std::string> messages;
};

// Fits each fold independently from the same init (W_std off). When fixed_fold_log2_hyper is
// given ((F, P)), each fold is fitted at those hypers instead of optimising them.
// options.threads is spread over folds. Throws DataError if a training set has one class only.
XvalResult cross_validate(const Dataset& data, const std::vector<int>& fold_of_trial, int folds,
                          const Hyper& init, const HyperParam& param, const FitOptions& options,
                          const RowMatrix* fixed_fold_log2_hyper = nullptr);

}  // namespace effinfer::psytrack
