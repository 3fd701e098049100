// PNG I/O (lib/io/png.hpp): 8-bit gray write -> read is exact, values are clipped and rounded,
// writes are atomic and honour force; colour, alpha, palette and 16-bit files (written here with
// libpng's simplified API) read as gray / luminance; bad files give the documented errors; the
// scikit-image images read as scikit-image reads them (when python3-skimage is installed).
#include <doctest/doctest.h>
#include <png.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/png.hpp"
#include "test_support.hpp"

namespace effinfer::io {
namespace {

using effinfer::test::TempDir;

using effinfer::test::error_message;
using effinfer::test::contains;
std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes `pixels` (8 or 16 bits per sample, interleaved) with libpng's simplified API.
void write_simple(const std::string& path, int width, int height, png_uint_32 format,
                  const void* pixels, const void* colormap = nullptr, int colormap_entries = 0) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = width;
  image.height = height;
  image.format = format;
  image.colormap_entries = colormap_entries;
  REQUIRE(png_image_write_to_file(&image, path.c_str(), 0, pixels, 0, colormap) != 0);
}

TEST_CASE("png: 8-bit gray write -> read is exact (odd width)") {
  TempDir dir;
  RowMatrixXd m(13, 21);
  for (int i = 0; i < m.size(); ++i) m(i / 21, i % 21) = ((i * 37) % 256) / 255.0;
  const std::string path = dir.file("g.png");
  write_png_gray(path, m, false);
  const GrayImage image = read_png_gray(path);
  CHECK(image.width() == 21);
  CHECK(image.height() == 13);
  CHECK(image.bit_depth == 8);
  CHECK(image.channels == 1);
  CHECK_FALSE(image.color);
  CHECK(image.gray == m);
  CHECK(dir.entries() == 1);  // no temporary file left

  // A single column and a single pixel.
  const RowMatrixXd column = RowMatrixXd::Constant(3, 1, 1.0);
  write_png_gray(dir.file("c.png"), column, false);
  CHECK(read_png_gray(dir.file("c.png")).gray == column);
}

TEST_CASE("png: values are clipped to [0, 1] and rounded to the nearest 8-bit level") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(gray_to_byte(-0.5) == 0);
  CHECK(gray_to_byte(1.5) == 255);
  CHECK(gray_to_byte(inf) == 255);
  CHECK(gray_to_byte(-inf) == 0);
  CHECK(gray_to_byte(nan) == 0);
  CHECK(gray_to_byte(0.5) == 128);
  CHECK(gray_to_byte(0.49 / 255) == 0);
  CHECK(gray_to_byte(0.51 / 255) == 1);
  CHECK(gray_to_byte(100.4 / 255) == 100);
  CHECK(gray_to_byte(100.6 / 255) == 101);

  TempDir dir;
  RowMatrixXd m(1, 7);
  m << -0.5, 1.5, 0.5, nan, 100.6 / 255, inf, 0.25;
  write_png_gray(dir.file("clip.png"), m, false);
  const RowMatrixXd back = read_png_gray(dir.file("clip.png")).gray;
  const std::vector<double> expected = {0, 255, 128, 0, 101, 255, 64};
  for (int c = 0; c < 7; ++c) CHECK(back(0, c) == expected[c] / 255.0);
}

TEST_CASE("png: writes honour force and leave nothing behind on failure") {
  TempDir dir;
  const std::string path = dir.file("out.png");
  const RowMatrixXd black = RowMatrixXd::Zero(2, 3);
  const RowMatrixXd white = RowMatrixXd::Ones(2, 3);
  write_png_gray(path, black, false);
  const std::string before = read_file(path);
  std::string m = error_message<OutputError>([&] { write_png_gray(path, white, false); });
  CHECK(contains(m, path));
  CHECK(read_file(path) == before);
  write_png_gray(path, white, true);
  CHECK(read_png_gray(path).gray == white);
  CHECK(error_message<OutputError>([&] {
          write_png_gray(dir.file("no/such/x.png"), white, true);
        }).find("does not exist") != std::string::npos);
  m = error_message<DataError>(
      [&] { write_png_gray(dir.file("e.png"), RowMatrixXd(0, 3), false); });
  CHECK(contains(m, "empty"));
  CHECK(dir.entries() == 1);
}

TEST_CASE("png: gray+alpha, RGB(A), palette and 16-bit files read as gray") {
  TempDir dir;
  SUBCASE("gray + alpha: alpha ignored") {
    const std::vector<uint8_t> ga = {0, 255, 51, 0, 255, 128};
    write_simple(dir.file("ga.png"), 3, 1, PNG_FORMAT_GA, ga.data());
    const GrayImage g = read_png_gray(dir.file("ga.png"));
    CHECK(g.channels == 2);
    CHECK(g.gray(0, 0) == 0.0);
    CHECK(g.gray(0, 1) == 51 / 255.0);
    CHECK(g.gray(0, 2) == 1.0);
  }
  SUBCASE("RGB and RGBA: rgb2gray luminance") {
    const std::vector<uint8_t> rgb = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 30};
    write_simple(dir.file("rgb.png"), 2, 2, PNG_FORMAT_RGB, rgb.data());
    const GrayImage g = read_png_gray(dir.file("rgb.png"));
    CHECK(g.color);
    CHECK(g.channels == 3);
    CHECK(g.width() == 2);
    CHECK(g.gray(0, 0) == doctest::Approx(0.2125).epsilon(1e-15));
    CHECK(g.gray(0, 1) == doctest::Approx(0.7154).epsilon(1e-15));
    CHECK(g.gray(1, 0) == doctest::Approx(0.0721).epsilon(1e-15));
    CHECK(g.gray(1, 1) ==
          doctest::Approx((0.2125 * 10 + 0.7154 * 200 + 0.0721 * 30) / 255).epsilon(1e-14));
    const std::vector<uint8_t> rgba = {255, 255, 255, 0, 0, 0, 0, 255};
    write_simple(dir.file("rgba.png"), 2, 1, PNG_FORMAT_RGBA, rgba.data());
    const GrayImage a = read_png_gray(dir.file("rgba.png"));
    CHECK(a.channels == 4);
    CHECK(a.gray(0, 0) == doctest::Approx(1.0).epsilon(1e-15));
    CHECK(a.gray(0, 1) == 0.0);
  }
  SUBCASE("palette") {
    const std::vector<uint8_t> colormap = {0, 0, 0, 255, 255, 255, 255, 0, 0};
    const std::vector<uint8_t> index = {0, 1, 2, 1, 0, 2};
    write_simple(dir.file("pal.png"), 3, 2, PNG_FORMAT_RGB_COLORMAP, index.data(), colormap.data(),
                 3);
    const GrayImage g = read_png_gray(dir.file("pal.png"));
    CHECK(g.color);
    CHECK(g.gray(0, 0) == 0.0);
    CHECK(g.gray(0, 1) == doctest::Approx(1.0).epsilon(1e-15));
    CHECK(g.gray(1, 2) == doctest::Approx(0.2125).epsilon(1e-15));
  }
  SUBCASE("16-bit gray") {
    const std::vector<uint16_t> y = {0, 1, 32768, 65535, 12345};
    write_simple(dir.file("y16.png"), 5, 1, PNG_FORMAT_LINEAR_Y, y.data());
    const GrayImage g = read_png_gray(dir.file("y16.png"));
    CHECK(g.bit_depth == 16);
    for (int c = 0; c < 5; ++c) CHECK(g.gray(0, c) == y[c] / 65535.0);
  }
}

TEST_CASE("png: bad files") {
  TempDir dir;
  const RowMatrixXd m = RowMatrixXd::Constant(40, 41, 0.3);
  write_png_gray(dir.file("ok.png"), m, false);
  const std::string bytes = read_file(dir.file("ok.png"));
  std::string msg = error_message<DataError>(
      [&] { read_png_gray(dir.write("cut.png", bytes.substr(0, bytes.size() / 2))); });
  CHECK(contains(msg, "cut.png"));
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x20;  // inside the IDAT chunk: CRC error
  msg = error_message<DataError>([&] { read_png_gray(dir.write("flip.png", flipped)); });
  CHECK(contains(msg, "flip.png"));
  msg = error_message<InputError>([&] { read_png_gray(dir.write("text.png", "not a png")); });
  CHECK(contains(msg, "not a PNG"));
  msg = error_message<InputError>([&] { read_png_gray(dir.file("missing.png")); });
  CHECK(contains(msg, "missing.png"));
}

// Every truncation and single-byte change of a small PNG either reads or throws one of effinfer's
// errors.
TEST_CASE("png: every truncation and byte flip fails cleanly") {
  TempDir dir;
  RowMatrixXd m(5, 7);
  for (int i = 0; i < m.size(); ++i) m(i / 7, i % 7) = (i % 9) / 8.0;
  write_png_gray(dir.file("src.png"), m, false);
  const std::string good = read_file(dir.file("src.png"));
  const std::string path = dir.file("f.png");
  auto attempt = [&](const std::string& bytes) {
    { std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes; }
    try {
      read_png_gray(path);
      return 0;
    } catch (const Error&) {
      return 1;
    } catch (const std::exception& e) {
      FAIL_CHECK("unexpected exception: " << std::string(e.what()));
      return 2;
    }
  };
  int failures = 0;
  for (size_t n = 0; n < good.size(); ++n) failures += attempt(good.substr(0, n));
  CHECK(failures == static_cast<int>(good.size()));
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bytes = good;
    bytes[i] ^= 0x5a;
    attempt(bytes);
  }
}

// Reference figures from scikit-image 0.19 / numpy 1.24: data.camera() and
// color.rgb2gray(io.imread("motorcycle_left.png")).
TEST_CASE("png: scikit-image camera and motorcycle") {
  const std::string folder = "/usr/lib/python3/dist-packages/skimage/data/";
  if (!std::filesystem::exists(folder + "camera.png")) {
    MESSAGE("SKIPPED: " << folder << "camera.png absent (apt-get install python3-skimage)");
    return;
  }
  const GrayImage camera = read_png_gray(folder + "camera.png");
  CHECK(camera.width() == 512);
  CHECK(camera.height() == 512);
  CHECK(camera.bit_depth == 8);
  CHECK(camera.channels == 1);
  CHECK(camera.gray(0, 0) == 200 / 255.0);
  CHECK(camera.gray(511, 511) == 149 / 255.0);
  CHECK(camera.gray(100, 200) == 54 / 255.0);
  CHECK(std::round(camera.gray.sum() * 255) == 33832495);

  if (!std::filesystem::exists(folder + "motorcycle_left.png")) return;
  const GrayImage left = read_png_gray(folder + "motorcycle_left.png");
  CHECK(left.color);
  CHECK(left.width() == 741);
  CHECK(left.height() == 500);
  CHECK(left.gray(0, 0) == doctest::Approx(0.34245254901960787).epsilon(1e-14));
  CHECK(left.gray(100, 200) == doctest::Approx(0.6293776470588236).epsilon(1e-14));
  CHECK(left.gray.sum() == doctest::Approx(155011.0657945098).epsilon(1e-12));
}

}  // namespace
}  // namespace effinfer::io
