// Shape from shading (spec mrf-cccp 2.6(b); the authors' `generateGraph.m`; Salzmann CVPR'13
// Eq. 12). Depth grid H x W, variable i*W + j. For i < H-1, j < W-1 one triangle on
// (z_ij, z_{i+1,j}, z_{i,j+1}) with local coordinates p = z_ij - z_{i+1,j}, q = z_ij - z_{i,j+1}
// (linmap [[1,-1,0],[1,0,-1]]) and two factors on the same three depths:
//
//   shading  ((1 + p^2 + q^2) I_r^2 - (l1 p + l2 q + 1)^2)^2      (family "shading", m = 2, d = 4)
//   smooth   lambda (z_ij - 2 z_{i+1,j} + z_{i,j+1})^2              (family "smooth", m = 1, d = 2)
//
// with the light rescaled to l3 = 1 and I_r rendered from the true depth,
// I_r = max(0, l1 p + l2 q + 1) / sqrt(1 + p^2 + q^2). Surfaces: the scikit-image motorcycle
// disparity (block means over ds x ds blocks, invalid blocks filled from the nearest valid block)
// or MATLAB's peaks. With mask_invalid every factor touching an invalid block is dropped.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

#include "model.hpp"
#include "poly.hpp"

namespace effinfer::mrf {

inline constexpr const char* kSfsShadingFamily = "shading";
inline constexpr const char* kSfsSmoothFamily = "smooth";
inline constexpr uint64_t kSfsInitStream = 0x5f5;  // Rng stream of the initial noise

using MaskMatrix = Eigen::Matrix<uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Spec 3.4 keys sfs.*.
struct SfsOptions {
  std::string source = "motorcycle";  // motorcycle | peaks
  std::string motorcycle_path = "/usr/lib/python3/dist-packages/skimage/data/motorcycle_disp.npz";
  int downsample = 4;
  double height_scale = 1.0;  // multiplies either surface
  std::vector<int> crop;      // empty or {row, col, h, w} on the grid (block grid for motorcycle)
  int size = 64;              // peaks n
  Eigen::Vector3d light{0, 0, 1};
  double smooth_lambda = 1e-6;
  bool mask_invalid = true;
  double init_noise = 1.0;
};

// ConfigError (exit 78) naming the key "sfs.<key>" for an unknown source, downsample < 1,
// size < 3, a light with l3 <= 0 or a non-finite component, a non-finite height_scale,
// smooth_lambda < 0 or non-finite, init_noise < 0 or non-finite, or a crop that is not
// {row >= 0, col >= 0, h >= 2, w >= 2}. (A crop beyond the grid is reported by make_sfs_model.)
void validate_sfs_options(const SfsOptions& options);

// The light rescaled to l3 = 1 (spec 2.6(b)); l3 must be > 0.
Eigen::Vector3d sfs_rescaled_light(const Eigen::Vector3d& light);

// Per-triangle shading of a depth map (H x W, H, W >= 2): (H-1) x (W-1), entry (i, j) the
// triangle (z_ij, z_{i+1,j}, z_{i,j+1}); `light` is rescaled to l3 = 1 here.
RowMatrixXd render_shading(const RowMatrixXd& depth, const Eigen::Vector3d& light);

// Motorcycle disparity (member arr_0.npy of the NPZ, 2-D float) as a height field on the
// ds x ds block grid (trailing rows / columns dropped): height = height_scale * mean / ds over the
// finite values of a block; blocks without a finite value are invalid (valid(i,j) = 0) and take
// the height of the nearest valid block (Euclidean on block indices, ties -> lower linear index).
// InputError (66) when the file is missing (hint: install python3-skimage); DataError (65) for a
// wrong dtype or rank, no valid block, or a grid smaller than 2 x 2.
RowMatrixXd motorcycle_height_field(const std::string& path, int downsample, double height_scale,
                                    MaskMatrix* valid);

// Nearest-valid-block fill used by motorcycle_height_field, exposed for tests: every invalid
// entry of `field` takes the value of the nearest valid entry (Euclidean on indices, ties ->
// lower linear index). DataError when nothing is valid.
void fill_invalid_nearest(RowMatrixXd& field, const MaskMatrix& valid);

// MATLAB peaks on an n x n grid times n/48 (spec 2.6(b)); x = columns, y = rows, linspace(-3,3,n).
RowMatrixXd peaks_height_field(int n);

// Exponent table of the shading family for a (rescaled) light: the monomials in (p, q) of degree
// <= 4 that are structurally present in the square of
//   h = (I^2 - 1) - 2 l1 p - 2 l2 q + (I^2 - l1^2) p^2 - 2 l1 l2 p q + (I^2 - l2^2) q^2
// (6 for l1 = l2 = 0, up to 15 otherwise), graded order.
ExponentTable sfs_shading_exponents(const Eigen::Vector3d& light);

// Coefficients on `exponents` of ((1 + p^2 + q^2) I^2 - (l1 p + l2 q + 1)^2)^2 for the rescaled
// light, written to `row` (size M).
void sfs_shading_coeffs(double intensity, const Eigen::Vector3d& light,
                        const ExponentTable& exponents, double* row);

// The SFS model: app "sfs", num_vars H*W, families "shading" (per-factor coefficient rows) and
// "smooth" (one shared row; omitted when smooth_lambda = 0), truth = height field, x0 = truth +
// init_noise * U(0,1) per pixel (Rng(seed, kSfsInitStream)), meta {H, W, observed = shading
// ((H-1) x (W-1)), valid (H x W), light (rescaled)}. Validates the options first.
Model make_sfs_model(const SfsOptions& options, uint64_t seed);

// Depth RMSE over valid pixels after removing the mean of z - z_true over valid pixels (spec
// 2.6(b)). DataError when the model has no truth, no meta or no valid pixel.
double sfs_depth_rmse(const Model& model, const Eigen::Ref<const Eigen::VectorXd>& x);

// x as an H x W depth map shifted by that mean (gauge-aligned with the truth, for PNG output).
RowMatrixXd gauge_aligned_depth(const Model& model, const Eigen::Ref<const Eigen::VectorXd>& x);

}  // namespace effinfer::mrf
