#include "settings.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace effinfer::mrf {
namespace {

// Typed getters with range checks; every failure is config.fail(key, ...) -> exit 78.
int get_int_in(const io::Config& c, const std::string& key, int64_t lo, int64_t hi) {
  const int64_t v = c.get_int(key);
  if (v < lo || v > hi)
    c.fail(key, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                    "], found " + std::to_string(v));
  return static_cast<int>(v);
}

double get_nonneg(const io::Config& c, const std::string& key) {
  const double v = c.get_double(key);
  if (!(std::isfinite(v) && v >= 0))
    c.fail(key, "expected a finite number >= 0, found " + std::to_string(v));
  return v;
}

double get_positive(const io::Config& c, const std::string& key) {
  const double v = c.get_double(key);
  if (!(std::isfinite(v) && v > 0))
    c.fail(key, "expected a finite number > 0, found " + std::to_string(v));
  return v;
}

std::string get_choice(const io::Config& c, const std::string& key,
                       const std::vector<std::string>& choices) {
  const std::string v = c.get_string(key);
  if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
    std::string list;
    for (const auto& s : choices) list += (list.empty() ? "" : ", ") + s;
    c.fail(key, "expected one of " + list + ", found '" + v + "'");
  }
  return v;
}

std::vector<int> get_crop(const io::Config& c, const std::string& key) {
  if (c.is_null(key)) return {};
  const auto v = c.get_doubles(key);
  std::vector<int> crop;
  for (double x : v) {
    if (!(x >= 0 && x == std::floor(x)))
      c.fail(key, "expected [row, col, h, w] of non-negative integers, found " + std::to_string(x));
    crop.push_back(static_cast<int>(x));
  }
  if (crop.size() != 4)
    c.fail(key, "expected [row, col, h, w] (4 integers), found " + std::to_string(crop.size()) +
                    " values");
  if (crop[2] < 1 || crop[3] < 1) c.fail(key, "expected h >= 1 and w >= 1");
  return crop;
}

RowMatrixXd get_matrix(const io::Config& c, const YAML::Node& node, const std::string& key) {
  if (!node.IsSequence() || node.size() == 0)
    c.fail(key, "expected a non-empty list of rows, e.g. [[1, -1]]");
  RowMatrixXd m;
  for (size_t r = 0; r < node.size(); ++r) {
    const YAML::Node row = node[r];
    if (!row.IsSequence() || row.size() == 0)
      c.fail(key, "expected a list of rows (lists of numbers), row " + std::to_string(r) +
                      " is not a non-empty list");
    if (r == 0)
      m.resize(static_cast<Eigen::Index>(node.size()), static_cast<Eigen::Index>(row.size()));
    if (static_cast<Eigen::Index>(row.size()) != m.cols())
      c.fail(key, "rows of different lengths (" + std::to_string(m.cols()) + " and " +
                      std::to_string(row.size()) + ")");
    for (size_t j = 0; j < row.size(); ++j) {
      try {
        m(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(j)) = row[j].as<double>();
      } catch (const YAML::Exception&) {
        c.fail(key, "expected numbers, found '" + row[j].as<std::string>("?") + "'");
      }
    }
  }
  return m;
}

std::vector<DenoisePrior> get_prior(const io::Config& c) {
  const std::string key = "denoise.prior";
  const YAML::Node list = c.node(key);
  if (!list.IsSequence() || list.size() == 0)
    c.fail(key, "expected a non-empty list of {kernel, weight, poly}");
  std::vector<DenoisePrior> prior;
  for (size_t t = 0; t < list.size(); ++t) {
    const std::string item = key + "[" + std::to_string(t) + "]";
    const YAML::Node n = list[t];
    if (!n.IsMap()) c.fail(key, item + ": expected a mapping {kernel, weight, poly}");
    for (const auto& kv : n) {
      const auto name = kv.first.as<std::string>();
      if (name != "kernel" && name != "weight" && name != "poly")
        c.fail(key, item + ": unknown key '" + name +
                        "' (valid: " + io::nearest(name, {"kernel", "weight", "poly"}) +
                        ", kernel, weight, poly)");
    }
    if (!n["kernel"] || !n["weight"] || !n["poly"])
      c.fail(key, item + ": expected the keys kernel, weight and poly");
    DenoisePrior p;
    p.kernel = get_matrix(c, n["kernel"], item + ".kernel");
    try {
      p.weight = n["weight"].as<double>();
      const auto poly = n["poly"].as<std::vector<double>>();
      p.poly =
          Eigen::Map<const Eigen::VectorXd>(poly.data(), static_cast<Eigen::Index>(poly.size()));
    } catch (const YAML::Exception&) {
      c.fail(key, item + ": expected weight a number and poly a list of numbers");
    }
    prior.push_back(std::move(p));
  }
  return prior;
}

template <int R, int C>
Eigen::Matrix<double, R, C> get_fixed_matrix(const io::Config& c, const std::string& key) {
  const RowMatrixXd m = get_matrix(c, c.node(key), key);
  if (m.rows() != R || m.cols() != C)
    c.fail(key, "expected a " + std::to_string(R) + " x " + std::to_string(C) + " matrix, found " +
                    std::to_string(m.rows()) + " x " + std::to_string(m.cols()));
  if (!m.allFinite()) c.fail(key, "expected finite values");
  return m;
}

}  // namespace

Settings read_settings(const io::Config& c) {
  Settings s;
  s.methods = c.get_strings("methods");
  if (s.methods.empty()) c.fail("methods", "expected at least one of cccp, lbfgs, gd, admm");
  for (const auto& m : s.methods) {
    if (std::find(kMethodNames.begin(), kMethodNames.end(), m) == kMethodNames.end())
      c.fail("methods", "unknown method '" + m + "' (did you mean " + io::nearest(m, kMethodNames) +
                            "?), expected cccp, lbfgs, gd or admm");
    if (std::count(s.methods.begin(), s.methods.end(), m) > 1)
      c.fail("methods", "method '" + m + "' listed twice");
  }

  auto& d = s.decompose;
  d.method = get_choice(c, "decomposition.method", {"sdp", "bound"}) == "sdp" ? SplitMethod::kSdp
                                                                              : SplitMethod::kBound;
  d.objective = get_choice(c, "decomposition.objective", {"min_trace_cave", "min_trace_sum"}) ==
                        "min_trace_cave"
                    ? SplitObjective::kMinTraceCave
                    : SplitObjective::kMinTraceSum;
  d.odd_degree = get_choice(c, "decomposition.odd_degree", {"bump", "error"}) == "bump"
                     ? OddDegree::kBump
                     : OddDegree::kError;
  d.max_degree = get_int_in(c, "decomposition.max_degree", 2, 64);
  d.max_block = get_int_in(c, "decomposition.max_block", 1, 100000);
  d.normalize = c.get_bool("decomposition.normalize");
  d.margin = get_nonneg(c, "decomposition.margin");
  d.on_failure = get_choice(c, "decomposition.on_failure", {"fallback", "error"}) == "fallback"
                     ? OnFailure::kFallback
                     : OnFailure::kError;
  d.sdp.tol = get_positive(c, "decomposition.sdp.tol");
  d.sdp.max_iters = get_int_in(c, "decomposition.sdp.max_iters", 1, 100000);
  d.sdp.step_fraction = c.get_double("decomposition.sdp.step_fraction");
  if (!(d.sdp.step_fraction > 0 && d.sdp.step_fraction < 1))
    c.fail("decomposition.sdp.step_fraction",
           "expected a number in (0, 1), found " + std::to_string(d.sdp.step_fraction));
  d.certify_samples = get_int_in(c, "decomposition.certify.samples", 0, 100000000);
  d.certify_radius = get_positive(c, "decomposition.certify.radius");

  auto& cc = s.cccp;
  cc.max_outer = get_int_in(c, "cccp.max_outer", 1, 1000000000);
  cc.tol_energy_rel = get_nonneg(c, "cccp.tol_energy_rel");
  cc.tol_x = get_nonneg(c, "cccp.tol_x");
  cc.inner_solver = get_choice(c, "cccp.inner.solver", {"lbfgs", "gd"}) == "lbfgs"
                        ? InnerSolver::kLbfgs
                        : InnerSolver::kGd;
  cc.inner_max_iters = get_int_in(c, "cccp.inner.max_iters", 1, 1000000000);
  cc.inner_memory = get_int_in(c, "cccp.inner.memory", 1, 100);
  cc.inner_gtol = get_nonneg(c, "cccp.inner.gtol");
  s.init_from_model = get_choice(c, "cccp.init.source", {"model", "value"}) == "model";
  s.init_value = c.get_double("cccp.init.value");
  if (!std::isfinite(s.init_value)) c.fail("cccp.init.value", "expected a finite number");

  LineSearchOptions ls;
  ls.c1 = c.get_double("line_search.c1");
  ls.c2 = c.get_double("line_search.c2");
  if (!(ls.c1 > 0 && ls.c1 < ls.c2 && ls.c2 < 1))
    c.fail("line_search.c1", "expected 0 < c1 < c2 < 1, found c1 = " + std::to_string(ls.c1) +
                                 ", c2 = " + std::to_string(ls.c2));
  ls.max_evals = get_int_in(c, "line_search.max_evals", 1, 1000);
  cc.line_search = ls;

  s.lbfgs.max_iters = get_int_in(c, "baselines.lbfgs.max_iters", 1, 1000000000);
  s.lbfgs.memory = get_int_in(c, "baselines.lbfgs.memory", 1, 100);
  s.lbfgs.gtol = get_nonneg(c, "baselines.lbfgs.gtol");
  s.lbfgs.ftol_rel = get_nonneg(c, "baselines.lbfgs.ftol_rel");
  s.lbfgs.line_search = ls;
  s.gd.max_iters = get_int_in(c, "baselines.gd.max_iters", 1, 1000000000);
  s.gd.gtol = s.lbfgs.gtol;  // spec 2.7: "same stops"
  s.gd.ftol_rel = s.lbfgs.ftol_rel;
  s.gd.c1 = ls.c1;

  s.admm.max_iters = get_int_in(c, "baselines.admm.max_iters", 1, 1000000000);
  s.admm.rho0 = get_nonneg(c, "baselines.admm.rho0");
  s.admm.rho1 = get_positive(c, "baselines.admm.rho1");
  s.admm.gamma = get_nonneg(c, "baselines.admm.gamma");
  s.admm.t0 = c.get_double("baselines.admm.t0");
  s.admm.newton_iters = get_int_in(c, "baselines.admm.newton_iters", 1, 10000);
  validate_admm_options(s.admm);

  auto& r = s.recon3d;
  r.grid = static_cast<int>(c.get_int("recon3d.grid"));
  r.plate_mm = c.get_double("recon3d.plate_mm");
  r.instances = static_cast<int>(c.get_int("recon3d.instances"));
  r.noise_px = c.get_double("recon3d.noise_px");
  r.bend_std_mm = c.get_double("recon3d.bend_std_mm");
  r.init_depth = c.get_double("recon3d.init_depth");
  r.K = get_fixed_matrix<3, 3>(c, "recon3d.camera.K");
  r.ext = get_fixed_matrix<3, 4>(c, "recon3d.camera.ext");
  validate_recon3d_gen_options(r);

  auto& f = s.sfs;
  f.source = get_choice(c, "sfs.source", {"motorcycle", "peaks"});
  f.downsample = get_int_in(c, "sfs.downsample", 1, 100000);
  f.height_scale = c.get_double("sfs.height_scale");
  f.crop = get_crop(c, "sfs.crop");
  f.size = static_cast<int>(c.get_int("sfs.size"));
  const auto light = c.get_doubles("sfs.light");
  if (light.size() != 3)
    c.fail("sfs.light", "expected [l1, l2, l3], found " + std::to_string(light.size()) + " values");
  f.light = Eigen::Vector3d(light[0], light[1], light[2]);
  f.smooth_lambda = c.get_double("sfs.smooth_lambda");
  f.mask_invalid = c.get_bool("sfs.mask_invalid");
  f.init_noise = c.get_double("sfs.init_noise");
  validate_sfs_options(f);

  auto& n = s.denoise;
  n.image = c.get_string("denoise.image");
  n.crop = get_crop(c, "denoise.crop");
  n.noise_sigma = get_positive(c, "denoise.noise_sigma");
  n.prior = get_prior(c);
  validate_denoise_options(n);

  s.plot_instance = get_int_in(c, "plot.instance", 0, 1000000000);
  return s;
}

}  // namespace effinfer::mrf
