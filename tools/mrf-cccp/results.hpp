// The files mrf-cccp writes besides models (spec 3.3): decomposition files
// (mrf-cccp/decomposition/1, matched to their model by model_sha256) and result files
// (mrf-cccp/result/1: per method, per instance final x, energies, times, stop reasons, exact-
// energy traces and application metrics).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cccp.hpp"
#include "decompose.hpp"
#include "io/hdf5.hpp"
#include "model.hpp"

namespace effinfer::mrf {

inline constexpr const char* kDecompositionSchema = "mrf-cccp/decomposition/1";
inline constexpr const char* kResultSchema = "mrf-cccp/result/1";

// Decomposes every family of the model (spec 2.3), in model family order.
struct ModelDecomposition {
  std::vector<FamilyDecomposition> families;
  double time_s = 0;
  int n_sdp = 0, sdp_iters_max = 0, fallbacks = 0;
  bool certificates_passed = true;
  int max_degree = 0;
};
ModelDecomposition decompose_model(const Model& model, const DecomposeOptions& options);

// Writes the decomposition into an open new file (root attr model_sha256, /families/<name>/...).
void write_decomposition(io::H5File& file, const Model& model, const ModelDecomposition& d);
// Reads a decomposition file for `model`: DataError (65) when the schema is wrong, the
// model_sha256 does not match the model's, or a family is missing or malformed.
ModelDecomposition read_decomposition(const std::string& path, const Model& model);

// Metric names and units (spec 3.3 metrics/...).
inline const std::map<std::string, std::string> kMetricUnits = {
    {"mean_vertex_error", "mm"}, {"depth_rmse", "depth units (gauge-aligned)"}, {"psnr", "dB"}};

// One instance's run: one MethodResult per method (in the result's method order) and metrics
// per method (name -> value).
struct InstanceRun {
  int64_t id = 0;
  std::vector<MethodResult> methods;
  std::vector<std::map<std::string, double>> metrics;
  double decomposition_time_s = 0;
  int n_sdp = 0, sdp_iters_max = 0, fallbacks = 0;
  bool certificates_passed = true;
};

// Writes /results/<method>/... for every method and /results/decomposition/..., /results/
// instance_id; `units` on every dataset.
void write_results(io::H5File& file, const std::vector<std::string>& methods,
                   const std::vector<InstanceRun>& runs);

// Concatenates result files (written by shards of one set) in instance-id order into `out`.
// DataError when the files disagree on methods or variable count or repeat an instance.
void merge_results(io::H5File& out, const std::vector<std::string>& inputs);

}  // namespace effinfer::mrf
