// Central-difference gradient checker for lib/nn layers (spec quantize-climbq 3.1): in double,
// h = 1e-6, against Layer::backward for the scalar L = sum(r * y) with a random upstream
// gradient r ~ N(0, 1). Checks dL/dx and every non-frozen parameter gradient.
#pragma once

#include <cstdint>
#include <string>

#include "nn/layer.hpp"

namespace effinfer::nn {

struct GradCheckResult {
  // max over checked entries of |analytic - numeric| / max(1, |analytic|, |numeric|): relative
  // for gradients of magnitude >= 1, absolute below (round-off of L/h would dominate there).
  double max_rel_error = 0;
  std::string worst;    // "x[17]" or "<param name>[i]" of the largest error
  int64_t checked = 0;  // number of entries compared
};

// The layer runs with pass.training as given (set it for BatchNorm's batch statistics); x is
// perturbed in a copy. Parameter gradients of the layer are zeroed and left holding dL/dtheta.
GradCheckResult grad_check(Layer<double>& layer, const Tensor<double>& x, Pass& pass,
                           uint64_t seed = 1, double h = 1e-6);

}  // namespace effinfer::nn
