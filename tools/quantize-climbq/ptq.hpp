// Post-training quantization of quantize-climbq (spec 2.6 `ptq`, 3.4 `ptq`): the FP32 network's
// parameters and buffers are copied into a network of the same spec with quantizers, then
// ClimbQ re-estimates the BatchNorm running statistics on shuffled, label-free calibration batches
// (its codes live on [-1, 1], so the FP32 statistics no longer fit) and the uniform baseline
// calibrates its activation clips in one eval-mode pass.
#pragma once

#include <cstdint>
#include <string>

#include "lt_dataset.hpp"
#include "model.hpp"

namespace effinfer::climbq {

enum class BnRecalibrate { kAuto, kOn, kOff };
BnRecalibrate parse_bn_recalibrate(const std::string& name);  // auto | on | off (78)

struct PtqOptions {                                     // spec 3.4 `ptq`
  BnRecalibrate bn_recalibrate = BnRecalibrate::kAuto;  // auto: on for climbq, off for uniform
  int calib_batches = 20;
  int64_t calib_batch_size = 500;
  QuantSettings quant;  // quantizer settings of the new network
};

// Quantizes `fp32` (method fp32) with `method` (climbq | climbq-noscale | uniform; lsq -> 78
// "QAT only") at bits_w / bits_a and returns the new network (spec.mode = "ptq"). Calibration
// batches come from a nn::Loader over data.train (training mode: shuffled, a tail of fewer than
// two samples dropped) seeded from Rng(seed, "calib"); more batches than one epoch holds continue
// with the next epochs. BN re-estimation: BatchNorm in batch-statistics mode, all quantizers on,
// no labels (sigma = sigma_test); the final running mean / variance of every BN are the
// equal-weight means over the batches of the batch means and the unbiased batch variances, both
// computed in double from the BN input tap (the layers' momentum update is overwritten).
// ConfigError (78) for bad options or methods; InternalError when the parameters do not match.
// Copies every parameter and buffer of `from` into the network `to` of the same architecture
// (matched by layer kind and occurrence, so extra quantizer layers in `to` are fine);
// InternalError on a missing parameter or a shape mismatch.
void copy_state(Network<float>& from, Network<float>& to);
// Uniform clip calibration (spec 2.5): one eval-mode pass over the calibration batches with
// quantized weights, every UniformActivation recording its inputs, then c = max or percentile.
void calibrate_uniform(Network<float>& net, const Dataset& data, const PtqOptions& o, uint64_t seed,
                       int threads);

Network<float> ptq(Network<float>& fp32, Method method, int bits_w, int bits_a, const Dataset& data,
                   const PtqOptions& options = {}, uint64_t seed = 0, int threads = 1);

}  // namespace effinfer::climbq
