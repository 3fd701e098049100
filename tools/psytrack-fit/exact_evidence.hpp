// Exact Laplace log-evidence as a function of the log2 hyperparameters and its analytic gradient
// by the implicit-function theorem (spec 2.7); fit_exact_mode (fit.hpp) maximises it.
#pragma once

#include "fit.hpp"

namespace effinfer::psytrack {

struct EvidenceGradient {
  double log_evidence = 0;
  Eigen::VectorXd gradient;  // dE/dx, x = log2 hypers (HyperParam order)
  MapResult map;
};

// Exact MAP at param.from_log2(base, x) (warm start from w_start if given), then dE/dx.
EvidenceGradient exact_evidence_gradient(const Dataset& data, const TrialLayout& layout,
                                         const Hyper& base, const HyperParam& param,
                                         const Eigen::Ref<const Eigen::VectorXd>& x,
                                         const MapOptions& options,
                                         const RowMatrix* w_start = nullptr);

}  // namespace effinfer::psytrack
