// IDX reader (the MNIST / Fashion-MNIST container: big-endian header, then raw uint8 data), gzip
// inflated with zlib (plain, uncompressed IDX files are read too). Also the labelled-image bundle
// that the dataset readers of lib/io (IDX, scikit-learn digits) return.
// Spec quantize-climbq 4 (Fashion-MNIST from the Debian package dataset-fashion-mnist).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace effinfer::io {

// An IDX array of unsigned bytes: dims as in the header (outermost first), data row-major.
struct IdxArray {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;
  size_t size() const;  // product of dims
};

// Reads an IDX file with element type uint8 (type code 0x08). `expected_rank` > 0 demands that
// rank (3 for images, 1 for labels). `hint` is appended to the "not found" message.
// Errors: missing / unreadable file -> InputError (66); bad magic, unsupported type, wrong rank,
// corrupt or truncated gzip, data shorter or longer than the dims -> DataError (65), each message
// naming the file.
IdxArray read_idx(const std::string& path, int expected_rank = 0,
                  const std::string& hint = "install dataset-fashion-mnist");

// N labelled images, pixels uint8 row-major [N, H, W, C] (NHWC), labels in [0, classes).
struct LabeledImages {
  size_t n = 0, h = 0, w = 0, c = 0;
  int classes = 0;              // number of label values (labels lie in [0, classes))
  std::vector<uint8_t> pixels;  // n * h * w * c
  std::vector<int> labels;      // n
  size_t sample_size() const { return h * w * c; }
  std::vector<size_t> class_counts() const;  // size `classes`
};

// Pairs an images file (rank 3, [N, H, W]) with a labels file (rank 1, [N]); C = 1. DataError when
// the counts differ or a label is >= `classes`.
LabeledImages read_idx_pair(const std::string& images_path, const std::string& labels_path,
                            int classes = 10,
                            const std::string& hint = "install dataset-fashion-mnist");

// Folder of dataset-fashion-mnist.
inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// Fashion-MNIST: {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz in `dir` (60,000 / 10,000
// 28x28x1 images, 10 classes).
LabeledImages read_fashion_mnist(bool train, const std::string& dir = kFashionMnistDir);

}  // namespace effinfer::io
