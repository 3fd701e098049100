#include "settings.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.hpp"

namespace effinfer::psytrack {
namespace {

const std::vector<std::string> kHyperNames = {"sigma", "sigInit", "sigDay"};

HyperSetting read_hyper_setting(const io::Config& config, const std::string& key) {
  HyperSetting h;
  const YAML::Node n = config.node(key);
  if (!n || n.IsNull()) return h;
  h.present = true;
  h.scalar = n.IsScalar();
  h.values = config.get_doubles(key);
  if (h.values.empty()) config.fail(key, "expected a positive number or a list of them, found []");
  for (double v : h.values)
    if (!(std::isfinite(v) && v > 0))
      config.fail(key, "expected finite values > 0, found " + std::to_string(v));
  return h;
}

HyperValue expand(const HyperSetting& s, int k, const std::string& key) {
  HyperValue v;
  if (!s.present) return v;
  if (s.scalar) {
    v.value = Eigen::VectorXd::Constant(k, s.values[0]);
    v.shared = true;
  } else if (s.values.size() == 1) {
    v.value = Eigen::VectorXd::Constant(k, s.values[0]);
  } else if (static_cast<int>(s.values.size()) == k) {
    v.value = Eigen::Map<const Eigen::VectorXd>(s.values.data(), k);
  } else {
    throw ConfigError("hyper." + key + ": list of " + std::to_string(s.values.size()) +
                      " values, expected 1 or K = " + std::to_string(k));
  }
  return v;
}

HyperValue read_hyper_dataset(const io::H5File& file, const std::string& path, int k) {
  HyperValue v;
  if (!file.exists(path)) return v;
  const auto info = file.info(path);
  Eigen::VectorXd values;
  if (info.shape.empty()) {
    // A scalar dataset is one shared parameter, like a YAML scalar (spec 3.2).
    double scalar = 0;
    if (info.element != io::ElementClass::kInteger && info.element != io::ElementClass::kFloat)
      throw DataError(file.path() + ":" + path + ": expected a number, found " + info.describe());
    scalar = file.read_scalar(path);
    v.value = Eigen::VectorXd::Constant(k, scalar);
    v.shared = true;
  } else {
    values = file.read_vector(path);
  }
  if (v.shared) {
  } else if (values.size() == 1) {
    v.value = Eigen::VectorXd::Constant(k, values[0]);
  } else if (values.size() == k) {
    v.value = values;
  } else {
    throw DataError(file.path() + ":" + path + ": expected shape (1,) or (K,) = (" +
                    std::to_string(k) + ",), found " + info.describe());
  }
  for (Eigen::Index i = 0; i < v.value.size(); ++i)
    if (!(std::isfinite(v.value[i]) && v.value[i] > 0))
      throw DataError(file.path() + ":" + path + ": expected values > 0, found " +
                      std::to_string(v.value[i]));
  return v;
}

}  // namespace

WeightSpec parse_weight_spec(const YAML::Node& node, const std::string& key, bool from_file) {
  auto fail = [&](const std::string& message) -> void {
    if (from_file) throw DataError(key + ": " + message);
    throw ConfigError(key + ": " + message);
  };
  if (!node.IsMap()) fail("expected a mapping {name: columns}, e.g. {bias: 1, s1: 1}");
  WeightSpec spec;
  for (const auto& kv : node) {
    const std::string name = kv.first.as<std::string>();
    double m = 0;
    if (!kv.second.IsScalar() || !YAML::convert<double>::decode(kv.second, m) || m != std::round(m) ||
        m < 0) {
      throw ConfigError((from_file ? key + "." : std::string("weights.")) + name +
                        ": expected a non-negative integer, found " +
                        (kv.second.IsScalar() ? "'" + kv.second.Scalar() + "'" : "a collection"));
    }
    if (name == "bias" && m > 1)
      throw ConfigError("weights.bias: expected 0 or 1, found " + std::to_string(static_cast<int>(m)));
    spec.emplace_back(name, static_cast<int>(m));
  }
  std::sort(spec.begin(), spec.end());  // code-point order, like Python's sorted()
  int k = 0;
  for (const auto& [name, m] : spec) k += m;
  if (k == 0) throw ConfigError("weights: K = 0, every weight has 0 columns");
  return spec;
}

std::vector<std::string> weight_labels(const WeightSpec& spec) {
  std::vector<std::string> labels;
  for (const auto& [name, m] : spec) {
    if (m == 1) labels.push_back(name);
    else
      for (int j = 0; j < m; ++j) labels.push_back(name + "[" + std::to_string(j) + "]");
  }
  return labels;
}

std::string weight_spec_json(const WeightSpec& spec) {
  std::string s = "{";
  for (size_t i = 0; i < spec.size(); ++i)
    s += (i ? ", \"" : "\"") + spec[i].first + "\": " + std::to_string(spec[i].second);
  return s + "}";
}

Settings read_settings(const io::Config& config) {
  Settings s;
  s.seed = static_cast<uint64_t>(config.get_int("seed"));
  if (!config.is_null("weights"))
    s.weights = parse_weight_spec(config.node("weights"), "weights", false);
  s.subjects = config.get_strings("data.subjects");
  s.start = config.get_int("data.start");
  s.end = config.get_int("data.end");
  s.sigma = read_hyper_setting(config, "hyper.sigma");
  s.sig_init = read_hyper_setting(config, "hyper.sigInit");
  s.sig_day = read_hyper_setting(config, "hyper.sigDay");
  if (!config.is_null("hyper_from")) s.hyper_from = config.get_string("hyper_from");

  std::set<std::string> seen;
  for (const auto& name : config.get_strings("opt")) {
    const auto it = std::find(kHyperNames.begin(), kHyperNames.end(), name);
    if (it == kHyperNames.end())
      config.fail("opt", "unknown hyper '" + name + "'; nearest valid name: '" +
                             io::nearest(name, kHyperNames) + "'");
    if (!seen.insert(name).second) config.fail("opt", "hyper '" + name + "' listed twice");
    s.param.opt.push_back(static_cast<HyperKind>(it - kHyperNames.begin()));
  }

  auto& f = s.fit;
  const std::string mode = config.get_string("optimizer.mode");
  if (mode == "psytrack") f.mode = FitMode::kPsytrack;
  else if (mode == "exact") f.mode = FitMode::kExact;
  else config.fail("optimizer.mode", "expected psytrack or exact, found '" + mode + "'");
  auto positive_int = [&](const std::string& key) {
    const int64_t v = config.get_int(key);
    if (v < 1) config.fail(key, "expected an integer >= 1, found " + std::to_string(v));
    return static_cast<int>(v);
  };
  auto positive = [&](const std::string& key) {
    const double v = config.get_double(key);
    if (!(std::isfinite(v) && v > 0)) config.fail(key, "expected a number > 0, found " + std::to_string(v));
    return v;
  };
  f.jump = positive_int("optimizer.jump");
  f.outer_rel_tol = positive("optimizer.outer_rel_tol");
  f.outer_max_iter = positive_int("optimizer.outer_max_iter");
  f.bfgs_max_iter = positive_int("optimizer.bfgs_max_iter");
  f.bfgs_gtol = positive("optimizer.bfgs_gtol");
  f.fd_step = positive("optimizer.fd_step");
  const auto bounds = config.get_doubles("optimizer.log2_bounds");
  if (bounds.size() != 2 || !(bounds[0] < bounds[1]))
    config.fail("optimizer.log2_bounds", "expected [lower, upper] with lower < upper");
  f.log2_lower = bounds[0];
  f.log2_upper = bounds[1];
  f.exact_gtol = positive("optimizer.exact_gtol");
  f.exact_max_iter = positive_int("optimizer.exact_max_iter");
  f.map.step_tol = positive("map.step_tol");
  f.map.max_iter = positive_int("map.max_iter");
  f.w_std = config.get_bool("posterior.w_std");
  f.hyp_std = config.get_bool("posterior.hyp_std");
  f.hyp_std_dx = positive("posterior.hyp_std_dx");

  s.folds = static_cast<int>(config.get_int("xval.folds"));
  if (s.folds < 2) config.fail("xval.folds", "expected an integer >= 2, found " + std::to_string(s.folds));
  if (!config.is_null("xval.fold_dataset")) s.fold_dataset = config.get_string("xval.fold_dataset");
  if (!config.is_null("xval.fold_hyper_dataset"))
    s.fold_hyper_dataset = config.get_string("xval.fold_hyper_dataset");
  s.evidence_hyper = config.get_string("evidence.hyper");
  if (std::find(kHyperNames.begin(), kHyperNames.end(), s.evidence_hyper) == kHyperNames.end())
    config.fail("evidence.hyper", "unknown hyper '" + s.evidence_hyper + "'; nearest valid name: '" +
                                      io::nearest(s.evidence_hyper, kHyperNames) + "'");
  s.evidence_grid = config.get_doubles("evidence.log2_grid");
  if (s.evidence_grid.empty()) config.fail("evidence.log2_grid", "expected at least one value");
  return s;
}

Hyper resolve_hyper(const Settings& settings, const io::H5File& file, const std::string& group,
                    int k, bool has_sessions) {
  Hyper hyper;
  if (!settings.hyper_from.empty()) {
    const std::string base = (group.empty() ? "" : "/" + group) +
                             (settings.hyper_from.front() == '/' ? "" : "/") + settings.hyper_from;
    if (!file.is_group(base))
      throw DataError(file.path() + ":" + base + ": hyper_from group not found");
    hyper.sigma = read_hyper_dataset(file, base + "/sigma", k);
    hyper.sig_init = read_hyper_dataset(file, base + "/sigInit", k);
    hyper.sig_day = read_hyper_dataset(file, base + "/sigDay", k);
    if (!hyper.sigma.present())
      throw DataError(file.path() + ":" + base + "/sigma: dataset not found (hyper_from)");
  } else {
    hyper.sigma = expand(settings.sigma, k, "sigma");
    hyper.sig_init = expand(settings.sig_init, k, "sigInit");
    hyper.sig_day = expand(settings.sig_day, k, "sigDay");
    if (!hyper.sigma.present()) throw ConfigError("hyper.sigma: expected a value > 0, found null");
  }
  for (HyperKind kind : settings.param.opt) {
    if (!hyper.get(kind).present())
      throw ConfigError(std::string("opt: ") + hyper_name(kind) +
                        " is optimised but its value is null (set hyper." + hyper_name(kind) + ")");
    if (kind == HyperKind::kSigDay && !has_sessions)
      throw ConfigError("opt: sigDay is optimised but the data has no session boundary (dayLength)");
  }
  return hyper;
}

}  // namespace effinfer::psytrack
