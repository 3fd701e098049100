// Execution strategies of one CondConv layer (spec condconv-bench 2.2) and the `auto` cost model:
// t = sum over phases of max(2 MACs / P, bytes / BW), with P (GEMM rate) and BW (copy bandwidth)
// calibrated once per process (<= 50 ms) and recorded in /provenance.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace effinfer::condconv {

struct LayerShape;  // condconv_kernels.hpp

enum class Strategy { kPerExample, kGrouped, kMoeConcat, kMoeLoop, kStatic, kAuto };

// "per-example", "grouped", "moe-concat", "moe-loop", "static", "auto".
std::string strategy_name(Strategy s);
// UsageError (64) naming the valid names when `name` is none of them.
Strategy parse_strategy(const std::string& name);
const std::vector<std::string>& strategy_names();

// Machine rates for the cost model, per precision and thread count.
struct MachineRates {
  int threads = 1;
  double gemm_gflops_1 = 0;  // sgemm GFLOP/s on one thread
  double gemm_gflops = 0;    // sgemm GFLOP/s on `threads` threads
  double copy_gbs = 0;       // memcpy bandwidth, bytes read + written, GB/s
  double calib_ms = 0;       // time the calibration took
};

// Measures the rates once per (process, threads) and caches them (thread-safe). BLAS threads are
// restored afterwards.
const MachineRates& calibrated_rates(int threads);

// Estimated time (ms) of one forward of the whole batch under `s` (not kAuto), phases of
// spec 2.2 with workspace traffic; elem_bytes = sizeof(T).
double estimate_ms(const LayerShape& shape, int64_t batch, Strategy s, int threads,
                   const MachineRates& rates, int elem_bytes = 4);

// Resolves kAuto to per-example, grouped or moe-concat: the cheapest estimate among those whose
// workspace at chunk 1 fits max_workspace_bytes. An FC layer at B > 1 always takes moe-concat
// (spec 2.2: per-example costs (n+1) K B MACs plus the bandwidth-bound mixing, MoE n K B in one
// BLAS-3 GEMM, so per-example can never be cheaper). Other values are returned unchanged.
Strategy resolve_strategy(Strategy s, const LayerShape& shape, int64_t batch, int threads,
                          int64_t max_workspace_bytes, int elem_bytes = 4);

}  // namespace effinfer::condconv
