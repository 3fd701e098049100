// Export of a quantized network to the integer inference path (spec 2.8, 3.5 `int_model`): per
// quantized Dense / Conv2d -> BatchNorm -> activation quantizer block, int8 weights c (lambda = m c
// + o), per-row requantization thresholds on the int32 accumulator, the row sign and the
// level -> code table; max pooling on codes, NHWC flatten, and the final classifier in float32
// reading x = s_a q (or in integers when the classifier is quantized).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/hdf5.hpp"
#include "model.hpp"

namespace effinfer::climbq {

enum class IntLayerKind { kQuant, kMaxPool, kFlatten, kClassifier };

struct IntLayer {
  IntLayerKind kind = IntLayerKind::kQuant;
  std::string name;    // "00_qdense", "01_qconv2d", "02_maxpool2d", "03_flatten", "04_dense"
  std::string source;  // the model layer it came from, "/model/layers/00_dense"

  // kQuant (and the quantized classifier): shapes. Dense: kh = kw = 1, in_h = in_w = out_h =
  // out_w = 1, cin = K. Conv: K = kh kw cin in (kh, kw, cin) order (HWIO rows).
  bool conv = false;
  int64_t out = 0, k = 0;
  int64_t kh = 1, kw = 1, cin = 0, stride = 1, pad = 0;
  int64_t in_h = 1, in_w = 1, out_h = 1, out_w = 1;
  std::vector<int8_t> wq;  // c [out, K]
  int m = 1, o = 0;        // lambda = m c + o
  double w_unit = 1;       // s_w: w_hat = s_w lambda
  double in_unit = 1;      // s_in: x_in = s_in q (first layer: s_in p + z_in)
  int64_t in_max = 255;    // largest input code
  bool folded_bias = false;

  // kQuant: level l = #{i : sign_o acc_o >= thr[o, i]}; next code = lut[l]; x_out = out_unit q.
  int64_t levels = 0;        // L
  std::vector<int32_t> thr;  // [out, L], rows non-decreasing
  std::vector<int8_t> sign;  // [out], +1 / -1
  std::vector<uint8_t> lut;  // [L + 1]
  double out_unit = 1;       // s_a

  // kQuant with float_input (first layer on float input or with padding; spec 2.8.4
  // `first_layer: float`): z = scale_o (x . w_o) + shift_o in double on the float32 GEMM of the
  // normalised input with wf, level l = #{i : z >= real_thr[i]}.
  bool float_input = false;
  std::vector<float> wf;                       // [out, K]
  std::vector<double> scale, shift, real_thr;  // [out], [out], [L]

  // kClassifier: logits = x W^T + b with x = in_unit q (float32), or, when quantized,
  // w_unit in_unit acc + b.
  bool quantized = false;
  std::vector<float> w;  // [out, K] (float classifier)
  std::vector<float> b;  // [out]
};

struct IntModel {
  std::string input_kind = "pixels";  // pixels (uint8 [N,H,W,C])
  double pixel_scale = 1, norm_mean = 0, norm_std = 1;
  int64_t height = 0, width = 0, channels = 0;
  int num_classes = 0;
  std::string method;  // uniform | lsq | climbq | climbq-noscale
  std::string levels_variant = "v2023";
  int bits_w = 0, bits_a = 0;
  std::string first_layer = "int";  // int | float
  std::vector<IntLayer> layers;     // in order; the last is the classifier

  int64_t input_size() const { return height * width * channels; }
  // Indices (into layers) of the kQuant layers, in order.
  std::vector<size_t> quant_layers() const;
};

// Builds the integer model from a quantized network (T = float for work, double for the exact
// goldens of check 11). Weight quantizers are run on the latent weights here (codes of the current
// weights); activation quantizers need their scale (uniform: calibrated clip; LSQ: initialised
// step). DataError (65) naming the layer path "/model/layers/NN_type" and the violated bound for:
// an FP32 model, a layer order other than weight -> BN -> Aq/ReLU blocks, [maxpool], [flatten],
// classifier; c outside [-128, 127]; a code q > 255; K max|lambda| max q >= 2^31; constant
// weights (sigma = 0); an uncalibrated activation quantizer.
template <class T>
IntModel export_int_model(Network<T>& net);

// Sizes of spec 2.8.7 (check 14).
struct IntSizes {
  int64_t fp32_bytes = 0;    // 4 x (weights + biases + 2 per BN channel)
  int64_t int_bytes = 0;     // Wq 1 B + thr 4 B + sign 1 B + lut 1 B + float classifier
  int64_t packed_bytes = 0;  // the same with Wq at ceil(count b / 8), b = bits needed for c
};
IntSizes int_model_sizes(const IntModel& model);

// Writes /int_model (spec 3.5) into an open file; root attributes (schema, content) are the
// caller's.
void save_int_model(io::H5File& file, const IntModel& model);
void write_int_sizes(io::H5File& file, const IntSizes& sizes);  // /results/size/...
// Reads /int_model; DataError naming file:path on bad content (incl. content != int_model).
IntModel load_int_model(const io::H5File& file);
IntModel load_int_model(const std::string& path);

}  // namespace effinfer::climbq
