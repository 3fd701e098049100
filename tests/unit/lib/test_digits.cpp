// scikit-learn digits reader (lib/io/digits.hpp): crafted CSVs (plain and gzip) with the errors
// the reader must name, and the real digits.csv.gz of python3-sklearn checked against numpy
// literals (skipped with a message when the package is absent).
#include <doctest/doctest.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/digits.hpp"
#include "test_support.hpp"

namespace effinfer::io {
namespace {

using effinfer::test::contains;
using effinfer::test::error_message;
using effinfer::test::TempDir;

// One CSV row: 64 pixels (i + offset) % 17, then the label.
std::string row(int offset, int label, const std::string& pixel_suffix = "") {
  std::string s;
  for (int i = 0; i < 64; ++i) s += std::to_string((i + offset) % 17) + pixel_suffix + ",";
  return s + std::to_string(label) + "\n";
}

TEST_CASE("digits: crafted CSV, plain and gzip, integer and .0 fields") {
  TempDir dir;
  const std::string text = row(0, 3) + row(5, 0, ".0") + "\n";
  const std::string plain = dir.write("d.csv", text);
  const std::string gz = dir.file("d.csv.gz");
  {
    gzFile f = gzopen(gz.c_str(), "wb");
    REQUIRE(f != nullptr);
    gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
    gzclose(f);
  }
  for (const std::string& path : {plain, gz}) {
    const LabeledImages s = read_digits(path);
    CHECK(s.n == 2);
    CHECK(s.h == 8);
    CHECK(s.w == 8);
    CHECK(s.c == 1);
    CHECK(s.classes == 10);
    CHECK(s.labels == std::vector<int>{3, 0});
    REQUIRE(s.pixels.size() == 128);
    CHECK(s.pixels[16] == 16);
    CHECK(s.pixels[17] == 0);
    CHECK(s.pixels[64 + 11] == 16);
    CHECK(s.pixels[64 + 12] == 0);
  }
}

TEST_CASE("digits: errors") {
  TempDir dir;
  const std::string missing = dir.file("digits.csv.gz");
  const std::string m = error_message<InputError>([&] { read_digits(missing); });
  CHECK(contains(m, missing));
  CHECK(contains(m, "install python3-sklearn"));

  auto data_error = [&](const std::string& name, const std::string& text) {
    const std::string path = dir.write(name, text);
    const std::string msg = error_message<DataError>([&] { read_digits(path); });
    CHECK(contains(msg, path));
    return msg;
  };
  CHECK(contains(data_error("empty", "\n\n"), "no rows"));
  std::string short_row = row(0, 1);
  short_row.erase(0, short_row.find(',') + 1);  // 64 fields
  CHECK(contains(data_error("short", row(0, 1) + short_row), ":2: 64 fields"));
  std::string long_row = row(0, 1);
  long_row.insert(long_row.size() - 1, ",4");
  CHECK(contains(data_error("long", long_row), "more than 65"));
  std::string text_field = row(0, 1);
  text_field[0] = 'x';
  CHECK(contains(data_error("text", text_field), "'x' is not an integer"));
  CHECK(contains(data_error("frac", std::string("1.5,") + row(0, 1).substr(2)), "'1.5'"));
  CHECK(contains(data_error("pix", std::string("17,") + row(0, 1).substr(2)), "pixel 1 = 17"));
  CHECK(contains(data_error("lab", row(0, 10)), "label 10"));
  CHECK(contains(data_error("neg", row(0, -1)), "label -1"));
  // A gzip file cut in half.
  std::string big;
  for (int i = 0; i < 200; ++i) big += row(i, i % 10);
  const std::string gz = dir.file("big.gz");
  {
    gzFile f = gzopen(gz.c_str(), "wb");
    gzwrite(f, big.data(), static_cast<unsigned>(big.size()));
    gzclose(f);
  }
  std::string bytes;
  {
    std::ifstream in(gz, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  CHECK(contains(data_error("cut.gz", bytes.substr(0, bytes.size() / 2)), "truncated"));
}

TEST_CASE("digits: python3-sklearn digits.csv.gz matches numpy") {
  if (!std::filesystem::exists(kDigitsCsv)) {
    MESSAGE("SKIPPED: digits absent (install python3-sklearn): " << kDigitsCsv);
    return;
  }
  // Literals from /usr/bin/python3 with numpy 1.24:
  //   a = np.loadtxt(kDigitsCsv, delimiter=','); X = a[:, :-1].astype(int); y = a[:, -1]
  //   np.bincount(y), y[:12], y[-3:], X[0], X[1796, 24:32], X[1000, 8:16], X.sum()
  const LabeledImages s = read_digits();
  CHECK(s.n == 1797);
  CHECK(s.class_counts() == std::vector<size_t>{178, 182, 177, 183, 181, 182, 181, 179, 174, 180});
  for (size_t c : s.class_counts()) {
    CHECK(c >= 174);
    CHECK(c <= 183);
  }
  CHECK(std::vector<int>(s.labels.begin(), s.labels.begin() + 12) ==
        std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1});
  CHECK(std::vector<int>(s.labels.end() - 3, s.labels.end()) == std::vector<int>{8, 9, 8});
  const std::vector<int> x0{0, 0, 5,  13, 9,  1,  0, 0, 0, 0, 13, 15, 10, 15, 5, 0,
                            0, 3, 15, 2,  0,  11, 8, 0, 0, 4, 12, 0,  0,  8,  8, 0,
                            0, 5, 8,  0,  0,  9,  8, 0, 0, 4, 11, 0,  1,  12, 7, 0,
                            0, 2, 14, 5,  10, 12, 0, 0, 0, 0, 6,  13, 10, 0,  0, 0};
  CHECK(std::vector<int>(s.pixels.begin(), s.pixels.begin() + 64) == x0);
  auto slice = [&](size_t i, size_t a, size_t b) {
    return std::vector<int>(s.pixels.begin() + i * 64 + a, s.pixels.begin() + i * 64 + b);
  };
  CHECK(slice(1796, 24, 32) == std::vector<int>{0, 0, 5, 16, 16, 10, 0, 0});
  CHECK(slice(1000, 8, 16) == std::vector<int>{0, 0, 0, 16, 5, 0, 0, 0});
  uint64_t sum = 0;
  for (uint8_t p : s.pixels) sum += p;
  CHECK(sum == 561718u);
}

}  // namespace
}  // namespace effinfer::io
