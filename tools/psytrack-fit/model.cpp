// PsyTrack model terms (spec 2.1, 2.2): trial layout, hyperparameters, prior variances,
// log-likelihood and log prior. Formulas from psytrack v2.0.2 getMAP.py `getPosteriorTerms` and
// helperFunctions.py `make_invSigma`.
#include "model.hpp"

#include <cmath>
#include <string>

#include "core/error.hpp"

namespace effinfer::psytrack {

namespace {

// log(1 + e^x) without overflow or loss of precision for large |x|.
inline double softplus(double x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

inline double logistic(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

void check_shapes(const Dataset& data, const Eigen::Ref<const RowMatrix>& w) {
  if (w.rows() != data.g.rows() || w.cols() != data.g.cols())
    throw InternalError("psytrack: weight matrix is " + std::to_string(w.rows()) + "x" +
                        std::to_string(w.cols()) + ", expected " + std::to_string(data.g.rows()) +
                        "x" + std::to_string(data.g.cols()));
}

}  // namespace

bool TrialLayout::has_sessions() const {
  for (uint8_t s : session_start)
    if (s) return true;
  return false;
}

TrialLayout TrialLayout::from_day_length(int n_trials, const std::vector<int64_t>& day_length) {
  TrialLayout layout;
  layout.session_start.assign(static_cast<size_t>(n_trials), 0);
  if (day_length.empty()) return layout;
  int64_t start = 0;
  for (size_t s = 0; s < day_length.size(); ++s) {
    if (day_length[s] <= 0)
      throw DataError("/dayLength: entry " + std::to_string(s) + " is " +
                      std::to_string(day_length[s]) + ", expected > 0");
    if (s > 0 && start < n_trials) layout.session_start[static_cast<size_t>(start)] = 1;
    start += day_length[s];
  }
  if (start != n_trials)
    throw DataError("/dayLength: sum " + std::to_string(start) + " != number of trials " +
                    std::to_string(n_trials));
  return layout;
}

const char* hyper_name(HyperKind kind) {
  switch (kind) {
    case HyperKind::kSigma:
      return "sigma";
    case HyperKind::kSigInit:
      return "sigInit";
    case HyperKind::kSigDay:
      return "sigDay";
  }
  return "?";
}

HyperValue& Hyper::get(HyperKind kind) {
  switch (kind) {
    case HyperKind::kSigInit:
      return sig_init;
    case HyperKind::kSigDay:
      return sig_day;
    default:
      return sigma;
  }
}

const HyperValue& Hyper::get(HyperKind kind) const { return const_cast<Hyper*>(this)->get(kind); }

namespace {

const HyperValue& free_value(const Hyper& hyper, HyperKind kind) {
  const HyperValue& h = hyper.get(kind);
  if (!h.present())
    throw ConfigError(std::string("opt: hyperparameter ") + hyper_name(kind) +
                      " is in opt but has no value");
  return h;
}

}  // namespace

int HyperParam::size(const Hyper& hyper) const {
  int n = 0;
  for (HyperKind kind : opt) {
    const HyperValue& h = free_value(hyper, kind);
    n += h.shared ? 1 : static_cast<int>(h.value.size());
  }
  return n;
}

Eigen::VectorXd HyperParam::to_log2(const Hyper& hyper) const {
  Eigen::VectorXd x(size(hyper));
  int i = 0;
  for (HyperKind kind : opt) {
    const HyperValue& h = hyper.get(kind);
    if (h.shared) {
      x[i++] = std::log2(h.value[0]);
    } else {
      for (Eigen::Index k = 0; k < h.value.size(); ++k) x[i++] = std::log2(h.value[k]);
    }
  }
  return x;
}

Hyper HyperParam::from_log2(const Hyper& base, const Eigen::Ref<const Eigen::VectorXd>& x) const {
  if (x.size() != size(base))
    throw InternalError("psytrack: " + std::to_string(x.size()) + " log2 hypers given, expected " +
                        std::to_string(size(base)));
  Hyper out = base;
  int i = 0;
  for (HyperKind kind : opt) {
    HyperValue& h = out.get(kind);
    if (h.shared) {
      h.value.setConstant(std::exp2(x[i++]));
    } else {
      for (Eigen::Index k = 0; k < h.value.size(); ++k) h.value[k] = std::exp2(x[i++]);
    }
  }
  return out;
}

std::vector<std::string> HyperParam::names(const Hyper& hyper,
                                           const std::vector<std::string>& weight_names) const {
  std::vector<std::string> out;
  for (HyperKind kind : opt) {
    const HyperValue& h = free_value(hyper, kind);
    if (h.shared) {
      out.emplace_back(hyper_name(kind));
    } else {
      for (Eigen::Index k = 0; k < h.value.size(); ++k) {
        const std::string label = static_cast<size_t>(k) < weight_names.size()
                                      ? weight_names[static_cast<size_t>(k)]
                                      : std::to_string(k);
        out.push_back(std::string(hyper_name(kind)) + "[" + label + "]");
      }
    }
  }
  return out;
}

RowMatrix prior_variance(const Hyper& hyper, const TrialLayout& layout, int n_trials,
                         int n_weights) {
  auto check = [&](const HyperValue& h, const char* name) {
    if (h.present() && h.value.size() != n_weights)
      throw InternalError(std::string("psytrack: hyper ") + name + " has " +
                          std::to_string(h.value.size()) +
                          " values, expected K = " + std::to_string(n_weights));
  };
  if (!hyper.sigma.present()) throw ConfigError("hyper.sigma: a value is required");
  check(hyper.sigma, "sigma");
  check(hyper.sig_init, "sigInit");
  check(hyper.sig_day, "sigDay");
  const Eigen::ArrayXd var = hyper.sigma.value.array().square();
  // Absent sigInit / sigDay fall back to sigma (psytrack make_invSigma).
  const Eigen::ArrayXd var_init =
      hyper.sig_init.present() ? Eigen::ArrayXd(hyper.sig_init.value.array().square()) : var;
  const Eigen::ArrayXd var_day =
      hyper.sig_day.present() ? Eigen::ArrayXd(hyper.sig_day.value.array().square()) : var;
  const bool sessions = !layout.session_start.empty();
  const bool gaps = !layout.gap.empty();
  if (sessions && static_cast<int>(layout.session_start.size()) != n_trials)
    throw InternalError("psytrack: session_start length != N");
  if (gaps && static_cast<int>(layout.gap.size()) != n_trials)
    throw InternalError("psytrack: gap length != N");

  RowMatrix v(n_trials, n_weights);
  for (int t = 0; t < n_trials; ++t) {
    const Eigen::ArrayXd& base =
        t == 0 ? var_init : (sessions && layout.session_start[t] ? var_day : var);
    if (gaps && layout.gap[t] != 0) {
      v.row(t) = (base + static_cast<double>(layout.gap[t]) * var).matrix().transpose();
    } else {
      v.row(t) = base.matrix().transpose();
    }
  }
  return v;
}

double log_likelihood(const Dataset& data, const Eigen::Ref<const RowMatrix>& w) {
  check_shapes(data, w);
  const int n = data.n_trials();
  double sum = 0;
  for (int t = 0; t < n; ++t) {
    const double eta = data.g.row(t).dot(w.row(t));
    sum += data.y[t] * eta - softplus(eta);
  }
  return sum;
}

double log_prior(const Eigen::Ref<const RowMatrix>& w, const Eigen::Ref<const RowMatrix>& v) {
  const Eigen::Index n = w.rows(), k = w.cols();
  double sum = 0;
  for (Eigen::Index t = 0; t < n; ++t) {
    for (Eigen::Index j = 0; j < k; ++j) {
      const double eps = t == 0 ? w(0, j) : w(t, j) - w(t - 1, j);
      const double var = v(t, j);
      sum -= std::log(var) + eps * eps / var;
    }
  }
  return 0.5 * sum;
}

Eigen::VectorXd predict_p(const Dataset& data, const Eigen::Ref<const RowMatrix>& w) {
  check_shapes(data, w);
  const int n = data.n_trials();
  Eigen::VectorXd p(n);
  for (int t = 0; t < n; ++t) p[t] = logistic(data.g.row(t).dot(w.row(t)));
  return p;
}

}  // namespace effinfer::psytrack
