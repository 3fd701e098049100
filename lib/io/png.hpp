// PNG images through libpng, as gray values in [0, 1].
//
// Reading accepts any PNG libpng decodes: gray, gray+alpha, RGB, RGBA and palette images of bit
// depth 1-16. Palette images and gray of less than 8 bits are expanded to 8 bits; alpha (and
// tRNS transparency) is ignored; no gamma correction is applied (the stored values are used, as
// scikit-image's imread does). A gray value is v / (2^depth - 1). Colour images are converted to
// luminance as scikit-image's rgb2gray: Y = 0.2125 R + 0.7154 G + 0.0721 B on the [0, 1] channel
// values (ITU-R BT.709 weights, applied to the stored values).
//
// Writing produces an 8-bit gray PNG: each value is clipped to [0, 1] and rounded to the nearest
// of 0..255 (round(255 v)); NaN is written as 0. The file is written atomically (AtomicOutput).
//
// Errors: InputError (66) when the file is missing, unreadable or not a PNG; DataError (65) when
// libpng cannot decode it (corrupt, truncated); OutputError (73) / WriteError (74) when writing.
#pragma once

#include <Eigen/Dense>
#include <string>

namespace effinfer::io {

using RowMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct GrayImage {
  RowMatrixXd gray;    // height x width, row 0 at the top, values in [0, 1]
  int bit_depth = 0;   // of the file, per channel (1, 2, 4, 8 or 16)
  int channels = 0;    // of the file: 1 gray, 2 gray+alpha, 3 RGB (or palette), 4 RGBA
  bool color = false;  // converted from RGB / palette to luminance
  int width() const { return static_cast<int>(gray.cols()); }
  int height() const { return static_cast<int>(gray.rows()); }
};

GrayImage read_png_gray(const std::string& path);

// Writes `gray` (height x width, at least 1 x 1) as an 8-bit gray PNG. OutputError (73) when the
// path exists without force or its folder is missing; DataError (65) for an empty image;
// WriteError (74) when writing fails.
void write_png_gray(const std::string& path, const Eigen::Ref<const RowMatrixXd>& gray, bool force);

// The 8-bit value write_png_gray stores for v: round(255 clip(v, 0, 1)), NaN -> 0.
unsigned char gray_to_byte(double v);

}  // namespace effinfer::io
