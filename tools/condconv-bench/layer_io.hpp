// The HDF5 input of `layer` (spec condconv-bench section 3, as written by `gen`) and its output:
//   /x [B,H,W,Cin] (FC [B,Cin]); /experts [n,kh,kw,Cin,Cout] | [n,kh,kw,C,1] | [n,Cin,Cout] with
//   attributes kind (str), stride (int32[2]), padding ("same"|"valid"); optional /expert_bias
//   [n,Cout]; /routing/kernel [Cin,n] + /routing/bias [n] and/or /routing_weights [B,n].
// Every floating dataset has one dtype, float32 or float64. Validation follows spec section 6:
// DataError (65) naming the file, HDF5 path, expected vs found; InputError (66) when the file
// cannot be opened.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "condconv_kernels.hpp"
#include "io/hdf5.hpp"

namespace effinfer::condconv {

// A layer input; values are held in double (exact for float32 files), `f64` says the file dtype.
struct LayerInput {
  std::string path;
  bool f64 = false;
  LayerShape shape;
  int64_t batch = 0;
  std::vector<double> x, experts, expert_bias, routing_kernel, routing_bias, routing_weights;
  bool has_routing = false, has_routing_weights = false;
};

// Reads and validates everything (shapes, dtypes, finiteness with the first bad index).
// need_routing / need_weights: whether /routing/* or /routing_weights must be present.
LayerInput read_layer_input(const std::string& path, bool need_routing, bool need_weights);

// Writes the layer input datasets of `in` (used by gen) in its dtype.
void write_layer_input(io::H5File& f, const LayerInput& in);

// Writes a float32 (f64 = false) or float64 dataset of any rank from double values, with units.
void write_float_dataset(io::H5File& f, const std::string& path, const std::vector<double>& v,
                         const std::vector<uint64_t>& shape, bool f64, const std::string& units);
template <class T>
void write_float_dataset(io::H5File& f, const std::string& path, const T* v,
                         const std::vector<uint64_t>& shape, const std::string& units);

// Shape of /x, /experts, y for a layer (batch B).
std::vector<uint64_t> x_shape(const LayerShape& s, int64_t batch);
std::vector<uint64_t> experts_shape(const LayerShape& s);
std::vector<uint64_t> y_shape(const LayerShape& s, int64_t batch);

}  // namespace effinfer::condconv
