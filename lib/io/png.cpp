#include "io/png.hpp"

#include <png.h>

#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/error.hpp"
#include "io/atomic_output.hpp"

namespace effinfer::io {
namespace {

namespace fs = std::filesystem;

// libpng reports errors through a callback that must not return. The callback records the message
// and longjmps back into the (C-style) function that called setjmp; only libpng's C frames are
// skipped, and the C++ exception is thrown after that function has returned.
struct PngErrorState {
  std::jmp_buf jump;
  char message[256] = {};
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngErrorState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", message ? message : "libpng error");
  std::longjmp(state->jump, 1);
}

void on_png_warning(png_structp, png_const_charp) {}  // e.g. bad sRGB profiles: harmless

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

// The decoded samples, after expansion to 8 or 16 bits per channel and alpha stripping.
struct Decoded {
  png_uint_32 width = 0, height = 0;
  int file_bit_depth = 0, file_channels = 0, file_color_type = 0;
  int bit_depth = 0, channels = 0;
  std::vector<unsigned char> pixels;
  std::vector<png_bytep> rows;
};

// Returns false (with state->message set) when libpng fails.
bool decode(std::FILE* file, Decoded* out, PngErrorState* state) {
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, state, on_png_error, on_png_warning);
  if (!png) {
    std::snprintf(state->message, sizeof state->message, "cannot create the libpng reader");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    std::snprintf(state->message, sizeof state->message, "cannot create the libpng info");
    return false;
  }
  if (setjmp(state->jump)) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_init_io(png, file);
  png_read_info(png, info);
  out->width = png_get_image_width(png, info);
  out->height = png_get_image_height(png, info);
  out->file_bit_depth = png_get_bit_depth(png, info);
  out->file_color_type = png_get_color_type(png, info);
  out->file_channels = png_get_channels(png, info);
  if (out->file_color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (out->file_color_type == PNG_COLOR_TYPE_GRAY && out->file_bit_depth < 8)
    png_set_expand_gray_1_2_4_to_8(png);
  if (out->file_color_type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  out->bit_depth = png_get_bit_depth(png, info);
  out->channels = png_get_channels(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  out->pixels.resize(row_bytes * out->height);
  out->rows.resize(out->height);
  for (png_uint_32 r = 0; r < out->height; ++r) out->rows[r] = out->pixels.data() + r * row_bytes;
  png_read_image(png, out->rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

// Returns false (with state->message set) when libpng fails.
bool encode(std::FILE* file, png_uint_32 width, png_uint_32 height, png_bytep* rows,
            PngErrorState* state) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, state, on_png_error, on_png_warning);
  if (!png) {
    std::snprintf(state->message, sizeof state->message, "cannot create the libpng writer");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(state->message, sizeof state->message, "cannot create the libpng info");
    return false;
  }
  if (setjmp(state->jump)) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

}  // namespace

GrayImage read_png_gray(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(path + ": PNG file not found");
  if (fs::is_directory(path, ec)) throw InputError(path + ": is a directory, expected a PNG file");
  FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file) throw InputError(path + ": cannot open PNG file for reading");
  unsigned char signature[8];
  if (std::fread(signature, 1, sizeof signature, file.get()) != sizeof signature ||
      png_sig_cmp(signature, 0, sizeof signature) != 0)
    throw InputError(path + ": not a PNG file (bad signature)");
  std::rewind(file.get());

  auto decoded = std::make_unique<Decoded>();
  auto state = std::make_unique<PngErrorState>();
  if (!decode(file.get(), decoded.get(), state.get()))
    throw DataError(path + ": corrupt or unreadable PNG (" + state->message + ")");

  const Decoded& d = *decoded;
  GrayImage image;
  image.bit_depth = d.file_bit_depth;
  image.channels = d.file_channels;
  image.color = (d.file_color_type & PNG_COLOR_MASK_COLOR) != 0;
  if (d.bit_depth != 8 && d.bit_depth != 16)
    throw InternalError(path + ": unexpected decoded bit depth " + std::to_string(d.bit_depth));
  if (d.channels != 1 && d.channels != 3)
    throw InternalError(path + ": unexpected decoded channel count " + std::to_string(d.channels));
  const double max_value = d.bit_depth == 16 ? 65535.0 : 255.0;
  const int sample_bytes = d.bit_depth / 8;
  image.gray.resize(d.height, d.width);
  for (png_uint_32 r = 0; r < d.height; ++r) {
    const unsigned char* p = d.rows[r];
    auto sample = [&](size_t i) -> double {
      const unsigned char* s = p + i * sample_bytes;
      const unsigned v = sample_bytes == 2 ? (static_cast<unsigned>(s[0]) << 8) | s[1] : s[0];
      return v / max_value;
    };
    for (png_uint_32 c = 0; c < d.width; ++c) {
      if (d.channels == 1) {
        image.gray(r, c) = sample(c);
      } else {
        image.gray(r, c) =
            0.2125 * sample(3 * c) + 0.7154 * sample(3 * c + 1) + 0.0721 * sample(3 * c + 2);
      }
    }
  }
  return image;
}

unsigned char gray_to_byte(double v) {
  if (!(v > 0.0)) return 0;  // also NaN
  if (v >= 1.0) return 255;
  return static_cast<unsigned char>(std::lround(v * 255.0));
}

void write_png_gray(const std::string& path, const Eigen::Ref<const RowMatrixXd>& gray,
                    bool force) {
  if (gray.rows() < 1 || gray.cols() < 1)
    throw DataError(path + ": cannot write an empty image (" + std::to_string(gray.rows()) + "x" +
                    std::to_string(gray.cols()) + ")");
  if (gray.rows() > PNG_UINT_31_MAX || gray.cols() > PNG_UINT_31_MAX)
    throw DataError(path + ": image too large for PNG");
  AtomicOutput out(path, force);
  const auto height = static_cast<png_uint_32>(gray.rows());
  const auto width = static_cast<png_uint_32>(gray.cols());
  std::vector<unsigned char> pixels(static_cast<size_t>(width) * height);
  std::vector<png_bytep> rows(height);
  for (png_uint_32 r = 0; r < height; ++r) {
    rows[r] = pixels.data() + static_cast<size_t>(r) * width;
    for (png_uint_32 c = 0; c < width; ++c) rows[r][c] = gray_to_byte(gray(r, c));
  }
  {
    FilePtr file(std::fopen(out.temp_path().c_str(), "wb"));
    if (!file) throw OutputError(out.temp_path() + ": cannot create file");
    auto state = std::make_unique<PngErrorState>();
    if (!encode(file.get(), width, height, rows.data(), state.get()))
      throw WriteError(path + ": cannot write PNG (" + state->message + ")");
    const bool flushed = std::fflush(file.get()) == 0 && !std::ferror(file.get());
    if (std::fclose(file.release()) != 0 || !flushed)
      throw WriteError(out.temp_path() + ": write failed (disk full?)");
  }
  out.commit();
}

}  // namespace effinfer::io
