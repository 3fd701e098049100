// Quantization-aware training of quantize-climbq (spec 2.6 `qat`, 3.4 `qat`): the FP32 model's
// parameters and buffers seed a network with quantizers (climbq | climbq-noscale | uniform | lsq),
// whose latent FP32 weights are then trained with straight-through gradients, BatchNorm in
// training mode and the batch labels in the pass (ClimbQ's class-wise sigma_j), under ce | cb |
// homovar. Uniform clips start from one calibration pass and follow an EMA of the batch max; LSQ
// steps start from the FP32 weights / the first batch (Esser et al., ICLR 2020).
#pragma once

#include <cstdint>
#include <functional>

#include "homovar.hpp"
#include "lt_dataset.hpp"
#include "model.hpp"
#include "ptq.hpp"
#include "trainer.hpp"

namespace effinfer::climbq {

struct QatOptions {
  TrainOptions train;  // qat.epochs, qat.lr and optim.*
  LossKind loss = LossKind::kHomoVar;
  HomoVarOptions homovar;
  PtqOptions calibration;                 // uniform clip calibration batches (ptq.calib_*)
  SelectKind select = SelectKind::kLast;  // qat.select (best_val: val split; best_test: test)
};

struct QatResult {
  Network<float> net;  // spec.mode = "qat", spec.loss = the loss
  TrainResult train;
};

// ConfigError (78) for an FP32 target method or bad options; DataError (65) when a class of the
// train split has no samples; NumericalError (70) when training diverges (nothing to write).
QatResult qat(Network<float>& fp32, Method method, int bits_w, int bits_a, const Dataset& data,
              const QatOptions& options, uint64_t seed, int threads,
              const std::function<void(const EpochReport&)>& progress = {});

}  // namespace effinfer::climbq
