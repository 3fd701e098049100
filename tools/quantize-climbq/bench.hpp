// `bench` of quantize-climbq (spec 3.3, 3.5 `bench`, 7): B1 integer inference (the exported int
// model via IntEngine vs the float32 network with BN folded (Fp32Engine) vs the fake-quant float32
// model (Network<float> eval forward), with the int8-GEMM / sgemm rate bound), and B2 quantizer
// kernels (ClimbQ erfc path vs bucketize vs uniform round-clamp, against the copy bandwidth).
// Benchmarks time; nothing here is asserted in tests except the statistics helpers.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/json.hpp"
#include "int_gemm.hpp"
#include "io/hdf5.hpp"
#include "model.hpp"

namespace effinfer::climbq {

// ---- statistics ------------------------------------------------------------------------------

// The q-th percentile (q in [0, 100]) with linear interpolation between order statistics (numpy's
// default: position q/100 (n - 1)). InternalError on an empty sample or q outside [0, 100].
double percentile(std::vector<double> samples, double q);

struct TimeSummary {
  double median = 0, p10 = 0, p90 = 0;  // same unit as the samples
  int64_t n = 0;
};
TimeSummary summarize(const std::vector<double>& samples);

// Calls f() `warmup` times, then `repeats` times each timed on the steady clock; milliseconds.
std::vector<double> time_calls_ms(const std::function<void()>& f, int warmup, int repeats);

// ---- machine facts ---------------------------------------------------------------------------

struct MachineInfo {
  std::string blas_core;          // openblas_get_corename()
  std::string openblas_coretype;  // $OPENBLAS_CORETYPE ("" = unset)
  std::string cpu_flags;          // "avx512_vnni avx_vnni avx512bw avx2 ..." (those present)
  std::string cpu_model;
};
MachineInfo machine_info();

// Row-major C = A B on n x n float matrices through cblas_sgemm with `threads` BLAS threads:
// GFLOP/s (2 n^3 per call), median of `repeats` after one warm-up call.
double sgemm_gflops(int64_t n, int threads, int repeats = 5);
// The int8 GEMM rate of one integer kernel on n x n x n (packed weights, uint8 codes, int32
// accumulators), GOP/s (2 ops per MAC), median of `repeats` after one warm-up call.
double int8_gemm_gops(int64_t n, GemmImpl impl, int threads, int repeats = 5);
// Copy bandwidth of memcpy over `bytes` (read + write counted: 2 bytes moved per byte), GB/s.
double copy_gb_s(int64_t bytes, int repeats = 5);

// ---- B1 --------------------------------------------------------------------------------------

struct BenchOptions {  // spec 3.4 `bench`
  std::vector<int64_t> batches{64};
  std::vector<int> threads{1};
  int warmup = 20, repeats = 200;
  int64_t gemm_size = 1024;     // bench.peak_gemm_size
  std::string kernel = "auto";  // int.kernel
  uint64_t seed = 0;            // random uint8 inputs when no pixels are given
};

struct BenchRow {
  std::string engine;  // fp32 | fakequant | int
  std::string arch;
  int64_t batch = 0;
  int threads = 1;
  std::string kernel;  // sgemm | network | the int kernel name
  TimeSummary ms;      // per batch
  double img_s = 0;    // batch / median
};

struct BenchRatio {  // per (batch, threads)
  int64_t batch = 0;
  int threads = 1;
  double fp32_over_int = 0, fakequant_over_int = 0;
  double fraction_of_bound = 0;  // (fp32 / int) / bound_ratio
};

struct BenchResult {
  std::vector<BenchRow> rows;
  std::vector<BenchRatio> ratios;
  // GEMM rates on gemm_size^3 at one thread, in this process: sgemm GFLOP/s and the int kernel's
  // GOP/s (2 ops per MAC); bound_ratio = int8_gops / sgemm_gflops.
  double sgemm_gflops = 0, int8_gops = 0, bound_ratio = 0;
  // sgemm GFLOP/s on gemm_size^3 at every thread count of the rows (the first is one thread).
  std::vector<std::pair<int, double>> sgemm_by_threads;
  // Headline ratios: batch 64 (else the first batch), one thread.
  double fp32_over_int = 0, fakequant_over_int = 0, fraction_of_bound = 0;
  int64_t fp32_bytes = 0, int_bytes = 0, packed_bytes = 0;  // from the int export (spec 2.8.7)
  std::string kernel;                                       // the int kernel used
  std::string arch, method;
  int bits_w = 0, bits_a = 0;
  bool int_available = false;  // the integer engine was built into this binary
  std::string input;           // "random uint8 (seed S)" or the data file's test split
  MachineInfo machine;
};

// Runs B1 on `net` (a quantized model; an FP32 model gets only the fp32 and fakequant rows).
// `pixels` holds images of net's input shape (uint8, N x H x W x C); when it holds fewer than the
// largest batch, they are repeated; empty = seeded random uint8. `progress` gets a line per row.
BenchResult bench_inference(Network<float>& net, const std::vector<uint8_t>& pixels,
                            const BenchOptions& options,
                            const std::function<void(const std::string&)>& progress = {});

void write_bench(io::H5File& file, const BenchResult& result);  // /results/bench (spec 3.5)
Json bench_json(const BenchResult& result);                     // spec 3.6 bench keys

// ---- B2 --------------------------------------------------------------------------------------

struct QuantizerRow {
  std::string name;  // climbq_erfc | climbq_bucketize | uniform | copy
  TimeSummary ms;
  double ns_per_element = 0;
  double over_bound = 0;  // median / bound (copy median)
};
struct QuantizerBench {
  int64_t elements = 0;
  int bits = 4;
  std::vector<QuantizerRow> rows;
  double copy_gb_s = 0;  // 8 B per element (4 read + 4 written) over the copy median
  double bound_ms = 0;   // 8 B/element / copy bandwidth = the copy median
  double erfc_over_bucketize = 0, bucketize_over_uniform = 0;
};

// 4-bit activation quantizers (eval mode, one thread) on `elements` N(0, 4) floats, as
// [elements / 1000, 1000], next to a memcpy of the same floats.
QuantizerBench bench_quantizers(int64_t elements, int warmup, int repeats, uint64_t seed,
                                int bits = 4);
void write_quantizer_bench(io::H5File& file, const QuantizerBench& b);  // /results/bench/quantizers
Json quantizer_bench_json(const QuantizerBench& b);

}  // namespace effinfer::climbq
