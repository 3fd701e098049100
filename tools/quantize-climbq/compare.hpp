// `compare` of quantize-climbq (spec 3.3): one run list - the FP32 model, PTQ per (method with a
// PTQ form, bits, seed) and, with qat, QAT per (method, loss, bits, seed) - evaluated on the test
// split with per-class, many/medium/few and worst-class accuracy and drops against FP32. Shards
// take contiguous blocks of the quantized runs (FP32 is evaluated in each); `merge_compare` joins
// shard files into the table of the unsharded run.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/system.hpp"
#include "metrics.hpp"
#include "model.hpp"
#include "ptq.hpp"
#include "qat.hpp"

namespace effinfer::climbq {

struct CompareOptions {
  std::vector<Method> methods{Method::kUniform, Method::kClimbq};
  std::vector<LossKind> losses{LossKind::kHomoVar};
  std::vector<int> bits{2, 3, 4, 8};
  std::vector<uint64_t> seeds{0};
  bool qat = false;
  PtqOptions ptq;
  QatOptions qat_options;  // loss is set per run
  std::vector<Split> splits;
  int64_t eval_batch = 500;
};

struct PlannedRun {
  Method method = Method::kUniform;
  std::string mode;  // ptq | qat
  LossKind loss = LossKind::kCe;
  int bits = 4;
  uint64_t seed = 0;
  std::string label() const;  // "climbq qat homovar w2a2 s0"
};

// The quantized runs in their fixed order (bits outer, then seed, PTQ before QAT, methods and
// losses in the given order). PTQ runs exist for uniform, climbq and climbq-noscale; their loss is
// the FP32 model's. ConfigError (78) for an empty list or bits outside 2..16.
std::vector<PlannedRun> plan_compare(const CompareOptions& options, LossKind fp32_loss);

// Runs one planned run and returns the quantized network (for export) and its record.
struct CompareRun {
  RunRecord record;
  Network<float> net;
};
CompareRun execute_run(const PlannedRun& run, Network<float>& fp32, const Dataset& data,
                       const CompareOptions& options, const EvalMetrics& fp32_metrics, int threads);

// Evaluates a network on the test split (predictions -> metrics with the given splits).
EvalMetrics evaluate_test(Network<float>& net, const Dataset& data,
                          const std::vector<Split>& splits, int64_t batch, int threads);

// Identity of a compare file, written as attributes of /results and checked by merge.
struct CompareIdentity {
  std::string data_sha256, model_sha256, plan;  // plan: the labels of every planned run, joined
  Shard shard;
};
std::string file_sha256(const std::string& path);  // InputError (66) when unreadable
void write_compare_identity(io::H5File& file, const CompareIdentity& id);
CompareIdentity read_compare_identity(const io::H5File& file);

// Joins shard files: same data, model and plan, shards 0..N-1 each once (DataError 65 naming the
// two files otherwise). Returns the header and the runs of the unsharded compare.
ResultsFile merge_compare(const std::vector<std::string>& paths, CompareIdentity* merged);

// Per-class accuracy picture: classes by rank (train count descending, ties by label), one line
// per run, the many/medium/few boundaries marked.
std::string per_class_svg(const ResultsHeader& header, const std::vector<RunRecord>& runs);

}  // namespace effinfer::climbq
