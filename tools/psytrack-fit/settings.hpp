// psytrack-fit's configuration, parsed and validated once (spec 3.2): every bad value is a
// ConfigError (78) naming its key. Values that depend on the data (K, sessions) are resolved per
// subject by resolve_hyper / validate_opt.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fit.hpp"
#include "io/config.hpp"
#include "io/hdf5.hpp"

namespace effinfer::psytrack {

// {name: m} sorted by code point like Python's sorted(); `bias` is a column of ones.
using WeightSpec = std::vector<std::pair<std::string, int>>;
// Parses a YAML/JSON mapping into a WeightSpec; `key` names it in errors (78, or 65 when
// `from_file` because it came from the input's `weights` attribute).
WeightSpec parse_weight_spec(const YAML::Node& node, const std::string& key, bool from_file);
std::vector<std::string> weight_labels(const WeightSpec& spec);
std::string weight_spec_json(const WeightSpec& spec);

// One hyper as configured: absent (null), a scalar (one shared parameter) or a list (1 or K).
struct HyperSetting {
  bool present = false;
  bool scalar = false;
  std::vector<double> values;
};

struct Settings {
  std::optional<WeightSpec> weights;  // null: from the input's `weights` attribute
  std::vector<std::string> subjects;  // empty: automatic
  int64_t start = 0, end = 0;
  HyperSetting sigma, sig_init, sig_day;
  std::string hyper_from;  // empty = none
  HyperParam param;        // opt
  FitOptions fit;
  int folds = 10;
  std::string fold_dataset, fold_hyper_dataset;
  std::string evidence_hyper = "sigma";
  std::vector<double> evidence_grid;
  uint64_t seed = 0;
};

Settings read_settings(const io::Config& config);

// Hypers for a subject with K weights: from hyper_from in `file` when set (datasets sigma,
// sigInit, sigDay by shape: scalar -> shared, (1,) broadcast, (K,) per weight; DataError 65 on
// a missing group or a wrong shape), else from the config (ConfigError 78 on a list length not
// in {1, K}). Validates opt against the result (78: opt hyper null, sigDay without sessions).
Hyper resolve_hyper(const Settings& settings, const io::H5File& file, const std::string& group,
                    int n_weights, bool has_sessions);

}  // namespace effinfer::psytrack
