// The long-tailed datasets of quantize-climbq (spec 2.7, 3.5 "data", 4): Fashion-MNIST-LT from
// Debian's dataset-fashion-mnist, scikit-learn digits (python3-sklearn) and a synthetic Gaussian
// set, each cut to long-tailed train counts with a balanced validation split taken from the
// leftover training pool and a balanced test split, and their HDF5 data file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/hdf5.hpp"
#include "lt_data.hpp"

namespace effinfer::climbq {

inline constexpr const char* kSchema = "quantize-climbq/1";

struct SynthOptions {  // spec 3.4 `synth`
  int classes = 10, dim = 64;
  double radius = 4.0, std_min = 0.5, std_max = 2.0;
  std::string std_order = "increasing";  // increasing | decreasing | shuffle
  int test_per_class = 200;
};

// Spec 3.4 `data`; negative / NaN = auto (per source: rho 100/10/10, n_max 5000/87/500,
// val_per_class 200/0/50 for fashion-mnist/digits/synth).
struct DataOptions {
  std::string source = "fashion-mnist";  // fashion-mnist | digits | synth
  double rho = -1;
  int64_t n_max = -1;
  CountRule count_rule = CountRule::kClosed;
  ClassOrder class_order = ClassOrder::kNatural;
  int64_t val_per_class = -1;
  bool allow_clamp = false;
  std::string fmnist_dir = "/usr/share/datasets/fashion-mnist";
  std::string digits_file = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";
  SynthOptions synth;
};

struct ImageSplit {
  std::vector<uint8_t> x;             // N x H x W x C
  std::vector<int32_t> y;             // N
  std::vector<int64_t> source_index;  // index of each image in its source pool (-1: generated)
  int64_t size() const { return static_cast<int64_t>(y.size()); }
};

struct Dataset {
  std::string source;
  int64_t height = 0, width = 0, channels = 0;
  int classes = 0;
  ImageSplit train, val, test;
  std::vector<int64_t> class_counts;  // train images per label (= histogram of train.y)
  std::vector<std::string> class_names;
  std::vector<int32_t> class_order;  // label at rank i
  double rho = 0;
  int64_t n_max = 0, val_per_class = 0;
  std::string count_rule, class_order_name;
  uint64_t seed = 0;
  double pixel_scale = 1, norm_mean = 0, norm_std = 1;  // x_norm = (x scale - mean) / std
  std::vector<std::string> warnings;                    // e.g. clamped counts
};

// Builds the dataset. InputError (66) when a Debian data file is missing (the message names the
// package); ConfigError (78) for bad options, count rules that leave a class empty, or n_max above
// a class's pool without allow_clamp.
Dataset build_dataset(const DataOptions& options, uint64_t seed);

// Writes /data/... and the root attributes of spec 3.5 into an open new file.
void write_dataset(io::H5File& file, const Dataset& data);

// Reads a data file (content = data). InputError (66) when missing; DataError (65) naming the
// dataset for a wrong schema, shape, dtype, a label outside [0, C) or class_counts that differ
// from the train histogram.
Dataset read_dataset(const std::string& path);

}  // namespace effinfer::climbq
