// NPY / NPZ reading (lib/io/npy.hpp): the files are built byte by byte here (NPY header + data;
// ZIP local headers, central directory and end record, members stored or deflated with zlib's
// raw deflate), read back exactly, and corrupted in the ways the reader must notice. The real
// scikit-image disparity map is checked when python3-skimage is installed.
#include <doctest/doctest.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/npy.hpp"
#include "test_support.hpp"

namespace effinfer::io {
namespace {

using effinfer::test::TempDir;

constexpr double kInf = std::numeric_limits<double>::infinity();

using effinfer::test::error_message;
using effinfer::test::contains;
template <class T>
std::string raw_bytes(const std::vector<T>& values) {
  std::string s(values.size() * sizeof(T), '\0');
  if (!values.empty()) std::memcpy(s.data(), values.data(), s.size());
  return s;
}

void put_le(std::string& s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
}

// An NPY file: magic, version, header length, the dict padded with spaces to a multiple of 64
// and ended by '\n', then the data.
std::string npy(const std::string& descr, const std::string& shape, const std::string& data,
                bool fortran = false, int major = 1) {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                     ", 'shape': " + shape + ", }";
  const size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string s = "\x93NUMPY";
  s += static_cast<char>(major);
  s += '\0';
  put_le(s, dict.size(), major == 1 ? 2 : 4);
  return s + dict + data;
}

std::string deflate_raw(const std::string& data) {
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

struct ZipMember {
  std::string name, data;
  bool deflate = false;
  bool zip64 = false;  // sizes and offset as ZIP64 extra fields (local and central)
};

struct Zip {
  std::string bytes;
  std::vector<size_t> central_offsets;  // of each member's central directory header
};

Zip zip(const std::vector<ZipMember>& members) {
  Zip z;
  std::string central;
  for (const ZipMember& m : members) {
    const std::string body = m.deflate ? deflate_raw(m.data) : m.data;
    const uint32_t crc =
        crc32(0, reinterpret_cast<const Bytef*>(m.data.data()), static_cast<uInt>(m.data.size()));
    const uint64_t offset = z.bytes.size();
    std::string extra;
    if (m.zip64) {
      put_le(extra, 1, 2);
      put_le(extra, 24, 2);
      put_le(extra, m.data.size(), 8);
      put_le(extra, body.size(), 8);
      put_le(extra, offset, 8);
    }
    const uint64_t saturated = 0xFFFFFFFF;
    // Local header.
    put_le(z.bytes, 0x04034b50, 4);
    put_le(z.bytes, m.zip64 ? 45 : 20, 2);
    put_le(z.bytes, 0, 2);                  // flags
    put_le(z.bytes, m.deflate ? 8 : 0, 2);  // method
    put_le(z.bytes, 0, 4);                  // time, date
    put_le(z.bytes, crc, 4);
    put_le(z.bytes, m.zip64 ? saturated : body.size(), 4);
    put_le(z.bytes, m.zip64 ? saturated : m.data.size(), 4);
    put_le(z.bytes, m.name.size(), 2);
    put_le(z.bytes, m.zip64 ? 20 : 0, 2);
    z.bytes += m.name;
    if (m.zip64) {  // the local ZIP64 field holds both sizes only
      put_le(z.bytes, 1, 2);
      put_le(z.bytes, 16, 2);
      put_le(z.bytes, m.data.size(), 8);
      put_le(z.bytes, body.size(), 8);
    }
    z.bytes += body;
    // Central directory header.
    z.central_offsets.push_back(central.size());
    put_le(central, 0x02014b50, 4);
    put_le(central, 20, 2);  // made by
    put_le(central, m.zip64 ? 45 : 20, 2);
    put_le(central, 0, 2);
    put_le(central, m.deflate ? 8 : 0, 2);
    put_le(central, 0, 4);
    put_le(central, crc, 4);
    put_le(central, m.zip64 ? saturated : body.size(), 4);
    put_le(central, m.zip64 ? saturated : m.data.size(), 4);
    put_le(central, m.name.size(), 2);
    put_le(central, extra.size(), 2);
    put_le(central, 0, 2);  // comment
    put_le(central, 0, 2);  // disk
    put_le(central, 0, 2);  // internal attributes
    put_le(central, 0, 4);  // external attributes
    put_le(central, m.zip64 ? saturated : offset, 4);
    central += m.name + extra;
  }
  const size_t cd_offset = z.bytes.size();
  for (size_t& o : z.central_offsets) o += cd_offset;
  z.bytes += central;
  put_le(z.bytes, 0x06054b50, 4);
  put_le(z.bytes, 0, 4);
  put_le(z.bytes, members.size(), 2);
  put_le(z.bytes, members.size(), 2);
  put_le(z.bytes, central.size(), 4);
  put_le(z.bytes, cd_offset, 4);
  put_le(z.bytes, 0, 2);
  return z;
}

TEST_CASE("npy: float64 and float32 read back exactly, infinities and NaN kept") {
  TempDir dir;
  const std::vector<double> v = {1.5, -2.25, kInf, -kInf, 1e-300, 0.1};
  NpyArray a = read_npy(dir.write("a.npy", npy("<f8", "(2, 3)", raw_bytes(v))));
  CHECK(a.dtype == "<f8");
  CHECK(a.describe() == "<f8 (2, 3)");
  CHECK(a.is_float());
  const RowMatrixXd m = a.matrix(true);
  REQUIRE(m.rows() == 2);
  REQUIRE(m.cols() == 3);
  for (int i = 0; i < 6; ++i) CHECK(m(i / 3, i % 3) == v[i]);  // row-major order

  const std::vector<float> f = {0.1f, std::numeric_limits<float>::infinity(), -3.0f,
                                std::numeric_limits<float>::quiet_NaN()};
  const RowMatrixXd mf = read_npy_matrix(dir.write("f.npy", npy("<f4", "(4, 1)", raw_bytes(f))));
  CHECK(mf(0, 0) == static_cast<double>(0.1f));
  CHECK(mf(1, 0) == kInf);
  CHECK(mf(2, 0) == -3.0);
  CHECK(std::isnan(mf(3, 0)));
}

TEST_CASE("npy: integer, bool and big-endian dtypes convert to double") {
  TempDir dir;
  const Eigen::VectorXd i8 = read_npy_vector(
      dir.write("i8.npy", npy("<i8", "(3,)", raw_bytes(std::vector<int64_t>{-5, 0, 1LL << 40}))));
  CHECK(i8(0) == -5);
  CHECK(i8(2) == static_cast<double>(1LL << 40));
  const Eigen::VectorXd i4 = read_npy_vector(
      dir.write("i4.npy", npy("<i4", "(2,)", raw_bytes(std::vector<int32_t>{-7, 123456}))));
  CHECK(i4(0) == -7);
  CHECK(i4(1) == 123456);
  const Eigen::VectorXd u1 = read_npy_vector(
      dir.write("u1.npy", npy("|u1", "(3,)", raw_bytes(std::vector<uint8_t>{0, 128, 255}))));
  CHECK(u1(1) == 128);
  CHECK(u1(2) == 255);
  const Eigen::VectorXd b1 =
      read_npy_vector(dir.write("b1.npy", npy("|b1", "(2,)", std::string("\x01\x00", 2))));
  CHECK(b1(0) == 1);
  CHECK(b1(1) == 0);
  // 1.0 as a big-endian double.
  const std::string one_be("\x3f\xf0\0\0\0\0\0\0", 8);
  CHECK(read_npy_vector(dir.write("be.npy", npy(">f8", "(1,)", one_be)))(0) == 1.0);
  // Integer dtypes are refused where floats are required.
  const std::string m =
      error_message<DataError>([&] { read_npy_vector(dir.file("i4.npy"), true); });
  CHECK(contains(m, "i4.npy"));
  CHECK(contains(m, "<i4 (2,)"));
}

TEST_CASE("npy: format versions 2.0 and 3.0, scalars, empty arrays, rank checks") {
  TempDir dir;
  const std::vector<double> v = {3.0, 4.0};
  for (int major : {2, 3}) {
    const auto m = read_npy_matrix(dir.write(major == 2 ? "v2.npy" : "v3.npy",
                                             npy("<f8", "(1, 2)", raw_bytes(v), false, major)));
    CHECK(m(0, 1) == 4.0);
  }
  const NpyArray scalar = read_npy(dir.write("s.npy", npy("<f8", "()", raw_bytes(v).substr(0, 8))));
  CHECK(scalar.shape.empty());
  CHECK(scalar.values == std::vector<double>{3.0});
  const RowMatrixXd empty = read_npy_matrix(dir.write("e.npy", npy("<f8", "(0, 4)", "")));
  CHECK(empty.rows() == 0);
  CHECK(empty.cols() == 4);
  // A 1-D array in Fortran order has the C layout: accepted.
  CHECK(read_npy_vector(dir.write("f1.npy", npy("<f8", "(2,)", raw_bytes(v), true)))(1) == 4.0);

  std::string m = error_message<DataError>([&] { read_npy_matrix(dir.file("f1.npy")); });
  CHECK(contains(m, "f1.npy"));
  CHECK(contains(m, "2-D"));
  m = error_message<DataError>(
      [&] { read_npy(dir.write("v9.npy", npy("<f8", "(2,)", raw_bytes(v), false, 9))); });
  CHECK(contains(m, "version 9.0"));
}

TEST_CASE("npy: bad files") {
  TempDir dir;
  const std::vector<double> v = {1, 2, 3, 4};
  std::string m = error_message<DataError>(
      [&] { read_npy(dir.write("fo.npy", npy("<f8", "(2, 2)", raw_bytes(v), true))); });
  CHECK(contains(m, "fo.npy"));
  CHECK(contains(m, "Fortran order"));
  CHECK(contains(m, "C order"));

  m = error_message<DataError>(
      [&] { read_npy(dir.write("c.npy", npy("<c16", "(1,)", std::string(16, '\0')))); });
  CHECK(contains(m, "c.npy"));
  CHECK(contains(m, "'<c16'"));
  m = error_message<DataError>(
      [&] { read_npy(dir.write("u.npy", npy("<U3", "(1,)", std::string(12, '\0')))); });
  CHECK(contains(m, "'<U3'"));

  const std::string full = npy("<f8", "(2, 2)", raw_bytes(v));
  m = error_message<DataError>(
      [&] { read_npy(dir.write("t.npy", full.substr(0, full.size() - 3))); });
  CHECK(contains(m, "t.npy"));
  CHECK(contains(m, "truncated"));
  CHECK(contains(m, "expected 32 bytes, found 29"));
  m = error_message<DataError>([&] { read_npy(dir.write("th.npy", full.substr(0, 40))); });
  CHECK(contains(m, "truncated NPY header"));
  m = error_message<DataError>([&] { read_npy(dir.write("x.npy", full + "xx")); });
  CHECK(contains(m, "trailing"));
  m = error_message<DataError>([&] {
    read_npy(dir.write("h.npy", std::string("\x93NUMPY\x01\x00\x0a\x00", 10) + "{'descr':}"));
  });
  CHECK(contains(m, "malformed NPY header"));
  m = error_message<DataError>([&] {
    read_npy(dir.write("k.npy", npy("<f8", "(2, 2)", raw_bytes(v)).replace(12, 5, "dexxx")));
  });
  CHECK(contains(m, "'descr'"));

  m = error_message<InputError>([&] { read_npy(dir.write("n.npy", "hello world")); });
  CHECK(contains(m, "not an NPY file"));
  m = error_message<InputError>([&] { read_npy(dir.file("missing.npy")); });
  CHECK(contains(m, "missing.npy"));
}

TEST_CASE("npz: stored and deflated members, listing, lookup") {
  TempDir dir;
  std::vector<double> big(3 * 50);
  for (size_t i = 0; i < big.size(); ++i) big[i] = i % 7 == 0 ? kInf : 0.25 * i - 3;
  const std::vector<float> small = {1.5f, -0.5f};
  const Zip z = zip({{"a.npy", npy("<f8", "(3, 50)", raw_bytes(big)), false},
                     {"b.npy", npy("<f4", "(2,)", raw_bytes(small)), true},
                     {"notes.txt", "hello", true}});
  const NpzArchive npz = NpzArchive::open(dir.write("x.npz", z.bytes));
  CHECK(npz.members() == std::vector<std::string>{"a.npy", "b.npy", "notes.txt"});
  CHECK(npz.arrays() == std::vector<std::string>{"a", "b"});
  CHECK(npz.contains("a"));
  CHECK(npz.contains("a.npy"));
  CHECK_FALSE(npz.contains("c"));
  CHECK(npz.entries()[1].method == 8);
  CHECK(npz.entries()[1].compressed_size < npz.entries()[1].size + 1);

  const RowMatrixXd a = npz.read_matrix("a", true);
  REQUIRE(a.rows() == 3);
  REQUIRE(a.cols() == 50);
  for (size_t i = 0; i < big.size(); ++i) CHECK(a(i / 50, i % 50) == big[i]);
  const Eigen::VectorXd b = npz.read_vector("b.npy");
  CHECK(b(0) == 1.5);
  CHECK(b(1) == -0.5);
  CHECK(npz.read_bytes("notes.txt") == "hello");
  CHECK(npz.read("b").where == dir.file("x.npz") + ":b.npy");

  const std::string m = error_message<DataError>([&] { npz.read("c"); });
  CHECK(contains(m, "x.npz:c"));
  CHECK(contains(m, "a.npy, b.npy, notes.txt"));
  // A text member is not an array.
  CHECK(contains(error_message<DataError>([&] { npz.read("notes.txt"); }), "x.npz:notes.txt"));
}

TEST_CASE("npz: ZIP64 extra fields (as numpy's savez writes them)") {
  TempDir dir;
  const std::vector<double> v = {1, 2, 3, 4, 5, 6};
  const Zip z = zip({{"p.npy", npy("<f8", "(3, 2)", raw_bytes(v)), false, true},
                     {"q.npy", npy("<f8", "(6,)", raw_bytes(v)), true, true}});
  const NpzArchive npz = NpzArchive::open(dir.write("z64.npz", z.bytes));
  CHECK(npz.read_matrix("p")(2, 1) == 6);
  CHECK(npz.read_vector("q")(4) == 5);
}

TEST_CASE("npz: corrupt archives") {
  TempDir dir;
  const std::vector<double> v = {1, 2, 3, 4, 5, 6, 7, 8};
  const std::vector<ZipMember> members = {{"s.npy", npy("<f8", "(2, 4)", raw_bytes(v)), false},
                                          {"d.npy", npy("<f8", "(2, 4)", raw_bytes(v)), true}};
  const Zip good = zip(members);

  SUBCASE("CRC mismatch names the member") {
    for (int k = 0; k < 2; ++k) {
      std::string bytes = good.bytes;
      bytes[good.central_offsets[k] + 16] ^= 0x55;
      const NpzArchive npz = NpzArchive::open(dir.write("crc.npz", bytes));
      const std::string m = error_message<DataError>([&] { npz.read(k == 0 ? "s" : "d"); });
      CHECK(contains(m, k == 0 ? "crc.npz:s.npy" : "crc.npz:d.npy"));
      CHECK(contains(m, "CRC-32 mismatch"));
    }
  }
  SUBCASE("flipped data byte in a stored member") {
    std::string bytes = good.bytes;
    bytes[30 + 5 + 128 + 3] ^= 0x01;  // inside s.npy's array data
    const NpzArchive npz = NpzArchive::open(dir.write("flip.npz", bytes));
    CHECK(contains(error_message<DataError>([&] { npz.read("s"); }), "flip.npz:s.npy"));
  }
  SUBCASE("truncated archive") {
    const std::string m = error_message<DataError>([&] {
      NpzArchive::open(dir.write("cut.npz", good.bytes.substr(0, good.bytes.size() / 2)));
    });
    CHECK(contains(m, "cut.npz"));
    CHECK(contains(m, "truncated"));
  }
  SUBCASE("central directory pointing past the members") {
    std::string bytes = good.bytes;
    bytes[good.central_offsets[1] + 23] = '\x7f';  // d.npy's compressed size
    const NpzArchive npz = NpzArchive::open(dir.write("size.npz", bytes));
    const std::string m = error_message<DataError>([&] { npz.read("d"); });
    CHECK(contains(m, "size.npz:d.npy"));
    CHECK(contains(m, "truncated member data"));
    // One byte more than the deflate stream holds: its end does not match the declared size.
    bytes = good.bytes;
    bytes[good.central_offsets[1] + 20] += 1;
    const NpzArchive one_more = NpzArchive::open(dir.write("size1.npz", bytes));
    CHECK(contains(error_message<DataError>([&] { one_more.read("d"); }), "size1.npz:d.npy"));
  }
  SUBCASE("truncated NPY inside a valid archive") {
    const std::string full = npy("<f8", "(2, 4)", raw_bytes(v));
    const Zip z = zip({{"t.npy", full.substr(0, full.size() - 8), true}});
    const NpzArchive npz = NpzArchive::open(dir.write("tn.npz", z.bytes));
    const std::string m = error_message<DataError>([&] { npz.read_matrix("t"); });
    CHECK(contains(m, "tn.npz:t.npy"));
    CHECK(contains(m, "expected 64 bytes, found 56"));
  }
  SUBCASE("fortran order and unknown dtype inside an archive") {
    const Zip z = zip({{"f.npy", npy("<f8", "(2, 4)", raw_bytes(v), true), true},
                       {"c.npy", npy("<c8", "(2, 2)", raw_bytes(v)), false}});
    const NpzArchive npz = NpzArchive::open(dir.write("fc.npz", z.bytes));
    std::string m = error_message<DataError>([&] { npz.read_matrix("f"); });
    CHECK(contains(m, "fc.npz:f.npy"));
    CHECK(contains(m, "Fortran order"));
    m = error_message<DataError>([&] { npz.read_matrix("c"); });
    CHECK(contains(m, "fc.npz:c.npy"));
    CHECK(contains(m, "'<c8'"));
  }
  SUBCASE("corrupt deflate stream") {
    const Zip z = zip({{"d.npy", npy("<f8", "(2, 4)", raw_bytes(v)), true}});
    std::string bytes = z.bytes;
    for (size_t i = 30 + 5; i < 30 + 5 + 12; ++i) bytes[i] = '\xff';
    const NpzArchive npz = NpzArchive::open(dir.write("zd.npz", bytes));
    CHECK(contains(error_message<DataError>([&] { npz.read("d"); }), "zd.npz:d.npy"));
  }
  SUBCASE("not an archive, missing") {
    CHECK(contains(error_message<InputError>([&] { NpzArchive::open(dir.write("t.npz", "text")); }),
                   "not an NPZ"));
    CHECK(contains(error_message<InputError>([&] { NpzArchive::open(dir.file("none.npz")); }),
                   "none.npz"));
  }
}

// Every truncation and every single-byte change of a small archive either reads or throws one of
// effinfer's errors (never crashes, never another exception type).
TEST_CASE("npz: every truncation and byte flip fails cleanly") {
  TempDir dir;
  const std::vector<double> v = {1, 2, 3, 4, 5, 6};
  const Zip z = zip({{"s.npy", npy("<f8", "(2, 3)", raw_bytes(v)), false},
                     {"d.npy", npy("<f4", "(3,)", std::string(12, '\x01')), true}});
  const std::string path = dir.file("f.npz");
  auto attempt = [&](const std::string& bytes) {
    { std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes; }
    try {
      const NpzArchive npz = NpzArchive::open(path);
      for (const std::string& name : npz.members()) npz.read(name);
      return 0;
    } catch (const Error&) {
      return 1;
    } catch (const std::exception& e) {
      FAIL_CHECK("unexpected exception: " << std::string(e.what()));
      return 2;
    }
  };
  int failures = 0;
  for (size_t n = 0; n < z.bytes.size(); ++n) failures += attempt(z.bytes.substr(0, n));
  CHECK(failures == static_cast<int>(z.bytes.size()));  // every truncation is noticed
  for (size_t i = 0; i < z.bytes.size(); ++i) {
    std::string bytes = z.bytes;
    bytes[i] ^= 0x5a;
    attempt(bytes);
  }
}

// Files written by numpy itself (np.savez, np.savez_compressed) when /usr/bin/python3 has numpy.
TEST_CASE("npz: files written by numpy") {
  TempDir dir;
  const std::string script =
      dir.write("w.py",
                "import sys, numpy as np\n"
                "a = np.arange(12, dtype='<f4').reshape(3, 4) / 4; a[1, 2] = np.inf\n"
                "b = np.array([-1, 5, 7], dtype='<i8')\n"
                "np.savez(sys.argv[1] + '/plain.npz', a=a, b=b)\n"
                "np.savez_compressed(sys.argv[1] + '/packed.npz', a=a, b=b)\n"
                "np.save(sys.argv[1] + '/a.npy', a)\n");
  const std::string command =
      "/usr/bin/python3 " + script + " " + dir.path().string() + " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) {
    MESSAGE("SKIPPED: /usr/bin/python3 with numpy not available");
    return;
  }
  for (const char* name : {"plain.npz", "packed.npz"}) {
    const NpzArchive npz = NpzArchive::open(dir.file(name));
    CHECK(npz.arrays() == std::vector<std::string>{"a", "b"});
    const RowMatrixXd a = npz.read_matrix("a", true);
    REQUIRE(a.rows() == 3);
    REQUIRE(a.cols() == 4);
    for (int i = 0; i < 12; ++i)
      CHECK(a(i / 4, i % 4) == (i == 6 ? kInf : static_cast<double>(static_cast<float>(i) / 4)));
    CHECK(npz.read_vector("b") == Eigen::Vector3d(-1, 5, 7));
  }
  CHECK(read_npy_matrix(dir.file("a.npy"))(2, 3) == 2.75);
}

TEST_CASE("npz: scikit-image motorcycle disparity") {
  const std::string path = "/usr/lib/python3/dist-packages/skimage/data/motorcycle_disp.npz";
  if (!std::filesystem::exists(path)) {
    MESSAGE("SKIPPED: " << path << " absent (apt-get install python3-skimage)");
    return;
  }
  const NpzArchive npz = NpzArchive::open(path);
  CHECK(npz.members() == std::vector<std::string>{"arr_0.npy"});
  const NpyArray array = npz.read("arr_0");
  CHECK(array.dtype == "<f4");
  const RowMatrixXd d = array.matrix(true);
  REQUIRE(d.rows() == 500);
  REQUIRE(d.cols() == 741);
  int64_t n_inf = 0, n_other = 0;
  double lo = kInf, hi = -kInf, sum = 0;
  for (double x : array.values) {
    if (x == kInf) {
      ++n_inf;
    } else if (!std::isfinite(x)) {
      ++n_other;
    } else {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
      sum += x;
    }
  }
  // Figures from numpy 1.24 (np.load(...)['arr_0'].astype(np.float64)).
  CHECK(n_inf == 27226);
  CHECK(n_other == 0);
  CHECK(lo == 7.1913557052612305);
  CHECK(hi == 59.908958435058594);
  CHECK(sum == doctest::Approx(11788647.234642029).epsilon(1e-12));
  CHECK(d(0, 0) == kInf);
  CHECK(d(499, 740) == 56.57497787475586);
  CHECK(d(250, 370) == 48.999874114990234);
}

}  // namespace
}  // namespace effinfer::io
