// Cross-validation (spec 2.9), after psytrack v2.0.2 helper/crossValidation.py (`split_data`,
// `xval_loglike`, `crossValidate`) and numpy's legacy RandomState (numpy/random/src/mt19937,
// numpy/random/src/legacy/legacy-distributions.c `random_interval`, mtrand.pyx `shuffle`).
//
// Fold data. Training trials keep their order; m_t = number of held-out trials directly before
// training trial t (leading held-out trials count toward the first training trial), so that the
// prior of the fold is the marginal of the full random walk over the held-out weights (their
// ordinary steps add m_t * sigma^2). A held-out session start moves to the next training trial
// (dropped when there is none, or when it lands on training trial 0, whose variance is sigInit^2
// as in psytrack's make_invSigma); several landing on one trial count once. The fold's Dataset
// carries the day_length matching those moved session starts (psytrack's `new_dayLength` without
// its possible leading 0), empty when the input had no sessions, so TrialLayout::from_day_length
// of the fold data reproduces the layout's session starts; the fit itself only uses the layout.
#include "xval.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <string>

#include "core/error.hpp"

namespace effinfer::psytrack {

namespace {

constexpr int kMtN = 624;
constexpr int kMtM = 397;

inline double softplus(double x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

// P(y = 0) = 1 / (1 + e^eta), without overflow.
inline double p_zero(double eta) {
  if (eta <= 0) return 1.0 / (1.0 + std::exp(eta));
  const double e = std::exp(-eta);
  return e / (1.0 + e);
}

std::string fold_label(int fold) { return "xval fold " + std::to_string(fold); }

// Calls visit(t, j) for every held-out trial t of `fold`, with j the position (in the training
// set) of the training trial whose weights predict it: the next training trial, or the last one
// for trailing held-out trials.
template <typename Visit>
void for_each_held_out(const std::vector<int>& fold_of_trial, int fold, int n_train, Visit visit) {
  int next = 0;  // training trials seen so far = position of the next training trial
  for (size_t t = 0; t < fold_of_trial.size(); ++t) {
    if (fold_of_trial[t] != fold) {
      ++next;
      continue;
    }
    visit(static_cast<int>(t), next < n_train ? next : n_train - 1);
  }
}

void check_fold_array(const std::vector<int>& fold_of_trial, int n_trials, int folds) {
  if (static_cast<int>(fold_of_trial.size()) != n_trials)
    throw DataError("xval folds: " + std::to_string(fold_of_trial.size()) +
                    " fold ids for N = " + std::to_string(n_trials) + " trials");
  if (folds < 2)
    throw DataError("xval folds: " + std::to_string(folds) + " fold(s), expected at least 2");
  std::vector<int> count(static_cast<size_t>(folds), 0);
  for (int t = 0; t < n_trials; ++t) {
    const int f = fold_of_trial[static_cast<size_t>(t)];
    if (f < 0 || f >= folds)
      throw DataError("xval folds: fold id " + std::to_string(f) + " at index " +
                      std::to_string(t) + ", expected 0.." + std::to_string(folds - 1));
    ++count[static_cast<size_t>(f)];
  }
  for (int f = 0; f < folds; ++f) {
    if (count[static_cast<size_t>(f)] == 0)
      throw DataError("xval folds: fold " + std::to_string(f) + " holds out no trial");
    if (count[static_cast<size_t>(f)] == n_trials)
      throw DataError("xval folds: fold " + std::to_string(f) + " holds out every trial");
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// numpy legacy RandomState

NumpyRandomState::NumpyRandomState(uint32_t seed) {
  // init_genrand (numpy mt19937_seed).
  mt_[0] = seed;
  for (int i = 1; i < kMtN; ++i)
    mt_[i] = 1812433253U * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + static_cast<uint32_t>(i);
  index_ = kMtN;
}

uint32_t NumpyRandomState::next_u32() {
  if (index_ >= kMtN) {
    for (int i = 0; i < kMtN; ++i) {
      const uint32_t y = (mt_[i] & 0x80000000U) | (mt_[(i + 1) % kMtN] & 0x7fffffffU);
      mt_[i] = mt_[(i + kMtM) % kMtN] ^ (y >> 1) ^ ((y & 1U) ? 0x9908b0dfU : 0U);
    }
    index_ = 0;
  }
  uint32_t y = mt_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680U;
  y ^= (y << 15) & 0xefc60000U;
  y ^= y >> 18;
  return y;
}

uint64_t NumpyRandomState::interval(uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = max;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  mask |= mask >> 32;
  uint64_t value;
  if (max <= 0xffffffffULL) {
    while ((value = (next_u32() & mask)) > max) {
    }
  } else {
    // numpy's mt19937 next_uint64: high word first.
    while ((value = (((static_cast<uint64_t>(next_u32()) << 32) | next_u32()) & mask)) > max) {
    }
  }
  return value;
}

std::vector<int64_t> numpy_permutation(int64_t n, uint32_t seed) {
  std::vector<int64_t> perm(static_cast<size_t>(n > 0 ? n : 0));
  for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
  NumpyRandomState rng(seed);
  for (int64_t i = n - 1; i >= 1; --i) {
    const auto j = static_cast<int64_t>(rng.interval(static_cast<uint64_t>(i)));
    std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(j)]);
  }
  return perm;
}

std::vector<int> psytrack_fold_split(int n_trials, int folds, uint32_t seed) {
  if (folds < 2 || folds > n_trials)
    throw ConfigError("xval.folds: " + std::to_string(folds) + ", expected 2.." +
                      std::to_string(n_trials) + " (N = " + std::to_string(n_trials) + ")");
  const std::vector<int64_t> perm = numpy_permutation(n_trials, seed);
  const int chunk = n_trials / folds;
  std::vector<int> fold_of_trial(static_cast<size_t>(n_trials));
  for (int f = 0; f < folds; ++f)
    for (int i = f * chunk; i < (f + 1) * chunk; ++i)
      fold_of_trial[static_cast<size_t>(perm[static_cast<size_t>(i)])] = f;
  // Leftovers (N mod F of them, psytrack refuses F not dividing N): one each to folds 0, 1, ...
  for (int i = folds * chunk; i < n_trials; ++i)
    fold_of_trial[static_cast<size_t>(perm[static_cast<size_t>(i)])] = i - folds * chunk;
  return fold_of_trial;
}

// ---------------------------------------------------------------------------------------------
// Fold data and prediction

FoldData make_fold(const Dataset& data, const std::vector<int>& fold_of_trial, int fold) {
  const int n = data.n_trials();
  const int k = data.n_weights();
  if (static_cast<int>(fold_of_trial.size()) != n)
    throw DataError("xval folds: " + std::to_string(fold_of_trial.size()) +
                    " fold ids for N = " + std::to_string(n) + " trials");
  FoldData out;
  out.train_index.reserve(static_cast<size_t>(n));
  for (int t = 0; t < n; ++t)
    if (fold_of_trial[static_cast<size_t>(t)] != fold) out.train_index.push_back(t);
  const int n_train = static_cast<int>(out.train_index.size());

  out.train.y.resize(n_train);
  out.train.g.resize(n_train, k);
  for (int j = 0; j < n_train; ++j) {
    const int t = out.train_index[static_cast<size_t>(j)];
    out.train.y[j] = data.y[t];
    out.train.g.row(j) = data.g.row(t);
  }
  out.train.weight_names = data.weight_names;

  // Gaps: held-out trials since the previous training trial (or since the start).
  out.layout.gap.assign(static_cast<size_t>(n_train), 0);
  out.layout.session_start.assign(static_cast<size_t>(n_train), 0);
  {
    int j = 0, run = 0;
    for (int t = 0; t < n; ++t) {
      if (fold_of_trial[static_cast<size_t>(t)] == fold) {
        ++run;
      } else {
        out.layout.gap[static_cast<size_t>(j++)] = run;
        run = 0;
      }
    }
  }

  // Session starts cumsum(dayLength)[:-1], each moved to the first training trial at or after it.
  if (!data.day_length.empty()) {
    int64_t start = 0;
    int j = 0;  // position of the first training trial at index >= start
    for (size_t s = 0; s + 1 < data.day_length.size(); ++s) {
      start += data.day_length[s];
      if (start <= 0 || start >= n) continue;
      while (j < n_train && out.train_index[static_cast<size_t>(j)] < start) ++j;
      if (j < n_train && j > 0) out.layout.session_start[static_cast<size_t>(j)] = 1;
    }
    int64_t last = 0;
    for (int jj = 1; jj < n_train; ++jj) {
      if (out.layout.session_start[static_cast<size_t>(jj)]) {
        out.train.day_length.push_back(jj - last);
        last = jj;
      }
    }
    out.train.day_length.push_back(n_train - last);
  }
  return out;
}

void predict_held_out(const Dataset& data, const std::vector<int>& fold_of_trial, int fold,
                      const FoldData& fold_data, const Eigen::Ref<const RowMatrix>& w_train,
                      Eigen::Ref<Eigen::VectorXd> p_left) {
  const int n_train = static_cast<int>(fold_data.train_index.size());
  if (w_train.rows() != n_train || w_train.cols() != data.n_weights() || n_train == 0)
    throw InternalError("predict_held_out: weights are " + std::to_string(w_train.rows()) + "x" +
                        std::to_string(w_train.cols()) + ", expected " + std::to_string(n_train) +
                        "x" + std::to_string(data.n_weights()));
  if (p_left.size() != data.n_trials())
    throw InternalError("predict_held_out: p_left has the wrong length");
  for_each_held_out(fold_of_trial, fold, n_train,
                    [&](int t, int j) { p_left[t] = p_zero(data.g.row(t).dot(w_train.row(j))); });
}

// ---------------------------------------------------------------------------------------------
// Cross-validation

XvalResult cross_validate(const Dataset& data, const std::vector<int>& fold_of_trial, int folds,
                          const Hyper& init, const HyperParam& param, const FitOptions& options,
                          const RowMatrix* fixed_fold_log2_hyper) {
  const int n = data.n_trials();
  check_fold_array(fold_of_trial, n, folds);
  const int n_param = param.size(init);
  if (fixed_fold_log2_hyper &&
      (fixed_fold_log2_hyper->rows() != folds || fixed_fold_log2_hyper->cols() != n_param))
    throw DataError("xval fold hypers: shape (" + std::to_string(fixed_fold_log2_hyper->rows()) +
                    ", " + std::to_string(fixed_fold_log2_hyper->cols()) + "), expected (" +
                    std::to_string(folds) + ", " + std::to_string(n_param) + ")");

  // Fold data first (cheap, sequential): a one-class training set is bad data, not a fit failure.
  std::vector<FoldData> fold_data;
  fold_data.reserve(static_cast<size_t>(folds));
  for (int f = 0; f < folds; ++f) {
    fold_data.push_back(make_fold(data, fold_of_trial, f));
    const Eigen::VectorXd& y = fold_data.back().train.y;
    const double ones = y.sum();
    if (ones == 0 || ones == static_cast<double>(y.size()))
      throw DataError("/y: " + fold_label(f) + " training set has only class " +
                      std::to_string(ones == 0 ? 0 : 1) + " (" + std::to_string(y.size()) +
                      " trials)");
  }

  FitOptions fold_options = options;
  fold_options.w_std = false;
  fold_options.hyp_std = false;
  fold_options.threads = 1;  // threads go to folds; each fit is sequential

  struct FoldFit {
    RowMatrix w;
    Eigen::VectorXd log2_hyper;
    double log_evidence = 0;
    bool converged = true;
    std::string message;
    std::vector<std::string> warnings;
  };
  std::vector<FoldFit> fits(static_cast<size_t>(folds));
  std::vector<std::exception_ptr> errors(static_cast<size_t>(folds));

  auto fit_fold = [&](int f) {
    const FoldData& fd = fold_data[static_cast<size_t>(f)];
    FoldFit& out = fits[static_cast<size_t>(f)];
    if (fixed_fold_log2_hyper) {
      const Eigen::VectorXd x = fixed_fold_log2_hyper->row(f).transpose();
      const Hyper hyper = param.from_log2(init, x);
      MapResult map = map_fit(fd.train, fd.layout, hyper, fold_options.map);
      out.w = std::move(map.w);
      out.log2_hyper = x;
      out.log_evidence = map.log_evidence;
      out.converged = map.converged;
      out.message = map.message;
    } else {
      FitResult fit = fit_hyper(fd.train, fd.layout, init, param, fold_options);
      out.w = std::move(fit.map.w);
      out.log2_hyper = fit.log2_hyper;
      out.log_evidence = fit.map.log_evidence;
      out.converged = fit.converged;
      out.message = fit.message;
      out.warnings = fit.warnings;
    }
  };

  const int threads = std::max(1, std::min(options.threads, folds));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int f = 0; f < folds; ++f) {
    try {
      fit_fold(f);
    } catch (...) {
      errors[static_cast<size_t>(f)] = std::current_exception();
    }
  }
  // Report the first failing fold (in fold order, whatever the thread count), naming it.
  for (int f = 0; f < folds; ++f) {
    if (!errors[static_cast<size_t>(f)]) continue;
    try {
      std::rethrow_exception(errors[static_cast<size_t>(f)]);
    } catch (const NumericalError& e) {
      throw NumericalError(fold_label(f) + ": " + e.what());
    } catch (const DataError& e) {
      throw DataError(fold_label(f) + ": " + e.what());
    }
  }

  XvalResult result;
  result.folds = folds;
  result.p_left = Eigen::VectorXd::Constant(n, std::nan(""));
  result.fold_logli = Eigen::VectorXd::Zero(folds);
  result.fold_log_evidence.resize(folds);
  result.fold_log2_hyper.resize(folds, n_param);
  result.fold_status.resize(static_cast<size_t>(folds));
  for (int f = 0; f < folds; ++f) {
    const FoldData& fd = fold_data[static_cast<size_t>(f)];
    const FoldFit& fit = fits[static_cast<size_t>(f)];
    const int n_train = static_cast<int>(fd.train_index.size());
    double logli = 0;
    for_each_held_out(fold_of_trial, f, n_train, [&](int t, int j) {
      const double eta = data.g.row(t).dot(fit.w.row(j));
      result.p_left[t] = p_zero(eta);
      logli += data.y[t] * eta - softplus(eta);
    });
    result.fold_logli[f] = logli;
    result.logli += logli;
    result.fold_log_evidence[f] = fit.log_evidence;
    if (n_param > 0) result.fold_log2_hyper.row(f) = fit.log2_hyper.transpose();
    result.fold_status[static_cast<size_t>(f)] = fit.converged ? "ok" : "not_converged";
    if (!fit.converged)
      result.messages.push_back(fold_label(f) + ": " +
                                (fit.message.empty() ? "not converged" : fit.message));
    for (const auto& w : fit.warnings) result.messages.push_back(fold_label(f) + ": " + w);
  }
  return result;
}

}  // namespace effinfer::psytrack
