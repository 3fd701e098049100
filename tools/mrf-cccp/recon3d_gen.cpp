#include "recon3d_gen.hpp"

#include <Eigen/LU>
#include <Eigen/SparseCholesky>
#include <Eigen/SparseCore>
#include <cmath>
#include <sstream>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace effinfer::mrf {

namespace {

std::string number(double v) {
  std::ostringstream s;
  s.precision(10);
  s << v;
  return s.str();
}

[[noreturn]] void bad_key(const std::string& key, const std::string& expected,
                          const std::string& found) {
  throw ConfigError("recon3d." + key + ": expected " + expected + ", found " + found);
}

void require_finite(const std::string& key, double v, bool positive, bool allow_zero) {
  if (!std::isfinite(v) || (positive && (allow_zero ? v < 0 : v <= 0)))
    bad_key(key, allow_zero ? "a finite number >= 0" : "a finite number > 0", number(v));
}

// Levenberg-Marquardt on r_e = (||Y_i - Y_j|| - L_e) / L_e over all 3V coordinates. The system is
// underdetermined (E < 3V), so the damped step is taken in residual space,
// delta = -J^T (J J^T + lambda I)^-1 r, which equals -(J^T J + lambda I)^-1 J^T r and needs only a
// sparse E x E solve; near the feasible set it is the minimum-norm Gauss-Newton step (quadratic
// convergence), so the bend is changed as little as needed.
struct Projection {
  double max_residual = 0;
  int iterations = 0;
};

Eigen::VectorXd edge_residuals(const RowMatrixXd& Y, const Recon3dTemplate& mesh) {
  const int E = mesh.num_edges();
  Eigen::VectorXd r(E);
  for (int e = 0; e < E; ++e) {
    const double L = mesh.rest_length[e];
    r[e] = ((Y.row(mesh.edges(e, 0)) - Y.row(mesh.edges(e, 1))).norm() - L) / L;
  }
  return r;
}

Projection make_inextensible(RowMatrixXd& Y, const Recon3dTemplate& mesh) {
  const int E = mesh.num_edges();
  const int V = mesh.num_vertices();
  constexpr int kMaxIterations = 1000;
  Projection out;
  Eigen::VectorXd r = edge_residuals(Y, mesh);
  double cost = r.squaredNorm();
  double mu = 1e-3;  // damping relative to the mean diagonal of J J^T
  // J has 6 entries per row and J J^T couples only edges sharing a vertex: both stay sparse.
  Eigen::SparseMatrix<double> J(E, 3 * V), A(E, E), damped(E, E), I(E, E);
  I.setIdentity();
  std::vector<Eigen::Triplet<double>> entries;
  entries.reserve(6 * static_cast<size_t>(E));
  Eigen::SimplicialLDLT<Eigen::SparseMatrix<double>> ldlt;
  bool analysed = false;
  for (; out.iterations < kMaxIterations; ++out.iterations) {
    if (r.cwiseAbs().maxCoeff() <= kRecon3dEdgeTol) break;
    entries.clear();
    for (int e = 0; e < E; ++e) {
      const int64_t i = mesh.edges(e, 0), j = mesh.edges(e, 1);
      const Eigen::RowVector3d diff = Y.row(i) - Y.row(j);
      const Eigen::RowVector3d g = diff / (diff.norm() * mesh.rest_length[e]);
      for (int k = 0; k < 3; ++k) {
        entries.emplace_back(e, static_cast<int>(3 * i + k), g[k]);
        entries.emplace_back(e, static_cast<int>(3 * j + k), -g[k]);
      }
    }
    J.setFromTriplets(entries.begin(), entries.end());
    A = J * J.transpose();
    const double scale = A.diagonal().mean();
    bool accepted = false;
    while (!accepted && mu <= 1e20) {
      damped = A + (mu * scale) * I;
      if (!analysed) {
        ldlt.analyzePattern(damped);
        analysed = true;
      }
      ldlt.factorize(damped);
      if (ldlt.info() != Eigen::Success) {
        mu *= 10;
        continue;
      }
      const Eigen::VectorXd step = -(J.transpose() * ldlt.solve(r));
      RowMatrixXd trial = Y;
      for (int v = 0; v < V; ++v) trial.row(v) += step.segment<3>(3 * v).transpose();
      Eigen::VectorXd r_trial = edge_residuals(trial, mesh);
      const double cost_trial = r_trial.squaredNorm();
      if (std::isfinite(cost_trial) && cost_trial < cost) {
        Y = std::move(trial);
        r = std::move(r_trial);
        cost = cost_trial;
        mu = std::max(mu / 10, 1e-16);
        accepted = true;
      } else {
        mu *= 10;
      }
    }
    if (!accepted) break;
  }
  out.max_residual = r.cwiseAbs().maxCoeff();
  return out;
}

}  // namespace

Eigen::Matrix3d default_recon3d_camera_K() {
  Eigen::Matrix3d K;
  K << 365.605250, 0, 256.000360,  //
      0, 365.605509, 255.00003,    //
      0, 0, 1;
  return K;
}

Eigen::Matrix<double, 3, 4> default_recon3d_camera_ext() {
  Eigen::Matrix<double, 3, 4> ext;
  ext << 0.9999131209, -0.01228426728, 0.00477990799, -4.027461905,  //
      -0.01240963179, -0.9995544226, 0.02714695826, -8.587128519,    //
      0.00444429768, -0.02720391665, -0.9996200254, 156.1022245;
  return ext;
}

void validate_recon3d_gen_options(const Recon3dGenOptions& o) {
  if (o.grid < 2 || o.grid > kRecon3dMaxGrid)
    bad_key("grid", "an integer in [2, " + std::to_string(kRecon3dMaxGrid) + "]",
            std::to_string(o.grid));
  require_finite("plate_mm", o.plate_mm, true, false);
  if (o.instances < 1) bad_key("instances", "an integer >= 1", std::to_string(o.instances));
  require_finite("noise_px", o.noise_px, true, true);
  require_finite("bend_std_mm", o.bend_std_mm, true, true);
  require_finite("init_depth", o.init_depth, true, false);
  if (!o.K.allFinite()) bad_key("camera.K", "finite values", "a NaN or Inf");
  if (o.K(2, 0) != 0 || o.K(2, 1) != 0 || o.K(2, 2) != 1) {
    std::ostringstream row;
    row << "[" << o.K(2, 0) << ", " << o.K(2, 1) << ", " << o.K(2, 2) << "]";
    bad_key("camera.K", "last row [0, 0, 1]", row.str());
  }
  if (!(std::abs(o.K.determinant()) > 0)) bad_key("camera.K", "an invertible matrix", "det 0");
  if (!o.ext.allFinite()) bad_key("camera.ext", "finite values", "a NaN or Inf");
  const Eigen::Matrix3d R = o.ext.leftCols<3>();
  const double orth = (R.transpose() * R - Eigen::Matrix3d::Identity()).cwiseAbs().maxCoeff();
  if (orth > 1e-6 || R.determinant() <= 0)
    bad_key("camera.ext", "[R | t] with R orthonormal (|R^T R - I| <= 1e-6) and det R = 1",
            "|R^T R - I| = " + number(orth) + ", det R = " + number(R.determinant()));
}

Recon3dTemplate recon3d_grid_template(int grid, double plate_mm) {
  const int m = grid;
  if (m < 2)
    throw ConfigError("recon3d.grid: expected an integer >= 2, found " + std::to_string(m));
  const double h = plate_mm / (m - 1), half = plate_mm / 2;
  RowMatrixXd points(m * m, 3);
  for (int r = 0; r < m; ++r)
    for (int c = 0; c < m; ++c) points.row(r * m + c) << -half + c * h, -half + r * h, 0.0;
  VarTable tri(2 * (m - 1) * (m - 1), 3);
  int t = 0;
  for (int r = 0; r + 1 < m; ++r)
    for (int c = 0; c + 1 < m; ++c) {
      const int64_t v00 = r * m + c, v01 = v00 + 1, v10 = v00 + m, v11 = v10 + 1;
      tri.row(t++) << v00, v01, v10;  // split by the diagonal (r, c+1)-(r+1, c)
      tri.row(t++) << v01, v11, v10;
    }
  Recon3dTemplate mesh = make_template(points, tri, "recon3d grid template");
  const int64_t expected =
      2 * static_cast<int64_t>(m) * (m - 1) + static_cast<int64_t>(m - 1) * (m - 1);
  if (mesh.num_edges() != expected)
    throw InternalError("recon3d grid template: expected " + std::to_string(expected) +
                        " edges, found " + std::to_string(mesh.num_edges()));
  return mesh;
}

Recon3dGenerated generate_recon3d_instance(const Recon3dTemplate& mesh,
                                           const Recon3dGenOptions& options, uint64_t seed,
                                           int64_t index) {
  const int V = mesh.num_vertices();
  Rng rng(seed, kRecon3dStreamBase + static_cast<uint64_t>(index));
  // Bend (spec 2.6(a)): four random cosine waves over plate coordinates scaled to [-1, 1]
  // (the spec's /50 for the 100 mm plate).
  double a[4], w[4][2], phi[4];
  for (int j = 0; j < 4; ++j) {
    a[j] = rng.normal();
    w[j][0] = 1.5 * rng.normal();
    w[j][1] = 1.5 * rng.normal();
    phi[j] = 2 * M_PI * rng.uniform();
  }
  const double half = options.plate_mm / 2;
  Eigen::VectorXd z(V);
  for (int v = 0; v < V; ++v) {
    const double x = mesh.points(v, 0) / half, y = mesh.points(v, 1) / half;
    double s = 0;
    for (int j = 0; j < 4; ++j) s += a[j] * std::cos(w[j][0] * x + w[j][1] * y + phi[j]);
    z[v] = s;
  }
  z.array() -= z.mean();
  const double sd = std::sqrt(z.squaredNorm() / V);
  z *= sd > 0 ? options.bend_std_mm / sd : 0.0;

  RowMatrixXd Y = mesh.points;
  Y.col(2) += z;
  Recon3dGenerated out;
  const Projection p = make_inextensible(Y, mesh);
  out.max_edge_residual = p.max_residual;
  out.lm_iterations = p.iterations;
  if (!(p.max_residual <= kRecon3dEdgeTol))
    throw NumericalError("gen recon3d: instance " + std::to_string(index) +
                         ": the inextensibility projection stopped at max relative edge error " +
                         number(p.max_residual) + " after " + std::to_string(p.iterations) +
                         " iterations, expected <= 1e-10");
  const Eigen::RowVector3d centroid = Y.colwise().mean();
  Y.rowwise() -= centroid;

  const Eigen::Matrix3d R = options.ext.leftCols<3>();
  const Eigen::Vector3d t = options.ext.col(3);
  const Eigen::Matrix3d Kinv = options.K.inverse();
  RowMatrixXd& gt = out.instance.points_gt;
  RowMatrixXd& q = out.instance.lines_of_sight;
  gt.resize(V, 3);
  q.resize(V, 3);
  out.image_points.resize(V, 2);
  for (int v = 0; v < V; ++v) {
    const Eigen::Vector3d y = R * Y.row(v).transpose() + t;
    if (!(y.z() > 0))
      throw ConfigError("recon3d.camera.ext: vertex " + std::to_string(v) + " of instance " +
                        std::to_string(index) + " lies at camera depth " + number(y.z()) +
                        ", expected > 0 (move the plate in front of the camera)");
    gt.row(v) = y.transpose();
    const Eigen::Vector3d k = options.K * y;
    const double u0 = k.x() / k.z() + options.noise_px * rng.normal();
    const double u1 = k.y() / k.z() + options.noise_px * rng.normal();
    out.image_points.row(v) << u0, u1;
    q.row(v) = (Kinv * Eigen::Vector3d(u0, u1, 1.0)).transpose();
  }
  return out;
}

Recon3dSet generate_recon3d_set(const Recon3dGenOptions& options, uint64_t seed) {
  validate_recon3d_gen_options(options);
  Recon3dSet set;
  set.mesh = recon3d_grid_template(options.grid, options.plate_mm);
  set.K = options.K;
  set.ext = options.ext;
  set.has_ext = true;
  std::ostringstream src;
  src << "mrf-cccp gen recon3d (grid " << options.grid << ", plate_mm " << options.plate_mm
      << ", bend_std_mm " << options.bend_std_mm << ", noise_px " << options.noise_px << ", seed "
      << seed << ")";
  set.source = src.str();
  set.noise_px = options.noise_px;
  const auto B = static_cast<size_t>(options.instances);
  set.instances.reserve(B);
  set.image_points.reserve(B);
  set.ids.reserve(B);
  set.sources.reserve(B);
  for (size_t b = 0; b < B; ++b) {
    Recon3dGenerated g =
        generate_recon3d_instance(set.mesh, options, seed, static_cast<int64_t>(b));
    set.instances.push_back(std::move(g.instance));
    set.image_points.push_back(std::move(g.image_points));
    set.ids.push_back(static_cast<int64_t>(b));
    set.sources.push_back("gen recon3d instance " + std::to_string(b));
  }
  return set;
}

}  // namespace effinfer::mrf
