// HDF5 through the C API with RAII handles: typed, shape-checked reads into row-major Eigen, writes
// with attributes. Every error names the file, the HDF5 path, what was expected and what was found.
#pragma once

#include <hdf5.h>

#include <Eigen/Dense>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace effinfer::io {

using RowMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Owns one HDF5 identifier and closes it with the matching H5?close.
class H5Id {
 public:
  H5Id() = default;
  explicit H5Id(hid_t id) : id_(id) {}
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  H5Id(H5Id&& other) noexcept : id_(other.id_) { other.id_ = H5I_INVALID_HID; }
  H5Id& operator=(H5Id&& other) noexcept;
  ~H5Id() { reset(); }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

enum class ElementClass { kInteger, kFloat, kString, kOther };

struct DatasetInfo {
  std::vector<hsize_t> shape;
  ElementClass element = ElementClass::kOther;
  size_t element_size = 0;
  std::string describe() const;  // e.g. "int8 (2000,)", "float64 (3, 2000)"
};

class H5File {
 public:
  // Opens an existing file read-only; InputError (66) when missing, unreadable or not HDF5.
  static H5File open(const std::string& path);
  // Creates (truncates) a file for writing; WriteError (74) on failure.
  static H5File create(const std::string& path);

  const std::string& path() const { return path_; }
  hid_t id() const { return file_.get(); }
  void close();

  // Reading ----------------------------------------------------------------------------------
  bool exists(const std::string& object) const;  // every component of the path exists
  bool is_dataset(const std::string& object) const;
  bool is_group(const std::string& object) const;
  std::vector<std::string> children(const std::string& group) const;  // names, sorted
  DatasetInfo info(const std::string& dataset) const;  // DataError if missing / not a dataset

  // Numeric reads convert any integer or float type to double (DataError otherwise).
  Eigen::VectorXd read_vector(const std::string& dataset) const;  // rank 1
  double read_scalar(const std::string& dataset) const;           // rank 0 (or one element)
  RowMatrixXd read_matrix(const std::string& dataset) const;      // rank 2
  // Rank 1 (N,) is returned as (N, 1); rank 2 as is.
  RowMatrixXd read_columns(const std::string& dataset) const;
  // Integer dataset (or float with integral values), rank 1.
  std::vector<int64_t> read_int_vector(const std::string& dataset) const;
  std::vector<std::string> read_strings(const std::string& dataset) const;
  // The whole dataset converted to mem_type (e.g. H5T_NATIVE_UINT8) into out, which holds count
  // elements; DataError when the dataset has a different element count or cannot be read.
  void read_raw(const std::string& dataset, hid_t mem_type, void* out, size_t count) const;

  bool has_attribute(const std::string& object, const std::string& name) const;
  double read_attribute_double(const std::string& object, const std::string& name) const;
  int64_t read_attribute_int(const std::string& object, const std::string& name) const;
  std::string read_attribute_string(const std::string& object, const std::string& name) const;
  // A string attribute of shape (n,) (a scalar string gives one entry).
  std::vector<std::string> read_attribute_strings(const std::string& object,
                                                  const std::string& name) const;

  // Writing ----------------------------------------------------------------------------------
  void create_group(const std::string& group);  // creates missing parents; no-op if present
  void write_matrix(const std::string& dataset, const Eigen::Ref<const RowMatrixXd>& m);
  void write_vector(const std::string& dataset, const Eigen::Ref<const Eigen::VectorXd>& v);
  void write_int8(const std::string& dataset, const std::vector<int8_t>& values,
                  std::vector<hsize_t> shape = {});
  void write_uint8(const std::string& dataset, const std::vector<uint8_t>& values,
                   std::vector<hsize_t> shape = {});
  void write_int32(const std::string& dataset, const std::vector<int32_t>& values,
                   std::vector<hsize_t> shape = {});
  void write_int64(const std::string& dataset, const std::vector<int64_t>& values,
                   std::vector<hsize_t> shape = {});
  void write_strings(const std::string& dataset, const std::vector<std::string>& values);

  void set_attribute(const std::string& object, const std::string& name, double value);
  void set_attribute(const std::string& object, const std::string& name, int64_t value);
  void set_attribute(const std::string& object, const std::string& name, int value) {
    set_attribute(object, name, static_cast<int64_t>(value));
  }
  void set_attribute(const std::string& object, const std::string& name, const std::string& value);
  void set_attribute(const std::string& object, const std::string& name, const char* value) {
    set_attribute(object, name, std::string(value));
  }
  void set_attribute(const std::string& object, const std::string& name,
                     const std::vector<std::string>& values);
  // Short for the `units` attribute every result dataset carries.
  void set_units(const std::string& dataset, const std::string& units) {
    set_attribute(dataset, "units", units);
  }

 private:
  H5File(std::string path, H5Id file) : path_(std::move(path)), file_(std::move(file)) {}
  H5Id open_dataset(const std::string& dataset) const;
  H5Id open_object(const std::string& object) const;
  H5I_type_t object_type(const std::string& object) const;
  void read_doubles(const std::string& dataset, double* out) const;
  void write_dataset(const std::string& dataset, hid_t mem_type, hid_t file_type,
                     const std::vector<hsize_t>& shape, const void* data);
  std::string where(const std::string& object) const;  // "<file>:<object>"

  std::string path_;
  H5Id file_;
};

// Copies an object (group or dataset, recursively) from one file into another.
void copy_object(const H5File& source, const std::string& source_path, H5File& target,
                 const std::string& target_path);

// Turns off HDF5's automatic error-stack printing (our messages say what went wrong).
void silence_hdf5_errors();

// Checks that `path` is a dataset of an integer (integer = true) or numeric element class with one
// of the given ranks; DataError "file:path: missing dataset / wrong dtype / wrong rank, expected
// <expected>, found <what>" otherwise. `expected` reads like "float64 (B, V, 3)".
DatasetInfo require_dataset(const H5File& file, const std::string& path, bool integer,
                            std::initializer_list<size_t> ranks, const std::string& expected);
inline DatasetInfo require_dataset(const H5File& file, const std::string& path, bool integer,
                                   size_t rank, const std::string& expected) {
  return require_dataset(file, path, integer, {rank}, expected);
}

}  // namespace effinfer::io
