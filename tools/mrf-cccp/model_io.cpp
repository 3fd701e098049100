#include "model_io.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <sstream>

#include "core/error.hpp"
#include "core/sha256.hpp"
#include "io/config.hpp"

namespace effinfer::mrf {
namespace {

using io::DatasetInfo;
using io::ElementClass;
using io::H5File;
using io::H5Id;

const std::vector<std::string> kApps = {"generic", "sfs", "denoise", "recon3d"};
const std::vector<std::string> kRootKeys = {"num_vars", "app", "x0", "truth", "factors"};
const std::vector<std::string> kFamilyKeys = {"vars", "exponents", "coeffs", "linmap", "degree"};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string tuple(std::initializer_list<int64_t> values) {
  std::string out = "(";
  for (int64_t v : values) out += (out.size() > 1 ? ", " : "") + std::to_string(v);
  return out + ")";
}

std::string number(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

// Where a model item lives, for messages in either file form, plus what the file declared
// (attr degree) for the checks that compare against it.
struct Context {
  std::string file;
  bool yaml = false;
  std::map<std::string, std::string> marks;  // YAML key path -> "line:col"
  std::map<std::string, int64_t> declared_degree;

  std::string at(const std::string& h5_path, const std::string& key) const {
    if (!yaml) return file + ":" + h5_path;
    const auto it = marks.find(key);
    return file + (it == marks.end() ? "" : ":" + it->second) + ": " + key;
  }
  std::string field(const std::string& family, const std::string& name) const {
    return at("/factors/" + family + "/" + name, "factors." + family + "." + name);
  }
};

// ---- validation (both forms) ------------------------------------------------------------

void validate_family(const FactorFamily& f, int64_t num_vars, const Context& c) {
  const int64_t n = f.num_factors(), k = f.arity(), m = f.local_dim(), terms = f.num_terms();
  if (k < 1)
    throw DataError(c.field(f.name, "vars") + ": expected int64 (F, k) with k >= 1, found " +
                    tuple({n, k}));
  if (m < 1)
    throw DataError(c.field(f.name, "exponents") + ": expected int32 (M, m) with m >= 1, found " +
                    tuple({terms, m}));
  if (f.linmap.size() == 0) {
    if (m != k)
      throw DataError(c.field(f.name, "exponents") +
                      ": expected width m = k = " + std::to_string(k) +
                      " (the arity of vars; no linmap), found " + tuple({terms, m}));
  } else if (f.linmap_per_factor) {
    if (f.linmap.rows() != n * m || f.linmap.cols() != k)
      throw DataError(c.field(f.name, "linmap") + ": expected (F, m, k) = " + tuple({n, m, k}) +
                      " or (m, k) = " + tuple({m, k}) + ", found " +
                      tuple({f.linmap.rows(), f.linmap.cols()}) + " stacked rows");
  } else if (f.linmap.rows() != m || f.linmap.cols() != k) {
    throw DataError(c.field(f.name, "linmap") + ": expected (m, k) = " + tuple({m, k}) +
                    " or (F, m, k) = " + tuple({n, m, k}) + " (m = width of exponents, k = " +
                    "width of vars), found " + tuple({f.linmap.rows(), f.linmap.cols()}));
  }
  if (f.coeffs.cols() != terms || (f.coeffs.rows() != n && f.coeffs.rows() != 1))
    throw DataError(c.field(f.name, "coeffs") + ": expected (F, M) = " + tuple({n, terms}) +
                    " or (1, M) = " + tuple({1, terms}) + ", found " +
                    tuple({f.coeffs.rows(), f.coeffs.cols()}));
  for (Eigen::Index r = 0; r < f.exponents.rows(); ++r)
    for (Eigen::Index j = 0; j < f.exponents.cols(); ++j)
      if (f.exponents(r, j) < 0)
        throw DataError(c.field(f.name, "exponents") + ": expected exponents >= 0, found " +
                        std::to_string(f.exponents(r, j)) + " at " + tuple({r, j}));
  for (Eigen::Index r = 0; r < f.coeffs.rows(); ++r)
    for (Eigen::Index j = 0; j < f.coeffs.cols(); ++j)
      if (!std::isfinite(f.coeffs(r, j)))
        throw DataError(c.field(f.name, "coeffs") + ": expected finite values, found " +
                        number(f.coeffs(r, j)) + " at " + tuple({r, j}));
  for (Eigen::Index r = 0; r < f.linmap.rows(); ++r)
    for (Eigen::Index j = 0; j < f.linmap.cols(); ++j)
      if (!std::isfinite(f.linmap(r, j)))
        throw DataError(c.field(f.name, "linmap") + ": expected finite values, found " +
                        number(f.linmap(r, j)) + " at " +
                        (f.linmap_per_factor ? tuple({r / m, r % m, j}) : tuple({r, j})));
  std::vector<int64_t> row;
  for (Eigen::Index r = 0; r < f.vars.rows(); ++r) {
    for (Eigen::Index j = 0; j < k; ++j) {
      const int64_t id = f.vars(r, j);
      if (id < 0 || id >= num_vars)
        throw DataError(c.field(f.name, "vars") +
                        ": expected variable ids in [0, num_vars = " + std::to_string(num_vars) +
                        "), found " + std::to_string(id) + " at " + tuple({r, j}));
    }
    row.assign(f.vars.row(r).data(), f.vars.row(r).data() + k);
    std::sort(row.begin(), row.end());
    const auto dup = std::adjacent_find(row.begin(), row.end());
    if (dup != row.end())
      throw DataError(c.field(f.name, "vars") + ": expected distinct ids in each row, found " +
                      std::to_string(*dup) + " repeated in row " + std::to_string(r));
  }
  const auto declared = c.declared_degree.find(f.name);
  if (declared != c.declared_degree.end() && declared->second != table_degree(f.exponents))
    throw DataError(c.at("/factors/" + f.name + " (attr degree)", "factors." + f.name + ".degree") +
                    ": declared degree " + std::to_string(declared->second) +
                    " but the exponent table has degree " +
                    std::to_string(table_degree(f.exponents)));
}

void check_vector(const Eigen::VectorXd& v, int64_t num_vars, const std::string& where) {
  if (v.size() != num_vars)
    throw DataError(where + ": expected length num_vars = " + std::to_string(num_vars) +
                    ", found " + std::to_string(v.size()));
  for (Eigen::Index i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      throw DataError(where + ": expected finite values, found " + number(v[i]) + " at index " +
                      std::to_string(i));
}

void validate(const Model& model, const Context& c) {
  if (model.num_vars < 1)
    throw DataError(c.at("/ (attr num_vars)", "num_vars") + ": expected num_vars >= 1, found " +
                    std::to_string(model.num_vars));
  if (std::find(kApps.begin(), kApps.end(), model.app) == kApps.end())
    throw DataError(c.at("/ (attr app)", "app") + ": expected one of " + join(kApps) + ", found '" +
                    model.app + "'");
  if (model.families.empty())
    throw DataError(c.at("/factors", "factors") +
                    ": expected at least one factor family, found none");
  for (size_t i = 0; i < model.families.size(); ++i) {
    const std::string& name = model.families[i].name;
    if (name.empty() || name.find('/') != std::string::npos)
      throw DataError(c.at("/factors", "factors") +
                      ": expected a family name without '/', found '" + name + "'");
    for (size_t j = 0; j < i; ++j)
      if (model.families[i].name == model.families[j].name)
        throw DataError(c.at("/factors", "factors") + ": family name '" + model.families[i].name +
                        "' appears twice");
    validate_family(model.families[i], model.num_vars, c);
  }
  if (model.x0.size() > 0) check_vector(model.x0, model.num_vars, c.at("/x0", "x0"));
  if (model.truth.size() > 0) check_vector(model.truth, model.num_vars, c.at("/truth/x", "truth"));
}

// ---- HDF5 --------------------------------------------------------------------------------

using io::require_dataset;

size_t element_count(const DatasetInfo& meta) {
  return std::accumulate(meta.shape.begin(), meta.shape.end(), size_t{1},
                         [](size_t a, hsize_t b) { return a * static_cast<size_t>(b); });
}

// Reads a whole dataset converted to `mem_type` (the lib reads only ranks 1-2 / int rank 1).
void read_raw(const H5File& file, const std::string& path, hid_t mem_type, size_t count,
              void* out) {
  file.read_raw(path, mem_type, out, count);
}

VarTable read_vars(const H5File& file, const std::string& path) {
  const DatasetInfo meta = require_dataset(file, path, true, {2}, "int64 (F, k)");
  VarTable vars(static_cast<Eigen::Index>(meta.shape[0]), static_cast<Eigen::Index>(meta.shape[1]));
  read_raw(file, path, H5T_NATIVE_INT64, element_count(meta), vars.data());
  return vars;
}

ExponentTable read_exponents(const H5File& file, const std::string& path) {
  const DatasetInfo meta = require_dataset(file, path, true, {2}, "int32 (M, m)");
  VarTable wide(static_cast<Eigen::Index>(meta.shape[0]), static_cast<Eigen::Index>(meta.shape[1]));
  read_raw(file, path, H5T_NATIVE_INT64, element_count(meta), wide.data());
  for (Eigen::Index i = 0; i < wide.size(); ++i)
    if (wide.data()[i] > INT_MAX || wide.data()[i] < INT_MIN)
      throw DataError(file.path() + ":" + path + ": expected int32 values, found " +
                      std::to_string(wide.data()[i]));
  return wide.cast<int>();
}

Eigen::VectorXd read_model_vector(const H5File& file, const std::string& path) {
  require_dataset(file, path, false, {1}, "float64 (V,)");
  return file.read_vector(path);
}

void read_family(const H5File& file, const std::string& name, Context& c, FactorFamily& f) {
  const std::string base = "/factors/" + name;
  if (!file.is_group(base))
    throw DataError(file.path() + ":" + base +
                    ": expected a family group with vars, exponents, coeffs, found a dataset");
  f.name = name;
  f.vars = read_vars(file, base + "/vars");
  f.exponents = read_exponents(file, base + "/exponents");
  const int64_t n = f.vars.rows(), k = f.vars.cols(), m = f.exponents.cols();
  const std::string coeffs = base + "/coeffs";
  if (!file.exists(coeffs) && file.exists(base + "/basis") && file.exists(base + "/weights")) {
    // Basis form (spec 3.3 SHOULD): f_r = sum_g w_rg b_g, expanded to per-factor coefficients.
    require_dataset(file, base + "/basis", false, {2}, "float64 (G, M)");
    require_dataset(file, base + "/weights", false, {2}, "float64 (F, G)");
    const RowMatrixXd basis = file.read_matrix(base + "/basis");
    const RowMatrixXd weights = file.read_matrix(base + "/weights");
    if (weights.rows() != n || weights.cols() != basis.rows())
      throw DataError(file.path() + ":" + base +
                      "/weights: expected (F, G) = " + tuple({n, basis.rows()}) + ", found " +
                      tuple({weights.rows(), weights.cols()}));
    f.coeffs = weights * basis;
  } else {
    require_dataset(file, coeffs, false, {2}, "float64 (F, M) or (1, M)");
    f.coeffs = file.read_matrix(coeffs);
  }
  const std::string linmap = base + "/linmap";
  if (file.exists(linmap)) {
    const DatasetInfo meta =
        require_dataset(file, linmap, false, {2, 3}, "float64 (m, k) or (F, m, k)");
    if (meta.shape.size() == 2) {
      f.linmap = file.read_matrix(linmap);
    } else {
      const auto d0 = static_cast<int64_t>(meta.shape[0]), d1 = static_cast<int64_t>(meta.shape[1]),
                 d2 = static_cast<int64_t>(meta.shape[2]);
      if (d0 != n || d1 != m || d2 != k)
        throw DataError(file.path() + ":" + linmap + ": expected (F, m, k) = " + tuple({n, m, k}) +
                        " or (m, k) = " + tuple({m, k}) + ", found " + meta.describe());
      f.linmap.resize(d0 * d1, d2);
      read_raw(file, linmap, H5T_NATIVE_DOUBLE, element_count(meta), f.linmap.data());
      f.linmap_per_factor = true;
    }
  }
  if (file.has_attribute(base, "degree"))
    c.declared_degree[name] = file.read_attribute_int(base, "degree");
}

void write_rank3(H5File& file, const std::string& path, const RowMatrixXd& data, hsize_t d0,
                 hsize_t d1, hsize_t d2) {
  const hsize_t dims[3] = {d0, d1, d2};
  H5Id space(H5Screate_simple(3, dims, nullptr));
  H5Id ds(H5Dcreate2(file.id(), path.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                     H5P_DEFAULT));
  if (!ds.valid()) throw WriteError(file.path() + ":" + path + ": cannot create dataset");
  if (data.size() > 0 &&
      H5Dwrite(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) < 0)
    throw WriteError(file.path() + ":" + path + ": writing failed");
}

void set_int32_attribute(H5File& file, const std::string& object, const std::string& name,
                         int value) {
  H5Id obj(H5Oopen(file.id(), object.c_str(), H5P_DEFAULT));
  if (!obj.valid()) throw WriteError(file.path() + ":" + object + ": cannot open object");
  if (H5Aexists(obj.get(), name.c_str()) > 0) H5Adelete(obj.get(), name.c_str());
  H5Id space(H5Screate(H5S_SCALAR));
  H5Id attr(
      H5Acreate2(obj.get(), name.c_str(), H5T_STD_I32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attr.valid() || H5Awrite(attr.get(), H5T_NATIVE_INT, &value) < 0)
    throw WriteError(file.path() + ":" + object + ": writing attribute '" + name + "' failed");
}

// ---- YAML --------------------------------------------------------------------------------

std::string mark_text(const YAML::Mark& mark) {
  return std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

// Rejects keys outside `valid` (ConfigError naming the nearest valid key, spec 6).
void check_keys(const YAML::Node& map, const std::vector<std::string>& valid,
                const std::string& prefix, const std::string& source) {
  for (const auto& kv : map) {
    const std::string key = kv.first.as<std::string>();
    if (std::find(valid.begin(), valid.end(), key) == valid.end())
      throw ConfigError(source + ":" + mark_text(kv.first.Mark()) + ": unknown key '" + prefix +
                        key + "'; nearest valid key: '" + prefix + io::nearest(key, valid) + "'");
  }
}

constexpr size_t kMaxRank = 3;

// A nested YAML list flattened row-major: its shape and its scalar leaves.
struct YamlArray {
  std::vector<int64_t> shape;  // at most kMaxRank entries
  std::vector<YAML::Node> leaves;
};

void flatten(const YAML::Node& node, size_t depth, YamlArray& out, const std::string& where) {
  if (!node.IsSequence()) {
    if (!node.IsScalar())
      throw DataError(where + ": expected numbers in nested lists, found a mapping");
    if (depth != out.shape.size())
      throw DataError(where + ": expected a rectangular nested list, found a number at depth " +
                      std::to_string(depth) + " where lists nest " +
                      std::to_string(out.shape.size()) + " deep");
    out.leaves.push_back(node);
    return;
  }
  const auto size = static_cast<int64_t>(node.size());
  if (depth == out.shape.size()) {
    if (!out.leaves.empty())
      throw DataError(where + ": expected a rectangular nested list, found a list where a " +
                      "number was expected");
    if (depth >= kMaxRank)
      throw DataError(where + ": wrong rank, expected at most " + std::to_string(kMaxRank) +
                      " nested lists, found more");
    out.shape.resize(depth + 1);
    out.shape[depth] = size;
  } else if (out.shape[depth] != size) {
    throw DataError(where + ": expected a rectangular nested list, found rows of lengths " +
                    std::to_string(out.shape[depth]) + " and " + std::to_string(size));
  }
  for (const auto& child : node) flatten(child, depth + 1, out, where);
}

YamlArray yaml_array(const YAML::Node& node, std::initializer_list<size_t> ranks,
                     const std::string& expected, const std::string& where) {
  YamlArray a;
  flatten(node, 0, a, where);
  if (std::find(ranks.begin(), ranks.end(), a.shape.size()) == ranks.end()) {
    std::string found = "(";
    for (size_t i = 0; i < a.shape.size(); ++i)
      found += (i ? ", " : "") + std::to_string(a.shape[i]);
    if (a.shape.size() == 1) found += ",";
    throw DataError(where + ": wrong rank, expected " + expected + ", found " +
                    (a.shape.empty() ? "a number" : found + ")"));
  }
  return a;
}

double yaml_double(const YAML::Node& n, const std::string& where) {
  try {
    return n.as<double>();
  } catch (const YAML::Exception&) {
    throw DataError(where + ": expected a number, found '" + n.Scalar() + "' at " +
                    mark_text(n.Mark()));
  }
}

int64_t yaml_int(const YAML::Node& n, const std::string& where) {
  try {
    return n.as<int64_t>();
  } catch (const YAML::Exception&) {
    throw DataError(where + ": expected an integer, found '" + n.Scalar() + "' at " +
                    mark_text(n.Mark()));
  }
}

Eigen::VectorXd yaml_vector(const YAML::Node& node, const std::string& where) {
  const YamlArray a = yaml_array(node, {1}, "a list of V numbers", where);
  Eigen::VectorXd v(a.shape[0]);
  for (Eigen::Index i = 0; i < v.size(); ++i) v[i] = yaml_double(a.leaves[i], where);
  return v;
}

template <typename Matrix, typename Convert>
Matrix yaml_matrix(const YamlArray& a, Convert convert) {
  const int64_t rows = a.shape.size() == 1 ? 1 : a.shape[0];
  const int64_t cols = a.shape.size() == 1 ? a.shape[0] : a.shape[1];
  Matrix out(rows, cols * (a.shape.size() == 3 ? a.shape[2] : 1));
  for (size_t i = 0; i < a.leaves.size(); ++i) out.data()[i] = convert(a.leaves[i]);
  return out;
}

void read_yaml_family(const std::string& name, const YAML::Node& node, Context& c,
                      FactorFamily& f) {
  const std::string prefix = "factors." + name + ".";
  if (!node.IsMap())
    throw DataError(c.file + ":" + mark_text(node.Mark()) + ": factors." + name +
                    ": expected a mapping with vars, exponents, coeffs");
  check_keys(node, kFamilyKeys, prefix, c.file);
  for (const auto& kv : node)
    c.marks[prefix + kv.first.as<std::string>()] = mark_text(kv.second.Mark());
  for (const char* key : {"vars", "exponents", "coeffs"})
    if (!node[key])
      throw DataError(c.file + ":" + mark_text(node.Mark()) + ": missing key " + prefix + key);
  f.name = name;
  const std::string wv = c.field(name, "vars"), we = c.field(name, "exponents"),
                    wc = c.field(name, "coeffs"), wl = c.field(name, "linmap");
  f.vars = yaml_matrix<VarTable>(yaml_array(node["vars"], {2}, "(F, k) integers", wv),
                                 [&](const YAML::Node& n) { return yaml_int(n, wv); });
  const YamlArray e = yaml_array(node["exponents"], {2}, "(M, m) integers", we);
  f.exponents = yaml_matrix<VarTable>(e, [&](const YAML::Node& n) {
                  const int64_t v = yaml_int(n, we);
                  if (v > INT_MAX || v < INT_MIN)
                    throw DataError(we + ": expected int32 values, found " + std::to_string(v));
                  return v;
                }).cast<int>();
  auto to_double = [&](const std::string& w) {
    return [w](const YAML::Node& n) { return yaml_double(n, w); };
  };
  // A flat list is one shared coefficient row.
  f.coeffs = yaml_matrix<RowMatrixXd>(
      yaml_array(node["coeffs"], {1, 2}, "(F, M) or (1, M) numbers", wc), to_double(wc));
  if (node["linmap"] && !node["linmap"].IsNull()) {
    const YamlArray a = yaml_array(node["linmap"], {2, 3}, "(m, k) or (F, m, k) numbers", wl);
    f.linmap = yaml_matrix<RowMatrixXd>(a, to_double(wl));
    if (a.shape.size() == 3) {
      const int64_t n = f.vars.rows(), k = f.vars.cols(), m = f.exponents.cols();
      if (a.shape[0] != n || a.shape[1] != m || a.shape[2] != k)
        throw DataError(wl + ": expected (F, m, k) = " + tuple({n, m, k}) + " or (m, k) = " +
                        tuple({m, k}) + ", found " + tuple({a.shape[0], a.shape[1], a.shape[2]}));
      const RowMatrixXd stacked = Eigen::Map<const RowMatrixXd>(
          f.linmap.data(), a.shape[0] * a.shape[1], a.shape[2]);  // row-major: same order
      f.linmap = stacked;
      f.linmap_per_factor = true;
    }
  }
  if (node["degree"]) c.declared_degree[name] = yaml_int(node["degree"], c.field(name, "degree"));
}

bool has_yaml_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return ext == ".yaml" || ext == ".yml";
}

void put_u64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_f64(std::string& out, double d) {
  uint64_t bits = 0;
  std::memcpy(&bits, &d, sizeof bits);
  put_u64(out, bits);
}

}  // namespace

std::vector<std::string> accepted_model_schemas() { return {kModelSchema}; }

int table_degree(const ExponentTable& exponents) {
  int d = 0;
  for (Eigen::Index r = 0; r < exponents.rows(); ++r) d = std::max(d, exponents.row(r).sum());
  return d;
}

void validate_model(const Model& model, const std::string& source) {
  Context c;
  c.file = source;
  validate(model, c);
}

namespace {

// /meta of the image applications (spec 3.3): shape i64[2] and H x W images, all optional.
void read_meta(const io::H5File& file, ImageMeta& meta) {
  if (!file.exists("/meta/shape")) return;
  const auto shape = file.read_int_vector("/meta/shape");
  if (shape.size() != 2 || shape[0] < 1 || shape[1] < 1)
    throw DataError(file.path() + ":/meta/shape: expected 2 positive integers (H, W)");
  meta.height = shape[0];
  meta.width = shape[1];
  // Per-pixel images are H x W; SFS shading is per triangle, (H-1) x (W-1).
  auto image = [&](const std::string& name, RowMatrixXd& out) {
    const std::string path = "/meta/" + name;
    if (!file.exists(path)) return;
    out = file.read_matrix(path);
    const bool per_pixel = out.rows() == meta.height && out.cols() == meta.width;
    const bool per_triangle = out.rows() == meta.height - 1 && out.cols() == meta.width - 1;
    if (!per_pixel && !(per_triangle && name != "clean" && name != "valid"))
      throw DataError(file.path() + ":" + path + ": expected shape (" +
                      std::to_string(meta.height) + ", " + std::to_string(meta.width) +
                      "), found (" + std::to_string(out.rows()) + ", " +
                      std::to_string(out.cols()) + ")");
    if (!out.allFinite())
      throw DataError(file.path() + ":" + path + ": expected finite values, found NaN/Inf");
  };
  image("observed", meta.observed);
  image("clean", meta.clean);
  image("shading", meta.shading);
  if (file.exists("/meta/valid")) {
    RowMatrixXd valid;
    image("valid", valid);
    meta.valid = (valid.array() != 0).cast<uint8_t>();
  }
  if (file.exists("/meta/light")) {
    meta.light = file.read_vector("/meta/light");
    if (meta.light.size() != 3 || !meta.light.allFinite())
      throw DataError(file.path() + ":/meta/light: expected 3 finite values");
  }
}

void write_meta(io::H5File& file, const ImageMeta& meta) {
  if (meta.empty()) return;
  file.create_group("/meta");
  file.write_int64("/meta/shape", {meta.height, meta.width});
  auto image = [&](const std::string& name, const RowMatrixXd& m, const char* units) {
    if (m.size() == 0) return;
    file.write_matrix("/meta/" + name, m);
    file.set_units("/meta/" + name, units);
  };
  image("observed", meta.observed, "intensity in [0,1]");
  image("clean", meta.clean, "intensity in [0,1]");
  image("shading", meta.shading, "intensity in [0,1]");
  if (meta.valid.size() > 0) {
    file.write_uint8(
        "/meta/valid",
        std::vector<uint8_t>(meta.valid.data(), meta.valid.data() + meta.valid.size()),
        {static_cast<hsize_t>(meta.valid.rows()), static_cast<hsize_t>(meta.valid.cols())});
    file.set_units("/meta/valid", "1 = valid pixel");
  }
  if (meta.light.size() > 0) {
    file.write_vector("/meta/light", meta.light);
    file.set_units("/meta/light", "direction (l1, l2, 1)");
  }
}

}  // namespace

Model read_model(const io::H5File& file) {
  const std::string root = file.path() + ":/";
  const auto accepted = accepted_model_schemas();
  if (!file.has_attribute("/", "effinfer_schema"))
    throw DataError(root +
                    ": root attribute effinfer_schema missing, expected one of: " + join(accepted));
  const std::string schema = file.read_attribute_string("/", "effinfer_schema");
  if (std::find(accepted.begin(), accepted.end(), schema) == accepted.end())
    throw DataError(root + ": root attribute effinfer_schema: expected one of: " + join(accepted) +
                    ", found '" + schema + "'");
  Context c;
  c.file = file.path();
  Model model;
  if (!file.has_attribute("/", "num_vars"))
    throw DataError(root + ": root attribute num_vars missing, expected int64");
  model.num_vars = file.read_attribute_int("/", "num_vars");
  if (file.has_attribute("/", "app")) model.app = file.read_attribute_string("/", "app");
  if (file.exists("/x0")) {
    model.x0 = read_model_vector(file, "/x0");
    check_vector(model.x0, model.num_vars, file.path() + ":/x0");
  }
  if (file.exists("/truth/x")) {
    model.truth = read_model_vector(file, "/truth/x");
    check_vector(model.truth, model.num_vars, file.path() + ":/truth/x");
  }
  if (file.is_group("/meta")) read_meta(file, model.meta);
  if (!file.is_group("/factors"))
    throw DataError(file.path() + ":/factors: missing group /factors, expected one group per " +
                    "factor family");
  const auto names = file.children("/factors");
  if (names.empty())
    throw DataError(file.path() + ":/factors: expected at least one factor family, found an " +
                    "empty group");
  model.families.resize(names.size());
  for (size_t i = 0; i < names.size(); ++i) read_family(file, names[i], c, model.families[i]);
  validate(model, c);
  return model;
}

namespace {

Model parse_yaml_root(const YAML::Node& root, const std::string& source_name) {
  if (!root.IsMap())
    throw DataError(source_name + ": expected a YAML mapping with num_vars and factors, found " +
                    (root.IsNull() ? "an empty document" : "a list or scalar"));
  Context c;
  c.file = source_name;
  c.yaml = true;
  check_keys(root, kRootKeys, "", source_name);
  for (const auto& kv : root) c.marks[kv.first.as<std::string>()] = mark_text(kv.second.Mark());
  Model model;
  if (!root["num_vars"]) throw DataError(source_name + ": missing key num_vars (integer)");
  model.num_vars = yaml_int(root["num_vars"], c.at("", "num_vars"));
  if (root["app"]) model.app = root["app"].as<std::string>();
  if (root["x0"] && !root["x0"].IsNull()) {
    model.x0 = yaml_vector(root["x0"], c.at("", "x0"));
    check_vector(model.x0, model.num_vars, c.at("", "x0"));
  }
  if (root["truth"] && !root["truth"].IsNull()) {
    YAML::Node truth = root["truth"];
    if (truth.IsMap()) {
      check_keys(truth, {"x"}, "truth.", source_name);
      truth = truth["x"];
    }
    if (truth && !truth.IsNull()) {
      model.truth = yaml_vector(truth, c.at("", "truth"));
      check_vector(model.truth, model.num_vars, c.at("", "truth"));
    }
  }
  const YAML::Node factors = root["factors"];
  if (!factors || factors.IsNull())
    throw DataError(source_name + ": missing key factors, expected a mapping family name -> " +
                    "{vars, exponents, coeffs, linmap}");
  if (!factors.IsMap() || factors.size() == 0)
    throw DataError(c.at("", "factors") + ": expected a non-empty mapping family name -> " +
                    "{vars, exponents, coeffs, linmap}");
  for (const auto& kv : factors) {
    model.families.emplace_back();
    read_yaml_family(kv.first.as<std::string>(), kv.second, c, model.families.back());
  }
  std::sort(model.families.begin(), model.families.end(),
            [](const FactorFamily& a, const FactorFamily& b) { return a.name < b.name; });
  validate(model, c);
  return model;
}

}  // namespace

Model parse_model_yaml(const std::string& text, const std::string& source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(source_name + ":" + mark_text(e.mark) + ": YAML syntax error: " + e.msg);
  }
  try {
    return parse_yaml_root(root, source_name);
  } catch (const YAML::Exception& e) {  // e.g. a list where a name or string belongs
    throw DataError(source_name + ":" + mark_text(e.mark) + ": " + e.msg);
  }
}

Model read_model(const std::string& path) {
  if (!has_yaml_extension(path)) return read_model(io::H5File::open(path));
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path + ": input file does not exist");
  if (std::filesystem::is_directory(path, ec))
    throw InputError(path + ": expected a YAML model file, found a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open for reading (permission denied?)");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_model_yaml(text.str(), path);
}

void write_model(io::H5File& file, const Model& model) {
  file.set_attribute("/", "effinfer_schema", kModelSchema);
  file.set_attribute("/", "num_vars", static_cast<int64_t>(model.num_vars));
  file.set_attribute("/", "app", model.app);
  if (model.x0.size() > 0) file.write_vector("/x0", model.x0);
  if (model.truth.size() > 0) file.write_vector("/truth/x", model.truth);
  write_meta(file, model.meta);
  file.create_group("/factors");
  for (const auto& f : model.families) {
    const std::string base = "/factors/" + f.name;
    file.create_group(base);
    const auto n = static_cast<hsize_t>(f.vars.rows()), k = static_cast<hsize_t>(f.vars.cols());
    file.write_int64(base + "/vars",
                     std::vector<int64_t>(f.vars.data(), f.vars.data() + f.vars.size()), {n, k});
    std::vector<int32_t> exps(f.exponents.data(), f.exponents.data() + f.exponents.size());
    file.write_int32(
        base + "/exponents", exps,
        {static_cast<hsize_t>(f.exponents.rows()), static_cast<hsize_t>(f.exponents.cols())});
    file.write_matrix(base + "/coeffs", f.coeffs);
    if (f.linmap.size() > 0) {
      if (f.linmap_per_factor) {
        const auto m = static_cast<hsize_t>(std::max<Eigen::Index>(f.exponents.cols(), 1));
        write_rank3(file, base + "/linmap", f.linmap, static_cast<hsize_t>(f.linmap.rows()) / m, m,
                    static_cast<hsize_t>(f.linmap.cols()));
      } else {
        file.write_matrix(base + "/linmap", f.linmap);
      }
    }
    set_int32_attribute(file, base, "degree", table_degree(f.exponents));
  }
}

std::string model_sha256(const Model& model) {
  std::vector<size_t> order(model.families.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return model.families[a].name < model.families[b].name; });
  std::string bytes = "mrf-cccp/model-factors/1";
  put_u64(bytes, order.size());
  for (size_t i : order) {
    const FactorFamily& f = model.families[i];
    put_u64(bytes, f.name.size());
    bytes += f.name;
    put_u64(bytes, static_cast<uint64_t>(f.vars.rows()));
    put_u64(bytes, static_cast<uint64_t>(f.vars.cols()));
    for (Eigen::Index j = 0; j < f.vars.size(); ++j)
      put_u64(bytes, static_cast<uint64_t>(f.vars.data()[j]));
    put_u64(bytes, static_cast<uint64_t>(f.exponents.rows()));
    put_u64(bytes, static_cast<uint64_t>(f.exponents.cols()));
    for (Eigen::Index j = 0; j < f.exponents.size(); ++j)
      put_u64(bytes, static_cast<uint64_t>(static_cast<int64_t>(f.exponents.data()[j])));
    put_u64(bytes, static_cast<uint64_t>(f.coeffs.rows()));
    put_u64(bytes, static_cast<uint64_t>(f.coeffs.cols()));
    for (Eigen::Index j = 0; j < f.coeffs.size(); ++j) put_f64(bytes, f.coeffs.data()[j]);
    bytes.push_back(f.linmap_per_factor ? '\1' : '\0');
    put_u64(bytes, static_cast<uint64_t>(f.linmap.rows()));
    put_u64(bytes, static_cast<uint64_t>(f.linmap.cols()));
    for (Eigen::Index j = 0; j < f.linmap.size(); ++j) put_f64(bytes, f.linmap.data()[j]);
  }
  return sha256_hex(bytes);
}

}  // namespace effinfer::mrf
