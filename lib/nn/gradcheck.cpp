// Central differences (f(t + h) - f(t - h)) / 2h, truncation O(h^2).
#include "nn/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/rng.hpp"

namespace effinfer::nn {

namespace {

double objective(Layer<double>& layer, const Tensor<double>& x, const Tensor<double>& r,
                 Tensor<double>& y, Pass& pass) {
  layer.forward(x, y, pass);
  return y.vec().dot(r.vec());
}

void compare(double analytic, double numeric, const std::string& where, GradCheckResult& out) {
  const double err =
      std::abs(analytic - numeric) / std::max({1.0, std::abs(analytic), std::abs(numeric)});
  ++out.checked;
  if (err > out.max_rel_error || std::isnan(err)) {
    out.max_rel_error = std::isnan(err) ? INFINITY : err;
    out.worst = where;
  }
}

}  // namespace

GradCheckResult grad_check(Layer<double>& layer, const Tensor<double>& x, Pass& pass, uint64_t seed,
                           double h) {
  GradCheckResult out;
  Tensor<double> y, dx;
  layer.forward(x, y, pass);
  Tensor<double> r(y.shape());
  Rng rng(seed, 0x67726164);  // stream "grad"
  for (int64_t i = 0; i < r.size(); ++i) r[i] = rng.normal();
  layer.zero_grad();
  layer.backward(r, &dx, pass);

  Tensor<double> xp = x;
  for (int64_t i = 0; i < x.size(); ++i) {
    xp[i] = x[i] + h;
    const double fp = objective(layer, xp, r, y, pass);
    xp[i] = x[i] - h;
    const double fm = objective(layer, xp, r, y, pass);
    xp[i] = x[i];
    compare(dx[i], (fp - fm) / (2 * h), "x[" + std::to_string(i) + "]", out);
  }
  for (auto& p : layer.params()) {
    if (p.frozen || !p.grad) continue;
    Tensor<double>& v = *p.value;
    for (int64_t i = 0; i < v.size(); ++i) {
      const double keep = v[i];
      v[i] = keep + h;
      const double fp = objective(layer, x, r, y, pass);
      v[i] = keep - h;
      const double fm = objective(layer, x, r, y, pass);
      v[i] = keep;
      compare((*p.grad)[i], (fp - fm) / (2 * h), p.name + "[" + std::to_string(i) + "]", out);
    }
  }
  return out;
}

}  // namespace effinfer::nn
