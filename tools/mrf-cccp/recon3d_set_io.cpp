#include "recon3d_set_io.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>
#include <tuple>
#include <utility>

#include "core/error.hpp"

namespace effinfer::mrf {
namespace {

using io::DatasetInfo;
using io::ElementClass;
using io::H5File;
using io::H5Id;

std::string number(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

std::string tuple(std::initializer_list<int64_t> values) {
  std::string out = "(";
  for (int64_t v : values) out += (out.size() > 1 ? ", " : "") + std::to_string(v);
  return out + ")";
}

std::string shape_text(const DatasetInfo& meta) {
  std::string out = "(";
  for (size_t i = 0; i < meta.shape.size(); ++i)
    out += (i ? ", " : "") + std::to_string(meta.shape[i]);
  return out + (meta.shape.size() == 1 ? ",)" : ")");
}

using io::require_dataset;

// Checks dimensions against expected values (-1 = any); `names` label them ("B", "V", "3").
void require_shape(const H5File& file, const std::string& path, const DatasetInfo& meta,
                   const std::vector<int64_t>& want, const std::string& expected) {
  for (size_t i = 0; i < want.size(); ++i)
    if (want[i] >= 0 && static_cast<int64_t>(meta.shape[i]) != want[i])
      throw DataError(file.path() + ":" + path + ": wrong shape, expected " + expected +
                      ", found " + shape_text(meta));
}

template <class T>
void read_raw(const H5File& file, const std::string& path, hid_t mem_type, T* out, size_t count) {
  if (count == 0) return;
  H5Id ds(H5Dopen2(file.id(), path.c_str(), H5P_DEFAULT));
  if (!ds.valid() || H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    throw DataError(file.path() + ":" + path + ": reading failed");
}

VarTable read_ids(const H5File& file, const std::string& path, int cols,
                  const std::string& expected) {
  const DatasetInfo meta = require_dataset(file, path, true, 2, expected);
  require_shape(file, path, meta, {-1, cols}, expected);
  VarTable t(static_cast<Eigen::Index>(meta.shape[0]), cols);
  read_raw(file, path, H5T_NATIVE_INT64, t.data(), static_cast<size_t>(t.size()));
  return t;
}

// A [B, V, c] float dataset as B matrices V x c.
std::vector<RowMatrixXd> read_per_instance(const H5File& file, const std::string& path, int64_t B,
                                           int64_t V, int cols) {
  const std::string expected = "float64 (B, V, " + std::to_string(cols) + ")";
  const DatasetInfo meta = require_dataset(file, path, false, 3, expected);
  if (B >= 0 && static_cast<int64_t>(meta.shape[0]) != B)
    throw DataError(file.path() + ":" + path + ": B mismatch, expected " + std::to_string(B) +
                    " instances (as /instances/lines_of_sight), found " + shape_text(meta));
  if (static_cast<int64_t>(meta.shape[1]) != V)
    throw DataError(file.path() + ":" + path + ": V mismatch, expected " + std::to_string(V) +
                    " vertices (as /template/points), found " + shape_text(meta));
  require_shape(file, path, meta, {-1, V, cols}, expected);
  const auto n = static_cast<Eigen::Index>(meta.shape[0]);
  RowMatrixXd all(n * V, cols);
  read_raw(file, path, H5T_NATIVE_DOUBLE, all.data(), static_cast<size_t>(all.size()));
  std::vector<RowMatrixXd> out(static_cast<size_t>(n));
  for (Eigen::Index b = 0; b < n; ++b) out[static_cast<size_t>(b)] = all.middleRows(b * V, V);
  return out;
}

void write_rank3(H5File& file, const std::string& path, const std::vector<const RowMatrixXd*>& m,
                 hsize_t V, hsize_t cols, const std::string& units) {
  RowMatrixXd all(static_cast<Eigen::Index>(m.size() * V), static_cast<Eigen::Index>(cols));
  for (size_t b = 0; b < m.size(); ++b)
    all.middleRows(static_cast<Eigen::Index>(b * V), static_cast<Eigen::Index>(V)) = *m[b];
  const auto slash = path.find_last_of('/');
  file.create_group(path.substr(0, slash));
  const hsize_t dims[3] = {m.size(), V, cols};
  H5Id space(H5Screate_simple(3, dims, nullptr));
  H5Id ds(H5Dcreate2(file.id(), path.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                     H5P_DEFAULT));
  if (!ds.valid()) throw WriteError(file.path() + ":" + path + ": cannot create dataset");
  if (all.size() > 0 &&
      H5Dwrite(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, all.data()) < 0)
    throw WriteError(file.path() + ":" + path + ": writing failed");
  file.set_units(path, units);
}

std::vector<int64_t> table_values(const VarTable& t) {
  return std::vector<int64_t>(t.data(), t.data() + t.size());
}

// First non-finite entry of a matrix as "(r, c)" or "" when all are finite.
std::string first_non_finite(const RowMatrixXd& m, const std::string& prefix = "") {
  for (Eigen::Index r = 0; r < m.rows(); ++r)
    for (Eigen::Index c = 0; c < m.cols(); ++c)
      if (!std::isfinite(m(r, c)))
        return "(" + prefix + std::to_string(r) + ", " + std::to_string(c) +
               ") = " + number(m(r, c));
  return "";
}

void check_per_instance(const std::vector<RowMatrixXd>& m, int64_t V, int cols,
                        const std::string& where, const std::string& what) {
  for (size_t b = 0; b < m.size(); ++b) {
    if (m[b].rows() != V || m[b].cols() != cols)
      throw DataError(where + ": V mismatch, expected " + what + " (V, " + std::to_string(cols) +
                      ") = " + tuple({V, cols}) + " for instance " + std::to_string(b) +
                      ", found " + tuple({m[b].rows(), m[b].cols()}));
    const std::string bad = first_non_finite(m[b], std::to_string(b) + ", ");
    if (!bad.empty())
      throw DataError(where + ": expected finite values, found NaN/Inf at index " + bad);
  }
}

}  // namespace

void validate_recon3d_set(const Recon3dSet& set, const std::string& source) {
  const auto at = [&](const std::string& path) { return source + ":" + path; };
  const Recon3dTemplate& mesh = set.mesh;
  const int64_t V = mesh.points.rows();
  if (mesh.points.cols() != 3 || V < 2)
    throw DataError(at("/template/points") + ": expected (V, 3) with V >= 2, found " +
                    tuple({mesh.points.rows(), mesh.points.cols()}));
  if (const std::string bad = first_non_finite(mesh.points); !bad.empty())
    throw DataError(at("/template/points") + ": expected finite values, found NaN/Inf at index " +
                    bad);
  if (mesh.triangles.cols() != 3 || mesh.triangles.rows() < 1)
    throw DataError(at("/template/triangles") + ": expected (T, 3) with T >= 1, found " +
                    tuple({mesh.triangles.rows(), mesh.triangles.cols()}));
  for (Eigen::Index t = 0; t < mesh.triangles.rows(); ++t)
    for (int s = 0; s < 3; ++s) {
      const int64_t id = mesh.triangles(t, s);
      if (id < 0 || id >= V)
        throw DataError(at("/template/triangles") +
                        ": triangle index out of range: expected 0 <= id < V = " +
                        std::to_string(V) + ", found " + std::to_string(id) + " at (" +
                        std::to_string(t) + ", " + std::to_string(s) + ")");
    }
  if (mesh.edges.cols() != 2 || mesh.edges.rows() < 1)
    throw DataError(at("/template/edges") + ": expected (E, 2) with E >= 1, found " +
                    tuple({mesh.edges.rows(), mesh.edges.cols()}));
  for (Eigen::Index e = 0; e < mesh.edges.rows(); ++e) {
    const int64_t i = mesh.edges(e, 0), j = mesh.edges(e, 1);
    if (i < 0 || i >= V || j < 0 || j >= V || i == j)
      throw DataError(at("/template/edges") + ": expected two distinct ids in [0, " +
                      std::to_string(V) + ") per edge, found (" + std::to_string(i) + ", " +
                      std::to_string(j) + ") at row " + std::to_string(e));
  }
  if (mesh.rest_length.size() != mesh.edges.rows())
    throw DataError(
        at("/template/rest_length") + ": expected E = " + std::to_string(mesh.edges.rows()) +
        " values (as /template/edges), found " + std::to_string(mesh.rest_length.size()));
  for (Eigen::Index e = 0; e < mesh.rest_length.size(); ++e)
    if (!std::isfinite(mesh.rest_length[e]) || !(mesh.rest_length[e] > 0))
      throw DataError(at("/template/rest_length") + ": expected rest length > 0 (finite), found " +
                      number(mesh.rest_length[e]) + " at index " + std::to_string(e));
  if (!set.K.allFinite())
    throw DataError(at("/camera/K") + ": expected finite values, found NaN/Inf");
  if (set.has_ext && !set.ext.allFinite())
    throw DataError(at("/camera/ext") + ": expected finite values, found NaN/Inf");

  const int64_t B = static_cast<int64_t>(set.instances.size());
  std::vector<RowMatrixXd> q(set.instances.size()), gt;
  for (size_t b = 0; b < set.instances.size(); ++b) q[b] = set.instances[b].lines_of_sight;
  check_per_instance(q, V, 3, at("/instances/lines_of_sight"), "lines of sight");
  for (size_t b = 0; b < q.size(); ++b)
    for (int64_t v = 0; v < V; ++v)
      if (q[b].row(v).squaredNorm() == 0)
        throw DataError(at("/instances/lines_of_sight") +
                        ": expected nonzero lines of sight, found zero at (" + std::to_string(b) +
                        ", " + std::to_string(v) + ")");
  size_t with_gt = 0;
  for (const auto& inst : set.instances) with_gt += inst.points_gt.size() != 0 ? 1 : 0;
  if (with_gt != 0) {
    if (with_gt != set.instances.size())
      throw DataError(at("/instances/points_gt") + ": B mismatch, expected ground truth for all " +
                      std::to_string(B) + " instances or none, found " + std::to_string(with_gt));
    for (const auto& inst : set.instances) gt.push_back(inst.points_gt);
    check_per_instance(gt, V, 3, at("/instances/points_gt"), "ground-truth points");
  }
  if (!set.image_points.empty()) {
    if (static_cast<int64_t>(set.image_points.size()) != B)
      throw DataError(at("/instances/image_points") + ": B mismatch, expected " +
                      std::to_string(B) + " instances (as /instances/lines_of_sight), found " +
                      std::to_string(set.image_points.size()));
    check_per_instance(set.image_points, V, 2, at("/instances/image_points"), "image points");
  }
  if (!set.ids.empty() && static_cast<int64_t>(set.ids.size()) != B)
    throw DataError(at("/instances/id") + ": B mismatch, expected " + std::to_string(B) +
                    " ids, found " + std::to_string(set.ids.size()));
  for (const auto& [method, ref] : set.reference) {
    if (method.empty() || method.find('/') != std::string::npos)
      throw DataError(at("/reference") + ": expected a method name without '/', found '" + method +
                      "'");
    const std::pair<const char*, const Eigen::VectorXd*> parts[] = {
        {"energy", &ref.energy}, {"vertex_error", &ref.vertex_error}, {"time_s", &ref.time_s}};
    for (const auto& [name, v] : parts)
      if (v->size() != 0 && v->size() != B)
        throw DataError(at("/reference/" + method + "/" + name) + ": B mismatch, expected " +
                        std::to_string(B) + " values, found " + std::to_string(v->size()));
  }
}

Recon3dSet read_recon3d_set(const std::string& path) {
  const H5File file = H5File::open(path);
  return read_recon3d_set(file);
}

Recon3dSet read_recon3d_set(const H5File& file) {
  const std::string root = file.path() + ":/";
  if (!file.has_attribute("/", "effinfer_schema"))
    throw DataError(root + ": root attribute effinfer_schema missing, expected " +
                    std::string(kRecon3dSchema));
  const std::string schema = file.read_attribute_string("/", "effinfer_schema");
  if (schema != kRecon3dSchema)
    throw DataError(root + ": root attribute effinfer_schema: expected " +
                    std::string(kRecon3dSchema) + ", found '" + schema + "'");
  if (file.has_attribute("/", "units")) {
    const std::string units = file.read_attribute_string("/", "units");
    if (units != "mm")
      throw DataError(root + ": root attribute units: expected 'mm', found '" + units + "'");
  }
  Recon3dSet set;
  if (file.has_attribute("/", "source")) set.source = file.read_attribute_string("/", "source");
  if (file.has_attribute("/", "noise_px"))
    set.noise_px = file.read_attribute_double("/", "noise_px");

  // Template.
  Recon3dTemplate& mesh = set.mesh;
  {
    const std::string p = "/template/points";
    const DatasetInfo meta = require_dataset(file, p, false, 2, "float64 (V, 3)");
    require_shape(file, p, meta, {-1, 3}, "float64 (V, 3)");
    mesh.points = file.read_matrix(p);
  }
  const int64_t V = mesh.points.rows();
  mesh.triangles = read_ids(file, "/template/triangles", 3, "int64 (T, 3)");
  const bool has_edges = file.exists("/template/edges");
  mesh.edges = has_edges ? read_ids(file, "/template/edges", 2, "int64 (E, 2)")
                         : triangle_edges(mesh.triangles);
  if (file.exists("/template/rest_length")) {
    const std::string p = "/template/rest_length";
    const DatasetInfo meta = require_dataset(file, p, false, 1, "float64 (E,)");
    if (static_cast<int64_t>(meta.shape[0]) != mesh.edges.rows())
      throw DataError(file.path() + ":" + p + ": wrong shape, expected (E,) = (" +
                      std::to_string(mesh.edges.rows()) + ",) (" +
                      (has_edges ? "/template/edges" : "sides of /template/triangles") +
                      "), found " + shape_text(meta));
    mesh.rest_length = file.read_vector(p);
  } else {
    // Default ||p_i - p_j||; ids are checked first so the norms below index valid rows.
    mesh.rest_length = Eigen::VectorXd::Ones(mesh.edges.rows());
    validate_recon3d_set(set, file.path());
    for (Eigen::Index e = 0; e < mesh.edges.rows(); ++e)
      mesh.rest_length[e] =
          (mesh.points.row(mesh.edges(e, 0)) - mesh.points.row(mesh.edges(e, 1))).norm();
  }

  // Camera.
  {
    const DatasetInfo meta = require_dataset(file, "/camera/K", false, 2, "float64 (3, 3)");
    require_shape(file, "/camera/K", meta, {3, 3}, "float64 (3, 3)");
    set.K = file.read_matrix("/camera/K");
  }
  if (file.exists("/camera/ext")) {
    const DatasetInfo meta = require_dataset(file, "/camera/ext", false, 2, "float64 (3, 4)");
    require_shape(file, "/camera/ext", meta, {3, 4}, "float64 (3, 4)");
    set.ext = file.read_matrix("/camera/ext");
    set.has_ext = true;
  }

  // Instances.
  std::vector<RowMatrixXd> q = read_per_instance(file, "/instances/lines_of_sight", -1, V, 3);
  const auto B = static_cast<int64_t>(q.size());
  set.instances.resize(q.size());
  set.sources.resize(q.size());
  for (size_t b = 0; b < q.size(); ++b) {
    set.instances[b].lines_of_sight = std::move(q[b]);
    set.sources[b] = file.path() + ":/instances[" + std::to_string(b) + "]";
  }
  if (file.exists("/instances/points_gt")) {
    std::vector<RowMatrixXd> gt = read_per_instance(file, "/instances/points_gt", B, V, 3);
    for (size_t b = 0; b < gt.size(); ++b) set.instances[b].points_gt = std::move(gt[b]);
  }
  if (file.exists("/instances/image_points"))
    set.image_points = read_per_instance(file, "/instances/image_points", B, V, 2);
  if (file.exists("/instances/id")) {
    const std::string p = "/instances/id";
    const DatasetInfo meta = require_dataset(file, p, true, 1, "int64 (B,)");
    if (static_cast<int64_t>(meta.shape[0]) != B)
      throw DataError(file.path() + ":" + p + ": B mismatch, expected (B,) = (" +
                      std::to_string(B) + ",) (as /instances/lines_of_sight), found " +
                      shape_text(meta));
    set.ids = file.read_int_vector(p);
  }

  // Reference values of the authors' logs.
  if (file.exists("/reference")) {
    if (!file.is_group("/reference"))
      throw DataError(file.path() + ":/reference: expected a group of methods, found a dataset");
    for (const std::string& method : file.children("/reference")) {
      const std::string base = "/reference/" + method;
      if (!file.is_group(base))
        throw DataError(file.path() + ":" + base +
                        ": expected a group {energy, vertex_error, time_s}, found a dataset");
      Recon3dReference& ref = set.reference[method];
      const std::pair<const char*, Eigen::VectorXd*> parts[] = {
          {"energy", &ref.energy}, {"vertex_error", &ref.vertex_error}, {"time_s", &ref.time_s}};
      for (const auto& [name, out] : parts) {
        const std::string p = base + "/" + name;
        if (!file.exists(p)) continue;
        const DatasetInfo meta = require_dataset(file, p, false, 1, "float64 (B,)");
        if (static_cast<int64_t>(meta.shape[0]) != B)
          throw DataError(file.path() + ":" + p + ": B mismatch, expected (B,) = (" +
                          std::to_string(B) + ",) (as /instances/lines_of_sight), found " +
                          shape_text(meta));
        *out = file.read_vector(p);
      }
    }
  }
  validate_recon3d_set(set, file.path());
  return set;
}

void write_recon3d_set(H5File& file, const Recon3dSet& set) {
  validate_recon3d_set(set, file.path());
  file.set_attribute("/", "effinfer_schema", kRecon3dSchema);
  file.set_attribute("/", "units", "mm");
  file.set_attribute("/", "source", set.source);
  file.set_attribute("/", "noise_px", set.noise_px);

  const Recon3dTemplate& mesh = set.mesh;
  file.write_matrix("/template/points", mesh.points);
  file.set_units("/template/points", "mm");
  file.write_int64("/template/triangles", table_values(mesh.triangles),
                   {static_cast<hsize_t>(mesh.triangles.rows()), 3});
  file.set_units("/template/triangles", "vertex id (0-based)");
  file.write_int64("/template/edges", table_values(mesh.edges),
                   {static_cast<hsize_t>(mesh.edges.rows()), 2});
  file.set_units("/template/edges", "vertex id (0-based)");
  file.write_vector("/template/rest_length", mesh.rest_length);
  file.set_units("/template/rest_length", "mm");

  file.write_matrix("/camera/K", set.K);
  file.set_units("/camera/K", "px");
  if (set.has_ext) {
    const RowMatrixXd ext = set.ext;
    file.write_matrix("/camera/ext", ext);
    file.set_units("/camera/ext", "[R | t]: R 1, t mm (world to camera)");
  }

  const auto V = static_cast<hsize_t>(mesh.points.rows());
  std::vector<const RowMatrixXd*> m;
  m.reserve(set.instances.size());
  for (const auto& inst : set.instances) m.push_back(&inst.lines_of_sight);
  write_rank3(file, "/instances/lines_of_sight", m, V, 3, "K^-1 (u, 1) (px / px, unnormalised)");
  if (!set.instances.empty() && set.instances.front().points_gt.size() != 0) {
    m.clear();
    for (const auto& inst : set.instances) m.push_back(&inst.points_gt);
    write_rank3(file, "/instances/points_gt", m, V, 3, "mm (camera frame)");
  }
  if (!set.image_points.empty()) {
    m.clear();
    for (const auto& u : set.image_points) m.push_back(&u);
    write_rank3(file, "/instances/image_points", m, V, 2, "px");
  }
  if (!set.ids.empty()) {
    file.write_int64("/instances/id", set.ids);
    file.set_units("/instances/id", "instance id");
  }
  for (const auto& [method, ref] : set.reference) {
    const std::string base = "/reference/" + method;
    file.create_group(base);
    const std::tuple<const char*, const Eigen::VectorXd*, const char*> parts[] = {
        {"energy", &ref.energy, "energy E(d) = 1/(2|E|) sum (||.||^2 - L^2)^2 (mm^4)"},
        {"vertex_error", &ref.vertex_error, "mm"},
        {"time_s", &ref.time_s, "s"}};
    for (const auto& [name, v, units] : parts) {
      if (v->size() == 0) continue;
      file.write_vector(base + "/" + name, *v);
      file.set_units(base + "/" + name, units);
    }
  }
}

std::vector<std::string> recon3d_set_warnings(const Recon3dSet& set) {
  std::vector<std::string> out;
  const Recon3dTemplate& mesh = set.mesh;
  if (mesh.rest_length.size() == 0 || mesh.edges.rows() != mesh.rest_length.size()) return out;
  const double rest = mesh.rest_length.mean();
  double sum = 0;
  int64_t count = 0;
  for (const auto& inst : set.instances) {
    const RowMatrixXd& y = inst.points_gt;
    if (y.rows() != mesh.points.rows() || y.cols() != 3) continue;
    for (Eigen::Index e = 0; e < mesh.edges.rows(); ++e) {
      const double len = (y.row(mesh.edges(e, 0)) - y.row(mesh.edges(e, 1))).norm();
      if (std::isfinite(len)) {
        sum += len;
        ++count;
      }
    }
  }
  if (count == 0 || !(rest > 0)) return out;
  const double gt = sum / static_cast<double>(count);
  const double ratio = std::max(gt / rest, rest / gt);
  if (ratio > 10) {
    std::ostringstream s;
    s.precision(4);
    s << (set.source.empty() ? std::string("recon3d set") : set.source)
      << ": rest lengths and ground truth differ in scale by " << ratio
      << "x (> 10x): mean rest length " << rest << ", mean ground-truth edge length " << gt
      << " (mm); check the template units (e.g. unit lengths against mm points)";
    out.push_back(s.str());
  }
  return out;
}

}  // namespace effinfer::mrf
