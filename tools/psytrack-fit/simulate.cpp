// Synthetic learners (spec 2.10) after psytrack v2.0.2 runSim.py `generateSim`, with the project's
// seeded RNG. Every random quantity has its own stream (seed, stream id), so the result does not
// depend on the order of evaluation, and giving a hyper explicitly does not shift the other draws
// (the default-hyper draws are always consumed from their own stream).
#include "simulate.hpp"

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace effinfer::psytrack {

namespace {

// Stream ids of effinfer::Rng for the pieces of one simulation.
constexpr uint64_t kStreamHyper = 0;   // default sigma / sigDay exponents
constexpr uint64_t kStreamInputs = 1;  // X
constexpr uint64_t kStreamSteps = 2;   // random-walk steps epsilon
constexpr uint64_t kStreamChoice = 3;  // + r: uniforms of realisation r

Eigen::VectorXd resolve(const Eigen::VectorXd& given, const Eigen::VectorXd& fallback, int k,
                        const char* key) {
  if (given.size() == 0) return fallback;
  Eigen::VectorXd out;
  if (given.size() == 1)
    out = Eigen::VectorXd::Constant(k, given[0]);
  else if (given.size() == k)
    out = given;
  else
    throw ConfigError(std::string("simulate.") + key + ": " + std::to_string(given.size()) +
                      " values, expected 1 or K = " + std::to_string(k));
  for (int i = 0; i < k; ++i)
    if (!std::isfinite(out[i]) || out[i] <= 0)
      throw ConfigError(std::string("simulate.") + key + ": value " + std::to_string(out[i]) +
                        ", expected finite and > 0");
  return out;
}

// Folds the walk of one weight into [-b, b] as psytrack does: while some |w_t| > b, reflect the
// tail from the first such t, w_{t:} <- +-2b - w_{t:}. Done in one pass by carrying the composed
// reflection (w -> c + s*w) along the series.
void reflect(RowMatrix& w, int k, double boundary) {
  double c = 0, s = 1;
  for (Eigen::Index t = 0; t < w.rows(); ++t) {
    double v = c + s * w(t, k);
    while (v > boundary || v < -boundary) {
      const double mirror = v > boundary ? 2 * boundary : -2 * boundary;
      c = mirror - c;
      s = -s;
      v = mirror - v;
    }
    w(t, k) = v;
  }
}

}  // namespace

Simulation simulate(const SimulateOptions& options) {
  const int k = options.n_weights;
  const int n = options.n_trials;
  if (k < 1) throw ConfigError("simulate.K: " + std::to_string(k) + ", expected >= 1");
  if (n < 1) throw ConfigError("simulate.N: " + std::to_string(n) + ", expected >= 1");
  if (options.iterations < 1)
    throw ConfigError("simulate.iterations: " + std::to_string(options.iterations) +
                      ", expected >= 1");
  if (std::isnan(options.boundary) || options.boundary <= 0)
    throw ConfigError("simulate.boundary: " + std::to_string(options.boundary) + ", expected > 0");

  Simulation sim;
  std::vector<uint8_t> session_start(static_cast<size_t>(n), 0);
  bool has_sessions = false;
  if (!options.day_length.empty()) {
    int64_t start = 0;
    for (size_t s = 0; s < options.day_length.size(); ++s) {
      if (options.day_length[s] <= 0)
        throw ConfigError("simulate.session_length: entry " + std::to_string(s) + " is " +
                          std::to_string(options.day_length[s]) + ", expected > 0");
      if (s > 0 && start < n) {
        session_start[static_cast<size_t>(start)] = 1;
        has_sessions = true;
      }
      start += options.day_length[s];
    }
    if (start != n)
      throw ConfigError("simulate.session_length: sessions sum to " + std::to_string(start) +
                        ", expected N = " + std::to_string(n));
    sim.day_length = options.day_length;
  }

  // Default hypers: both sets of draws are always made (generateSim draws sigma first).
  Rng hyper_rng(options.seed, kStreamHyper);
  Eigen::VectorXd sigma_default(k), sig_day_default(k);
  for (int i = 0; i < k; ++i)
    sigma_default[i] = std::ldexp(1.0, -4 - static_cast<int>(hyper_rng.uniform_int(5)));
  for (int i = 0; i < k; ++i)
    sig_day_default[i] = std::ldexp(1.0, 1 - static_cast<int>(hyper_rng.uniform_int(3)));
  sim.sigma = resolve(options.sigma, sigma_default, k, "sigma");
  sim.sig_init = resolve(options.sig_init, Eigen::VectorXd::Constant(k, 4.0), k, "sigInit");
  const Eigen::VectorXd sig_day = resolve(options.sig_day, sig_day_default, k, "sigDay");
  if (has_sessions) sim.sig_day = sig_day;

  Rng input_rng(options.seed, kStreamInputs);
  sim.x.resize(n, k);
  for (int t = 0; t < n; ++t)
    for (int i = 0; i < k; ++i) sim.x(t, i) = input_rng.normal();

  // W = cumsum(eps): eps_0 ~ N(0, sigInit^2), N(0, sigDay^2) at session starts, else N(0, sigma^2).
  Rng step_rng(options.seed, kStreamSteps);
  sim.w_true.resize(n, k);
  for (int t = 0; t < n; ++t) {
    const Eigen::VectorXd& scale =
        t == 0 ? sim.sig_init : (session_start[static_cast<size_t>(t)] ? sig_day : sim.sigma);
    for (int i = 0; i < k; ++i) {
      const double eps = scale[i] * step_rng.normal();
      sim.w_true(t, i) = t == 0 ? eps : sim.w_true(t - 1, i) + eps;
    }
  }
  if (std::isfinite(options.boundary))
    for (int i = 0; i < k; ++i) reflect(sim.w_true, i, options.boundary);

  Eigen::VectorXd p_right(n);
  for (int t = 0; t < n; ++t) {
    const double eta = sim.x.row(t).dot(sim.w_true.row(t));
    p_right[t] = 1.0 / (1.0 + std::exp(-eta));
  }
  sim.y_all.resize(options.iterations, n);
  for (int r = 0; r < options.iterations; ++r) {
    Rng choice_rng(options.seed, kStreamChoice + static_cast<uint64_t>(r));
    for (int t = 0; t < n; ++t) sim.y_all(r, t) = p_right[t] > choice_rng.uniform() ? 1 : 0;
  }
  return sim;
}

}  // namespace effinfer::psytrack
