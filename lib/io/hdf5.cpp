#include "io/hdf5.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"

namespace effinfer::io {
namespace {

std::string shape_string(const std::vector<hsize_t>& shape) {
  std::ostringstream out;
  out << "(";
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) out << ",";
  out << ")";
  return out.str();
}

hsize_t element_count(const std::vector<hsize_t>& shape) {
  hsize_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

// Splits "/a/b/c" into its components.
std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> parts;
  std::string part;
  for (char c : path) {
    if (c == '/') {
      if (!part.empty()) parts.push_back(part);
      part.clear();
    } else {
      part += c;
    }
  }
  if (!part.empty()) parts.push_back(part);
  return parts;
}

}  // namespace

void silence_hdf5_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

H5Id& H5Id::operator=(H5Id&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    other.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void H5Id::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      H5Oclose(id_);
      break;
  }
  id_ = H5I_INVALID_HID;
}

std::string DatasetInfo::describe() const {
  std::string type;
  switch (element) {
    case ElementClass::kInteger:
      type = "int" + std::to_string(8 * element_size);
      break;
    case ElementClass::kFloat:
      type = "float" + std::to_string(8 * element_size);
      break;
    case ElementClass::kString:
      type = "string";
      break;
    default:
      type = "non-numeric";
      break;
  }
  return type + " " + shape_string(shape);
}

H5File H5File::open(const std::string& path) {
  silence_hdf5_errors();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path + ": input file does not exist");
  if (std::filesystem::is_directory(path, ec))
    throw InputError(path + ": expected an HDF5 file, found a directory");
  {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw InputError(path + ": cannot open for reading (permission denied?)");
    if (probe.peek() == std::ifstream::traits_type::eof())
      throw InputError(path + ": file is empty, expected HDF5");
  }
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(path + ": not an HDF5 file");
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) throw InputError(path + ": cannot open HDF5 file");
  return H5File(path, H5Id(id));
}

H5File H5File::create(const std::string& path) {
  silence_hdf5_errors();
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) throw WriteError(path + ": cannot create HDF5 file");
  return H5File(path, H5Id(id));
}

void H5File::close() {
  if (file_.valid() && H5Fflush(file_.get(), H5F_SCOPE_LOCAL) < 0)
    throw WriteError(path_ + ": flushing HDF5 file failed");
  file_.reset();
}

std::string H5File::where(const std::string& object) const { return path_ + ":" + object; }

bool H5File::exists(const std::string& object) const {
  std::string partial;
  for (const auto& part : components(object)) {
    partial += "/" + part;
    if (H5Lexists(file_.get(), partial.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

// HDF5 1.10 (Debian 12) lacks H5Oget_info3; opening the object and asking its id type works on
// every version.
H5I_type_t H5File::object_type(const std::string& object) const {
  if (!exists(object)) return H5I_BADID;
  H5Id obj(H5Oopen(file_.get(), object.c_str(), H5P_DEFAULT));
  return obj.valid() ? H5Iget_type(obj.get()) : H5I_BADID;
}

bool H5File::is_dataset(const std::string& object) const {
  return object_type(object) == H5I_DATASET;
}

bool H5File::is_group(const std::string& object) const {
  if (object == "/" || object.empty()) return true;
  return object_type(object) == H5I_GROUP;
}

std::vector<std::string> H5File::children(const std::string& group) const {
  if (!is_group(group)) throw DataError(where(group) + ": expected a group, found none");
  H5Id g(H5Gopen2(file_.get(), group.empty() ? "/" : group.c_str(), H5P_DEFAULT));
  H5G_info_t info;
  H5Gget_info(g.get(), &info);
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t len =
        H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    std::string name(static_cast<size_t>(len), '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), len + 1,
                       H5P_DEFAULT);
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

H5Id H5File::open_dataset(const std::string& dataset) const {
  if (!exists(dataset)) throw DataError(where(dataset) + ": dataset not found");
  if (!is_dataset(dataset)) throw DataError(where(dataset) + ": expected a dataset, found a group");
  H5Id id(H5Dopen2(file_.get(), dataset.c_str(), H5P_DEFAULT));
  if (!id.valid()) throw DataError(where(dataset) + ": cannot open dataset");
  return id;
}

H5Id H5File::open_object(const std::string& object) const {
  const std::string path = object.empty() ? "/" : object;
  if (path != "/" && !exists(path)) throw DataError(where(path) + ": object not found");
  H5Id id(H5Oopen(file_.get(), path.c_str(), H5P_DEFAULT));
  if (!id.valid()) throw DataError(where(path) + ": cannot open object");
  return id;
}

DatasetInfo H5File::info(const std::string& dataset) const {
  H5Id ds = open_dataset(dataset);
  H5Id space(H5Dget_space(ds.get()));
  H5Id type(H5Dget_type(ds.get()));
  DatasetInfo info;
  int rank = H5Sget_simple_extent_ndims(space.get());
  info.shape.resize(static_cast<size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), info.shape.data(), nullptr);
  switch (H5Tget_class(type.get())) {
    case H5T_INTEGER:
      info.element = ElementClass::kInteger;
      break;
    case H5T_FLOAT:
      info.element = ElementClass::kFloat;
      break;
    case H5T_STRING:
      info.element = ElementClass::kString;
      break;
    default:
      info.element = ElementClass::kOther;
      break;
  }
  info.element_size = H5Tget_size(type.get());
  return info;
}

void H5File::read_doubles(const std::string& dataset, double* out) const {
  const DatasetInfo meta = info(dataset);
  if (meta.element != ElementClass::kInteger && meta.element != ElementClass::kFloat)
    throw DataError(where(dataset) + ": expected a numeric dataset, found " + meta.describe());
  H5Id ds = open_dataset(dataset);
  if (element_count(meta.shape) == 0) return;
  if (H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    throw DataError(where(dataset) + ": reading as float64 failed");
}

Eigen::VectorXd H5File::read_vector(const std::string& dataset) const {
  const DatasetInfo meta = info(dataset);
  if (meta.shape.size() != 1)
    throw DataError(where(dataset) + ": expected rank 1 (N,), found " + meta.describe());
  Eigen::VectorXd v(static_cast<Eigen::Index>(meta.shape[0]));
  read_doubles(dataset, v.data());
  return v;
}

double H5File::read_scalar(const std::string& dataset) const {
  const DatasetInfo meta = info(dataset);
  if (element_count(meta.shape) != 1)
    throw DataError(where(dataset) + ": expected a single number, found " + meta.describe());
  double value = 0;
  read_doubles(dataset, &value);
  return value;
}

RowMatrixXd H5File::read_matrix(const std::string& dataset) const {
  const DatasetInfo meta = info(dataset);
  if (meta.shape.size() != 2)
    throw DataError(where(dataset) + ": expected rank 2 (rows, cols), found " + meta.describe());
  RowMatrixXd m(static_cast<Eigen::Index>(meta.shape[0]), static_cast<Eigen::Index>(meta.shape[1]));
  read_doubles(dataset, m.data());
  return m;
}

RowMatrixXd H5File::read_columns(const std::string& dataset) const {
  const DatasetInfo meta = info(dataset);
  if (meta.shape.size() == 1) {
    RowMatrixXd m(static_cast<Eigen::Index>(meta.shape[0]), 1);
    read_doubles(dataset, m.data());
    return m;
  }
  if (meta.shape.size() == 2) return read_matrix(dataset);
  throw DataError(where(dataset) + ": expected (N,) or (N, M), found " + meta.describe());
}

std::vector<int64_t> H5File::read_int_vector(const std::string& dataset) const {
  const DatasetInfo meta = info(dataset);
  if (meta.shape.size() != 1)
    throw DataError(where(dataset) + ": expected rank 1 (N,) integer, found " + meta.describe());
  std::vector<int64_t> values(meta.shape[0]);
  if (meta.element == ElementClass::kInteger) {
    H5Id ds = open_dataset(dataset);
    if (!values.empty() &&
        H5Dread(ds.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
      throw DataError(where(dataset) + ": reading as int64 failed");
    return values;
  }
  if (meta.element != ElementClass::kFloat)
    throw DataError(where(dataset) + ": expected (N,) integer, found " + meta.describe());
  Eigen::VectorXd v = read_vector(dataset);
  for (Eigen::Index i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i]) || v[i] != std::round(v[i]))
      throw DataError(where(dataset) + ": expected integral values, found " + std::to_string(v[i]) +
                      " at index " + std::to_string(i));
    values[static_cast<size_t>(i)] = static_cast<int64_t>(v[i]);
  }
  return values;
}

void H5File::read_raw(const std::string& dataset, hid_t mem_type, void* out, size_t count) const {
  const DatasetInfo meta = info(dataset);
  size_t n = 1;
  for (hsize_t d : meta.shape) n *= static_cast<size_t>(d);
  if (n != count)
    throw DataError(path_ + ":" + dataset + ": expected " + std::to_string(count) +
                    " elements, found " + meta.describe());
  if (count == 0) return;
  H5Id ds = open_dataset(dataset);
  if (H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    throw DataError(path_ + ":" + dataset + ": reading failed");
}

std::vector<std::string> H5File::read_strings(const std::string& dataset) const {
  const DatasetInfo meta = info(dataset);
  if (meta.element != ElementClass::kString || meta.shape.size() > 1)
    throw DataError(where(dataset) + ": expected strings (N,), found " + meta.describe());
  H5Id ds = open_dataset(dataset);
  H5Id file_type(H5Dget_type(ds.get()));
  const size_t n = meta.shape.empty() ? 1 : meta.shape[0];
  std::vector<std::string> out(n);
  if (H5Tis_variable_str(file_type.get()) > 0) {
    H5Id mem(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5T_CSET_UTF8);
    std::vector<char*> raw(n, nullptr);
    if (H5Dread(ds.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0)
      throw DataError(where(dataset) + ": reading strings failed");
    for (size_t i = 0; i < n; ++i) out[i] = raw[i] ? raw[i] : "";
    H5Id space(H5Dget_space(ds.get()));
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, raw.data());
  } else {
    const size_t size = H5Tget_size(file_type.get());
    std::vector<char> buffer(n * size);
    if (H5Dread(ds.get(), file_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()) < 0)
      throw DataError(where(dataset) + ": reading strings failed");
    for (size_t i = 0; i < n; ++i) {
      std::string s(buffer.data() + i * size, size);
      out[i] = s.substr(0, s.find('\0'));
    }
  }
  return out;
}

bool H5File::has_attribute(const std::string& object, const std::string& name) const {
  const std::string path = object.empty() ? "/" : object;
  if (path != "/" && !exists(path)) return false;
  return H5Aexists_by_name(file_.get(), path.c_str(), name.c_str(), H5P_DEFAULT) > 0;
}

double H5File::read_attribute_double(const std::string& object, const std::string& name) const {
  if (!has_attribute(object, name))
    throw DataError(where(object) + ": attribute '" + name + "' not found");
  H5Id obj = open_object(object);
  H5Id attr(H5Aopen(obj.get(), name.c_str(), H5P_DEFAULT));
  H5Id type(H5Aget_type(attr.get()));
  const auto cls = H5Tget_class(type.get());
  if (cls != H5T_INTEGER && cls != H5T_FLOAT)
    throw DataError(where(object) + ": attribute '" + name + "': expected a number");
  double value = 0;
  if (H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &value) < 0)
    throw DataError(where(object) + ": attribute '" + name + "': read failed");
  return value;
}

int64_t H5File::read_attribute_int(const std::string& object, const std::string& name) const {
  const double v = read_attribute_double(object, name);
  if (v != std::round(v))
    throw DataError(where(object) + ": attribute '" + name + "': expected an integer");
  return static_cast<int64_t>(v);
}

std::string H5File::read_attribute_string(const std::string& object,
                                          const std::string& name) const {
  const auto values = read_attribute_strings(object, name);
  if (values.size() != 1)
    throw DataError(where(object) + ": attribute '" + name + "': expected one string, found " +
                    std::to_string(values.size()));
  return values[0];
}

std::vector<std::string> H5File::read_attribute_strings(const std::string& object,
                                                        const std::string& name) const {
  if (!has_attribute(object, name))
    throw DataError(where(object) + ": attribute '" + name + "' not found");
  H5Id obj = open_object(object);
  H5Id attr(H5Aopen(obj.get(), name.c_str(), H5P_DEFAULT));
  H5Id type(H5Aget_type(attr.get()));
  H5Id space(H5Aget_space(attr.get()));
  if (H5Tget_class(type.get()) != H5T_STRING)
    throw DataError(where(object) + ": attribute '" + name + "': expected strings");
  if (H5Sget_simple_extent_type(space.get()) == H5S_NULL) return {};
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());  // 1 for a scalar
  std::vector<std::string> out(static_cast<size_t>(n));
  if (H5Tis_variable_str(type.get()) > 0) {
    std::vector<char*> raw(static_cast<size_t>(n), nullptr);
    H5Id mem(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    if (H5Aread(attr.get(), mem.get(), raw.data()) < 0)
      throw DataError(where(object) + ": attribute '" + name + "': read failed");
    for (size_t i = 0; i < raw.size(); ++i) out[i] = raw[i] ? raw[i] : "";
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, raw.data());
  } else {
    const size_t size = H5Tget_size(type.get());
    std::vector<char> buffer(static_cast<size_t>(n) * size);
    H5Aread(attr.get(), type.get(), buffer.data());
    for (size_t i = 0; i < out.size(); ++i) {
      std::string s(buffer.data() + i * size, size);
      out[i] = s.substr(0, s.find('\0'));
    }
  }
  return out;
}

void H5File::create_group(const std::string& group) {
  std::string partial;
  for (const auto& part : components(group)) {
    partial += "/" + part;
    if (H5Lexists(file_.get(), partial.c_str(), H5P_DEFAULT) > 0) continue;
    H5Id g(H5Gcreate2(file_.get(), partial.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (!g.valid()) throw WriteError(where(partial) + ": cannot create group");
  }
}

void H5File::write_dataset(const std::string& dataset, hid_t mem_type, hid_t file_type,
                           const std::vector<hsize_t>& shape, const void* data) {
  const auto slash = dataset.find_last_of('/');
  if (slash != std::string::npos && slash > 0) create_group(dataset.substr(0, slash));
  H5Id space(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr));
  H5Id ds(H5Dcreate2(file_.get(), dataset.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                     H5P_DEFAULT));
  if (!ds.valid()) throw WriteError(where(dataset) + ": cannot create dataset");
  if (element_count(shape) > 0 &&
      H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    throw WriteError(where(dataset) + ": writing failed");
}

void H5File::write_matrix(const std::string& dataset, const Eigen::Ref<const RowMatrixXd>& m) {
  // A Ref may be strided; copy only when it is not contiguous row-major.
  if (m.outerStride() == m.cols() || m.rows() <= 1) {
    write_dataset(dataset, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE,
                  {static_cast<hsize_t>(m.rows()), static_cast<hsize_t>(m.cols())}, m.data());
  } else {
    RowMatrixXd copy = m;
    write_matrix(dataset, copy);
  }
}

void H5File::write_vector(const std::string& dataset, const Eigen::Ref<const Eigen::VectorXd>& v) {
  if (v.innerStride() == 1) {
    write_dataset(dataset, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, {static_cast<hsize_t>(v.size())},
                  v.data());
  } else {
    Eigen::VectorXd copy = v;
    write_vector(dataset, copy);
  }
}

void H5File::write_int8(const std::string& dataset, const std::vector<int8_t>& values,
                        std::vector<hsize_t> shape) {
  if (shape.empty()) shape = {values.size()};
  write_dataset(dataset, H5T_NATIVE_INT8, H5T_STD_I8LE, shape, values.data());
}
void H5File::write_uint8(const std::string& dataset, const std::vector<uint8_t>& values,
                         std::vector<hsize_t> shape) {
  if (shape.empty()) shape = {values.size()};
  write_dataset(dataset, H5T_NATIVE_UINT8, H5T_STD_U8LE, shape, values.data());
}
void H5File::write_int32(const std::string& dataset, const std::vector<int32_t>& values,
                         std::vector<hsize_t> shape) {
  if (shape.empty()) shape = {values.size()};
  write_dataset(dataset, H5T_NATIVE_INT32, H5T_STD_I32LE, shape, values.data());
}
void H5File::write_int64(const std::string& dataset, const std::vector<int64_t>& values,
                         std::vector<hsize_t> shape) {
  if (shape.empty()) shape = {values.size()};
  write_dataset(dataset, H5T_NATIVE_INT64, H5T_STD_I64LE, shape, values.data());
}

void H5File::write_strings(const std::string& dataset, const std::vector<std::string>& values) {
  H5Id type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  std::vector<const char*> raw;
  for (const auto& s : values) raw.push_back(s.c_str());
  write_dataset(dataset, type.get(), type.get(), {values.size()}, raw.data());
}

namespace {

// Replaces an existing attribute so set_attribute is idempotent.
H5Id fresh_attribute(hid_t obj, const std::string& name, hid_t type, hid_t space) {
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  return H5Id(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT));
}

}  // namespace

void H5File::set_attribute(const std::string& object, const std::string& name, double value) {
  H5Id obj = open_object(object);
  H5Id space(H5Screate(H5S_SCALAR));
  H5Id attr = fresh_attribute(obj.get(), name, H5T_IEEE_F64LE, space.get());
  if (!attr.valid() || H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, &value) < 0)
    throw WriteError(where(object) + ": cannot write attribute '" + name + "'");
}

void H5File::set_attribute(const std::string& object, const std::string& name, int64_t value) {
  H5Id obj = open_object(object);
  H5Id space(H5Screate(H5S_SCALAR));
  H5Id attr = fresh_attribute(obj.get(), name, H5T_STD_I64LE, space.get());
  if (!attr.valid() || H5Awrite(attr.get(), H5T_NATIVE_INT64, &value) < 0)
    throw WriteError(where(object) + ": cannot write attribute '" + name + "'");
}

void H5File::set_attribute(const std::string& object, const std::string& name,
                           const std::string& value) {
  H5Id obj = open_object(object);
  H5Id type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  H5Id space(H5Screate(H5S_SCALAR));
  H5Id attr = fresh_attribute(obj.get(), name, type.get(), space.get());
  const char* raw = value.c_str();
  if (!attr.valid() || H5Awrite(attr.get(), type.get(), &raw) < 0)
    throw WriteError(where(object) + ": cannot write attribute '" + name + "'");
}

void H5File::set_attribute(const std::string& object, const std::string& name,
                           const std::vector<std::string>& values) {
  H5Id obj = open_object(object);
  H5Id type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  const hsize_t n = values.size();
  // HDF5 has no zero-length simple dataspace for attributes: an empty list is a null dataspace.
  H5Id space(n == 0 ? H5Screate(H5S_NULL) : H5Screate_simple(1, &n, nullptr));
  H5Id attr = fresh_attribute(obj.get(), name, type.get(), space.get());
  std::vector<const char*> raw;
  for (const auto& s : values) raw.push_back(s.c_str());
  if (!attr.valid() || (n > 0 && H5Awrite(attr.get(), type.get(), raw.data()) < 0))
    throw WriteError(where(object) + ": cannot write attribute '" + name + "'");
}

void copy_object(const H5File& source, const std::string& source_path, H5File& target,
                 const std::string& target_path) {
  if (!source.exists(source_path))
    throw DataError(source.path() + ":" + source_path + ": object not found");
  const auto slash = target_path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) target.create_group(target_path.substr(0, slash));
  if (H5Ocopy(source.id(), source_path.c_str(), target.id(), target_path.c_str(), H5P_DEFAULT,
              H5P_DEFAULT) < 0)
    throw WriteError(target.path() + ":" + target_path + ": copying from " + source.path() + ":" +
                     source_path + " failed (already present?)");
}

DatasetInfo require_dataset(const H5File& file, const std::string& path, bool integer,
                            std::initializer_list<size_t> ranks, const std::string& expected) {
  const std::string where = file.path() + ":" + path;
  if (!file.exists(path))
    throw DataError(where + ": missing dataset " + path + ", expected " + expected);
  if (!file.is_dataset(path))
    throw DataError(where + ": expected a dataset " + expected + ", found a group");
  const DatasetInfo meta = file.info(path);
  const bool ok_type =
      integer ? meta.element == ElementClass::kInteger
              : (meta.element == ElementClass::kFloat || meta.element == ElementClass::kInteger);
  if (!ok_type)
    throw DataError(where + ": wrong dtype, expected " + expected + ", found " + meta.describe());
  if (std::find(ranks.begin(), ranks.end(), meta.shape.size()) == ranks.end())
    throw DataError(where + ": wrong rank, expected " + expected + ", found " + meta.describe());
  return meta;
}

}  // namespace effinfer::io
