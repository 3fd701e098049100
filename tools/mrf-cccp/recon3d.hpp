// Non-rigid 3D reconstruction from one image (spec mrf-cccp 2.6(a); Salzmann CVPR'13 4.2; data and
// layout of the public repository shenlongwang/polynomial): unknown depths d_v along the lines of
// sight q_v, one pairwise factor per template edge (i, j) with rest length L_ij,
//
//   E(d) = w * sum_{(i,j)} (||d_i q_i - d_j q_j||^2 - L_ij^2)^2,   w = 1 / (2 |E|)
//
// (the authors' logged normalisation), built as a Model with the single family "edge" whose
// factors are local polynomials of degree 4 in (d_i, d_j). Also: the authors' text layout (spec
// 3.3: template mesh_*.pts / .tri, cam.intr, model{i}.txt) and the vertex-error metric
// mean_v ||d_v q_v - y_v^gt|| (mm).
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "model.hpp"
#include "poly.hpp"

namespace effinfer::mrf {

inline constexpr const char* kRecon3dFamily = "edge";
inline constexpr double kRecon3dInitDepth = 150.0;  // spec 2.6(a), 3.4 recon3d.init_depth

// Template mesh: V points (x y z, mm), T triangles (0-based ids), E edges (sorted unique triangle
// sides, i < j) with rest lengths L_ij = ||p_i - p_j||.
struct Recon3dTemplate {
  RowMatrixXd points;           // V x 3
  VarTable triangles;           // T x 3
  VarTable edges;               // E x 2
  Eigen::VectorXd rest_length;  // E
  int num_vertices() const { return static_cast<int>(points.rows()); }
  int num_edges() const { return static_cast<int>(edges.rows()); }
};

// One instance: lines of sight q_v (V x 3, not normalised) and optionally the ground-truth
// vertices y_v^gt (V x 3, camera frame; empty when unknown).
struct Recon3dInstance {
  RowMatrixXd lines_of_sight;
  RowMatrixXd points_gt;
};

// The authors' logged values of one method over the instances of a set (spec 3.3
// /reference/<method>/...; each vector empty when absent, else one value per instance).
struct Recon3dReference {
  Eigen::VectorXd energy;        // same normalisation as recon3d_model
  Eigen::VectorXd vertex_error;  // mm
  Eigen::VectorXd time_s;        // s
};

// A set of instances on one template and camera (the in-memory form of spec 3.3's recon3d set).
struct Recon3dSet {
  Recon3dTemplate mesh;
  Eigen::Matrix3d K = Eigen::Matrix3d::Identity();
  std::vector<Recon3dInstance> instances;
  std::vector<std::string> sources;  // file of each instance (messages, provenance)
  // Camera extrinsics [R | t] (world -> camera, t in mm); meaningful only when has_ext.
  Eigen::Matrix<double, 3, 4> ext = Eigen::Matrix<double, 3, 4>::Zero();
  bool has_ext = false;
  std::string source;  // root attribute `source`: where the set came from
  double noise_px = std::numeric_limits<double>::quiet_NaN();  // image noise std; NaN = unknown
  std::vector<RowMatrixXd> image_points;  // empty, or one V x 2 matrix (px) per instance
  std::vector<int64_t> ids;               // empty, or one id per instance
  std::map<std::string, Recon3dReference> reference;  // method name -> logged values
};

// Sorted unique sides (min id, max id) of the triangles, lexicographic order (spec 2.6(a), 3.3).
VarTable triangle_edges(const VarTable& triangles);

// Builds a template from points and triangles: validates ids (0 <= id < V, distinct within a
// triangle) and derives edges and rest lengths (each > 0). `source` prefixes DataError messages.
Recon3dTemplate make_template(const RowMatrixXd& points, const VarTable& triangles,
                              const std::string& source);

// The exponent table of the edge family in local coordinates u = (d_i, d_j): 1, d_i^2, d_i d_j,
// d_j^2, d_i^4, d_i^3 d_j, d_i^2 d_j^2, d_i d_j^3, d_j^4 (graded, first exponent descending).
ExponentTable edge_exponents();

// Coefficients on edge_exponents() of g = w (D - L^2)^2 with D = a d_i^2 - 2 b d_i d_j + c d_j^2,
// a = q_i.q_i, b = q_i.q_j, c = q_j.q_j.
Eigen::RowVectorXd edge_coefficients(const Eigen::Vector3d& qi, const Eigen::Vector3d& qj,
                                     double rest_length, double w);

// The energy of one instance as a Model (app "recon3d", V variables, family "edge" with per-
// factor coefficient rows, x0 = init_depth for every vertex; truth = the least-squares depths
// q_v.y_v / q_v.q_v when ground truth is present). DataError when lines_of_sight is not V x 3 or
// holds a non-finite value or a zero vector.
Model recon3d_model(const Recon3dTemplate& mesh, const Recon3dInstance& instance,
                    double init_depth = kRecon3dInitDepth, const std::string& source = "instance");

// mean_v ||d_v q_v - y_v^gt|| (spec 2.6(a)); requires ground truth (DataError otherwise).
double vertex_error(const Eigen::Ref<const Eigen::VectorXd>& depths,
                    const Recon3dInstance& instance);

// ---- the authors' text layout (spec 3.3) -----------------------------------------------------
// Whitespace-separated numbers. InputError (66) for a missing or unreadable file; DataError (65)
// naming the file for a non-number, a non-finite value, a wrong count or an id out of range.

// Template points (V x 3, V >= 2) and triangles (T x 3, 0-based integer ids < V).
Recon3dTemplate read_template_text(const std::string& pts_path, const std::string& tri_path);
// cam.intr: 9 numbers, the 3 x 3 intrinsics row-major.
Eigen::Matrix3d read_camera_text(const std::string& path);
// model{i}.txt: exactly 6V numbers, lines of sight (row-major V x 3) then ground truth (V x 3).
Recon3dInstance read_instance_text(const std::string& path, int num_vertices);
// Template, camera and instances together (instances in the order given).
Recon3dSet read_recon3d_text(const std::string& pts_path, const std::string& tri_path,
                             const std::string& intr_path,
                             const std::vector<std::string>& instance_paths);
// cam.ext: 12 numbers, the 3 x 4 extrinsics [R | t] row-major (t in mm).
Eigen::Matrix<double, 3, 4> read_camera_ext_text(const std::string& path);

// `import` (spec 3.2): the text layout as a complete set. Instances get ids 0..B-1 in the order
// given and image points pi(K q_v); ext_path (cam.ext) is optional (""). An empty `source` becomes
// "shenlongwang/polynomial <folder of the first model file>" (e.g. ".. synthetic3x3"); noise_px
// defaults to the authors' 2 px (spec 2.6(a)).
Recon3dSet import_recon3d_text(const std::string& pts_path, const std::string& tri_path,
                               const std::string& intr_path,
                               const std::vector<std::string>& model_paths,
                               const std::string& ext_path = "", const std::string& source = "",
                               double noise_px = 2.0);

}  // namespace effinfer::mrf
