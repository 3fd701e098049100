// The `bench` and `inspect` subcommands of quantize-climbq (spec 3.3, 3.5, 3.6, 7).
#pragma once

#include <string>

#include "core/tool.hpp"

namespace effinfer::climbq {

struct BenchFlags {
  std::string model;            // --model (B1)
  std::string batch;            // --batch N or a list "1,64,256" (bench.batch)
  std::string repeats, warmup;  // bench.repeats, bench.warmup
  bool quantizers = false;      // --quantizers: B2 instead of B1
  std::string elements;         // --elements (B2; default 10^7)
};

struct InspectFlags {
  std::string model;  // --model
};

// B1 (or B2 with --quantizers); -i data.h5 optional (its test images as inputs), -o optional.
void run_bench(RunContext& ctx, const BenchFlags& flags);
// Per-layer report of a model file; -o optional.
void run_inspect(RunContext& ctx, const InspectFlags& flags);

}  // namespace effinfer::climbq
