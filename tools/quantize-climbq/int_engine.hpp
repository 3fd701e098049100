// Integer inference engine of quantize-climbq (spec 2.8) and its verification against the
// fake-quantized float32 model (spec 2.8.6, check 13): int8 x uint8 GEMMs with int32 accumulators
// (int_gemm.hpp), threshold requantization to the next layer's codes, im2col on codes, max pooling
// on codes, and the float32 classifier on x = s_a q.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "int_export.hpp"
#include "int_gemm.hpp"
#include "io/hdf5.hpp"
#include "model.hpp"
#include "trainer.hpp"

namespace effinfer::climbq {

// Codes recorded by IntEngine::forward.
struct IntCodes {
  // Per kQuant layer (IntModel::quant_layers order): codes [n, out_h, out_w, out] (before pooling).
  std::vector<std::vector<uint8_t>> layers;
  std::vector<uint8_t> classifier_input;  // [n, K of the classifier]
};

class IntEngine {
 public:
  // Packs the weights and resolves the kernel per layer (ConfigError 78 for an unavailable
  // request, see resolve_kernel). Buffers are allocated for max_batch images; forward() with more
  // runs in chunks and allocates nothing.
  IntEngine(const IntModel& model, IntKernel kernel = IntKernel::kAuto, int threads = 1,
            int64_t max_batch = 256);
  IntEngine(const IntEngine&) = delete;
  IntEngine& operator=(const IntEngine&) = delete;

  // logits [n, classes] from uint8 pixels [n, H, W, C]; codes (optional) of every layer.
  void forward(const uint8_t* pixels, int64_t n, float* logits, IntCodes* codes = nullptr);

  const IntModel& model() const { return model_; }
  int classes() const { return model_.num_classes; }
  int64_t input_size() const { return model_.input_size(); }
  int threads() const { return threads_; }
  void set_threads(int t) { threads_ = t < 1 ? 1 : t; }
  // The GEMM kernels in use (the bench table), e.g. "vnni512" ("avx2+portable" when the layers
  // resolve differently); per integer layer below.
  std::string kernel_name() const;
  const std::vector<GemmImpl>& layer_kernels() const { return impls_; }

 private:
  void run_chunk(const uint8_t* pixels, int64_t n, float* logits, IntCodes* codes, int64_t offset);

  IntModel model_;
  int threads_ = 1;
  int64_t max_batch_ = 256;
  std::vector<GemmImpl> impls_;  // per integer GEMM layer in order (incl. a quantized classifier)
  std::vector<PackedWeights> packed_;        // per layer index (empty for others)
  std::vector<std::vector<int32_t>> thr_t_;  // per layer: thresholds transposed [L][out]
  std::vector<std::vector<int32_t>> sign_;   // per layer: sign [out] (+1/-1), then [out] (0/-1)
  std::vector<std::vector<int32_t>> lut32_;  // per layer: the level -> code table, 32 entries
  bool avx512_requant_ = false;
  // Work buffers: codes ping-pong, im2col, accumulators, float features.
  std::vector<uint8_t> buf_a_, buf_b_, col_;
  std::vector<int32_t> acc_;
  std::vector<float> fx_, fcol_, fy_;
  std::vector<float> norm_lut_;  // pixel -> normalised float (as the trainer's loader)
};

// Predicted labels (argmax, first maximum on ties) of the integer model on a split.
std::vector<int> int_predict(IntEngine& engine, const SplitView& split, int64_t batch = 256);

// spec 3.4 `int`.
struct VerifyOptions {
  double min_label_agreement = 0.999;
  double min_code_agreement = 0.9999;
  double logit_rtol = 1e-4;  // the 1e-4 of tau (spec 2.8.6)
  int64_t batch = 250;
  int threads = 1;
};

// spec 3.5 /results/verify.
struct VerifyReport {
  int64_t n = 0;
  double label_agreement = 0;            // fraction of identical argmax labels
  std::vector<double> code_agreement;    // per quantized layer: fraction of identical codes
  std::vector<std::string> layer_names;  // the int layer names, same order
  double codes_min = 1;                  // min of code_agreement
  double within_tau = 0;                 // fraction of samples with |dlogit_c| <= tau_c for all c
  double max_excess = 0;                 // max over samples, classes of |dlogit_c| - tau_c
  bool pass = false;
};

// Runs the integer engine and the fake-quantized float32 network (eval mode, same normalisation
// as the trainer: x = float((p pixel_scale - mean) / std)) on the split and compares labels, the
// post-ReLU codes of every quantized layer (read from the Sequential's taps) and the logits
// against tau_c = s_a sum_k |dq_k| |W_ck| + rtol (1 + max_c |logit_c|) (spec 2.8.6).
// pass = labels >= min_label_agreement, every layer's codes >= min_code_agreement and every
// sample within tau.
VerifyReport verify_int_model(IntEngine& engine, Network<float>& fake, const SplitView& split,
                              const VerifyOptions& options = {});

void write_verify(io::H5File& file, const VerifyReport& report);  // /results/verify/...

}  // namespace effinfer::climbq
