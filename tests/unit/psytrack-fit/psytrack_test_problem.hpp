// Small random PsyTrack problems for the unit tests: inputs, choices drawn from a random-walk
// weight trajectory, sessions and cross-validation gaps, per-weight hyperparameters.
#pragma once

#include <cmath>

#include "core/rng.hpp"
#include "model.hpp"

namespace effinfer::psytrack::test {

struct Problem {
  Dataset data;
  TrialLayout layout;
  Hyper hyper;
  RowMatrix w;  // a weight trajectory (the one that generated y)
};

// N trials, K weights; with_sessions: sessions of session_length trials; with_gaps: m_t in
// {1, 2, 3} on about a quarter of the trials (including t = 0 and the first session start).
inline Problem make_problem(int n, int k, uint64_t seed, bool with_sessions, bool with_gaps,
                            int session_length = 40) {
  Rng rng(seed);
  Problem p;
  p.hyper.sigma.value.resize(k);
  p.hyper.sig_init.value.resize(k);
  p.hyper.sig_day.value.resize(k);
  for (int j = 0; j < k; ++j) {
    p.hyper.sigma.value[j] = std::exp2(-2.0 - 0.7 * (j % 4));
    p.hyper.sig_init.value[j] = 1.0 + 0.5 * (j % 3);
    p.hyper.sig_day.value[j] = std::exp2(-1.0 - 0.5 * (j % 4));
  }
  if (with_sessions) {
    for (int left = n; left > 0; left -= session_length)
      p.data.day_length.push_back(std::min(left, session_length));
  }
  p.layout = TrialLayout::from_day_length(n, p.data.day_length);
  if (with_gaps) {
    p.layout.gap.assign(n, 0);
    for (int t = 0; t < n; ++t)
      if (t == 0 || rng.uniform() < 0.25)
        p.layout.gap[t] = 1 + static_cast<int>(rng.uniform_int(3));
    if (with_sessions && n > session_length) p.layout.gap[session_length] = 2;
  }
  p.data.g.resize(n, k);
  p.data.y.resize(n);
  p.w.resize(n, k);
  const RowMatrix v = prior_variance(p.hyper, p.layout, n, k);
  for (int t = 0; t < n; ++t) {
    for (int j = 0; j < k; ++j) {
      p.w(t, j) = (t == 0 ? 0.0 : p.w(t - 1, j)) + std::sqrt(v(t, j)) * rng.normal();
      p.data.g(t, j) = rng.normal();
    }
    const double eta = p.data.g.row(t).dot(p.w.row(t));
    p.data.y[t] = rng.uniform() < 1.0 / (1.0 + std::exp(-eta)) ? 1.0 : 0.0;
  }
  for (int j = 0; j < k; ++j) p.data.weight_names.push_back("x[" + std::to_string(j) + "]");
  return p;
}

}  // namespace effinfer::psytrack::test
