// Evaluation metrics and the `/results` layout of quantize-climbq (spec 2.7, 3.5, 3.6): confusion
// matrix, per-class accuracy, overall accuracy (= mean per-class accuracy on the balanced test),
// many / medium / few split means, worst class, and drops against an FP32 reference.
//
// Accuracies and drops are fractions (files hold fractions, units "1"); a drop is
// reference - value, so positive = worse and 100 x drop is the drop in percentage points.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/json.hpp"
#include "io/hdf5.hpp"
#include "lt_data.hpp"

namespace effinfer::climbq {

struct EvalMetrics {
  int classes = 0;
  std::vector<int64_t> confusion;        // [C, C] row-major, rows = true label, columns = predicted
  std::vector<double> per_class_acc;     // [C]; NaN for a class without test samples
  double acc = 0;                        // mean of the per-class accuracies (classes with samples)
  double many = 0, medium = 0, few = 0;  // split means; NaN for an empty split
  int worst_class = -1;                  // lowest per-class accuracy (ties: smallest label)
  double worst_class_acc = 0;
  std::vector<std::string> warnings;  // empty splits, classes without test samples
};

// Metrics of predictions against labels (same length; every value in [0, classes): InternalError
// otherwise). `splits` gives the split of every label (class_splits); empty = no split means (all
// NaN, no warning).
EvalMetrics compute_metrics(std::span<const int> predictions, std::span<const int> labels,
                            int classes, const std::vector<Split>& splits);

// The same from a confusion matrix [C, C] (rows = true label), e.g. one read back for merging.
EvalMetrics metrics_from_confusion(std::vector<int64_t> confusion, int classes,
                                   const std::vector<Split>& splits);

// Drops against a reference (positive = worse), as fractions: reference - value. A NaN on either
// side gives NaN.
struct Drops {
  double acc = 0, many = 0, medium = 0, few = 0;
};
Drops drops_against(const EvalMetrics& reference, const EvalMetrics& value);

// One evaluated model: a row of /results/table and a group /results/runs/NNN_....
struct RunRecord {
  std::string method;          // fp32 | uniform | lsq | climbq | climbq-noscale
  std::string mode;            // fp32 | ptq | qat
  std::string loss;            // ce | cb | homovar
  int bits_w = 0, bits_a = 0;  // 0 = FP32
  uint64_t seed = 0;
  EvalMetrics metrics;
  Drops drops;             // zero for the FP32 reference itself
  bool has_drops = false;  // an FP32 reference is known
  bool has_int = false;    // label_agreement_int is set (--int)
  double label_agreement_int = 0;
};

// "NNN_<method>_<mode>_<loss>_w<bw>a<ba>_s<seed>", NNN = index with three digits.
std::string run_name(size_t index, const RunRecord& run);

// Constant part of /results: class names, train counts and the split membership.
struct ResultsHeader {
  std::vector<std::string> class_names;
  std::vector<int64_t> class_counts;
  std::vector<Split> splits;  // per label
};

// Writes /results/{class_names, class_counts, split/{many,medium,few}, runs/NNN_..., table/...}
// (spec 3.5) into an open, writable file; runs in the given order (FP32 first by convention).
// InternalError on inconsistent sizes.
void write_results(io::H5File& file, const ResultsHeader& header,
                   const std::vector<RunRecord>& runs);

// Reads back /results of a results or model file (for `compare --merge`): the header and every
// run in order, metrics rebuilt from the stored confusion matrices. DataError (65) naming
// file:path on missing or malformed content.
struct ResultsFile {
  ResultsHeader header;
  std::vector<RunRecord> runs;
};
ResultsFile read_results(const io::H5File& file);

// The JSON fields of one run for the summary line (spec 3.6): method, mode, loss, bits_w, bits_a,
// acc, many, medium, few, worst_class, worst_class_acc and, with a reference, drop{acc, many,
// medium, few} (with int agreement: label_agreement_int).
Json run_json(const RunRecord& run);

}  // namespace effinfer::climbq
