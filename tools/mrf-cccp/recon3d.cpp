#include "recon3d.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include <Eigen/LU>

#include "core/error.hpp"

namespace effinfer::mrf {

namespace {

std::string number(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

// All whitespace-separated numbers of a text file (spec 3.3 text layout).
std::vector<double> read_numbers(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open file");
  std::vector<double> values;
  std::string token;
  while (in >> token) {
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(token.c_str(), &end);
    if (end != token.c_str() + token.size() || errno == ERANGE)
      throw DataError(path + ": expected a number, found '" + token + "' (number " +
                      std::to_string(values.size() + 1) + ")");
    if (!std::isfinite(v))
      throw DataError(path + ": expected finite values, found " + token + " (number " +
                      std::to_string(values.size() + 1) + ")");
    values.push_back(v);
  }
  if (in.bad()) throw InputError(path + ": read error");
  return values;
}

RowMatrixXd rows_of_3(const std::vector<double>& v, size_t first, int rows) {
  RowMatrixXd m(rows, 3);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < 3; ++c) m(r, c) = v[first + 3 * static_cast<size_t>(r) + c];
  return m;
}

}  // namespace

VarTable triangle_edges(const VarTable& triangles) {
  std::vector<std::pair<int64_t, int64_t>> sides;
  sides.reserve(3 * triangles.rows());
  for (Eigen::Index t = 0; t < triangles.rows(); ++t)
    for (int s = 0; s < 3; ++s) {
      const int64_t a = triangles(t, s), b = triangles(t, (s + 1) % 3);
      sides.emplace_back(std::min(a, b), std::max(a, b));
    }
  std::sort(sides.begin(), sides.end());
  sides.erase(std::unique(sides.begin(), sides.end()), sides.end());
  VarTable edges(static_cast<Eigen::Index>(sides.size()), 2);
  for (size_t e = 0; e < sides.size(); ++e) {
    edges(static_cast<Eigen::Index>(e), 0) = sides[e].first;
    edges(static_cast<Eigen::Index>(e), 1) = sides[e].second;
  }
  return edges;
}

Recon3dTemplate make_template(const RowMatrixXd& points, const VarTable& triangles,
                              const std::string& source) {
  const int64_t V = points.rows();
  if (points.cols() != 3 || V < 2)
    throw DataError(source + ": expected template points (V, 3) with V >= 2, found (" +
                    std::to_string(points.rows()) + ", " + std::to_string(points.cols()) + ")");
  if (triangles.cols() != 3 || triangles.rows() < 1)
    throw DataError(source + ": expected triangles (T, 3) with T >= 1, found (" +
                    std::to_string(triangles.rows()) + ", " + std::to_string(triangles.cols()) +
                    ")");
  for (Eigen::Index t = 0; t < triangles.rows(); ++t) {
    for (int s = 0; s < 3; ++s) {
      const int64_t id = triangles(t, s);
      if (id < 0 || id >= V)
        throw DataError(source + ": triangle index out of range: expected 0 <= id < " +
                        std::to_string(V) + ", found " + std::to_string(id) + " in triangle " +
                        std::to_string(t));
    }
    if (triangles(t, 0) == triangles(t, 1) || triangles(t, 1) == triangles(t, 2) ||
        triangles(t, 0) == triangles(t, 2))
      throw DataError(source + ": expected distinct vertex ids in triangle " + std::to_string(t));
  }
  Recon3dTemplate mesh;
  mesh.points = points;
  mesh.triangles = triangles;
  mesh.edges = triangle_edges(triangles);
  mesh.rest_length.resize(mesh.edges.rows());
  for (Eigen::Index e = 0; e < mesh.edges.rows(); ++e) {
    const double L = (points.row(mesh.edges(e, 0)) - points.row(mesh.edges(e, 1))).norm();
    if (!(L > 0))
      throw DataError(source + ": expected rest length > 0, found " + number(L) + " for edge (" +
                      std::to_string(mesh.edges(e, 0)) + ", " + std::to_string(mesh.edges(e, 1)) +
                      ")");
    mesh.rest_length[e] = L;
  }
  return mesh;
}

ExponentTable edge_exponents() {
  ExponentTable t(9, 2);
  t << 0, 0,             //
      2, 0, 1, 1, 0, 2,  //
      4, 0, 3, 1, 2, 2, 1, 3, 0, 4;
  return t;
}

Eigen::RowVectorXd edge_coefficients(const Eigen::Vector3d& qi, const Eigen::Vector3d& qj,
                                     double rest_length, double w) {
  // D = ||d_i q_i - d_j q_j||^2 = a d_i^2 - 2 b d_i d_j + c d_j^2 (spec 2.3 "3D-recon edge");
  // g = w (D^2 - 2 L^2 D + L^4), D^2 expanded term by term.
  const double a = qi.dot(qi), b = qi.dot(qj), c = qj.dot(qj);
  const double L2 = rest_length * rest_length;
  Eigen::RowVectorXd r(9);
  r << L2 * L2,                                  // 1
      -2 * L2 * a, 4 * L2 * b, -2 * L2 * c,      // d_i^2, d_i d_j, d_j^2
      a * a, -4 * a * b, 4 * b * b + 2 * a * c,  // d_i^4, d_i^3 d_j, d_i^2 d_j^2
      -4 * b * c, c * c;                         // d_i d_j^3, d_j^4
  return w * r;
}

Model recon3d_model(const Recon3dTemplate& mesh, const Recon3dInstance& instance, double init_depth,
                    const std::string& source) {
  const int V = mesh.num_vertices();
  const RowMatrixXd& q = instance.lines_of_sight;
  if (q.rows() != V || q.cols() != 3)
    throw DataError(source + ": expected lines of sight (V, 3) = (" + std::to_string(V) +
                    ", 3), found (" + std::to_string(q.rows()) + ", " + std::to_string(q.cols()) +
                    ")");
  for (int v = 0; v < V; ++v) {
    if (!q.row(v).allFinite())
      throw DataError(source +
                      ": expected finite lines of sight, found a non-finite value at "
                      "vertex " +
                      std::to_string(v));
    if (q.row(v).squaredNorm() == 0)
      throw DataError(source + ": expected nonzero lines of sight, found zero at vertex " +
                      std::to_string(v));
  }
  const bool has_gt = instance.points_gt.size() != 0;
  if (has_gt && (instance.points_gt.rows() != V || instance.points_gt.cols() != 3))
    throw DataError(source + ": expected ground-truth points (V, 3) = (" + std::to_string(V) +
                    ", 3), found (" + std::to_string(instance.points_gt.rows()) + ", " +
                    std::to_string(instance.points_gt.cols()) + ")");

  const int E = mesh.num_edges();
  const double w = 1.0 / (2.0 * E);  // spec 2.6(a): the authors' logged normalisation
  Model model;
  model.num_vars = V;
  model.app = "recon3d";
  FactorFamily f;
  f.name = kRecon3dFamily;
  f.vars = mesh.edges;
  f.exponents = edge_exponents();
  f.coeffs.resize(E, f.exponents.rows());
  for (int e = 0; e < E; ++e) {
    const Eigen::Vector3d qi = q.row(mesh.edges(e, 0)).transpose();
    const Eigen::Vector3d qj = q.row(mesh.edges(e, 1)).transpose();
    f.coeffs.row(e) = edge_coefficients(qi, qj, mesh.rest_length[e], w);
  }
  model.families.push_back(std::move(f));
  model.x0 = Eigen::VectorXd::Constant(V, init_depth);
  if (has_gt) {
    model.truth.resize(V);
    for (int v = 0; v < V; ++v)
      model.truth[v] = q.row(v).dot(instance.points_gt.row(v)) / q.row(v).squaredNorm();
  }
  return model;
}

double vertex_error(const Eigen::Ref<const Eigen::VectorXd>& depths,
                    const Recon3dInstance& instance) {
  const RowMatrixXd& q = instance.lines_of_sight;
  const RowMatrixXd& y = instance.points_gt;
  if (y.rows() != q.rows() || y.cols() != 3 || depths.size() != q.rows() || q.rows() == 0)
    throw DataError("vertex_error: expected depths (V), lines of sight and ground truth (V, 3)");
  double sum = 0;
  for (Eigen::Index v = 0; v < q.rows(); ++v) sum += (depths[v] * q.row(v) - y.row(v)).norm();
  return sum / static_cast<double>(q.rows());
}

Recon3dTemplate read_template_text(const std::string& pts_path, const std::string& tri_path) {
  const std::vector<double> p = read_numbers(pts_path);
  if (p.size() % 3 != 0 || p.size() < 6)
    throw DataError(pts_path + ": expected 3 numbers per vertex (x y z) and V >= 2, found " +
                    std::to_string(p.size()) + " numbers");
  const std::vector<double> t = read_numbers(tri_path);
  if (t.size() % 3 != 0 || t.empty())
    throw DataError(tri_path + ": expected 3 vertex ids per triangle, found " +
                    std::to_string(t.size()) + " numbers");
  const int V = static_cast<int>(p.size() / 3);
  VarTable tri(static_cast<Eigen::Index>(t.size() / 3), 3);
  for (size_t k = 0; k < t.size(); ++k) {
    if (t[k] != std::floor(t[k]))
      throw DataError(tri_path + ": expected integer vertex ids, found " + number(t[k]) +
                      " in triangle " + std::to_string(k / 3));
    if (t[k] < 0 || t[k] >= V)
      throw DataError(tri_path + ": triangle index out of range: expected 0 <= id < " +
                      std::to_string(V) + " (vertices in " + pts_path + "), found " + number(t[k]) +
                      " in triangle " + std::to_string(k / 3));
    tri(static_cast<Eigen::Index>(k / 3), static_cast<Eigen::Index>(k % 3)) =
        static_cast<int64_t>(t[k]);
  }
  return make_template(rows_of_3(p, 0, V), tri, tri_path);
}

Eigen::Matrix3d read_camera_text(const std::string& path) {
  const std::vector<double> v = read_numbers(path);
  if (v.size() != 9)
    throw DataError(path + ": expected 9 numbers (3 x 3 intrinsics), found " +
                    std::to_string(v.size()));
  Eigen::Matrix3d K;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) K(r, c) = v[3 * r + c];
  return K;
}

Recon3dInstance read_instance_text(const std::string& path, int num_vertices) {
  const std::vector<double> v = read_numbers(path);
  const size_t expected = 6 * static_cast<size_t>(num_vertices);
  if (v.size() != expected)
    throw DataError(path + ": expected " + std::to_string(expected) +
                    " numbers (6V, V = " + std::to_string(num_vertices) +
                    ": lines of sight then ground-truth vertices), found " +
                    std::to_string(v.size()));
  Recon3dInstance inst;
  inst.lines_of_sight = rows_of_3(v, 0, num_vertices);
  inst.points_gt = rows_of_3(v, 3 * static_cast<size_t>(num_vertices), num_vertices);
  for (int r = 0; r < num_vertices; ++r)
    if (inst.lines_of_sight.row(r).squaredNorm() == 0)
      throw DataError(path + ": expected nonzero lines of sight, found zero at vertex " +
                      std::to_string(r));
  return inst;
}

Recon3dSet read_recon3d_text(const std::string& pts_path, const std::string& tri_path,
                             const std::string& intr_path,
                             const std::vector<std::string>& instance_paths) {
  Recon3dSet set;
  set.mesh = read_template_text(pts_path, tri_path);
  set.K = read_camera_text(intr_path);
  set.instances.reserve(instance_paths.size());
  for (const std::string& p : instance_paths) {
    set.instances.push_back(read_instance_text(p, set.mesh.num_vertices()));
    set.sources.push_back(p);
  }
  return set;
}

Eigen::Matrix<double, 3, 4> read_camera_ext_text(const std::string& path) {
  const std::vector<double> v = read_numbers(path);
  if (v.size() != 12)
    throw DataError(path + ": expected 12 numbers (3 x 4 extrinsics [R | t]), found " +
                    std::to_string(v.size()));
  Eigen::Matrix<double, 3, 4> ext;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) ext(r, c) = v[4 * r + c];
  return ext;
}

Recon3dSet import_recon3d_text(const std::string& pts_path, const std::string& tri_path,
                               const std::string& intr_path,
                               const std::vector<std::string>& model_paths,
                               const std::string& ext_path, const std::string& source,
                               double noise_px) {
  if (model_paths.empty()) throw DataError("import: expected at least one model file, found none");
  Recon3dSet set = read_recon3d_text(pts_path, tri_path, intr_path, model_paths);
  if (!set.K.allFinite() || set.K.determinant() == 0)
    throw DataError(intr_path + ": expected an invertible 3 x 3 camera matrix");
  if (!ext_path.empty()) {
    set.ext = read_camera_ext_text(ext_path);
    set.has_ext = true;
  }
  if (source.empty()) {
    const auto folder = std::filesystem::path(model_paths.front()).parent_path().filename();
    set.source = "shenlongwang/polynomial " + folder.string();
  } else {
    set.source = source;
  }
  set.noise_px = noise_px;
  const int V = set.mesh.num_vertices();
  set.ids.resize(set.instances.size());
  set.image_points.reserve(set.instances.size());
  for (size_t b = 0; b < set.instances.size(); ++b) {
    set.ids[b] = static_cast<int64_t>(b);
    // The image point of a line of sight q is pi(K q) (q = K^-1 (u, 1) up to scale).
    RowMatrixXd u(V, 2);
    for (int v = 0; v < V; ++v) {
      const Eigen::Vector3d p = set.K * set.instances[b].lines_of_sight.row(v).transpose();
      if (p.z() == 0)
        throw DataError(model_paths[b] + ": line of sight of vertex " + std::to_string(v) +
                        " is parallel to the image plane (K q has z = 0)");
      u.row(v) << p.x() / p.z(), p.y() / p.z();
    }
    set.image_points.push_back(std::move(u));
  }
  return set;
}

}  // namespace effinfer::mrf
