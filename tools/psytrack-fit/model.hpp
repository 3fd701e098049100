// PsyTrack model terms: data layout, hyperparameters, prior variances, log-likelihood and prior.
// Roy et al., NeurIPS 2018 / Neuron 2021; psytrack v2.0.2 getMAP.py, helperFunctions.py.
// Weights are stored trial-major: W is (N, K) row-major, entry (t, k) = weight k on trial t, so
// the flat index t*K + k is the ordering of the block-tridiagonal Hessian (spec 2.2).
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <string>
#include <vector>

namespace effinfer::psytrack {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// One subject after weight selection and trim.
struct Dataset {
  Eigen::VectorXd y;                      // (N) choices in {0, 1}
  RowMatrix g;                            // (N, K) design rows g_t (alphabetical weight layout)
  std::vector<int64_t> day_length;        // sessions after trim; empty = no sessions
  std::vector<std::string> weight_names;  // K labels
  int n_trials() const { return static_cast<int>(y.size()); }
  int n_weights() const { return static_cast<int>(g.cols()); }
};

// Where the random walk takes non-ordinary steps. session_start[t] = 1 for t in
// cumsum(dayLength)[:-1] (never t = 0). gap[t] = m_t, the number of held-out trials directly
// before training trial t (cross-validation only; empty = all zero).
struct TrialLayout {
  std::vector<uint8_t> session_start;
  std::vector<int> gap;
  bool has_sessions() const;
  static TrialLayout from_day_length(int n_trials, const std::vector<int64_t>& day_length);
};

enum class HyperKind { kSigma, kSigInit, kSigDay };
const char* hyper_name(HyperKind kind);  // "sigma", "sigInit", "sigDay"

// One hyperparameter: K values, or absent (size 0). shared = one free parameter for all weights
// (psytrack optimises a scalar hyper as one value).
struct HyperValue {
  Eigen::VectorXd value;
  bool shared = false;
  bool present() const { return value.size() > 0; }
};

// sigInit absent -> sigma_init = sigma; sigDay absent -> sigma_day = sigma (sessions no effect).
struct Hyper {
  HyperValue sigma, sig_init, sig_day;
  HyperValue& get(HyperKind kind);
  const HyperValue& get(HyperKind kind) const;
};

// The free parameters: log2 of the hypers in `opt`, flattened in opt order, 1 entry when shared
// else K entries (weight order).
struct HyperParam {
  std::vector<HyperKind> opt;
  int size(const Hyper& hyper) const;
  Eigen::VectorXd to_log2(const Hyper& hyper) const;
  Hyper from_log2(const Hyper& base, const Eigen::Ref<const Eigen::VectorXd>& x) const;
  // "sigma" when shared, else "sigma[<weight name>]" (spec 3.4 hyper_names).
  std::vector<std::string> names(const Hyper& hyper,
                                 const std::vector<std::string>& weight_names) const;
};

// v_{t,k} of spec 2.2: sigma^2 on ordinary trials, sigDay^2 at session starts, sigInit^2 at t = 0,
// plus gap[t] * sigma^2. Returns (N, K) row-major.
RowMatrix prior_variance(const Hyper& hyper, const TrialLayout& layout, int n_trials, int n_weights);

// Log-likelihood sum_t [y_t eta_t - softplus(eta_t)] with eta_t = g_t . w_t (stable softplus).
double log_likelihood(const Dataset& data, const Eigen::Ref<const RowMatrix>& w);
// Log prior 1/2 sum [-log v - eps^2 / v], eps = first difference of W along t (eps_0 = w_0).
double log_prior(const Eigen::Ref<const RowMatrix>& w, const Eigen::Ref<const RowMatrix>& v);
// p_t = sigma(eta_t) for all trials.
Eigen::VectorXd predict_p(const Dataset& data, const Eigen::Ref<const RowMatrix>& w);

}  // namespace effinfer::psytrack
