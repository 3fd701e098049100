// Reader of scikit-learn's digits data (Debian python3-sklearn): digits.csv.gz, one row per image
// of 64 pixel values 0..16 (8x8, row-major) followed by the label 0..9. Spec quantize-climbq 4.
#pragma once

#include <string>

#include "io/idx.hpp"  // LabeledImages

namespace effinfer::io {

inline constexpr char kDigitsCsv[] =
    "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";

// Reads the digits CSV (gzip or plain) as 8x8x1 uint8 images with 10 classes.
// Errors: missing file -> InputError (66) with the hint "install python3-sklearn"; a row without
// 65 fields, a field that is not an integer (a trailing ".0" is accepted), a pixel outside 0..16 or
// a label outside 0..9, corrupt / truncated gzip, no rows -> DataError (65) naming file and line.
LabeledImages read_digits(const std::string& path = kDigitsCsv);

}  // namespace effinfer::io
