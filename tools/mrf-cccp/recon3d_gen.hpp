// The project's generator of non-rigid 3D reconstruction sets (spec mrf-cccp 2.6(a), 3.2 `gen
// recon3d`, 3.4 recon3d.*): an m x m template plate, smooth random bends made inextensible by
// Levenberg-Marquardt, a rigid move into the camera frame and noisy projections, giving the lines
// of sight q_v = K^-1 (u_v, 1) of each instance.
//
// Instance b draws only from Rng(seed, kRecon3dStreamBase + b), so an instance does not depend on
// how many instances are generated or on how they are spread over shards.
#pragma once

#include <Eigen/Core>
#include <cstdint>

#include "recon3d.hpp"

namespace effinfer::mrf {

// The camera of spec 3.4 (the authors' data/cam.intr and data/cam.ext, verbatim).
Eigen::Matrix3d default_recon3d_camera_K();
Eigen::Matrix<double, 3, 4> default_recon3d_camera_ext();

// Spec 3.4 keys recon3d.* (defaults = default.yaml).
struct Recon3dGenOptions {
  int grid = 3;             // m: vertices per side
  double plate_mm = 100;    // side of the square plate
  int instances = 100;      // B
  double noise_px = 2;      // std of the image noise per coordinate
  double bend_std_mm = 30;  // std of the bend heights before the inextensibility projection
  double init_depth = 150;  // CCCP / baseline initial depth (not used by the generator)
  Eigen::Matrix3d K = default_recon3d_camera_K();
  Eigen::Matrix<double, 3, 4> ext = default_recon3d_camera_ext();
};

// Largest grid accepted: the projection needs ~20 sparse (E x E) solves at m = 30 (0.1 s per
// instance) but ~120 at m = 50.
inline constexpr int kRecon3dMaxGrid = 30;
// Base of the per-instance random streams.
inline constexpr uint64_t kRecon3dStreamBase = 0x7265636f6e334400ULL;  // "recon3D\0"
// Inextensibility tolerance of the truth: max_e |(||Y_i - Y_j|| - L_ij) / L_ij| (spec 2.6(a)).
inline constexpr double kRecon3dEdgeTol = 1e-10;

// ConfigError (78) naming "recon3d.<key>" with the valid range and the value found: grid in
// [2, kRecon3dMaxGrid], plate_mm > 0, instances >= 1, noise_px >= 0, bend_std_mm >= 0,
// init_depth > 0 (all finite); camera.K finite with last row (0, 0, 1) and invertible;
// camera.ext finite with an orthonormal, right-handed R (1e-6).
void validate_recon3d_gen_options(const Recon3dGenOptions& options);

// The m x m template of spec 2.6(a): vertex (r, c) = index r m + c at (-P/2 + c h, -P/2 + r h, 0),
// h = P / (m - 1), P = plate_mm; per square the triangles (r,c) (r,c+1) (r+1,c) and (r,c+1)
// (r+1,c+1) (r+1,c) (the order of the authors' mesh_3x3.tri / mesh_9x9.tri); edges = sorted unique
// sides, 2 m (m - 1) + (m - 1)^2 of them (3 x 3: 16, 9 x 9: 208).
Recon3dTemplate recon3d_grid_template(int grid, double plate_mm);

// One generated instance with its by-products.
struct Recon3dGenerated {
  Recon3dInstance instance;      // lines of sight (z = 1 for K with last row (0,0,1)), truth
  RowMatrixXd image_points;      // u_v (V x 2, px)
  double max_edge_residual = 0;  // max_e |(||Y_i - Y_j|| - L_ij) / L_ij| after the projection
  int lm_iterations = 0;
};

// Instance b of a set (spec 2.6(a)): z_v = sum_{j=1..4} a_j cos(w_j . (x_v, y_v) / (P/2) + phi_j),
// a_j ~ N(0,1), w_j ~ N(0, 1.5^2 I_2), phi_j ~ U(0, 2 pi), centred and rescaled to std
// bend_std_mm; Levenberg-Marquardt on (||Y_i - Y_j|| - L_ij) / L_ij until max |.| <= 1e-10;
// centroid subtracted; y^gt = R Y + t; u_v = pi(K y^gt) + N(0, noise_px^2 I_2);
// q_v = K^-1 (u_v, 1). NumericalError (70) if the projection does not converge; ConfigError (78)
// naming recon3d.camera.ext if a vertex lands at depth <= 0.
Recon3dGenerated generate_recon3d_instance(const Recon3dTemplate& mesh,
                                           const Recon3dGenOptions& options, uint64_t seed,
                                           int64_t index);

// A whole set: template, camera (K, ext), instances 0..B-1 with ids, truth and image points,
// source "mrf-cccp gen recon3d (grid m, seed s, ...)", noise_px. Validates the options first.
Recon3dSet generate_recon3d_set(const Recon3dGenOptions& options, uint64_t seed);

}  // namespace effinfer::mrf
