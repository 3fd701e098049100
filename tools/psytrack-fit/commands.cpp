#include "commands.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <mutex>
#include <numeric>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "input.hpp"
#include "io/atomic_output.hpp"
#include "io/hdf5.hpp"
#include "io/provenance.hpp"
#include "io/svg.hpp"
#include "plot.hpp"
#include "simulate.hpp"
#include "xval.hpp"

namespace effinfer::psytrack {
namespace {

constexpr const char* kSchema = "psytrack-fit/1";
constexpr const char* kInputSchema = "psytrack-fit-input/1";

const char* mode_name(FitMode mode) { return mode == FitMode::kExact ? "exact" : "psytrack"; }

std::string opt_text(const HyperParam& param) {
  std::string s;
  for (size_t i = 0; i < param.opt.size(); ++i)
    s += (i ? "," : "") + std::string(hyper_name(param.opt[i]));
  return s;
}

Json log2_or_null(const HyperValue& h) {
  if (!h.present()) return Json(nullptr);
  Json::Array a;
  for (Eigen::Index k = 0; k < h.value.size(); ++k) a.emplace_back(std::log2(h.value[k]));
  return Json(a);
}

// Runs `work(i, threads_inside)` over units: in parallel over units when there are several
// (each unit single-threaded inside), else one unit with all threads. Results do not depend on
// the thread count because every unit is computed the same way either way.
template <class Work>
void for_each_unit(int units, int threads, Work work) {
  if (units > 1 && threads > 1) {
    std::exception_ptr first;
    std::mutex mutex;
#pragma omp parallel for schedule(dynamic, 1) num_threads(std::min(threads, units))
    for (int i = 0; i < units; ++i) {
      try {
        work(i, 1);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!first) first = std::current_exception();
      }
    }
    if (first) std::rethrow_exception(first);
  } else {
    for (int i = 0; i < units; ++i) work(i, threads);
  }
}

// Writes the command's HDF5 output atomically: provenance first, then `body`, then the rename.

std::vector<Subject> load_shard(RunContext& ctx, const Settings& settings) {
  const auto refs = list_subjects(ctx.options.inputs, settings.subjects);
  const auto [lo, hi] = ctx.shard.range(static_cast<int64_t>(refs.size()));
  std::vector<Subject> subjects;
  for (int64_t i = lo; i < hi; ++i) {
    subjects.push_back(load_subject(refs[i], settings));
    const auto& s = subjects.back();
    if (s.y_recoded)
      ctx.log.info(s.ref.file + ":" + subject_path(s.ref, "y") +
                   ": psytrack {1,2} coding mapped to {0,1}");
    ctx.log.debug("subject " + s.ref.id + ": N " + std::to_string(s.data.n_trials()) + ", K " +
                  std::to_string(s.data.n_weights()) + ", sessions " +
                  std::to_string(s.data.day_length.size()));
  }
  if (ctx.shard.active())
    ctx.log.info("shard " + ctx.shard.str() + ": subjects " + std::to_string(lo) + ".." +
                 std::to_string(hi - 1) + " of " + std::to_string(refs.size()));
  return subjects;
}

void write_hyper_group(io::H5File& f, const std::string& group, const Hyper& hyper) {
  for (HyperKind kind : {HyperKind::kSigma, HyperKind::kSigInit, HyperKind::kSigDay}) {
    const HyperValue& h = hyper.get(kind);
    if (!h.present()) continue;
    const std::string path = group + "/" + hyper_name(kind);
    f.write_vector(path, h.value);
    f.set_units(path, "log-odds per input unit (std of a random-walk step)");
    f.set_attribute(path, "shared", static_cast<int64_t>(h.shared));
  }
}

void write_subject_header(io::H5File& f, const std::string& g, const RunContext& ctx,
                          const Subject& s, const Settings& settings) {
  f.create_group(g);
  f.set_attribute(g, "cmd", ctx.cmd);
  f.set_attribute(g, "source_file", s.ref.file);
  f.set_attribute(g, "source_group", s.ref.group.empty() ? "/" : "/" + s.ref.group);
  f.set_attribute(g, "N", static_cast<int64_t>(s.data.n_trials()));
  f.set_attribute(g, "K", static_cast<int64_t>(s.data.n_weights()));
  f.set_attribute(g, "S", static_cast<int64_t>(s.data.day_length.size()));
  f.set_attribute(g, "trim_start", s.trim_start);
  f.set_attribute(g, "trim_end", s.trim_end);
  f.set_attribute(g, "weight_names", s.data.weight_names);
  f.set_attribute(g, "weights", weight_spec_json(s.weights));
  f.set_attribute(g, "mode", mode_name(settings.fit.mode));
  f.set_attribute(g, "opt", opt_text(settings.param));
  if (!s.data.day_length.empty()) f.write_int64(g + "/dayLength", s.data.day_length);
}

// (N, K) trial-major -> (K, N) as the reference files store weights.
RowMatrix weights_by_row(const RowMatrix& w) { return w.transpose(); }

struct FitOutcome {
  FitResult result;
  std::string status = "ok", message;
  bool failed = false;
};

void write_fit(io::H5File& f, const RunContext& ctx, const Subject& s, const Settings& settings,
               const FitOutcome& o) {
  const std::string g = "/results/" + s.ref.id;
  write_subject_header(f, g, ctx, s, settings);
  f.set_attribute(g, "status", o.status);
  f.set_attribute(g, "message", o.message);
  if (o.failed) return;
  const FitResult& r = o.result;
  f.set_attribute(g, "logEvd", r.map.log_evidence);
  f.set_attribute(g, "logli", r.map.logli);
  f.set_attribute(g, "logprior", r.map.logprior);
  f.set_attribute(g, "logdet_half", r.map.logdet_half);
  f.set_attribute(g, "n_map_solves", static_cast<int64_t>(r.n_map_solves));
  if (settings.fit.mode == FitMode::kExact)
    f.set_attribute(g, "n_evals", static_cast<int64_t>(r.n_evals));
  else
    f.set_attribute(g, "n_dla_evals", static_cast<int64_t>(r.n_dla_evals));
  f.set_attribute(g, "newton_iterations", static_cast<int64_t>(r.newton_iterations));
  f.write_matrix(g + "/wMode", weights_by_row(r.map.w));
  f.set_units(g + "/wMode", "log-odds per input unit");
  if (r.w_std.size() > 0) {
    f.write_matrix(g + "/W_std", weights_by_row(r.w_std));
    f.set_units(g + "/W_std", "log-odds per input unit (posterior std)");
  }
  f.write_vector(g + "/pR", predict_p(s.data, r.map.w));
  f.set_units(g + "/pR", "probability of y = 1");
  write_hyper_group(f, g + "/hyper", r.hyper);
  write_hyper_group(f, g + "/hyper_init", s.hyper_init);
  f.write_vector(g + "/log2_hyper", r.log2_hyper);
  f.set_units(g + "/log2_hyper", "log2");
  f.write_strings(g + "/hyper_names", settings.param.names(r.hyper, s.data.weight_names));
  if (r.hyp_std_log2.size() > 0) {
    f.write_vector(g + "/hyp_std_log2", r.hyp_std_log2);
    f.set_units(g + "/hyp_std_log2", "log2");
  }
  const int n = static_cast<int>(r.trace.size());
  const int p = static_cast<int>(r.log2_hyper.size());
  RowMatrix trace(n, p);
  Eigen::VectorXd evidence(n);
  std::vector<int8_t> accepted(n);
  std::vector<int32_t> newton(n);
  for (int i = 0; i < n; ++i) {
    if (p > 0) trace.row(i) = r.trace[i].log2_hyper.transpose();
    evidence[i] = r.trace[i].log_evidence;
    accepted[i] = r.trace[i].accepted;
    newton[i] = r.trace[i].newton_iterations;
  }
  f.write_matrix(g + "/trace/log2_hyper", trace);
  f.write_vector(g + "/trace/logEvd", evidence);
  f.set_units(g + "/trace/logEvd", "nats");
  f.write_int8(g + "/trace/accepted", accepted);
  f.write_int32(g + "/trace/newton_iterations", newton);
}

Json subject_json(const Subject& s, const Settings& settings, const FitOutcome& o) {
  Json j = Json::object();
  j.set("id", s.ref.id);
  j.set("N", s.data.n_trials());
  j.set("K", s.data.n_weights());
  j.set("S", static_cast<long>(s.data.day_length.size()));
  j.set("mode", mode_name(settings.fit.mode));
  j.set("status", o.status);
  if (o.failed) {
    j.set("message", o.message);
    return j;
  }
  const FitResult& r = o.result;
  j.set("log_evidence", r.map.log_evidence);
  j.set("log2_sigma", log2_or_null(r.hyper.sigma));
  j.set("log2_sigInit", log2_or_null(r.hyper.sig_init));
  j.set("log2_sigDay", s.layout.has_sessions() ? log2_or_null(r.hyper.sig_day) : Json(nullptr));
  j.set("n_map_solves", r.n_map_solves);
  j.set(settings.fit.mode == FitMode::kExact ? "n_evals" : "n_dla_evals",
        settings.fit.mode == FitMode::kExact ? r.n_evals : r.n_dla_evals);
  j.set("newton_iterations", r.newton_iterations);
  return j;
}

// Shared tail of every subject loop: counts, --strict, the overall status.
void finish_subjects(RunContext& ctx, const CommandFlags& flags, int n_failed, int n_not_converged,
                     int n_subjects) {
  ctx.summary.set("n_subjects", n_subjects);
  ctx.summary.set("n_failed", n_failed);
  ctx.summary.set("n_not_converged", n_not_converged);
  ctx.summary.set("peak_rss_mb", peak_rss_mib());
  if (n_not_converged > 0 || n_failed > 0) ctx.status = "not_converged";
  if (flags.strict && (n_not_converged > 0 || n_failed > 0))
    ctx.check_failure = "--strict: " + std::to_string(n_not_converged) +
                        " subject(s) not converged, " + std::to_string(n_failed) + " failed";
}

}  // namespace

void run_fit(RunContext& ctx, const CommandFlags& flags) {
  const Settings settings = read_settings(ctx.config);
  io::check_output_path(ctx.options.output, ctx.options.force);
  std::vector<Subject> subjects = load_shard(ctx, settings);
  std::vector<FitOutcome> outcomes(subjects.size());
  Progress progress(ctx.log, ctx.progress, "fit", static_cast<long>(subjects.size()));
  for_each_unit(static_cast<int>(subjects.size()), ctx.threads, [&](int i, int threads) {
    FitOptions options = settings.fit;
    options.threads = threads;
    FitOutcome& o = outcomes[i];
    try {
      o.result = fit_hyper(subjects[i].data, subjects[i].layout, subjects[i].hyper_init,
                           settings.param, options);
      if (!o.result.converged) {
        o.status = "not_converged";
        o.message = o.result.message;
      }
    } catch (const NumericalError& e) {
      if (!flags.keep_going) throw NumericalError(subjects[i].ref.id + ": " + e.what());
      o.failed = true;
      o.status = "error";
      o.message = e.what();
    }
    progress.tick();
  });
  progress.finish();

  io::write_hdf5_output(ctx, kSchema, [&](io::H5File& f) {
    f.create_group("/results");
    for (size_t i = 0; i < subjects.size(); ++i)
      write_fit(f, ctx, subjects[i], settings, outcomes[i]);
  });

  Json list = Json(Json::Array{});
  int n_failed = 0, n_not_converged = 0;
  for (size_t i = 0; i < subjects.size(); ++i) {
    const auto& o = outcomes[i];
    n_failed += o.failed;
    n_not_converged += o.status == "not_converged";
    for (const auto& w : o.result.warnings) ctx.log.warn(subjects[i].ref.id + ": " + w);
    if (!o.message.empty()) ctx.log.warn(subjects[i].ref.id + ": " + o.status + ": " + o.message);
    list.push_back(subject_json(subjects[i], settings, o));
  }
  finish_subjects(ctx, flags, n_failed, n_not_converged, static_cast<int>(subjects.size()));
  ctx.summary.set("subjects", list);
}

namespace {

// Fold id of every (trimmed) trial: stored dataset or psytrack's seeded split.
std::vector<int> fold_assignment(const Subject& s, const Settings& settings, int& folds) {
  const int n = s.data.n_trials();
  if (settings.fold_dataset.empty()) {
    if (settings.folds > n)
      throw ConfigError("xval.folds: " + std::to_string(settings.folds) + " folds for N = " +
                        std::to_string(n) + " trials, expected 2 <= folds <= N");
    folds = settings.folds;
    return psytrack_fold_split(n, folds, static_cast<uint32_t>(settings.seed));
  }
  const io::H5File file = io::H5File::open(s.ref.file);
  const std::string path =
      subject_path(s.ref, settings.fold_dataset.front() == '/' ? settings.fold_dataset.substr(1)
                                                               : settings.fold_dataset);
  const auto all = file.read_int_vector(path);
  if (static_cast<int64_t>(all.size()) != s.n_untrimmed)
    throw DataError(s.ref.file + ":" + path + ": length " + std::to_string(all.size()) +
                    ", expected N = " + std::to_string(s.n_untrimmed));
  std::vector<int> fold(all.begin() + s.trim_start, all.begin() + s.trim_end);
  int max_fold = 0;
  for (size_t t = 0; t < fold.size(); ++t) {
    if (fold[t] < 0)
      throw DataError(s.ref.file + ":" + path + ": fold " + std::to_string(fold[t]) +
                      " < 0 at index " + std::to_string(t + s.trim_start));
    max_fold = std::max(max_fold, fold[t]);
  }
  folds = max_fold + 1;
  std::vector<int> count(folds, 0);
  for (int f : fold) ++count[f];
  for (int f = 0; f < folds; ++f)
    if (count[f] == 0)
      throw DataError(s.ref.file + ":" + path + ": fold " + std::to_string(f) + " holds no trial");
  if (folds < 2) throw DataError(s.ref.file + ":" + path + ": expected at least 2 folds, found 1");
  return fold;
}

}  // namespace

void run_xval(RunContext& ctx, const CommandFlags& flags) {
  const Settings settings = read_settings(ctx.config);
  io::check_output_path(ctx.options.output, ctx.options.force);
  std::vector<Subject> subjects = load_shard(ctx, settings);
  struct Outcome {
    std::vector<int> fold;
    int folds = 0;
    XvalResult result;
    std::string status = "ok";
  };
  std::vector<Outcome> outcomes(subjects.size());
  for (size_t i = 0; i < subjects.size(); ++i)
    outcomes[i].fold = fold_assignment(subjects[i], settings, outcomes[i].folds);
  Progress progress(ctx.log, ctx.progress, "xval", static_cast<long>(subjects.size()));
  for_each_unit(static_cast<int>(subjects.size()), ctx.threads, [&](int i, int threads) {
    FitOptions options = settings.fit;
    options.threads = threads;
    options.w_std = false;
    auto& o = outcomes[i];
    const Subject& s = subjects[i];
    RowMatrix fixed;
    if (!settings.fold_hyper_dataset.empty()) {
      const io::H5File file = io::H5File::open(s.ref.file);
      const std::string path = subject_path(s.ref, settings.fold_hyper_dataset.front() == '/'
                                                       ? settings.fold_hyper_dataset.substr(1)
                                                       : settings.fold_hyper_dataset);
      fixed = file.read_matrix(path);
      const int p = settings.param.size(s.hyper_init);
      if (fixed.rows() != o.folds || fixed.cols() != p)
        throw DataError(s.ref.file + ":" + path + ": expected shape (" + std::to_string(o.folds) +
                        ", " + std::to_string(p) + "), found (" + std::to_string(fixed.rows()) +
                        ", " + std::to_string(fixed.cols()) + ")");
    }
    try {
      o.result = cross_validate(s.data, o.fold, o.folds, s.hyper_init, settings.param, options,
                                fixed.size() > 0 ? &fixed : nullptr);
    } catch (const DataError& e) {
      throw DataError(s.ref.file + ": subject " + s.ref.id + ": " + e.what());
    }
    for (const auto& st : o.result.fold_status)
      if (st != "ok") o.status = "not_converged";
    progress.tick();
  });
  progress.finish();

  io::write_hdf5_output(ctx, kSchema, [&](io::H5File& f) {
    f.create_group("/results");
    for (size_t i = 0; i < subjects.size(); ++i) {
      const auto& s = subjects[i];
      const auto& o = outcomes[i];
      const std::string g = "/results/" + s.ref.id;
      write_subject_header(f, g, ctx, s, settings);
      f.set_attribute(g, "status", o.status);
      f.set_attribute(g, "message", "");
      const std::string x = g + "/xval";
      f.create_group(x);
      f.set_attribute(x, "F", static_cast<int64_t>(o.folds));
      f.set_attribute(x, "seed", static_cast<int64_t>(settings.seed));
      f.set_attribute(x, "fold_source",
                      settings.fold_dataset.empty() ? "psytrack split" : settings.fold_dataset);
      f.set_attribute(x, "logli", o.result.logli);
      f.set_attribute(x, "logli_per_trial", o.result.logli / s.data.n_trials());
      f.write_vector(x + "/pL", o.result.p_left);
      f.set_units(x + "/pL", "held-out probability of y = 0");
      f.write_int32(x + "/fold", std::vector<int32_t>(o.fold.begin(), o.fold.end()));
      f.write_vector(x + "/fold_logli", o.result.fold_logli);
      f.set_units(x + "/fold_logli", "nats");
      f.write_matrix(x + "/fold_log2_hyper", o.result.fold_log2_hyper);
      f.write_vector(x + "/fold_logEvd", o.result.fold_log_evidence);
      f.write_strings(x + "/fold_status", o.result.fold_status);
    }
  });

  Json list = Json(Json::Array{});
  int n_not_converged = 0;
  for (size_t i = 0; i < subjects.size(); ++i) {
    const auto& o = outcomes[i];
    n_not_converged += o.status != "ok";
    for (const auto& m : o.result.messages)
      if (!m.empty()) ctx.log.warn(subjects[i].ref.id + ": " + m);
    Json j = Json::object();
    j.set("id", subjects[i].ref.id);
    j.set("N", subjects[i].data.n_trials());
    j.set("F", o.folds);
    j.set("xval_logli", o.result.logli);
    j.set("xval_logli_per_trial", o.result.logli / subjects[i].data.n_trials());
    j.set("status", o.status);
    list.push_back(j);
  }
  finish_subjects(ctx, flags, 0, n_not_converged, static_cast<int>(subjects.size()));
  ctx.summary.set("subjects", list);
}

void run_evidence(RunContext& ctx, const CommandFlags& flags) {
  const Settings settings = read_settings(ctx.config);
  io::check_output_path(ctx.options.output, ctx.options.force);
  std::vector<Subject> subjects = load_shard(ctx, settings);
  const auto& grid = settings.evidence_grid;
  const int n_grid = static_cast<int>(grid.size());
  const HyperKind kind = settings.evidence_hyper == "sigma"     ? HyperKind::kSigma
                         : settings.evidence_hyper == "sigInit" ? HyperKind::kSigInit
                                                                : HyperKind::kSigDay;
  for (const auto& s : subjects)
    if (kind == HyperKind::kSigDay && !s.layout.has_sessions())
      throw ConfigError("evidence.hyper: sigDay, but subject " + s.ref.id +
                        " has no session boundary (dayLength)");
  std::vector<std::vector<MapResult>> maps(subjects.size(), std::vector<MapResult>(n_grid));
  // Every (subject, grid value) is an independent MAP: spread them all over the threads.
  const int units = static_cast<int>(subjects.size()) * n_grid;
  for_each_unit(units, ctx.threads, [&](int u, int) {
    const int i = u / n_grid, g = u % n_grid;
    const Subject& s = subjects[i];
    Hyper hyper = s.hyper_init;
    HyperValue& h = hyper.get(kind);
    h.value = Eigen::VectorXd::Constant(s.data.n_weights(), std::exp2(grid[g]));
    h.shared = true;
    maps[i][g] = map_fit(s.data, s.layout, hyper, settings.fit.map);
  });

  Json list = Json(Json::Array{});
  int n_not_converged = 0;
  io::write_hdf5_output(ctx, kSchema, [&](io::H5File& f) {
    f.create_group("/results");
    for (size_t i = 0; i < subjects.size(); ++i) {
      const auto& s = subjects[i];
      const std::string g = "/results/" + s.ref.id;
      write_subject_header(f, g, ctx, s, settings);
      Eigen::VectorXd log2v(n_grid), evd(n_grid), ll(n_grid), lp(n_grid), ld(n_grid);
      std::string status = "ok";
      for (int k = 0; k < n_grid; ++k) {
        log2v[k] = grid[k];
        evd[k] = maps[i][k].log_evidence;
        ll[k] = maps[i][k].logli;
        lp[k] = maps[i][k].logprior;
        ld[k] = maps[i][k].logdet_half;
        if (!maps[i][k].converged) status = "not_converged";
      }
      n_not_converged += status != "ok";
      f.set_attribute(g, "status", status);
      f.set_attribute(g, "message", "");
      const std::string e = g + "/evidence";
      f.create_group(e);
      f.set_attribute(e, "hyper", settings.evidence_hyper);
      f.write_vector(e + "/log2_value", log2v);
      f.set_units(e + "/log2_value", "log2");
      f.write_vector(e + "/logEvd", evd);
      f.write_vector(e + "/logli", ll);
      f.write_vector(e + "/logprior", lp);
      f.write_vector(e + "/logdet_half", ld);
      for (const char* name : {"/logEvd", "/logli", "/logprior", "/logdet_half"})
        f.set_units(e + name, "nats");
      Eigen::Index best = 0;
      evd.maxCoeff(&best);
      Json j = Json::object();
      j.set("id", s.ref.id);
      j.set("argmax_log2", grid[best]);
      j.set("max_logEvd", evd[best]);
      list.push_back(j);
    }
  });
  finish_subjects(ctx, flags, 0, n_not_converged, static_cast<int>(subjects.size()));
  ctx.summary.set("evidence", list);
}

void run_simulate(RunContext& ctx) {
  const auto& c = ctx.config;
  SimulateOptions o;
  const int64_t k = c.get_int("simulate.K"), n = c.get_int("simulate.N");
  if (k < 1 || k > 1000)
    c.fail("simulate.K", "expected 1 <= K <= 1000, found " + std::to_string(k));
  if (n < 2) c.fail("simulate.N", "expected N >= 2, found " + std::to_string(n));
  o.n_weights = static_cast<int>(k);
  o.n_trials = static_cast<int>(n);
  o.iterations = static_cast<int>(c.get_int("simulate.iterations"));
  if (o.iterations < 1) c.fail("simulate.iterations", "expected >= 1");
  o.boundary = c.get_double("simulate.boundary");
  if (!(o.boundary > 0)) c.fail("simulate.boundary", "expected > 0");
  auto vec = [&](const std::string& key) -> Eigen::VectorXd {
    if (c.is_null(key)) return {};
    const auto v = c.get_doubles(key);
    if (v.size() != 1 && static_cast<int64_t>(v.size()) != k)
      c.fail(key, "list of " + std::to_string(v.size()) +
                      " values, expected 1 or K = " + std::to_string(k));
    Eigen::VectorXd out(k);
    for (int64_t i = 0; i < k; ++i) {
      out[i] = v.size() == 1 ? v[0] : v[i];
      if (!(std::isfinite(out[i]) && out[i] > 0)) c.fail(key, "expected values > 0");
    }
    return out;
  };
  o.sigma = vec("simulate.sigma");
  o.sig_init = vec("simulate.sigInit");
  o.sig_day = vec("simulate.sigDay");
  if (!c.is_null("simulate.session_length")) {
    const auto v = c.get_doubles("simulate.session_length");
    if (v.size() == 1) {
      const int64_t len = static_cast<int64_t>(v[0]);
      if (len < 1 || v[0] != std::round(v[0]))
        c.fail("simulate.session_length", "expected an integer >= 1");
      for (int64_t done = 0; done < n; done += len) o.day_length.push_back(std::min(len, n - done));
    } else {
      int64_t sum = 0;
      for (double d : v) {
        if (d < 1 || d != std::round(d))
          c.fail("simulate.session_length", "expected integers >= 1");
        o.day_length.push_back(static_cast<int64_t>(d));
        sum += static_cast<int64_t>(d);
      }
      if (sum != n)
        c.fail("simulate.session_length", "sessions sum to " + std::to_string(sum) +
                                              ", expected simulate.N = " + std::to_string(n));
    }
  }
  o.seed = ctx.seed;
  io::check_output_path(ctx.options.output, ctx.options.force);
  const Simulation sim = simulate(o);

  io::write_hdf5_output(ctx, kInputSchema, [&](io::H5File& f) {
    std::vector<int8_t> y(sim.y_all.cols());
    for (Eigen::Index t = 0; t < sim.y_all.cols(); ++t) y[t] = sim.y_all(0, t);
    f.write_int8("/y", y);
    f.write_matrix("/inputs/x", sim.x);
    f.write_int64("/dayLength", sim.day_length.empty() ? std::vector<int64_t>{n} : sim.day_length);
    f.write_matrix("/truth/W", sim.w_true.transpose());
    f.write_vector("/truth/sigma", sim.sigma);
    f.write_vector("/truth/sigInit", sim.sig_init);
    if (sim.sig_day.size() > 0) f.write_vector("/truth/sigDay", sim.sig_day);
    std::vector<int8_t> y_all(sim.y_all.data(), sim.y_all.data() + sim.y_all.size());
    f.write_int8("/truth/y_all", y_all,
                 {static_cast<hsize_t>(sim.y_all.rows()), static_cast<hsize_t>(sim.y_all.cols())});
    f.set_attribute("/", "weights", "{\"x\": " + std::to_string(k) + "}");
    std::vector<std::string> names;
    for (int64_t i = 0; i < k; ++i) names.push_back(k == 1 ? "x" : "x[" + std::to_string(i) + "]");
    f.set_attribute("/", "weight_names", names);
    f.set_attribute("/", "generator", ctx.config.dump());
  });
  ctx.summary.set("N", n);
  ctx.summary.set("K", k);
  ctx.summary.set("S", static_cast<long>(sim.day_length.empty() ? 1 : sim.day_length.size()));
  Json::Array l2;
  for (Eigen::Index i = 0; i < sim.sigma.size(); ++i) l2.emplace_back(std::log2(sim.sigma[i]));
  ctx.summary.set("log2_sigma", Json(l2));
}

void run_plot(RunContext& ctx, const CommandFlags& flags) {
  if (ctx.options.inputs.size() != 1) throw UsageError("plot: expected exactly one -i FIT.h5");
  const io::H5File fit = io::H5File::open(ctx.options.inputs[0]);
  if (!fit.is_group("/results"))
    throw DataError(fit.path() + ":/results: group not found (expected a psytrack-fit output)");
  std::vector<std::string> ids;
  for (const auto& id : fit.children("/results"))
    if (flags.subject.empty() || id == flags.subject) ids.push_back(id);
  if (ids.empty())
    throw DataError(fit.path() + ":/results: no subject" +
                    (flags.subject.empty() ? std::string() : " '" + flags.subject + "'"));
  const PlotStyle style = read_plot_style(ctx.config);
  const std::string& output = ctx.options.output;
  const bool to_directory = ids.size() > 1 || std::filesystem::is_directory(output);
  if (to_directory && !std::filesystem::is_directory(output))
    throw OutputError(output + ": several subjects: expected an existing directory for -o");
  std::vector<std::pair<std::string, std::string>> pages;  // (path, svg)
  for (const auto& id : ids) {
    const std::string path =
        to_directory ? (std::filesystem::path(output) / (id + ".svg")).string() : output;
    io::check_output_path(path, ctx.options.force);
    pages.emplace_back(path, render_subject_plot(fit, id, flags.source, style));
  }
  Json::Array outputs;
  for (const auto& [path, svg] : pages) {
    io::write_text_atomic(path, svg, ctx.options.force);
    outputs.emplace_back(path);
  }
  ctx.output = output;
  ctx.summary.set("outputs", Json(outputs));
}

void run_merge(RunContext& ctx) {
  if (ctx.options.inputs.empty()) throw UsageError("merge: expected one or more -i SHARD.h5");
  io::check_output_path(ctx.options.output, ctx.options.force);
  std::string cmd, sha, first;
  std::vector<std::pair<int, std::string>> members;  // (input index, subject id)
  std::set<std::string> ids;
  std::vector<io::H5File> files;
  for (const auto& path : ctx.options.inputs) {
    files.push_back(io::H5File::open(path));
    const auto& f = files.back();
    if (!f.has_attribute("/provenance", "cmd") || !f.is_group("/results"))
      throw DataError(path + ": not a psytrack-fit output (no /provenance cmd or /results)");
    // A merged file carries the cmd and configuration of the runs it merged.
    const bool merged = f.has_attribute("/provenance", "merged_cmd");
    const std::string c = f.read_attribute_string("/provenance", merged ? "merged_cmd" : "cmd");
    const std::string s =
        f.read_attribute_string("/provenance", merged ? "merged_config_sha256" : "config_sha256");
    if (cmd.empty()) cmd = c, sha = s, first = path;
    if (c != cmd)
      throw DataError(path + ": cmd '" + c + "' differs from '" + cmd + "' of " + first);
    if (s != sha)
      throw DataError(path + ": configuration SHA-256 " + s.substr(0, 12) + "… differs from " +
                      sha.substr(0, 12) + "… of " + first);
    for (const auto& id : f.children("/results")) {
      if (!ids.insert(id).second) throw DataError(path + ": duplicate subject id '" + id + "'");
      members.emplace_back(static_cast<int>(files.size()) - 1, id);
    }
  }
  io::write_hdf5_output(ctx, kSchema, [&](io::H5File& f) {
    f.set_attribute("/provenance", "merged_cmd", cmd);
    f.set_attribute("/provenance", "merged_config_sha256", sha);
    f.set_attribute("/provenance", "merged_inputs", ctx.options.inputs);
    f.create_group("/results");
    for (const auto& [i, id] : members)
      io::copy_object(files[i], "/results/" + id, f, "/results/" + id);
  });
  ctx.summary.set("n_inputs", static_cast<long>(files.size()));
  ctx.summary.set("n_subjects", static_cast<long>(members.size()));
}

}  // namespace effinfer::psytrack
