// HDF5 reader/writer (lib/io/hdf5.hpp). Round trips are cross-checked against the raw HDF5 C API
// (the file layout of a rank-2 dataset is row-major by definition), and files with types the
// writer cannot produce (float32, uint8, fixed-length strings, rank 3) are made with the C API.
#include <doctest/doctest.h>

#include "test_support.hpp"
#include <hdf5.h>
#include <unistd.h>

#include <Eigen/Dense>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/hdf5.hpp"

namespace effinfer::io {
namespace {

namespace fs = std::filesystem;

using effinfer::test::TempDir;

using effinfer::test::error_message;
using effinfer::test::contains;
// Writes a dataset with the raw C API (no lib code involved).
void raw_write(hid_t file, const char* name, hid_t file_type, hid_t mem_type,
               const std::vector<hsize_t>& shape, const void* data) {
  const hid_t space = H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr);
  const hid_t ds = H5Dcreate2(file, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(ds >= 0);
  REQUIRE(H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
  H5Dclose(ds);
  H5Sclose(space);
}

// Reads a float64 dataset's raw buffer in file order with the C API.
std::vector<double> raw_read(const std::string& path, const char* name) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(file >= 0);
  const hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
  REQUIRE(ds >= 0);
  const hid_t space = H5Dget_space(ds);
  std::vector<double> out(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
  REQUIRE(H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0);
  H5Sclose(space);
  H5Dclose(ds);
  H5Fclose(file);
  return out;
}

TEST_CASE("hdf5: matrices keep row-major order") {
  TempDir dir;
  const std::string path = dir.file("m.h5");
  RowMatrixXd m(3, 4);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) m(i, j) = 10 * i + j + 0.5;
  // A column-major matrix and a strided block go through the same row-major contract.
  Eigen::MatrixXd col_major(2, 3);
  col_major << 1, 2, 3, 4, 5, 6;
  RowMatrixXd big(5, 6);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 6; ++j) big(i, j) = 100 * i + j;
  {
    H5File f = H5File::create(path);
    f.write_matrix("/m", m);
    f.write_matrix("/col_major", col_major);
    f.write_matrix("/block", big.block(1, 2, 3, 3));
    f.write_matrix("/one_row", big.block(2, 1, 1, 4));
    f.write_matrix("/empty", RowMatrixXd(0, 3));
    f.close();
  }
  // File order is row-major: element (i, j) at i * cols + j.
  const std::vector<double> raw = raw_read(path, "/m");
  REQUIRE(raw.size() == 12);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) CHECK(raw[static_cast<size_t>(4 * i + j)] == 10 * i + j + 0.5);

  const H5File f = H5File::open(path);
  const RowMatrixXd back = f.read_matrix("/m");
  REQUIRE(back.rows() == 3);
  REQUIRE(back.cols() == 4);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) CHECK(back(i, j) == 10 * i + j + 0.5);
  const RowMatrixXd cm = f.read_matrix("/col_major");
  CHECK(cm.rows() == 2);
  CHECK(cm(0, 2) == 3);
  CHECK(cm(1, 0) == 4);
  CHECK(f.read_matrix("/block") == big.block(1, 2, 3, 3));
  CHECK(f.read_matrix("/one_row") == big.block(2, 1, 1, 4));
  const RowMatrixXd empty = f.read_matrix("/empty");
  CHECK(empty.rows() == 0);
  CHECK(empty.cols() == 3);
  CHECK(f.info("/m").describe() == "float64 (3, 4)");
}

TEST_CASE("hdf5: vectors, integer types and strings round-trip") {
  TempDir dir;
  const std::string path = dir.file("v.h5");
  Eigen::VectorXd v(5);
  v << -1.5, 0, 1e-300, 1e300, 3.25;
  RowMatrixXd source(3, 2);
  source << 1, 2, 3, 4, 5, 6;
  const std::vector<int8_t> i8 = {-128, -1, 0, 1, 127};
  const std::vector<int32_t> i32 = {-2147483647 - 1, 0, 2147483647};
  const std::vector<int64_t> i64 = {INT64_MIN, -1, (int64_t{1} << 53) + 1, INT64_MAX};
  const std::vector<std::string> strings = {"bias", "", "stim\xc3\xa9", "with space"};
  {
    H5File f = H5File::create(path);
    f.write_vector("/v", v);
    f.write_vector("/column", source.col(1));  // strided view
    f.write_int8("/i8", i8);
    f.write_int8("/i8_matrix", {1, 2, 3, 4, 5, 6}, {2, 3});
    f.write_int32("/i32", i32);
    f.write_int64("/i64", i64);
    f.write_strings("/s", strings);
    f.write_vector("/groups/deep/v", v);  // parents are created
    f.write_vector("/empty", Eigen::VectorXd(0));
    f.close();
  }
  const H5File f = H5File::open(path);
  CHECK(f.read_vector("/v") == v);
  CHECK(f.read_vector("/column") == Eigen::Vector3d(2, 4, 6));
  CHECK(f.read_vector("/groups/deep/v") == v);
  CHECK(f.read_vector("/empty").size() == 0);
  CHECK(f.read_int_vector("/i8") == std::vector<int64_t>{-128, -1, 0, 1, 127});
  const Eigen::VectorXd i8d = f.read_vector("/i8");  // integers convert to double
  CHECK(i8d(0) == -128.0);
  CHECK(i8d(4) == 127.0);
  const RowMatrixXd i8m = f.read_matrix("/i8_matrix");
  CHECK(i8m.rows() == 2);
  CHECK(i8m(1, 0) == 4);
  CHECK(i8m(0, 2) == 3);
  CHECK(f.read_int_vector("/i32") == std::vector<int64_t>{-2147483648LL, 0, 2147483647});
  CHECK(f.read_int_vector("/i64") == i64);  // exact, also beyond 2^53
  CHECK(f.read_strings("/s") == strings);
  CHECK(f.info("/i8").describe() == "int8 (5,)");
  CHECK(f.info("/i32").describe() == "int32 (3,)");
  CHECK(f.info("/i64").element == ElementClass::kInteger);
  CHECK(f.info("/i8_matrix").shape == std::vector<hsize_t>{2, 3});
  CHECK(f.info("/s").element == ElementClass::kString);
}

TEST_CASE("hdf5: attributes") {
  TempDir dir;
  const std::string path = dir.file("a.h5");
  {
    H5File f = H5File::create(path);
    f.write_vector("/results/w", Eigen::VectorXd::Ones(3));
    f.set_attribute("/", "effinfer_schema", "psytrack-fit/1");
    f.set_attribute("/results/w", "scale", 2.5);
    f.set_attribute("/results/w", "count", int64_t{1} << 40);
    f.set_attribute("/results/w", "small", 7);
    f.set_attribute("/results/w", "half", 0.5);
    f.set_attribute("/results", "names", std::vector<std::string>{"a", "b"});
    f.set_units("/results/w", "log-odds");
    f.set_attribute("/results/w", "scale", 4.0);  // replaced, not duplicated
    f.close();
  }
  const H5File f = H5File::open(path);
  CHECK(f.read_attribute_string("/", "effinfer_schema") == "psytrack-fit/1");
  CHECK(f.read_attribute_string("", "effinfer_schema") == "psytrack-fit/1");
  CHECK(f.read_attribute_double("/results/w", "scale") == 4.0);
  CHECK(f.read_attribute_int("/results/w", "count") == int64_t{1} << 40);
  CHECK(f.read_attribute_int("/results/w", "small") == 7);
  CHECK(f.read_attribute_double("/results/w", "small") == 7.0);
  CHECK(f.read_attribute_string("/results/w", "units") == "log-odds");
  CHECK(f.has_attribute("/results", "names"));
  CHECK(f.has_attribute("/results/w", "units"));
  CHECK_FALSE(f.has_attribute("/results/w", "nope"));
  CHECK_FALSE(f.has_attribute("/absent", "units"));
  std::string m =
      error_message<DataError>([&] { (void)f.read_attribute_int("/results/w", "half"); });
  CHECK(contains(m, "half"));
  m = error_message<DataError>([&] { (void)f.read_attribute_double("/results/w", "nope"); });
  CHECK(contains(m, path + ":/results/w"));
  CHECK(contains(m, "nope"));
  m = error_message<DataError>([&] { (void)f.read_attribute_double("/results/w", "units"); });
  CHECK(contains(m, "units"));
  m = error_message<DataError>([&] { (void)f.read_attribute_string("/results/w", "scale"); });
  CHECK(contains(m, "scale"));
}

TEST_CASE("hdf5: string-list attributes") {
  TempDir dir;
  const std::string path = dir.file("sa.h5");
  {
    H5File f = H5File::create(path);
    f.create_group("/g");
    f.set_attribute("/g", "names", std::vector<std::string>{"bias", "", "stim\xc3\xa9"});
    f.set_attribute("/g", "one", "single");
    f.set_attribute("/g", "number", 3.0);
    f.close();
  }
  {
    // numpy-style fixed-length string array attribute, as h5py writes dtype 'S3'.
    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(file >= 0);
    const hid_t fixed = H5Tcopy(H5T_C_S1);
    H5Tset_size(fixed, 3);
    H5Tset_strpad(fixed, H5T_STR_NULLPAD);
    const hsize_t n = 2;
    const hid_t space = H5Screate_simple(1, &n, nullptr);
    const hid_t attr =
        H5Acreate_by_name(file, "/g", "fixed", fixed, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const char text[6] = {'a', 'b', 'c', 'd', 0, 0};
    REQUIRE(H5Awrite(attr, fixed, text) >= 0);
    H5Aclose(attr);
    H5Sclose(space);
    H5Tclose(fixed);
    H5Fclose(file);
  }
  const H5File f = H5File::open(path);
  CHECK(f.read_attribute_strings("/g", "names") ==
        std::vector<std::string>{"bias", "", "stim\xc3\xa9"});
  CHECK(f.read_attribute_strings("/g", "one") == std::vector<std::string>{"single"});
  CHECK(f.read_attribute_strings("/g", "fixed") == std::vector<std::string>{"abc", "d"});
  std::string m = error_message<DataError>([&] { (void)f.read_attribute_strings("/g", "number"); });
  CHECK(contains(m, path + ":/g"));
  CHECK(contains(m, "number"));
  m = error_message<DataError>([&] { (void)f.read_attribute_strings("/g", "absent"); });
  CHECK(contains(m, "absent"));
}

TEST_CASE("hdf5: an empty string-list attribute can be written and read") {
  // Regression: an empty list used to reach H5Awrite with a null buffer (WriteError).
  TempDir dir;
  const std::string path = dir.file("empty_attr.h5");
  {
    H5File f = H5File::create(path);
    f.set_attribute("/", "none", std::vector<std::string>{});
    f.close();
  }
  const H5File f = H5File::open(path);
  CHECK(f.has_attribute("/", "none"));
  CHECK(f.read_attribute_strings("/", "none").empty());
}

TEST_CASE("hdf5: copy_object copies datasets and groups with their attributes") {
  TempDir dir;
  const std::string from = dir.file("from.h5"), to = dir.file("to.h5");
  RowMatrixXd m(2, 3);
  m << 1, 2, 3, 4, 5, 6;
  {
    H5File f = H5File::create(from);
    f.write_matrix("/results/w", m);
    f.set_units("/results/w", "log-odds");
    f.write_int8("/results/sub/y", {0, 1, 1});
    f.set_attribute("/results", "K", 3);
    f.close();
  }
  {
    const H5File source = H5File::open(from);
    H5File target = H5File::create(to);
    copy_object(source, "/results/w", target, "/fold0/deep/w");  // parents created
    copy_object(source, "/results", target, "/all");
    error_message<WriteError>([&] { copy_object(source, "/results/w", target, "/all/w"); });
    const std::string msg =
        error_message<DataError>([&] { copy_object(source, "/nothing", target, "/x"); });
    CHECK(contains(msg, from + ":/nothing"));
    target.close();
  }
  const H5File f = H5File::open(to);
  CHECK(f.read_matrix("/fold0/deep/w") == m);
  CHECK(f.read_attribute_string("/fold0/deep/w", "units") == "log-odds");
  CHECK(f.read_matrix("/all/w") == m);
  CHECK(f.read_int_vector("/all/sub/y") == std::vector<int64_t>{0, 1, 1});
  CHECK(f.read_attribute_int("/all", "K") == 3);
  CHECK(f.children("/all") == std::vector<std::string>{"sub", "w"});
}

TEST_CASE("hdf5: types only other writers produce (C API)") {
  TempDir dir;
  const std::string path = dir.file("c.h5");
  {
    const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(file >= 0);
    const float f32[3] = {0.5f, -2.0f, 1e10f};
    raw_write(file, "/f32", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, {3}, f32);
    const uint8_t u8[3] = {0, 200, 255};
    raw_write(file, "/u8", H5T_STD_U8LE, H5T_NATIVE_UINT8, {3}, u8);
    const double integral[3] = {1.0, -4.0, 1e15};
    raw_write(file, "/integral", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {3}, integral);
    const double fractional[4] = {1.0, 2.0, 2.5, 3.0};
    raw_write(file, "/fractional", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {4}, fractional);
    const double with_nan[2] = {1.0, std::nan("")};
    raw_write(file, "/with_nan", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {2}, with_nan);
    const double cube[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    raw_write(file, "/cube", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {2, 2, 2}, cube);
    // numpy-style fixed-length strings (h5py writes dtype 'S' like this).
    const hid_t fixed = H5Tcopy(H5T_C_S1);
    H5Tset_size(fixed, 5);
    H5Tset_strpad(fixed, H5T_STR_NULLPAD);
    const char text[10] = {'a', 'b', 'c', 0, 0, 'h', 'e', 'l', 'l', 'o'};
    raw_write(file, "/fixed", fixed, fixed, {2}, text);
    const hid_t scalar = H5Screate(H5S_SCALAR);
    const hid_t attr = H5Acreate2(file, "fixed_attr", fixed, scalar, H5P_DEFAULT, H5P_DEFAULT);
    const char value[5] = {'x', 'y', 0, 0, 0};
    H5Awrite(attr, fixed, value);
    H5Aclose(attr);
    const hid_t iattr =
        H5Acreate2(file, "int_attr", H5T_STD_I32LE, scalar, H5P_DEFAULT, H5P_DEFAULT);
    const int32_t ivalue = -12;
    H5Awrite(iattr, H5T_NATIVE_INT32, &ivalue);
    H5Aclose(iattr);
    H5Sclose(scalar);
    H5Tclose(fixed);
    H5Fclose(file);
  }
  const H5File f = H5File::open(path);
  const Eigen::VectorXd v = f.read_vector("/f32");
  CHECK(v(0) == 0.5);
  CHECK(v(1) == -2.0);
  CHECK(v(2) == 1e10);
  CHECK(f.info("/f32").describe() == "float32 (3,)");
  CHECK(f.read_int_vector("/u8") == std::vector<int64_t>{0, 200, 255});
  CHECK(f.read_int_vector("/integral") == std::vector<int64_t>{1, -4, 1000000000000000});
  CHECK(f.read_strings("/fixed") == std::vector<std::string>{"abc", "hello"});
  CHECK(f.read_attribute_string("/", "fixed_attr") == "xy");
  CHECK(f.read_attribute_int("/", "int_attr") == -12);

  std::string m = error_message<DataError>([&] { (void)f.read_int_vector("/fractional"); });
  CAPTURE(m);
  CHECK(contains(m, path + ":/fractional"));
  CHECK(contains(m, "index 2"));
  error_message<DataError>([&] { (void)f.read_int_vector("/with_nan"); });
  m = error_message<DataError>([&] { (void)f.read_matrix("/cube"); });
  CHECK(contains(m, "(2, 2, 2)"));
  m = error_message<DataError>([&] { (void)f.read_columns("/cube"); });
  CHECK(contains(m, "(2, 2, 2)"));
  m = error_message<DataError>([&] { (void)f.read_vector("/fixed"); });
  CHECK(contains(m, path + ":/fixed"));
  CHECK(contains(m, "string"));
  error_message<DataError>([&] { (void)f.read_strings("/f32"); });
}

TEST_CASE("hdf5: shape errors name file:path and the found shape") {
  TempDir dir;
  const std::string path = dir.file("s.h5");
  {
    H5File f = H5File::create(path);
    f.write_matrix("/x", RowMatrixXd::Zero(3, 4));
    f.write_vector("/y", Eigen::VectorXd::Zero(5));
    f.create_group("/g");
    f.close();
  }
  const H5File f = H5File::open(path);
  std::string m = error_message<DataError>([&] { (void)f.read_vector("/x"); });
  CAPTURE(m);
  CHECK(contains(m, path + ":/x"));
  CHECK(contains(m, "(3, 4)"));
  m = error_message<DataError>([&] { (void)f.read_matrix("/y"); });
  CHECK(contains(m, path + ":/y"));
  CHECK(contains(m, "(5,)"));
  m = error_message<DataError>([&] { (void)f.read_int_vector("/x"); });
  CHECK(contains(m, "(3, 4)"));
  m = error_message<DataError>([&] { (void)f.read_vector("/missing"); });
  CHECK(contains(m, path + ":/missing"));
  m = error_message<DataError>([&] { (void)f.read_vector("/g"); });
  CHECK(contains(m, path + ":/g"));
  m = error_message<DataError>([&] { (void)f.read_vector("/g/deeper/x"); });
  CHECK(contains(m, path + ":/g/deeper/x"));
}

TEST_CASE("hdf5: read_columns turns (N,) into (N, 1)") {
  TempDir dir;
  const std::string path = dir.file("c.h5");
  Eigen::VectorXd v(4);
  v << 1, 2, 3, 4;
  RowMatrixXd m(2, 3);
  m << 1, 2, 3, 4, 5, 6;
  {
    H5File f = H5File::create(path);
    f.write_vector("/v", v);
    f.write_matrix("/m", m);
    f.close();
  }
  const H5File f = H5File::open(path);
  const RowMatrixXd c = f.read_columns("/v");
  REQUIRE(c.rows() == 4);
  REQUIRE(c.cols() == 1);
  CHECK(c.col(0) == v);
  CHECK(f.read_columns("/m") == m);
}

TEST_CASE("hdf5: open errors are InputError") {
  TempDir dir;
  SUBCASE("missing file") {
    const std::string m =
        error_message<InputError>([&] { (void)H5File::open(dir.file("absent.h5")); });
    CHECK(contains(m, "absent.h5"));
  }
  SUBCASE("empty file") {
    const std::string path = dir.file("empty.h5");
    std::ofstream(path).close();
    const std::string m = error_message<InputError>([&] { (void)H5File::open(path); });
    CHECK(contains(m, path));
  }
  SUBCASE("not an HDF5 file") {
    const std::string path = dir.file("text.h5");
    std::ofstream(path) << "this is not HDF5\n" << std::string(2000, 'x');
    const std::string m = error_message<InputError>([&] { (void)H5File::open(path); });
    CHECK(contains(m, path));
  }
  SUBCASE("a directory") {
    const std::string m = error_message<InputError>([&] { (void)H5File::open(dir.file("")); });
    CHECK_FALSE(m.empty());
  }
  SUBCASE("create in a missing folder is a WriteError") {
    error_message<WriteError>([&] { (void)H5File::create(dir.file("no/such/dir/x.h5")); });
  }
  CHECK(InputError("x").exit_code() == 66);
}

TEST_CASE("hdf5: exists, groups, children sorted") {
  TempDir dir;
  const std::string path = dir.file("g.h5");
  {
    H5File f = H5File::create(path);
    for (const char* name : {"zeta", "alpha", "Mid", "beta2", "beta10"})
      f.write_vector(std::string("/data/") + name, Eigen::VectorXd::Zero(1));
    f.create_group("/data/sub/inner");
    f.create_group("/data/sub");  // no-op when present
    f.close();
  }
  const H5File f = H5File::open(path);
  CHECK(f.children("/data") ==
        std::vector<std::string>{"Mid", "alpha", "beta10", "beta2", "sub", "zeta"});
  CHECK(f.children("/") == std::vector<std::string>{"data"});
  CHECK(f.children("/data/sub") == std::vector<std::string>{"inner"});
  CHECK(f.children("/data/sub/inner").empty());
  CHECK(f.exists("/data/alpha"));
  CHECK(f.exists("data/alpha"));
  CHECK(f.exists("/data/sub/inner"));
  CHECK_FALSE(f.exists("/data/gamma"));
  CHECK_FALSE(f.exists("/nothing/at/all"));
  CHECK_FALSE(f.exists("/data/alpha/below_a_dataset"));
  CHECK(f.is_dataset("/data/alpha"));
  CHECK_FALSE(f.is_dataset("/data/sub"));
  CHECK_FALSE(f.is_dataset("/data/gamma"));
  CHECK(f.is_group("/data/sub"));
  CHECK(f.is_group("/"));
  CHECK_FALSE(f.is_group("/data/alpha"));
  error_message<DataError>([&] { (void)f.children("/data/alpha"); });
  error_message<DataError>([&] { (void)f.children("/data/gamma"); });
}

TEST_CASE("hdf5: writing a dataset twice is a WriteError; files can be reopened") {
  TempDir dir;
  const std::string path = dir.file("w.h5");
  H5File f = H5File::create(path);
  f.write_vector("/v", Eigen::VectorXd::Ones(2));
  error_message<WriteError>([&] { f.write_vector("/v", Eigen::VectorXd::Ones(2)); });
  f.close();
  f.close();  // idempotent
  // Create truncates an existing file.
  {
    H5File again = H5File::create(path);
    again.write_vector("/other", Eigen::VectorXd::Ones(1));
    again.close();
  }
  const H5File r = H5File::open(path);
  CHECK_FALSE(r.exists("/v"));
  CHECK(r.exists("/other"));
}

}  // namespace
}  // namespace effinfer::io
