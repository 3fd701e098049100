// The float32 baseline of benchmark B1 (spec 7): the same network as a quantized model, run in
// float32 on its latent weights with every BatchNorm folded into a per-channel scale/shift
// epilogue (fused with the ReLU), Dense and Conv2d as one OpenBLAS sgemm each (Conv2d after a float
// im2col), MaxPool2d on floats. Activation quantizers are skipped. All buffers are allocated once
// for a maximum batch; forward() allocates nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "model.hpp"

namespace effinfer::climbq {

class Fp32Engine {
 public:
  // Reads the latent weights, biases and BN running statistics of `net` (any method).
  // InternalError for a layer order other than the mlp / cnn of spec 2.6.
  Fp32Engine(Network<float>& net, int64_t max_batch);

  // logits [n, classes] from uint8 pixels [n, H, W, C] (x = (p pixel_scale - norm_mean) /
  // norm_std). n <= max_batch. `threads` is used for OpenBLAS and the OpenMP loops.
  void forward(const uint8_t* pixels, int64_t n, float* logits, int threads);

  int64_t max_batch() const { return max_batch_; }
  int classes() const { return classes_; }
  int64_t input_size() const { return in_h_ * in_w_ * in_c_; }  // pixels per image

 private:
  enum class Kind { kDense, kConv, kMaxPool };
  struct Step {
    Kind kind;
    // Dense: W [out, in]; Conv: W [kh*kw*cin, cout] (HWIO as stored).
    std::vector<float> w;
    std::vector<float> scale, shift;  // epilogue y = scale * acc + shift (per output channel)
    bool relu = false;
    int64_t in = 0, out = 0;         // Dense features / Conv channels
    int64_t h = 0, w_in = 0, c = 0;  // input spatial shape (Conv, MaxPool)
    int64_t kh = 0, kw = 0, stride = 1, pad = 0, ho = 0, wo = 0;
  };
  void conv(const Step& s, const float* x, float* y, int64_t n, int threads);

  std::vector<Step> steps_;
  int64_t max_batch_ = 0, in_h_ = 0, in_w_ = 0, in_c_ = 0;
  int classes_ = 0;
  float in_scale_ = 1, in_shift_ = 0;
  std::vector<float> a_, b_, col_;  // ping-pong activations and the im2col buffer
};

}  // namespace effinfer::climbq
