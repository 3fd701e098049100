// `gen`: a synthetic, seeded CondConv layer input (spec condconv-bench section 4) mirroring the
// official initialisation (spec 2.7): x ~ N(0,1) or camera crops; every expert He-normal
// N(0, sqrt(2 / fan_out)), fan_out = kh kw Cout (depthwise kh kw); routing kernel Glorot-uniform,
// bias 0; expert biases N(0, 0.1^2) when requested (else absent). /routing_weights holds the
// routing computed from x in float64, so `layer --routing given` reproduces `--routing input`.
#pragma once

#include <cstdint>
#include <string>

#include "layer_io.hpp"

namespace effinfer::condconv {

struct GenOptions {
  LayerShape shape;  // kind, kh=kw, stride, padding, cin, cout, h, w, experts, expert_bias
  int64_t batch = 8;
  bool f64 = false;
  std::string input = "gaussian";  // gaussian | camera
  std::string camera_path = "/usr/lib/python3/dist-packages/skimage/data/camera.png";
};

// Validates the shape (UsageError 64 for range errors: experts, stride, kernel, batch < 1; VALID
// with k > H; unknown input) and generates the data from `seed`.
LayerInput generate_layer(const GenOptions& o, uint64_t seed);

}  // namespace effinfer::condconv
