// `inspect` of quantize-climbq (spec 3.3, 3.6): per layer the type, shape, bits, the weight
// quantizer's mu / sigma (climbq) or step (uniform, lsq), the levels used and the code histogram,
// MACs, parameters and storage bytes; totals MACs, BOPs and sizes (spec 2.8.7, check 3).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/json.hpp"
#include "io/hdf5.hpp"
#include "model.hpp"

namespace effinfer::climbq {

struct InspectLayer {
  std::string name;       // "00_dense"
  std::string type;       // dense | conv2d | batchnorm | actq | relu | maxpool2d | flatten
  std::string shape;      // weight shape ("[256,784]") or output shape per image ("[256]")
  int bits = 0;           // weight bits (32 = float) / activation bits; 0 for layers without either
  std::string quantizer;  // climbq | uniform | lsq | "" (weights or activations)
  double mu = std::numeric_limits<double>::quiet_NaN();     // climbq weights
  double sigma = std::numeric_limits<double>::quiet_NaN();  // climbq weights / sigma_test (act)
  double step = std::numeric_limits<double>::quiet_NaN();   // uniform / lsq
  int64_t levels = 0;              // code levels of a quantized weight tensor
  int64_t levels_used = 0;         // levels with at least one weight
  std::vector<int64_t> histogram;  // weights per level (index = code - lowest code)
  int64_t macs = 0;                // per image
  int64_t params = 0;              // trainable parameters
  int64_t bytes = 0;  // storage: quantized weights at ceil(count bits / 8) + 4 B per float
                      // parameter; BatchNorm 8 B per channel (folded scale / shift)
};

struct InspectReport {
  std::string arch, method, mode, loss;
  int bits_w = 0, bits_a = 0;  // 0 = FP32
  std::vector<InspectLayer> layers;
  int64_t macs = 0, bops = 0;  // per image; BOPs = sum MAC_l b_w b_in, uint8 input (spec 2.8.7)
  int64_t params = 0;
  // Sizes in bytes: fp32 = 4 (weights + biases + 2 per BN channel) (spec 2.8.7); the weights of
  // the quantized layers in FP32 and at their bit width (check 3); the sum of the layer bytes.
  int64_t fp32_bytes = 0, quantized_weights = 0, quantized_weights_fp32_bytes = 0,
          quantized_weights_bytes = 0, model_bytes = 0;
  // Sizes of the integer export (spec 2.8.7); -1 when the model has none (FP32, or the export
  // refuses it: int_note says why).
  int64_t int_bytes = -1, packed_bytes = -1;
  std::string int_note;
  std::string content = "model";  // model | int_model (what was inspected)
};

// Inspects a network (FP32 or quantized). The weight codes come from a forward of each weight
// quantizer on the latent weights, as save_model() stores them.
InspectReport inspect_network(Network<float>& net);

// Inspects an exported integer model (spec 3.5 `int_model`): per layer the int8 weight codes c
// (histogram over [min(-2^(b-1), min c), max(2^(b-1) - 1, max c)]), s_w as `step`, thresholds
// per row as `levels`, MACs, parameters and the bytes of spec 2.8.7.
struct IntModel;
InspectReport inspect_int_model(const IntModel& model);

// /results/inspect/...: per-layer columns (name, type, shape str; bits, levels, levels_used
// int32; macs, params, bytes int64; mu, sigma, step f64), /results/inspect/histograms/<layer>
// int64 [levels], scalar datasets macs, bops, params and size/{fp32_bytes, ...} with units.
void write_inspect(io::H5File& file, const InspectReport& report);

// The JSON keys of spec 3.6: layers [...], macs, bops, size_bytes {...}. Histograms are included
// for at most `max_histogram` levels.
Json inspect_json(const InspectReport& report, int64_t max_histogram = 256);

}  // namespace effinfer::climbq
