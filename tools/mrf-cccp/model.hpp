// A continuous MRF with polynomial factors (spec 2.1, 3.3): E(x) = sum_r g_r(A_r x_r), factors
// grouped in families that share an exponent table. The in-memory form every part of mrf-cccp
// uses (model_io reads and writes it; energy evaluates it; decompose splits its families).
#pragma once

#include <string>
#include <vector>

#include "poly.hpp"

namespace effinfer::mrf {

using VarTable = Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct FactorFamily {
  std::string name;
  VarTable vars;            // F x k: the variables of each factor (distinct within a row)
  ExponentTable exponents;  // M x m: monomials in the local coordinates u = A x_r
  RowMatrixXd coeffs;       // F x M, or 1 x M when shared by every factor of the family
  // Local linear map A (m x k): empty = identity (m = k); one map (m rows, k cols) shared, or per
  // factor stacked as (F*m) x k with factor r's map in rows [r*m, (r+1)*m).
  RowMatrixXd linmap;
  bool linmap_per_factor = false;

  int num_factors() const { return static_cast<int>(vars.rows()); }
  int arity() const { return static_cast<int>(vars.cols()); }      // k
  int local_dim() const { return static_cast<int>(exponents.cols()); }  // m
  int num_terms() const { return static_cast<int>(exponents.rows()); }  // M
  bool shared_coeffs() const { return coeffs.rows() == 1 && num_factors() != 1; }
  // Row of coefficients of factor r (the shared row when coefficients are shared).
  Eigen::Ref<const Eigen::RowVectorXd> coeff_row(int r) const {
    return coeffs.row(coeffs.rows() == 1 ? 0 : r);
  }
};

// Images of the image applications (spec 3.3 "/meta"): all H x W, row-major; empty when absent.
struct ImageMeta {
  int64_t height = 0, width = 0;  // /meta/shape
  RowMatrixXd observed;           // denoise: noisy image in [0,1]; sfs: rendered shading
  RowMatrixXd clean;              // denoise: clean image in [0,1]
  RowMatrixXd shading;            // sfs: shading rendered from the true depth (= observed)
  Eigen::Matrix<uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> valid;  // sfs: 1 = valid
  Eigen::VectorXd light;          // sfs: light (l1, l2, 1)
  bool empty() const { return height == 0; }
};

struct Model {
  int64_t num_vars = 0;
  std::string app = "generic";  // generic | sfs | denoise | recon3d
  std::vector<FactorFamily> families;
  Eigen::VectorXd x0;     // empty = none
  Eigen::VectorXd truth;  // empty = none
  ImageMeta meta;         // image applications only
};

}  // namespace effinfer::mrf
