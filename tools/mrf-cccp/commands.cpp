#include "commands.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <map>
#include <numeric>

#include "core/error.hpp"
#include "core/system.hpp"
#include "io/atomic_output.hpp"
#include "io/png.hpp"
#include "io/provenance.hpp"
#include "model_io.hpp"
#include "recon3d_set_io.hpp"
#include "report.hpp"
#include "results.hpp"
#include "settings.hpp"

namespace effinfer::mrf {
namespace {

Settings load_settings(RunContext& ctx, const CommandFlags& flags) {
  Settings s = read_settings(ctx.config);
  if (!flags.methods.empty()) {
    ctx.config.set("methods=[" + [&] {
      std::string list;
      for (const auto& m : flags.methods) list += (list.empty() ? "" : ",") + m;
      return list;
    }() + "]");
    s = read_settings(ctx.config);
  }
  s.decompose.seed = ctx.seed;
  s.decompose.threads = ctx.threads;
  return s;
}

const std::string& single_input(const RunContext& ctx) {
  if (ctx.options.inputs.size() != 1)
    throw UsageError("expected exactly one -i input, found " +
                     std::to_string(ctx.options.inputs.size()));
  return ctx.options.inputs.front();
}

void require_output(const RunContext& ctx) {
  if (ctx.options.output.empty()) throw UsageError("-o/--output is required");
  io::check_output_path(ctx.options.output, ctx.options.force);
}

Json decomposition_json(const ModelDecomposition& d, const DecomposeOptions& o) {
  Json j = Json::object();
  j.set("method", o.method == SplitMethod::kSdp ? "sdp" : "bound");
  j.set("n_sdp", d.n_sdp);
  j.set("sdp_iters_max", d.sdp_iters_max);
  j.set("fallbacks", d.fallbacks);
  j.set("time_s", d.time_s);
  return j;
}

bool is_yaml(const std::string& path) {
  const std::string ext = std::filesystem::path(path).extension().string();
  return ext == ".yaml" || ext == ".yml";
}

// The input of `infer`: one model, or a recon3d set (dispatch on effinfer_schema).
struct Input {
  bool is_set = false;
  Model model;
  Recon3dSet set;
};

Input read_input(const std::string& path) {
  Input in;
  if (is_yaml(path)) {
    in.model = read_model(path);
    return in;
  }
  const io::H5File file = io::H5File::open(path);
  if (file.has_attribute("/", "effinfer_schema") &&
      file.read_attribute_string("/", "effinfer_schema") == kRecon3dSchema) {
    in.is_set = true;
    in.set = read_recon3d_set(file);
    return in;
  }
  // read_model lists every accepted schema (model and recon3d) on a mismatch.
  in.model = read_model(file);
  return in;
}

Eigen::VectorXd initial_point(const Model& model, const Settings& s) {
  if (s.init_from_model && model.x0.size() == model.num_vars) return model.x0;
  return Eigen::VectorXd::Constant(model.num_vars, s.init_value);
}

MethodResult run_method(const std::string& method, const Model& model, const Energy& energy,
                        const Eigen::VectorXd& x0, const Settings& s) {
  if (method == "cccp") return run_cccp(energy, x0, s.cccp);
  if (method == "lbfgs") return run_lbfgs(energy, x0, s.lbfgs);
  if (method == "gd") return run_gd(energy, x0, s.gd);
  return run_admm(model, energy, x0, s.admm);
}

// Application metrics of one method's final point (spec 3.3 metrics/...).
std::map<std::string, double> metrics_of(const Model& model, const Eigen::VectorXd& x,
                                         const Recon3dInstance* instance) {
  std::map<std::string, double> m;
  if (instance && instance->points_gt.size() > 0)
    m["mean_vertex_error"] = vertex_error(x, *instance);
  if (model.app == "sfs" && model.truth.size() == model.num_vars)
    m["depth_rmse"] = sfs_depth_rmse(model, x);
  if (model.app == "denoise" && model.meta.clean.size() > 0) m["psnr"] = psnr(x, model.meta.clean);
  return m;
}

// Runs every method on one model (decomposition given or computed here).
InstanceRun run_instance(const Model& model, const Settings& s, int threads,
                         const ModelDecomposition* given, const Recon3dInstance* instance,
                         ModelDecomposition* decomposition_out = nullptr) {
  InstanceRun run;
  Energy energy(model, threads);
  const bool need_split = std::find(s.methods.begin(), s.methods.end(), "cccp") != s.methods.end();
  ModelDecomposition d;
  if (given) {
    d = *given;
  } else if (need_split) {
    DecomposeOptions o = s.decompose;
    o.threads = threads;
    d = decompose_model(model, o);
  }
  if (need_split) energy.set_split(d.families);
  run.decomposition_time_s = d.time_s;
  run.n_sdp = d.n_sdp;
  run.sdp_iters_max = d.sdp_iters_max;
  run.fallbacks = d.fallbacks;
  run.certificates_passed = d.certificates_passed;
  const Eigen::VectorXd x0 = initial_point(model, s);
  for (const auto& method : s.methods) {
    run.methods.push_back(run_method(method, model, energy, x0, s));
    run.metrics.push_back(metrics_of(model, run.methods.back().x, instance));
  }
  if (decomposition_out) *decomposition_out = std::move(d);
  return run;
}

double median(std::vector<double> v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double mean(const std::vector<double>& v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

Json methods_json(const std::vector<std::string>& methods, const std::vector<InstanceRun>& runs) {
  Json all = Json::object();
  for (size_t m = 0; m < methods.size(); ++m) {
    std::vector<double> e0, e1, t, it;
    std::map<std::string, std::vector<double>> metric;
    std::map<std::string, int64_t> stops;
    bool monotone = true;
    for (const auto& r : runs) {
      const MethodResult& res = r.methods[m];
      e0.push_back(res.energy_init);
      e1.push_back(res.energy_final);
      t.push_back(res.time_s);
      it.push_back(static_cast<double>(res.iterations));
      monotone = monotone && res.monotone;
      ++stops[res.stop_reason];
      for (const auto& [k, v] : r.metrics[m]) metric[k].push_back(v);
    }
    Json j = Json::object();
    j.set("energy_init", mean(e0));
    j.set("energy_final", mean(e1));
    j.set("energy_final_median", median(e1));
    j.set("iterations", mean(it));
    j.set("time_s", std::accumulate(t.begin(), t.end(), 0.0));
    j.set("monotone", monotone);
    Json stop_counts = Json::object();
    for (const auto& [k, v] : stops) stop_counts.set(k, static_cast<long long>(v));
    j.set("stop_counts", stop_counts);
    Json mj = Json::object();
    for (const auto& [k, v] : metric) {
      mj.set(k, mean(v));
      if (v.size() > 1) mj.set(k + "_median", median(v));
    }
    j.set("metrics", mj);
    all.set(methods[m], j);
  }
  return all;
}

// The trace energy at wall time t (the last entry logged at or before t).
double energy_at_time(const MethodResult& r, double t) {
  double e = r.trace_energy.empty() ? r.energy_final : r.trace_energy.front();
  for (size_t i = 0; i < r.trace_energy.size() && r.trace_time_s[i] <= t; ++i)
    e = r.trace_energy[i];
  return e;
}

// First trace time at which the energy is <= target (the run's total time if never).
double time_to_energy(const MethodResult& r, double target) {
  for (size_t i = 0; i < r.trace_energy.size(); ++i)
    if (r.trace_energy[i] <= target) return r.trace_time_s[i];
  return r.time_s;
}

// a <= b, counting values within 1e-6 relative as ties: both methods often stop at the same
// local minimum, where the last digits are round-off and must not decide the comparison.
bool at_most(double a, double b) { return a <= b + 1e-6 * std::max(std::abs(a), std::abs(b)); }

// Fractions of instances where CCCP ends at least as low as L-BFGS (energy; vertex error).
Json comparison_json(const std::vector<std::string>& methods,
                     const std::vector<InstanceRun>& runs) {
  Json j = Json::object();
  const auto c = std::find(methods.begin(), methods.end(), "cccp");
  const auto l = std::find(methods.begin(), methods.end(), "lbfgs");
  if (c == methods.end() || l == methods.end() || runs.empty()) return j;
  const size_t ci = c - methods.begin(), li = l - methods.begin();
  int e_le = 0, err_le = 0, err_n = 0;
  for (const auto& r : runs) {
    e_le += at_most(r.methods[ci].energy_final, r.methods[li].energy_final);
    auto a = r.metrics[ci].find("mean_vertex_error"), b = r.metrics[li].find("mean_vertex_error");
    if (a != r.metrics[ci].end() && b != r.metrics[li].end()) {
      ++err_n;
      err_le += at_most(a->second, b->second);
    }
  }
  j.set("frac_cccp_energy_le_lbfgs", static_cast<double>(e_le) / static_cast<double>(runs.size()));
  // Side by side at equal wall time (the shorter run's total) and time to a common energy
  // E_common (1 + 1e-3), E_common = the higher final energy of the two (spec 7); means over
  // instances.
  std::vector<double> t_eq, e_cccp, e_lbfgs, t_cccp, t_lbfgs;
  for (const auto& r : runs) {
    const MethodResult &a = r.methods[ci], &b = r.methods[li];
    const double t = std::min(a.time_s, b.time_s);
    t_eq.push_back(t);
    e_cccp.push_back(energy_at_time(a, t));
    e_lbfgs.push_back(energy_at_time(b, t));
    const double common = std::max(a.energy_final, b.energy_final);
    const double target = common + 1e-3 * std::abs(common);
    t_cccp.push_back(time_to_energy(a, target));
    t_lbfgs.push_back(time_to_energy(b, target));
  }
  j.set("equal_time_s", mean(t_eq));
  j.set("energy_cccp_at_equal_time", mean(e_cccp));
  j.set("energy_lbfgs_at_equal_time", mean(e_lbfgs));
  j.set("time_to_common_energy_cccp_s", mean(t_cccp));
  j.set("time_to_common_energy_lbfgs_s", mean(t_lbfgs));
  if (err_n > 0)
    j.set("frac_cccp_error_le_lbfgs", static_cast<double>(err_le) / static_cast<double>(err_n));
  return j;
}

// --strict (spec 3.6): any fallback, nonmonotone stop or max-iteration stop of cccp, lbfgs or
// gd (admm runs a fixed number of iterations by design) fails the check.
std::string strict_failure(const std::vector<std::string>& methods,
                           const std::vector<InstanceRun>& runs) {
  int fallbacks = 0, nonmonotone = 0, max_iters = 0;
  for (const auto& r : runs) {
    fallbacks += r.fallbacks;
    for (size_t m = 0; m < methods.size(); ++m) {
      if (methods[m] == "admm") continue;
      nonmonotone += r.methods[m].stop_reason == "nonmonotone";
      max_iters += r.methods[m].stop_reason == "max_iters";
    }
  }
  if (fallbacks + nonmonotone + max_iters == 0) return "";
  return "--strict: " + std::to_string(fallbacks) + " bound fallbacks, " +
         std::to_string(nonmonotone) + " nonmonotone stops, " + std::to_string(max_iters) +
         " max-iteration stops";
}

Json outputs_json(const std::vector<std::string>& outputs) {
  Json j = Json(Json::Array{});
  for (const auto& o : outputs) j.push_back(o);
  return j;
}

}  // namespace

void run_gen(RunContext& ctx, const CommandFlags& flags) {
  require_output(ctx);
  const Settings s = load_settings(ctx, flags);
  Json summary = Json::object();
  if (flags.app == "recon3d") {
    const Recon3dSet set = generate_recon3d_set(s.recon3d, ctx.seed);
    io::write_hdf5_output(ctx, kRecon3dSchema, [&](io::H5File& f) { write_recon3d_set(f, set); });
    ctx.summary.set("schema", kRecon3dSchema);
    ctx.summary.set("instances", static_cast<long long>(set.instances.size()));
    ctx.summary.set("n_vars", set.mesh.num_vertices());
    ctx.summary.set("n_factors", set.mesh.num_edges());
  } else {
    const Model model = flags.app == "sfs" ? make_sfs_model(s.sfs, ctx.seed)
                                           : make_denoise_model(s.denoise, ctx.seed);
    io::write_hdf5_output(ctx, kModelSchema, [&](io::H5File& f) { write_model(f, model); });
    int64_t factors = 0;
    for (const auto& f : model.families) factors += f.num_factors();
    ctx.summary.set("schema", kModelSchema);
    ctx.summary.set("app", model.app);
    ctx.summary.set("n_vars", static_cast<long long>(model.num_vars));
    ctx.summary.set("n_factors", static_cast<long long>(factors));
    if (!model.meta.empty()) {
      ctx.summary.set("height", static_cast<long long>(model.meta.height));
      ctx.summary.set("width", static_cast<long long>(model.meta.width));
    }
    if (model.app == "denoise") ctx.summary.set("psnr_input", psnr(model.x0, model.meta.clean));
    if (model.app == "sfs") ctx.summary.set("depth_rmse_init", sfs_depth_rmse(model, model.x0));
  }
  ctx.summary.set("outputs", outputs_json({ctx.options.output}));
}

void run_import(RunContext& ctx, const CommandFlags& flags) {
  require_output(ctx);
  if (flags.models.empty()) throw UsageError("import: expected at least one --models file");
  const Recon3dSet set = import_recon3d_text(flags.template_pts, flags.template_tri, flags.camera,
                                             flags.models, flags.camera_ext, flags.source);
  for (const auto& w : recon3d_set_warnings(set)) ctx.log.warn(w);
  io::write_hdf5_output(ctx, kRecon3dSchema, [&](io::H5File& f) { write_recon3d_set(f, set); });
  ctx.summary.set("schema", kRecon3dSchema);
  ctx.summary.set("instances", static_cast<long long>(set.instances.size()));
  ctx.summary.set("n_vars", set.mesh.num_vertices());
  ctx.summary.set("n_factors", set.mesh.num_edges());
  ctx.summary.set("outputs", outputs_json({ctx.options.output}));
}

void run_decompose(RunContext& ctx, const CommandFlags& flags) {
  const std::string& input = single_input(ctx);
  require_output(ctx);
  Settings s = load_settings(ctx, flags);
  if (flags.verify && s.decompose.certify_samples == 0) s.decompose.certify_samples = 10000;
  if (!flags.dump_sdpa.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(flags.dump_sdpa, ec);
    if (ec || !std::filesystem::is_directory(flags.dump_sdpa))
      throw OutputError("--dump-sdpa " + flags.dump_sdpa + ": cannot create the directory (" +
                        ec.message() + ")");
    s.decompose.dump_sdpa_dir = flags.dump_sdpa;
  }
  const Model model = read_model(input);
  const ModelDecomposition d = decompose_model(model, s.decompose);
  io::write_hdf5_output(ctx, kDecompositionSchema,
                        [&](io::H5File& f) { write_decomposition(f, model, d); });
  int64_t factors = 0;
  for (const auto& f : model.families) factors += f.num_factors();
  ctx.summary.set("schema", kDecompositionSchema);
  ctx.summary.set("n_vars", static_cast<long long>(model.num_vars));
  ctx.summary.set("n_factors", static_cast<long long>(factors));
  ctx.summary.set("max_degree", d.max_degree);
  Json dj = decomposition_json(d, s.decompose);
  if (s.decompose.certify_samples > 0) {
    dj.set("certify_samples", s.decompose.certify_samples);
    dj.set("certificates_passed", d.certificates_passed);
  }
  ctx.summary.set("decomposition", dj);
  ctx.summary.set("outputs", outputs_json({ctx.options.output}));
  if (!d.certificates_passed)
    ctx.check_failure = "certificate check failed (see gram_min_eig / certify in the output)";
  else if (flags.strict && d.fallbacks > 0)
    ctx.check_failure = "--strict: " + std::to_string(d.fallbacks) + " bound fallbacks";
}

void run_infer(RunContext& ctx, const CommandFlags& flags) {
  const std::string& input = single_input(ctx);
  require_output(ctx);
  if (!flags.plot.empty()) io::check_output_path(flags.plot, ctx.options.force);
  const Settings s = load_settings(ctx, flags);
  Input in = read_input(input);
  if (!flags.png_prefix.empty()) {
    if (in.is_set || (in.model.app != "sfs" && in.model.app != "denoise"))
      throw UsageError("--png-prefix applies to the image applications (sfs, denoise), not to " +
                       (in.is_set ? std::string("a recon3d set") : "app " + in.model.app));
    for (const auto& path : png_paths(flags.png_prefix, in.model, s.methods))
      io::check_output_path(path, ctx.options.force);
  }
  std::vector<InstanceRun> runs;
  std::vector<std::string> warnings;
  int64_t n_vars = 0, n_factors = 0;
  int max_degree = 0;
  Json decomposition = Json::object();
  if (in.is_set) {
    for (const auto& w : recon3d_set_warnings(in.set)) {
      ctx.log.warn(w);
      warnings.push_back(w);
    }
    if (!flags.decomposition.empty())
      throw UsageError(
          "--decomposition applies to a single model; a recon3d set is decomposed "
          "per instance");
    const auto [lo, hi] = ctx.shard.range(static_cast<int64_t>(in.set.instances.size()));
    if (ctx.shard.active())
      ctx.log.info("shard " + ctx.shard.str() + ": instances " + std::to_string(lo) + ".." +
                   std::to_string(hi - 1));
    runs.resize(static_cast<size_t>(hi - lo));
    n_vars = in.set.mesh.num_vertices();
    n_factors = in.set.mesh.num_edges();
    max_degree = 4;
    Progress progress(ctx.log, ctx.progress, "infer", static_cast<long>(hi - lo));
    std::exception_ptr error;
    // Instances are independent: one per thread, each evaluated single-threaded.
#pragma omp parallel for schedule(dynamic, 1) num_threads(ctx.threads)
    for (int64_t b = lo; b < hi; ++b) {
      try {
        const Recon3dInstance& inst = in.set.instances[static_cast<size_t>(b)];
        const Model model = recon3d_model(in.set.mesh, inst, s.recon3d.init_depth,
                                          input + " instance " + std::to_string(b));
        InstanceRun run = run_instance(model, s, 1, nullptr, &inst);
        run.id = in.set.ids.empty() ? b : in.set.ids[static_cast<size_t>(b)];
        runs[static_cast<size_t>(b - lo)] = std::move(run);
        progress.tick();
      } catch (...) {
#pragma omp critical(mrf_error)
        if (!error) error = std::current_exception();
      }
    }
    progress.finish();
    if (error) std::rethrow_exception(error);
    std::vector<double> t;
    int n_sdp = 0, iters = 0, fallbacks = 0;
    for (const auto& r : runs) {
      t.push_back(r.decomposition_time_s);
      n_sdp += r.n_sdp;
      iters = std::max(iters, r.sdp_iters_max);
      fallbacks += r.fallbacks;
    }
    decomposition.set("method", s.decompose.method == SplitMethod::kSdp ? "sdp" : "bound");
    decomposition.set("n_sdp", n_sdp);
    decomposition.set("sdp_iters_max", iters);
    decomposition.set("fallbacks", fallbacks);
    decomposition.set("time_s", std::accumulate(t.begin(), t.end(), 0.0));
  } else {
    if (ctx.shard.active() && ctx.shard.count > 1)
      throw UsageError("--shard " + ctx.shard.str() + " splits the instances of a recon3d set; " +
                       input + " is a single model");
    const Model& model = in.model;
    n_vars = model.num_vars;
    for (const auto& f : model.families) {
      n_factors += f.num_factors();
      max_degree = std::max(max_degree, table_degree(f.exponents));
    }
    ModelDecomposition given;
    if (!flags.decomposition.empty()) given = read_decomposition(flags.decomposition, model);
    ModelDecomposition used;
    runs.push_back(run_instance(model, s, ctx.threads,
                                flags.decomposition.empty() ? nullptr : &given, nullptr, &used));
    decomposition = decomposition_json(used, s.decompose);
    if (!flags.decomposition.empty()) decomposition.set("file", flags.decomposition);
  }

  std::vector<std::string> outputs = {ctx.options.output};
  io::write_hdf5_output(ctx, kResultSchema,
                        [&](io::H5File& f) { write_results(f, s.methods, runs); });
  if (!flags.plot.empty()) {
    io::write_text_atomic(flags.plot, energy_plot_svg(s.methods, runs, s.plot_instance),
                          ctx.options.force);
    outputs.push_back(flags.plot);
  }
  if (!flags.png_prefix.empty()) {
    for (const auto& path :
         write_pngs(flags.png_prefix, in.model, s.methods, runs.front(), ctx.options.force))
      outputs.push_back(path);
  }

  ctx.summary.set("schema", kResultSchema);
  ctx.summary.set("app", in.is_set ? std::string("recon3d") : in.model.app);
  ctx.summary.set("instances", static_cast<long long>(runs.size()));
  ctx.summary.set("n_vars", static_cast<long long>(n_vars));
  ctx.summary.set("n_factors", static_cast<long long>(n_factors));
  ctx.summary.set("max_degree", max_degree);
  ctx.summary.set("decomposition", decomposition);
  ctx.summary.set("methods", methods_json(s.methods, runs));
  ctx.summary.set("comparison", comparison_json(s.methods, runs));
  Json w = Json(Json::Array{});
  for (const auto& x : warnings) w.push_back(x);
  ctx.summary.set("warnings", w);
  ctx.summary.set("outputs", outputs_json(outputs));
  for (size_t m = 0; m < s.methods.size(); ++m) {
    const auto& res = runs.front().methods[m];
    if (runs.size() == 1)
      ctx.log.info(s.methods[m] + ": E " + std::to_string(res.energy_init) + " -> " +
                   std::to_string(res.energy_final) + " in " + std::to_string(res.time_s) + " s, " +
                   std::to_string(res.iterations) + " iterations, stop " + res.stop_reason);
  }
  // DESIGN: an iteration-limit stop is a result, flagged "not_converged" (exit 0 unless --strict).
  for (const auto& r : runs)
    for (size_t m = 0; m < s.methods.size(); ++m)
      if (s.methods[m] != "admm" && r.methods[m].stop_reason == "max_iters")
        ctx.status = "not_converged";
  if (std::any_of(runs.begin(), runs.end(),
                  [](const InstanceRun& r) { return !r.certificates_passed; }))
    ctx.check_failure = "decomposition certificate check failed (decomposition.certify)";
  else if (flags.strict)
    ctx.check_failure = strict_failure(s.methods, runs);
}

void run_merge(RunContext& ctx, const CommandFlags& flags) {
  (void)flags;
  require_output(ctx);
  if (ctx.options.inputs.empty())
    throw UsageError("merge: expected result files (-i R1 -i R2 ...)");
  io::write_hdf5_output(ctx, kResultSchema,
                        [&](io::H5File& f) { merge_results(f, ctx.options.inputs); });
  ctx.summary.set("schema", kResultSchema);
  ctx.summary.set("outputs", outputs_json({ctx.options.output}));
}

}  // namespace effinfer::mrf
