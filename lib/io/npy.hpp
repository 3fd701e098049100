// NumPy arrays without Python: .npy files (format versions 1.0, 2.0 and 3.0) and members of .npz
// archives (ZIP, members stored or deflated; the central directory is parsed here and deflated
// data is inflated with zlib, checking sizes and CRC-32). Values are converted to double and kept
// in C (row-major) order; +inf, -inf and NaN are kept as they are.
//
// Accepted dtypes: float '<f4' '<f8' (also '>' order), integers i1 i2 i4 i8 and u1 u2 u4 u8, bool
// '|b1'. Structured dtypes and fortran_order True are refused. Errors: InputError (66) when the
// file is missing, unreadable or not an NPY file / ZIP archive at all; DataError (65) when it is
// corrupt, truncated, or of the wrong dtype / rank; the message names the file, the member (as
// "<file>:<member>") and what was expected and found.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <string>
#include <vector>

namespace effinfer::io {

using RowMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// One array as read: header fields and the values converted to double in C order.
struct NpyArray {
  std::string where;           // "<file>" or "<file>:<member>", for messages
  std::string dtype;           // descr as written in the header, e.g. "<f4"
  std::vector<int64_t> shape;  // empty for a scalar
  std::vector<double> values;  // product(shape) values, row-major

  bool is_float() const;         // dtype kind 'f'
  std::string describe() const;  // e.g. "<f4 (500, 741)"
  // Rank 2 as a matrix; DataError naming `where` otherwise. With float_only, also DataError for
  // a non-float dtype.
  RowMatrixXd matrix(bool float_only = false) const;
  // Rank 1 as a vector; DataError otherwise.
  Eigen::VectorXd vector(bool float_only = false) const;
};

// Parses the bytes of a whole .npy file; `where` names it in messages.
NpyArray parse_npy(const std::string& bytes, const std::string& where);

// Reads a .npy file.
NpyArray read_npy(const std::string& path);
RowMatrixXd read_npy_matrix(const std::string& path, bool float_only = false);
Eigen::VectorXd read_npy_vector(const std::string& path, bool float_only = false);

// A ZIP archive read into memory with its central directory parsed (ZIP64 records understood).
class NpzArchive {
 public:
  struct Member {
    std::string name;     // as stored, e.g. "arr_0.npy"
    uint16_t method = 0;  // 0 stored, 8 deflated
    uint16_t flags = 0;
    uint32_t crc32 = 0;
    uint64_t compressed_size = 0;
    uint64_t size = 0;  // uncompressed
    uint64_t local_header_offset = 0;
  };

  // InputError (66) when missing, unreadable or not a ZIP archive; DataError (65) when the
  // central directory is corrupt or truncated.
  static NpzArchive open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<Member>& entries() const { return members_; }
  // Member names in archive order.
  std::vector<std::string> members() const;
  // Array names: member names ending in ".npy" without that suffix (as numpy's NpzFile.files).
  std::vector<std::string> arrays() const;
  // True when `name` is a member, or `name` + ".npy" is.
  bool contains(const std::string& name) const;

  // The uncompressed bytes of a member (name as in contains()); sizes and CRC-32 checked.
  // DataError (65) when absent (listing what is there), corrupt, encrypted or of an unsupported
  // compression method.
  std::string read_bytes(const std::string& name) const;
  NpyArray read(const std::string& name) const;
  RowMatrixXd read_matrix(const std::string& name, bool float_only = false) const;
  Eigen::VectorXd read_vector(const std::string& name, bool float_only = false) const;

 private:
  const Member& find(const std::string& name) const;
  std::string path_;
  std::string data_;  // the whole file
  std::vector<Member> members_;
};

}  // namespace effinfer::io
