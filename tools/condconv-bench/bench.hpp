// The `bench` latency grid of condconv-bench (spec condconv-bench 7): a layer suite taken from the
// architecture tables (CondConv-B0's CondConv convs, MobileNetV1 Conv2d_7..13 and its FC), timed
// over experts x batch x threads x strategies, each case next to its physical bound
// bound_ms = max(2 MACs / P, bytes / BW) with P the in-process 2048^3 sgemm rate and BW the
// 256 MiB memcpy bandwidth; the `openblas` peer is a bare cblas_sgemm of the same GEMM shapes on
// pre-built im2col data. Targets (a)-(c) are evaluated from the table, never asserted.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "condconv_kernels.hpp"

namespace effinfer::io {
class H5File;
}

namespace effinfer::condconv {

// One distinct layer geometry of the suite (experts filled in per case).
struct SuiteLayer {
  std::string name;  // first row name with this shape, e.g. "blocks_8/expand"
  LayerShape shape;  // experts = 1, expert_bias as the placement says
};

// "efficientnet-b0-cc" (the CondConv layers of efficientnet-condconv-b0: expand / depthwise /
// project of the last 8 blocks), "mobilenet-v1-tail" (Conv2d_7..13 dw and pw, FC 1024->1000 with
// expert biases). Identical shapes are kept once. UsageError (64) for another name.
std::vector<SuiteLayer> bench_suite(const std::vector<std::string>& suites);
const std::vector<std::string>& suite_names();

// The static-equal-mac baseline (spec 2.2): Cout (depthwise: C) widened by 1 + n / (Ho Wo),
// rounded to the nearest multiple of 8 (at least 8).
int64_t equal_mac_width(const LayerShape& s, int64_t experts);
LayerShape equal_mac_shape(const LayerShape& s, int64_t experts);

// Strategies of the grid: the layer strategies plus "static-equal-mac"; peers "openblas",
// "onednn" (not built: recorded as skipped).
const std::vector<std::string>& bench_strategy_names();

// MACs and bytes of one case over the whole batch (spec 7), float32.
//  static / static-equal-mac / openblas: B macs; bytes 4 (B in + K + B out)
//  per-example / grouped / auto: B (macs + macs_mix); bytes mixing 4 (n K + K) at B = 1,
//    4 (n K + B K) for B > 1, plus conv 4 (B in + B K + B out) (each example reads its kernel)
//  moe-concat / moe-loop: B macs_moe; bytes 4 (B in + n K + B out)
// Expert biases add n Cout (+ B Cout) floats to the mixing.
int64_t case_macs(const LayerShape& s, int64_t batch, const std::string& strategy);
int64_t case_bytes(const LayerShape& s, int64_t batch, const std::string& strategy);
// bound_ms = max(2 macs / P, bytes / BW), P in GFLOP/s, BW in GB/s.
double bound_ms(int64_t macs, int64_t bytes, double gemm_gflops, double copy_gbs);

struct MachineRow {
  int threads = 1;
  double gemm_gflops = 0, copy_gbs = 0;
};

// P: GFLOP/s of an n^3 sgemm on `threads` BLAS threads (best of a few); BW: bytes read + written
// per second of a copy_mb MiB memcpy, best of 5, in GB/s.
MachineRow calibrate_machine(int threads, int64_t gemm_n, int64_t copy_mb);

struct BenchCase {
  std::string layer, kind, strategy, skipped;
  int64_t h = 0, w = 0, c_in = 0, c_out = 0, kernel = 0, stride = 0, experts = 0, batch = 0;
  int64_t threads = 0, macs = 0, bytes_est = 0;
  double median_ms = 0, p10_ms = 0, p90_ms = 0, gflops = 0, bound_ms = 0;
  double ratio_vs_static = 0, ratio_vs_moe = 0, ratio_vs_bound = 0;  // 0 = not applicable
};

struct BenchOptions {
  std::vector<std::string> suites{"efficientnet-b0-cc", "mobilenet-v1-tail"};
  std::vector<int64_t> experts{1, 2, 4, 8, 16, 32}, batch{1, 4, 16, 64};
  std::vector<int> threads{1, 2};
  std::vector<std::string> strategies, peers;
  int reps = 20, warmup = 3;
  double min_time_ms = 200;
  int64_t gemm_n = 2048, copy_mb = 256;
  int64_t max_workspace_bytes = int64_t{1024} << 20;
  uint64_t seed = 0;
  int shard_index = 0, shard_count = 1;
};

// One grid cell before timing (the unit --shard splits).
struct BenchCell {
  const SuiteLayer* layer = nullptr;
  int64_t experts = 0, batch = 1;
  int threads = 1;
  std::string strategy;
};
// Cells in a fixed order: layer, batch, threads, then static and the peers once (experts 0),
// then each n with its strategies.
std::vector<BenchCell> bench_cells(const std::vector<SuiteLayer>& layers, const BenchOptions& o);

struct BenchResult {
  std::vector<BenchCase> cases;
  std::vector<MachineRow> machine;
};

using LogFn = std::function<void(const std::string&)>;
BenchResult run_bench_grid(const BenchOptions& o, const LogFn& log);

// Ratios (vs static of the same layer, batch, threads; vs moe-loop of the same n; vs bound_ms).
// Recomputed by `merge` so shards join into what one run writes.
void compute_ratios(std::vector<BenchCase>& cases);

// Targets (a)-(c) of spec 7: true / false, or nullopt when no cell applies.
struct Targets {
  std::optional<bool> a, b, c;
  std::vector<std::string> notes;  // one line per failed or evaluated check
};
Targets evaluate_targets(const std::vector<BenchCase>& cases, int64_t max_workspace_bytes);

// /results/cases/* and /results/machine/* with units.
void write_bench_results(io::H5File& f, const BenchResult& r);
// Reads what write_bench_results wrote (DataError 65 naming the file and path when absent).
BenchResult read_bench_results(const io::H5File& f);

// Summary statistics for the JSON line.
double median_overhead_vs_static(const std::vector<BenchCase>& cases);
double best_speedup_vs_moe(const std::vector<BenchCase>& cases);

}  // namespace effinfer::condconv
