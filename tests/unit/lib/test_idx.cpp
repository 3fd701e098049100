// IDX reader (lib/io/idx.hpp): small files crafted byte by byte (plain and gzip), broken in the
// ways the reader must notice, and the real Fashion-MNIST files of dataset-fashion-mnist, checked
// against numpy literals (skipped with a message when the package is absent).
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/idx.hpp"
#include "test_support.hpp"

namespace effinfer::io {
namespace {

using effinfer::test::contains;
using effinfer::test::error_message;
using effinfer::test::TempDir;

void put_be32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
}

// IDX bytes: magic 0x0000 08 rank, big-endian dims, then `data`.
std::string idx_bytes(const std::vector<uint32_t>& dims, const std::string& data,
                      uint8_t type = 0x08) {
  std::string s{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) put_be32(s, d);
  return s + data;
}

// Writes `bytes` gzip-compressed through zlib's gzFile API.
std::string write_gz(const TempDir& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir.file(name);
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  gzclose(f);
  return path;
}

std::string pixels(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 37 + 5) % 256);
  return s;
}

TEST_CASE("idx: crafted images and labels round-trip, gzip and plain") {
  TempDir dir;
  const std::string img = pixels(3 * 2 * 4);
  const std::string images = write_gz(dir, "img.gz", idx_bytes({3, 2, 4}, img));
  const std::string labels = dir.write("lab", idx_bytes({3}, std::string{'\x07', '\x00', '\x02'}));
  const IdxArray a = read_idx(images, 3);
  CHECK(a.dims == std::vector<uint32_t>{3, 2, 4});
  CHECK(a.size() == 24);
  REQUIRE(a.data.size() == 24);
  for (size_t i = 0; i < 24; ++i) CHECK(a.data[i] == static_cast<uint8_t>((i * 37 + 5) % 256));
  const LabeledImages s = read_idx_pair(images, labels, 10);
  CHECK(s.n == 3);
  CHECK(s.h == 2);
  CHECK(s.w == 4);
  CHECK(s.c == 1);
  CHECK(s.labels == std::vector<int>{7, 0, 2});
  CHECK(s.class_counts() == std::vector<size_t>{1, 0, 1, 0, 0, 0, 0, 1, 0, 0});
  CHECK(s.pixels[5] == static_cast<uint8_t>(5 * 37 + 5));
}

TEST_CASE("idx: dims big-endian above 255") {
  TempDir dir;
  const std::string p = dir.write("big", idx_bytes({300}, pixels(300)));
  const IdxArray a = read_idx(p, 1);
  CHECK(a.dims == std::vector<uint32_t>{300});
  CHECK(a.data[299] == static_cast<uint8_t>((299 * 37 + 5) % 256));
}

TEST_CASE("idx: missing file is InputError with the install hint") {
  TempDir dir;
  const std::string path = dir.file("absent-images-idx3-ubyte.gz");
  try {
    read_idx(path, 3);
    FAIL("nothing thrown");
  } catch (const InputError& e) {
    CHECK(e.exit_code() == 66);
    CHECK(contains(e.what(), path));
    CHECK(contains(e.what(), "install dataset-fashion-mnist"));
  }
  const std::string m = error_message<InputError>([&] { read_fashion_mnist(true, dir.path()); });
  CHECK(contains(m, "train-images-idx3-ubyte.gz"));
}

TEST_CASE("idx: broken files are DataError naming the file") {
  TempDir dir;
  auto data_error = [](const std::string& path, int rank) {
    try {
      read_idx(path, rank);
    } catch (const DataError& e) {
      CHECK(e.exit_code() == 65);
      CHECK(contains(e.what(), path));
      return std::string(e.what());
    } catch (const std::exception& e) {
      FAIL_CHECK("wrong exception: " << e.what());
      return std::string();
    }
    FAIL_CHECK("nothing thrown for " << path);
    return std::string();
  };
  // Bad magic (first bytes not zero), e.g. a PNG renamed.
  CHECK(contains(data_error(dir.write("png", "\x89PNG\r\n\x1a\n0000"), 3), "magic"));
  // Element type int32 (0x0C) is not uint8.
  CHECK(contains(data_error(dir.write("i32", idx_bytes({2}, std::string(8, '\1'), 0x0C)), 1),
                 "element type"));
  // Labels where images were expected (rank 1 vs 3).
  CHECK(contains(data_error(dir.write("rank", idx_bytes({3}, "abc")), 3), "rank 1, expected 3"));
  // Empty file, header cut inside the dims.
  CHECK(contains(data_error(dir.write("empty", ""), 3), "truncated"));
  CHECK(contains(data_error(dir.write("hdr", idx_bytes({3, 2, 4}, "").substr(0, 10)), 3),
                 "truncated"));
  // Data shorter than the dims (plain and gzip), longer than the dims.
  CHECK(contains(data_error(dir.write("short", idx_bytes({3, 2, 4}, pixels(23))), 3), "found 23"));
  CHECK(contains(data_error(write_gz(dir, "short.gz", idx_bytes({3, 2, 4}, pixels(20))), 3),
                 "found 20"));
  CHECK(contains(data_error(dir.write("long", idx_bytes({3, 2, 4}, pixels(25))), 3), "longer"));
  // A gzip stream cut in the middle.
  {
    const std::string full = write_gz(dir, "full.gz", idx_bytes({3, 20, 20}, pixels(1200)));
    std::string bytes;
    {
      std::ifstream in(full, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    REQUIRE(bytes.size() > 40);
    const std::string cut = dir.write("cut.gz", bytes.substr(0, bytes.size() / 2));
    CHECK(contains(data_error(cut, 3), "truncated"));
    // Corrupt deflate data after a valid gzip header.
    std::string bad = bytes;
    for (size_t i = 12; i < bad.size() - 8; ++i) bad[i] = static_cast<char>(0xFF);
    data_error(dir.write("bad.gz", bad), 3);
  }
  // Image and label counts that differ.
  const std::string images = dir.write("i3", idx_bytes({3, 2, 2}, pixels(12)));
  const std::string labels = dir.write("l2", idx_bytes({2}, std::string{'\1', '\2'}));
  const std::string m = error_message<DataError>([&] { read_idx_pair(images, labels, 10); });
  CHECK(contains(m, "3 images"));
  CHECK(contains(m, "2 labels"));
  // Label out of range.
  const std::string l3 = dir.write("l3", idx_bytes({3}, std::string{'\1', '\x0A', '\2'}));
  CHECK(contains(error_message<DataError>([&] { read_idx_pair(images, l3, 10); }), "label 10"));
}

TEST_CASE("idx: Fashion-MNIST from dataset-fashion-mnist matches numpy") {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz")) {
    MESSAGE("SKIPPED: Fashion-MNIST absent (install dataset-fashion-mnist): " << kFashionMnistDir);
    return;
  }
  // Literals from /usr/bin/python3 with numpy 1.24:
  //   ti = np.frombuffer(gzip.open(d + 'train-images-idx3-ubyte.gz').read(), np.uint8,
  //                      offset=16).reshape(-1, 28, 28)   (likewise labels with offset=8)
  //   tl[:10], tl[-3:], ti[0,14,10:18], ti[59999,14,10:16], ti[12345,7,3:9],
  //   int(ti.astype(np.uint64).sum()), and the same for t10k.
  const LabeledImages train = read_fashion_mnist(true);
  CHECK(train.n == 60000);
  CHECK(train.h == 28);
  CHECK(train.w == 28);
  CHECK(train.c == 1);
  CHECK(train.class_counts() == std::vector<size_t>(10, 6000));
  CHECK(std::vector<int>(train.labels.begin(), train.labels.begin() + 10) ==
        std::vector<int>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5});
  CHECK(std::vector<int>(train.labels.end() - 3, train.labels.end()) == std::vector<int>{3, 0, 5});
  auto row = [](const LabeledImages& s, size_t i, size_t r, size_t c0, size_t c1) {
    const size_t base = (i * 28 + r) * 28;
    return std::vector<int>(s.pixels.begin() + base + c0, s.pixels.begin() + base + c1);
  };
  CHECK(row(train, 0, 14, 10, 18) == std::vector<int>{0, 0, 237, 226, 217, 223, 222, 219});
  CHECK(row(train, 59999, 14, 10, 16) == std::vector<int>{34, 0, 3, 3, 0, 3});
  CHECK(row(train, 12345, 7, 3, 9) == std::vector<int>{155, 167, 155, 165, 171, 173});
  uint64_t sum = 0;
  for (uint8_t p : train.pixels) sum += p;
  CHECK(sum == 3431114169ULL);

  const LabeledImages test = read_fashion_mnist(false);
  CHECK(test.n == 10000);
  CHECK(test.class_counts() == std::vector<size_t>(10, 1000));
  CHECK(std::vector<int>(test.labels.begin(), test.labels.begin() + 10) ==
        std::vector<int>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7});
  CHECK(std::vector<int>(test.labels.end() - 3, test.labels.end()) == std::vector<int>{8, 1, 5});
  CHECK(row(test, 0, 15, 8, 16) == std::vector<int>{0, 0, 26, 108, 117, 99, 111, 117});
  CHECK(row(test, 9999, 10, 10, 16) == std::vector<int>{0, 56, 80, 45, 54, 53});
  sum = 0;
  for (uint8_t p : test.pixels) sum += p;
  CHECK(sum == 573469082ULL);
}

}  // namespace
}  // namespace effinfer::io
