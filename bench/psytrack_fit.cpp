// bench_psytrack_fit: psytrack-fit against PsyTrack (spec psytrack-fit.md section 7).
// One process, one thread. For every phase it measures CPU seconds (getrusage), wall seconds,
// peak RSS and the log-evidence, and prints plain-text tables (with --json also one JSON line per
// row):
//   (a) the reference fits in $EFFINFER_SHARED_DIR/reference/psytrack vs psytrack's recorded CPU
//   (b) simulated K 3, N 20000 (psytrack's timing set-up) vs psytrack's recorded wall times
//   (c) K 3, N 1e5 and K 10, N 50000 full fits vs the spec's absolute targets
//   (d) O(N) scaling, K 4, N 1e4 .. 1e6, each size in its own forked process (clean peak RSS)
//   (e) the physical bound: measured dgemm rate and copy bandwidth vs the achieved rate of the MAP
// With --psytrack-times FILE (the TSV of bench/psytrack_side_by_side.py, spec 7b) rows measured
// from psytrack itself on the same inputs are added.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.hpp"
#include "core/blas.hpp"
#include "core/build_info.hpp"
#include "core/json.hpp"
#include "core/system.hpp"
#include "fit.hpp"
#include "io/hdf5.hpp"
#include "map_fit.hpp"
#include "simulate.hpp"
#include "xval.hpp"

// OpenBLAS symbols, declared here so the build does not depend on which cblas.h is installed.
extern "C" char* openblas_get_corename();
extern "C" void cblas_dgemm(int order, int trans_a, int trans_b, int m, int n, int k, double alpha,
                            const double* a, int lda, const double* b, int ldb, double beta,
                            double* c, int ldc);

namespace {

namespace pt = effinfer::psytrack;
using effinfer::Json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111;

using effinfer::bench::cpu_model;
using effinfer::bench::env_or;
using effinfer::bench::format;

std::string num(double v, const char* fmt = "%.3f") { return effinfer::bench::num(v, fmt); }

// ---------------------------------------------------------------------------------------------
// Process measurements

// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0,
// /proc/self/clear_refs "5"), so each phase reports its own peak.
bool reset_peak_rss() {
  FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (f == nullptr) return false;
  const bool wrote = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && wrote;
}

// A "Key:   123 kB" line of /proc/self/status in MiB, NaN if absent.
double proc_status_mib(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t len = std::strlen(key);
  while (std::getline(in, line))
    if (line.compare(0, len, key) == 0) return std::atof(line.c_str() + len) / 1024.0;
  return kNaN;
}

double peak_rss_mib() {
  const double hwm = proc_status_mib("VmHWM:");
  return std::isfinite(hwm) ? hwm : effinfer::peak_rss_mib();
}
double current_rss_mib() { return proc_status_mib("VmRSS:"); }

bool g_per_phase_rss = false;  // reset_peak_rss works: peaks are per phase, not cumulative

struct Timing {
  double cpu = kNaN;   // CPU seconds per repetition
  double wall = kNaN;  // wall seconds per repetition
  double rss = kNaN;   // peak RSS (MiB) during the phase
  int reps = 0;
};

// Runs f at least once and repeats it until min_cpu CPU seconds have passed (short phases are
// otherwise dominated by timer resolution); reports the mean per repetition.
Timing measure(const std::function<void()>& f, double min_cpu) {
  g_per_phase_rss = reset_peak_rss();
  Timing t;
  const double c0 = effinfer::cpu_seconds(), w0 = effinfer::wall_seconds();
  do {
    f();
    ++t.reps;
  } while (effinfer::cpu_seconds() - c0 < min_cpu && t.reps < 10000);
  t.cpu = (effinfer::cpu_seconds() - c0) / t.reps;
  t.wall = (effinfer::wall_seconds() - w0) / t.reps;
  t.rss = peak_rss_mib();
  return t;
}

// ---------------------------------------------------------------------------------------------
// Output rows

struct Options {
  bool json = false;
  bool quick = false;  // smaller sizes, for trying the bench out
  std::string sections = "abcde";
  std::string psytrack_times;  // TSV from psytrack_side_by_side.py
  std::string write_sim;       // write the (b) data set as an input file and exit
  int scale_point = 0;         // internal: run one (d) size and print its numbers
};
Options g_opt;

// One measured phase. ratio = baseline_s / ours.cpu; a target is a minimum ratio or a maximum
// number of CPU seconds.
struct Row {
  Row(std::string sec, std::string name, std::string ph)
      : section(std::move(sec)), set(std::move(name)), phase(std::move(ph)) {}
  std::string section, set, phase;
  Timing ours;
  double baseline_s = kNaN;
  std::string baseline;  // what baseline_s is: "recorded CPU", "recorded wall", "live CPU"
  double target_ratio = kNaN, target_s = kNaN;
  double log_evd = kNaN, log_evd_ref = kNaN;
  std::string note;

  double ratio() const { return baseline_s / ours.cpu; }
  std::string target_text() const {
    if (std::isfinite(target_ratio)) return format(">=%gx", target_ratio);
    if (std::isfinite(target_s)) return format("<=%g s", target_s);
    return "";
  }
  // "yes", "NO" or "" (no target).
  std::string met() const {
    if (std::isfinite(target_ratio)) return ratio() >= target_ratio ? "yes" : "NO";
    if (std::isfinite(target_s)) return ours.cpu <= target_s ? "yes" : "NO";
    return "";
  }
};

std::string g_core_name;

void print_json(const std::string& section, Json row) {
  if (!g_opt.json) return;
  Json out = Json::object();
  out.set("bench", "psytrack_fit");
  out.set("section", section);
  out.set("blas_core", g_core_name);
  // Json keeps insertion order; append the row's own keys after the common ones.
  std::string dumped = row.dump();
  std::string head = out.dump();
  if (dumped.size() > 2) head.insert(head.size() - 1, "," + dumped.substr(1, dumped.size() - 2));
  std::printf("%s\n", head.c_str());
}

void print_rows(const std::vector<Row>& rows) {
  std::printf("%-22s %-6s %10s %9s %5s %10s %-13s %8s %9s %3s %13s %13s %8s  %s\n", "set", "phase",
              "ours CPU s", "wall s", "reps", "psytrack s", "(source)", "ratio", "target", "met",
              "logEvd ours", "logEvd psy", "peak MiB", "note");
  for (const Row& r : rows) {
    std::printf("%-22s %-6s %10s %9s %5d %10s %-13s %8s %9s %3s %13s %13s %8s  %s\n", r.set.c_str(),
                r.phase.c_str(), num(r.ours.cpu, "%.4f").c_str(), num(r.ours.wall, "%.4f").c_str(),
                r.ours.reps, num(r.baseline_s, "%.2f").c_str(),
                r.baseline.empty() ? "" : ("(" + r.baseline + ")").c_str(),
                num(r.ratio(), "%.1fx").c_str(), r.target_text().c_str(), r.met().c_str(),
                num(r.log_evd, "%.4f").c_str(), num(r.log_evd_ref, "%.4f").c_str(),
                num(r.ours.rss, "%.1f").c_str(), r.note.c_str());
  }
  for (const Row& r : rows) {
    Json j = Json::object();
    j.set("set", r.set);
    j.set("phase", r.phase);
    j.set("cpu_s", r.ours.cpu);
    j.set("wall_s", r.ours.wall);
    j.set("reps", r.ours.reps);
    j.set("peak_rss_mib", r.ours.rss);
    j.set("baseline_s", r.baseline_s);
    j.set("baseline", r.baseline);
    j.set("ratio", r.ratio());
    j.set("target", r.target_text());
    const std::string met = r.met();
    j.set("target_met", met.empty() ? Json() : Json(met == "yes"));
    j.set("log_evidence", r.log_evd);
    j.set("log_evidence_psytrack", r.log_evd_ref);
    j.set("note", r.note);
    print_json(r.section, std::move(j));
  }
  std::fflush(stdout);
}

void section_title(const std::string& title) {
  std::printf("\n== %s\n", title.c_str());
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// psytrack measured live (spec 7b): rows "dataset<TAB>phase<TAB>cpu_s<TAB>wall_s<TAB>logEvd".

struct LiveRow {
  double cpu = kNaN, wall = kNaN, log_evd = kNaN;
};
std::map<std::string, LiveRow> g_live;  // key "dataset/phase"

void read_live_times(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::printf("psytrack live times: cannot read %s (ignored)\n", path.c_str());
    return;
  }
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string dataset, phase, cpu, wall, evd;
    if (!std::getline(fields, dataset, '\t') || !std::getline(fields, phase, '\t') ||
        !std::getline(fields, cpu, '\t') || !std::getline(fields, wall, '\t'))
      continue;
    std::getline(fields, evd, '\t');
    auto parse = [](const std::string& s) {
      return s.empty() ? kNaN : std::strtod(s.c_str(), nullptr);
    };
    g_live[dataset + "/" + phase] = {parse(cpu), parse(wall), parse(evd)};
  }
}

// Adds a row with psytrack's live figures for (set, phase) after `ours`, if the TSV has one.
void add_live_row(std::vector<Row>& rows, const Row& ours) {
  const auto it = g_live.find(ours.set + "/" + ours.phase);
  if (it == g_live.end()) return;
  Row r = ours;
  r.baseline_s = it->second.cpu;
  r.baseline = "live CPU";
  r.log_evd_ref = it->second.log_evd;
  r.note = format("psytrack wall %.2f s", it->second.wall);
  // Spec 7 target: the fit's logEvd at least psytrack's - 0.01 on the same data.
  if (std::isfinite(r.log_evd) && std::isfinite(r.log_evd_ref))
    r.note += format("; logEvd ours - psytrack %+.4f%s", r.log_evd - r.log_evd_ref,
                     r.phase == "fit" ? (r.log_evd >= r.log_evd_ref - 0.01 ? " (>= -0.01: yes)"
                                                                           : " (>= -0.01: NO)")
                                      : "");
  rows.push_back(r);
}

// ---------------------------------------------------------------------------------------------
// Data

pt::HyperValue read_hyper_value(const effinfer::io::H5File& f, const std::string& path) {
  pt::HyperValue h;
  if (f.exists(path)) h.value = f.read_vector(path);
  return h;
}

pt::Hyper read_hyper_group(const effinfer::io::H5File& f, const std::string& group) {
  pt::Hyper h;
  h.sigma = read_hyper_value(f, group + "/sigma");
  h.sig_init = read_hyper_value(f, group + "/sigInit");
  h.sig_day = read_hyper_value(f, group + "/sigDay");
  return h;
}

pt::HyperParam parse_opt_list(const std::string& list) {
  pt::HyperParam p;
  std::stringstream in(list);
  for (std::string name; std::getline(in, name, ',');) {
    if (name == "sigma") p.opt.push_back(pt::HyperKind::kSigma);
    if (name == "sigInit") p.opt.push_back(pt::HyperKind::kSigInit);
    if (name == "sigDay") p.opt.push_back(pt::HyperKind::kSigDay);
  }
  return p;
}

struct Problem {
  std::string name;
  pt::Dataset data;
  pt::TrialLayout layout;
};

Problem from_simulation(const std::string& name, pt::Simulation&& sim) {
  Problem p;
  p.name = name;
  p.data.y = sim.y_all.row(0).transpose().cast<double>();
  p.data.g = std::move(sim.x);
  for (Eigen::Index k = 0; k < p.data.g.cols(); ++k)
    p.data.weight_names.push_back("x[" + std::to_string(k) + "]");
  p.data.day_length = sim.day_length;
  p.layout = pt::TrialLayout::from_day_length(p.data.n_trials(), p.data.day_length);
  return p;
}

pt::SimulateOptions sim_options(int k, int n, const std::vector<double>& log2_sigma) {
  pt::SimulateOptions o;
  o.n_weights = k;
  o.n_trials = n;
  o.iterations = 1;
  o.seed = 7;
  o.sigma.resize(k);
  for (int i = 0; i < k; ++i)
    o.sigma[i] = std::exp2(log2_sigma[log2_sigma.size() == 1 ? 0 : static_cast<size_t>(i)]);
  return o;
}

// Section (b)'s data: psytrack's timing set-up (reference README), K 3, N 20000, sigma
// 2^[-4,-5,-6], sigInit 1, boundary 6, seed 7.
Problem simulate_b() {
  pt::SimulateOptions o = sim_options(3, 20000, {-4, -5, -6});
  o.sig_init = Eigen::VectorXd::Constant(1, 1.0);
  o.boundary = 6.0;
  return from_simulation("sim_K3_N20000", pt::simulate(o));
}

// psytrack hyperOpt's usual start (reference README): sigma = 2^-6 per weight, sigInit 16 fixed,
// sigDay 2^-1 per weight when sessions exist; opt [sigma] (+ sigDay with sessions).
pt::Hyper default_init(int k, bool sessions) {
  pt::Hyper h;
  h.sigma.value = Eigen::VectorXd::Constant(k, std::exp2(-6.0));
  h.sig_init.value = Eigen::VectorXd::Constant(k, 16.0);
  if (sessions) h.sig_day.value = Eigen::VectorXd::Constant(k, 0.5);
  return h;
}
pt::HyperParam default_param(bool sessions) {
  pt::HyperParam p;
  p.opt.push_back(pt::HyperKind::kSigma);
  if (sessions) p.opt.push_back(pt::HyperKind::kSigDay);
  return p;
}

pt::FitOptions fit_options() {
  pt::FitOptions o;  // spec defaults: psytrack mode, W_std on, hyp_std off
  o.threads = 1;
  return o;
}

std::string log2_list(const Eigen::VectorXd& x) {
  std::string s = "[";
  for (Eigen::Index i = 0; i < x.size(); ++i) s += format(i ? " %.2f" : "%.2f", x[i]);
  return s + "]";
}

// Factorizations of a psytrack-mode fit, counted from its result: each Newton MAP factors once
// per step plus once at W* (map_fit.cpp; its line-search trials evaluate f only), each surrogate
// call factors twice (spec 2.6). W_std is one selected inversion on the existing factor.
long fit_factorizations(const pt::FitResult& r) {
  return static_cast<long>(r.newton_iterations) + r.n_map_solves + 2L * r.n_dla_evals;
}

std::string fit_note(const pt::FitResult& r) {
  return format("log2 hyper %s; MAPs %d, Newton %d, surrogate calls %d, factorizations %ld%s",
                log2_list(r.log2_hyper).c_str(), r.n_map_solves, r.newton_iterations, r.n_dla_evals,
                fit_factorizations(r), r.converged ? "" : "; NOT CONVERGED");
}

// Max |ours (N, K) - ref (K, N)|, and the same relative to |ref|.
void compare_kn(const pt::RowMatrix& ours, const effinfer::io::RowMatrixXd& ref, double& abs_err,
                double& rel_err) {
  abs_err = rel_err = 0;
  if (ref.rows() != ours.cols() || ref.cols() != ours.rows()) {
    abs_err = rel_err = kNaN;
    return;
  }
  for (Eigen::Index t = 0; t < ours.rows(); ++t)
    for (Eigen::Index k = 0; k < ours.cols(); ++k) {
      const double d = std::abs(ours(t, k) - ref(k, t));
      abs_err = std::max(abs_err, d);
      rel_err = std::max(rel_err, d / std::max(std::abs(ref(k, t)), 1e-300));
    }
}

// ---------------------------------------------------------------------------------------------
// (a) Reference fits vs psytrack's recorded CPU times

void section_a() {
  const std::filesystem::path dir =
      std::filesystem::path(env_or("EFFINFER_SHARED_DIR", "/work/shared")) / "reference" /
      "psytrack";
  section_title("(a) reference fits (" + dir.string() +
                ") vs psytrack 2.0.2 recorded CPU seconds (shared 2-vCPU VM, indicative)");
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec))
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (e.path().extension() == ".h5") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::printf("skipped: no reference files in %s (set EFFINFER_SHARED_DIR)\n",
                dir.string().c_str());
    print_json("a", Json::object().set("status", "skipped").set("reason", "no reference files"));
    return;
  }
  std::vector<Row> rows;
  for (const auto& path : files) {
    try {
      const auto f = effinfer::io::H5File::open(path.string());
      Problem p;
      p.name = path.stem().string();
      p.data.y = f.read_vector("/y");
      p.data.g = f.read_matrix("/inputs/x");
      for (Eigen::Index k = 0; k < p.data.g.cols(); ++k)
        p.data.weight_names.push_back("x[" + std::to_string(k) + "]");
      if (f.exists("/dayLength")) p.data.day_length = f.read_int_vector("/dayLength");
      p.layout = pt::TrialLayout::from_day_length(p.data.n_trials(), p.data.day_length);

      // MAP at fixed theta (/map_fixed/hyper), from zero.
      const pt::Hyper map_hyper = read_hyper_group(f, "/map_fixed/hyper");
      pt::MapResult map;
      Row r{"a", p.name, "map"};
      r.ours =
          measure([&] { map = pt::map_fit(p.data, p.layout, map_hyper, pt::MapOptions{}); }, 0.5);
      r.baseline_s = f.read_attribute_double("/map_fixed", "cpu_time_map_s");
      r.baseline = "recorded CPU";
      r.log_evd = map.log_evidence;
      r.log_evd_ref = f.read_attribute_double("/map_fixed", "logEvd");
      double abs_err, rel_err;
      compare_kn(map.w, f.read_matrix("/map_fixed/wMode"), abs_err, rel_err);
      r.note = format(
          "Newton %d (psytrack trust-ncg %lld); max|dwMode| %.1e", map.iterations,
          static_cast<long long>(f.read_attribute_int("/map_fixed", "newton_iterations")), abs_err);
      rows.push_back(r);
      add_live_row(rows, r);

      pt::RowMatrix w_std;
      Row s{"a", p.name, "wstd"};
      s.ours = measure([&] { w_std = pt::posterior_std(map); }, 0.5);
      s.baseline_s = f.read_attribute_double("/map_fixed", "cpu_time_wstd_s");
      s.baseline = "recorded CPU";
      compare_kn(w_std, f.read_matrix("/map_fixed/W_std"), abs_err, rel_err);
      s.note = format("max rel dW_std %.1e", rel_err);
      rows.push_back(s);
      add_live_row(rows, s);

      // Full psytrack-mode fit (hyperopt + W_std) from /hyperopt/hyper_init.
      const pt::Hyper init = read_hyper_group(f, "/hyperopt/hyper_init");
      const pt::HyperParam param = parse_opt_list(f.read_attribute_string("/hyperopt", "optList"));
      pt::FitResult fit;
      Row h{"a", p.name, "fit"};
      h.ours =
          measure([&] { fit = pt::fit_hyper(p.data, p.layout, init, param, fit_options()); }, 1.0);
      h.baseline_s = f.read_attribute_double("/hyperopt", "cpu_time_total_s");
      h.baseline = "recorded CPU";
      h.log_evd = fit.map.log_evidence;
      h.log_evd_ref = f.read_attribute_double("/hyperopt", "logEvd");
      h.note = fit_note(fit) +
               format(" (psytrack: MAPs %lld, surrogate calls %lld)",
                      static_cast<long long>(f.read_attribute_int("/hyperopt", "n_map_solves")),
                      static_cast<long long>(f.read_attribute_int("/hyperopt", "n_dla_evals")));
      rows.push_back(h);
      add_live_row(rows, h);
      // psytrack's own cross-validation is only measured live (no recorded time in the files).
      Row x{"a", p.name, "xval"};
      if (g_live.count(p.name + "/xval")) {
        const auto folds = pt::psytrack_fold_split(p.data.n_trials(), 10, 7);
        pt::XvalResult xv;
        x.ours = measure(
            [&] { xv = pt::cross_validate(p.data, folds, 10, init, param, fit_options()); }, 0);
        x.log_evd = xv.logli;
        x.note = "F 10, seed 7; logEvd columns = xval_logli";
        add_live_row(rows, x);
      }
    } catch (const std::exception& e) {
      std::printf("%s: failed: %s\n", path.string().c_str(), e.what());
    }
  }
  print_rows(rows);
}

// ---------------------------------------------------------------------------------------------
// (b) psytrack's timing set-up, K 3, N 20000

void section_b() {
  section_title(
      "(b) simulated K 3, N 20000, sigma 2^[-4,-5,-6], sigInit 1, boundary 6, seed 7; from "
      "sigma 2^-6, sigInit 16 fixed, opt [sigma] vs psytrack's recorded wall s (idle machine)");
  const Problem p = simulate_b();
  const pt::Hyper init = default_init(3, false);
  const pt::HyperParam param = default_param(false);
  std::vector<Row> rows;

  pt::MapResult map;
  Row r{"b", p.name, "map"};
  r.ours = measure([&] { map = pt::map_fit(p.data, p.layout, init, pt::MapOptions{}); }, 1.0);
  r.baseline_s = 12.0;
  r.baseline = "recorded wall";
  r.target_ratio = 100;
  r.log_evd = map.log_evidence;
  r.note = format("MAP at the init theta, from zero; Newton %d", map.iterations);
  rows.push_back(r);
  add_live_row(rows, r);

  Row s{"b", p.name, "wstd"};
  pt::RowMatrix w_std;
  s.ours = measure([&] { w_std = pt::posterior_std(map); }, 1.0);
  s.baseline_s = 13.9;
  s.baseline = "recorded wall";
  s.target_ratio = 100;
  s.note = "credible intervals at that MAP";
  rows.push_back(s);
  add_live_row(rows, s);

  pt::FitResult fit;
  Row h{"b", p.name, "fit"};
  h.ours = measure([&] { fit = pt::fit_hyper(p.data, p.layout, init, param, fit_options()); }, 1.0);
  h.baseline_s = 52.4;
  h.baseline = "recorded wall";
  h.target_ratio = 50;
  h.log_evd = fit.map.log_evidence;
  h.note = fit_note(fit);
  rows.push_back(h);
  add_live_row(rows, h);

  const auto folds = pt::psytrack_fold_split(p.data.n_trials(), 10, 7);
  pt::XvalResult xv;
  Row x{"b", p.name, "xval"};
  x.ours =
      measure([&] { xv = pt::cross_validate(p.data, folds, 10, init, param, fit_options()); }, 0);
  x.log_evd = xv.logli;
  int not_ok = 0;
  for (const auto& st : xv.fold_status) not_ok += st != "ok";
  x.note = format("F 10, seed 7 split; logEvd column = xval_logli; folds not ok: %d", not_ok);
  rows.push_back(x);
  add_live_row(rows, x);
  print_rows(rows);
  if (!g_live.count(p.name + "/fit"))
    std::printf(
        "note: the logEvd target (>= psytrack's - 0.01) needs psytrack on the same data: run with "
        "PSYTRACK_SRC (bench/README.md); our simulator cannot bit-match numpy's.\n");
}

// ---------------------------------------------------------------------------------------------
// (c) Larger fits vs absolute targets

void section_c() {
  section_title(
      "(c) full psytrack-mode fits (hyperopt + W_std; simulator defaults sigInit 4, boundary 4, "
      "seed 7; from sigma 2^-6, sigInit 16 fixed, opt [sigma])");
  struct Case {
    int k, n;
    std::vector<double> log2_sigma;
    double target_s;
  };
  std::vector<Case> cases = {{3, 100000, {-6, -7, -8}, 3.0}};
  if (!g_opt.quick) cases.push_back({10, 50000, {-6}, 30.0});
  std::vector<Row> rows;
  for (const Case& c : cases) {
    const Problem p = from_simulation(format("sim_K%d_N%d", c.k, c.n),
                                      pt::simulate(sim_options(c.k, c.n, c.log2_sigma)));
    pt::FitResult fit;
    Row h{"c", p.name, "fit"};
    h.ours = measure(
        [&] {
          fit = pt::fit_hyper(p.data, p.layout, default_init(c.k, false), default_param(false),
                              fit_options());
        },
        0);
    h.target_s = c.target_s;
    h.log_evd = fit.map.log_evidence;
    h.note = fit_note(fit);
    rows.push_back(h);
  }
  print_rows(rows);
  if (g_opt.quick) std::printf("(--quick: K 10, N 50000 skipped)\n");
}

// ---------------------------------------------------------------------------------------------
// (d) Scaling in N

struct ScalePoint {
  int n = 0;
  double cpu_map = kNaN, cpu_wstd = kNaN;  // per repetition
  int reps = 0, newton = 0;
  double peak_mib = kNaN, base_mib = kNaN, log_evd = kNaN;
  bool per_phase_rss = false;
};

// K 4, sigma 2^[-5..-8], session_length 400, seed 7; MAP at the true hypers from zero + W_std.
// The simulation is dropped before the peak-RSS mark is reset, so the peak holds the data set,
// the MAP's working set and W_std (and the process's own baseline: libraries, heap).
ScalePoint scaling_point(int n) {
  ScalePoint sp;
  sp.n = n;
  pt::SimulateOptions o = sim_options(4, n, {-5, -6, -7, -8});
  o.day_length.assign(static_cast<size_t>((n + 399) / 400), 400);
  o.day_length.back() = n - 400 * (static_cast<int64_t>(o.day_length.size()) - 1);
  pt::Hyper truth;
  Problem p;
  {
    pt::Simulation sim = pt::simulate(o);
    truth.sigma.value = sim.sigma;
    truth.sig_init.value = sim.sig_init;
    truth.sig_day.value = sim.sig_day;
    p = from_simulation("scale", std::move(sim));
  }
  sp.per_phase_rss = reset_peak_rss();
  sp.base_mib = current_rss_mib();
  double c0 = effinfer::cpu_seconds();
  double map_s = 0, wstd_s = 0;
  do {
    pt::MapResult map = pt::map_fit(p.data, p.layout, truth, pt::MapOptions{});
    const double c1 = effinfer::cpu_seconds();
    pt::RowMatrix w_std = pt::posterior_std(map);
    const double c2 = effinfer::cpu_seconds();
    map_s += c1 - c0;
    wstd_s += c2 - c1;
    c0 = c2;
    if (sp.reps++ == 0) {
      sp.peak_mib = peak_rss_mib();
      sp.newton = map.iterations;
      sp.log_evd = map.log_evidence;
    }
  } while (map_s + wstd_s < 0.5 && sp.reps < 1000);
  sp.cpu_map = map_s / sp.reps;
  sp.cpu_wstd = wstd_s / sp.reps;
  return sp;
}

std::string scale_point_line(const ScalePoint& sp) {
  return format("%d %.17g %.17g %d %d %.17g %.17g %.17g %d\n", sp.n, sp.cpu_map, sp.cpu_wstd,
                sp.reps, sp.newton, sp.peak_mib, sp.base_mib, sp.log_evd, sp.per_phase_rss ? 1 : 0);
}

// Runs scaling_point in a fresh process (fork + exec of this binary with --scale-point N): a
// plain fork would inherit this process's heap, whose free but resident pages would hide the
// child's own growth. The child prints scale_point_line on stdout, read here through a pipe.
// Falls back to this process (and says so) if that fails.
ScalePoint scaling_point_isolated(int n) {
  ScalePoint sp;
  sp.n = n;
  int fd[2];
  if (pipe(fd) == 0) {
    std::fflush(stdout);
    const std::string arg = std::to_string(n);
    const pid_t pid = fork();
    if (pid == 0) {
      close(fd[0]);
      dup2(fd[1], STDOUT_FILENO);
      close(fd[1]);
      char* const child_argv[] = {const_cast<char*>("bench_psytrack_fit"),
                                  const_cast<char*>("--scale-point"),
                                  const_cast<char*>(arg.c_str()), nullptr};
      execv("/proc/self/exe", child_argv);
      _exit(127);
    }
    close(fd[1]);
    std::string text;
    if (pid > 0) {
      char buf[512];
      for (ssize_t got; (got = read(fd[0], buf, sizeof buf)) > 0;) text.append(buf, got);
      int status = 0;
      waitpid(pid, &status, 0);
    }
    close(fd[0]);
    int per_phase = 0;
    if (std::sscanf(text.c_str(), "%d %lf %lf %d %d %lf %lf %lf %d", &sp.n, &sp.cpu_map,
                    &sp.cpu_wstd, &sp.reps, &sp.newton, &sp.peak_mib, &sp.base_mib, &sp.log_evd,
                    &per_phase) == 9) {
      sp.per_phase_rss = per_phase != 0;
      return sp;
    }
    std::printf("N %d: child process failed (%s); measuring in this process instead\n", n,
                text.empty() ? "no output" : text.c_str());
  }
  return scaling_point(n);
}

void section_d() {
  section_title(
      "(d) scaling: K 4, sigma 2^[-5,-6,-7,-8], session_length 400, seed 7; MAP at the true "
      "hypers + W_std, each N in a fresh process");
  std::vector<int> sizes = {10000, 100000, 1000000};
  if (g_opt.quick) sizes.pop_back();
  const int k = 4;
  std::vector<ScalePoint> pts;
  for (int n : sizes) pts.push_back(scaling_point_isolated(n));
  std::printf("%9s %10s %10s %10s %5s %7s %12s %10s %10s %12s %10s %14s\n", "N", "MAP+Wstd s",
              "MAP s", "W_std s", "reps", "Newton", "us/trial", "peak MiB", "fit MiB", "bound MiB",
              "B/(N K^2)", "logEvd");
  std::vector<Json> json_rows;
  for (const ScalePoint& sp : pts) {
    const double inputs_mib = sp.n * (k + 1) * 8.0 / 1048576.0;  // g (N, K) and y (N) as doubles
    const double bound = 50.0 * sp.n * k * k / 1048576.0 + inputs_mib + 64.0;
    const double fit_mib = sp.peak_mib - sp.base_mib;
    const double total = sp.cpu_map + sp.cpu_wstd;
    std::printf("%9d %10.4f %10.4f %10.4f %5d %7d %12.3f %10.1f %10.1f %12.1f %10.1f %14.4f\n",
                sp.n, total, sp.cpu_map, sp.cpu_wstd, sp.reps, sp.newton, 1e6 * total / sp.n,
                sp.peak_mib, fit_mib, bound, fit_mib * 1048576.0 / (double(sp.n) * k * k),
                sp.log_evd);
    Json j = Json::object();
    j.set("set", format("sim_K4_N%d", sp.n));
    j.set("phase", "map+wstd");
    j.set("n", sp.n);
    j.set("cpu_s", total);
    j.set("cpu_map_s", sp.cpu_map);
    j.set("cpu_wstd_s", sp.cpu_wstd);
    j.set("reps", sp.reps);
    j.set("newton_iterations", sp.newton);
    j.set("peak_rss_mib", sp.peak_mib);
    j.set("rss_before_mib", sp.base_mib);
    j.set("fit_rss_mib", fit_mib);
    j.set("rss_bound_mib", bound);
    j.set("rss_within_bound", sp.peak_mib <= bound);
    j.set("log_evidence", sp.log_evd);
    json_rows.push_back(std::move(j));
  }
  for (Json& j : json_rows) print_json("d", std::move(j));
  if (pts.size() >= 2) {
    const ScalePoint& a = pts.front();
    const ScalePoint& b = pts.back();
    const double decades = std::log(double(b.n) / a.n);
    const double slope_t = std::log((b.cpu_map + b.cpu_wstd) / (a.cpu_map + a.cpu_wstd)) / decades;
    const double slope_rss =
        std::log((b.peak_mib - b.base_mib) / (a.peak_mib - a.base_mib)) / decades;
    const double slope_abs = std::log(b.peak_mib / a.peak_mib) / decades;
    std::printf(
        "log-log slope N %d -> %d: time %.3f, fit RSS (peak - RSS before the MAP) %.3f, "
        "absolute peak RSS %.3f (target <= 1.1: %s)\n",
        a.n, b.n, slope_t, slope_rss, slope_abs,
        slope_t <= 1.1 && slope_rss <= 1.1 ? "met" : "NOT met");
    if (!pts.front().per_phase_rss)
      std::printf("note: /proc/self/clear_refs unavailable; peaks include the fork's start\n");
    Json j = Json::object();
    j.set("set", "sim_K4_scaling");
    j.set("phase", "slope");
    j.set("n_from", a.n);
    j.set("n_to", b.n);
    j.set("slope_time", slope_t);
    j.set("slope_fit_rss", slope_rss);
    j.set("slope_peak_rss", slope_abs);
    j.set("target", "<=1.1");
    j.set("target_met", slope_t <= 1.1 && slope_rss <= 1.1);
    print_json("d", std::move(j));
  }
  std::printf(
      "columns: peak MiB = process peak RSS during MAP + W_std (data set included); fit MiB = "
      "peak minus the RSS just before the MAP; bound = 50 N K^2 B + inputs + 64 MiB (spec 7)\n");
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// (e) Physical bound

// Best-of-reps single-thread dgemm 1024^3 through OpenBLAS and Eigen's own GEMM, GFLOP/s.
void gemm_rates(double& openblas_gflops, double& eigen_gflops) {
  const int n = 1024;
  Eigen::MatrixXd a = Eigen::MatrixXd::Random(n, n), b = Eigen::MatrixXd::Random(n, n);
  Eigen::MatrixXd c = Eigen::MatrixXd::Zero(n, n);
  const double flops = 2.0 * n * n * n;
  double best = 1e300;
  for (int rep = 0; rep < 4; ++rep) {  // first one warms up
    const double w0 = effinfer::wall_seconds();
    cblas_dgemm(kCblasRowMajor, kCblasNoTrans, kCblasNoTrans, n, n, n, 1.0, a.data(), n, b.data(),
                n, 0.0, c.data(), n);
    const double dt = effinfer::wall_seconds() - w0;
    if (rep > 0) best = std::min(best, dt);
  }
  openblas_gflops = flops / best / 1e9;
  best = 1e300;
  for (int rep = 0; rep < 3; ++rep) {
    const double w0 = effinfer::wall_seconds();
    c.noalias() = a * b;
    const double dt = effinfer::wall_seconds() - w0;
    if (rep > 0) best = std::min(best, dt);
  }
  eigen_gflops = flops / best / 1e9;
}

// memcpy of 256 MiB, best of 5; GB/s counts bytes read + bytes written (STREAM's convention).
double copy_bandwidth() {
  const size_t bytes = size_t{256} << 20;
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  double best = 1e300;
  for (int rep = 0; rep < 6; ++rep) {
    src[static_cast<size_t>(rep) * 4096] = static_cast<char>(rep);
    const double w0 = effinfer::wall_seconds();
    std::memcpy(dst.data(), src.data(), bytes);
    const double dt = effinfer::wall_seconds() - w0;
    if (rep > 0) best = std::min(best, dt);
  }
  volatile char sink = dst[bytes / 2];
  (void)sink;
  return 2.0 * bytes / best / 1e9;
}

void section_e() {
  section_title("(e) physical bound (one core)");
  double blas_gflops = 0, eigen_gflops = 0;
  gemm_rates(blas_gflops, eigen_gflops);
  const double bw = copy_bandwidth();

  const Problem p = simulate_b();
  const int n = p.data.n_trials(), k = p.data.n_weights();
  const pt::Hyper init = default_init(k, false);
  const double flops_per = n * (7.0 * k * k * k / 3.0 + 3.0 * k * k + 25.0);
  const double bytes_per = n * (2.0 * k * k + 2.0 * k + 2.0) * 8.0;

  pt::MapResult map;
  const Timing tm =
      measure([&] { map = pt::map_fit(p.data, p.layout, init, pt::MapOptions{}); }, 1.0);
  const long map_factors = map.iterations + 1L;

  // One BlockTridiagCholesky::factor on the Hessian assembled at the MAP, timed alone.
  std::vector<double> diag_blocks, off_diag;
  const pt::RowMatrix v = pt::prior_variance(init, p.layout, n, k);
  pt::assemble_hessian(p.data, v, map.w, diag_blocks, off_diag);
  pt::BlockTridiagCholesky chol;
  const Timing tf = measure(
      [&] {
        if (!chol.factor(n, k, diag_blocks.data(), off_diag.data()))
          throw std::runtime_error("factor failed");
      },
      0.5);

  pt::FitResult fit;
  const Timing tfit = measure(
      [&] { fit = pt::fit_hyper(p.data, p.layout, init, default_param(false), fit_options()); },
      1.0);
  const long fit_factors = fit_factorizations(fit);

  struct Line {
    std::string key, value, note;
  };
  std::vector<Line> lines;
  auto add = [&](const std::string& key, const std::string& value, const std::string& note) {
    lines.push_back({key, value, note});
  };
  add("dgemm 1024^3, OpenBLAS", format("%.2f GFLOP/s", blas_gflops),
      "cblas_dgemm, 1 thread, best of 3 after a warm-up; core " + g_core_name);
  add("dgemm 1024^3, Eigen", format("%.2f GFLOP/s", eigen_gflops), "Eigen's own GEMM kernel");
  add("copy bandwidth", format("%.2f GB/s", bw), "memcpy 256 MiB, best of 5; read + write bytes");
  add("flops per factorization", format("%.3g", flops_per),
      format("N (7K^3/3 + 3K^2 + 25), N %d, K %d", n, k));
  add("bytes per factorization", format("%.3g", bytes_per), "N (2K^2 + 2K + 2) 8");
  add("MAP (b): factorizations", format("%ld", map_factors),
      format("counted: %d Newton steps + 1 at W* (line-search trials do not factor)",
             map.iterations));
  add("MAP (b): CPU s", format("%.4f", tm.cpu), format("mean of %d", tm.reps));
  add("MAP (b): s per factorization", format("%.3g", tm.cpu / map_factors),
      "whole MAP time / factorizations (assembly, gradient, f, solve included)");
  const double map_gflops = map_factors * flops_per / tm.cpu / 1e9;
  const double map_gbps = map_factors * bytes_per / tm.cpu / 1e9;
  add("MAP (b): achieved", format("%.2f GFLOP/s", map_gflops),
      format("%.1f%% of OpenBLAS dgemm", 100.0 * map_gflops / blas_gflops));
  add("MAP (b): streamed", format("%.2f GB/s", map_gbps),
      format("%.1f%% of copy bandwidth", 100.0 * map_gbps / bw));
  const double bound_s =
      std::max(map_factors * flops_per / (blas_gflops * 1e9), map_factors * bytes_per / (bw * 1e9));
  add("MAP (b): bound", format("%.3g s", bound_s),
      format("max(flops / dgemm rate, bytes / bandwidth); ours %.1fx the bound", tm.cpu / bound_s));
  add("factor() alone", format("%.3g s", tf.cpu),
      format("one BlockTridiagCholesky::factor at the MAP's Hessian, mean of %d; x %ld = %.1f%% of "
             "the MAP",
             tf.reps, map_factors, 100.0 * tf.cpu * map_factors / tm.cpu));
  add("factor() alone: rate", format("%.2f GFLOP/s", n * 7.0 * k * k * k / 3.0 / tf.cpu / 1e9),
      "counting the block Cholesky's N 7K^3/3 flops only");
  add("fit (b): factorizations", format("%ld", fit_factorizations(fit)),
      format("counted: Newton %d + %d MAP refactors + 2 x %d surrogate calls; + 1 selected "
             "inversion for W_std",
             fit.newton_iterations, fit.n_map_solves, fit.n_dla_evals));
  const double fit_gflops = fit_factors * flops_per / tfit.cpu / 1e9;
  add("fit (b): CPU s", format("%.4f", tfit.cpu), format("mean of %d", tfit.reps));
  add("fit (b): achieved", format("%.2f GFLOP/s", fit_gflops),
      format("%.1f%% of dgemm; %.2f GB/s = %.1f%% of bandwidth", 100.0 * fit_gflops / blas_gflops,
             fit_factors * bytes_per / tfit.cpu / 1e9,
             100.0 * fit_factors * bytes_per / tfit.cpu / 1e9 / bw));

  for (const Line& l : lines)
    std::printf("%-30s %18s   %s\n", l.key.c_str(), l.value.c_str(), l.note.c_str());
  Json j = Json::object();
  j.set("set", p.name);
  j.set("phase", "bound");
  j.set("dgemm_openblas_gflops", blas_gflops);
  j.set("dgemm_eigen_gflops", eigen_gflops);
  j.set("copy_gbps", bw);
  j.set("map_factorizations", map_factors);
  j.set("map_cpu_s", tm.cpu);
  j.set("map_gflops", map_gflops);
  j.set("map_gbps", map_gbps);
  j.set("map_bound_s", bound_s);
  j.set("factor_cpu_s", tf.cpu);
  j.set("fit_factorizations", fit_factors);
  j.set("fit_cpu_s", tfit.cpu);
  j.set("fit_gflops", fit_gflops);
  print_json("e", std::move(j));
  std::fflush(stdout);
}

// Writes section (b)'s data set as a psytrack-fit input file (for psytrack_side_by_side.py) with
// the hyperOpt start in /init (attribute optList).
void write_sim(const std::string& path) {
  const Problem p = simulate_b();
  auto f = effinfer::io::H5File::create(path);
  std::vector<int8_t> y(p.data.y.size());
  for (Eigen::Index t = 0; t < p.data.y.size(); ++t) y[t] = static_cast<int8_t>(p.data.y[t]);
  f.write_int8("/y", y);
  f.create_group("/inputs");
  f.write_matrix("/inputs/x", p.data.g);
  f.set_attribute("/", "weights", "{\"x\": 3}");
  f.set_attribute("/", "generator",
                  "bench_psytrack_fit: simulate K 3, N 20000, sigma 2^[-4,-5,-6], sigInit 1, "
                  "boundary 6, seed 7");
  const pt::Hyper init = default_init(3, false);
  f.create_group("/init");
  f.write_vector("/init/sigma", init.sigma.value);
  f.write_vector("/init/sigInit", init.sig_init.value);
  f.set_attribute("/init", "optList", "sigma");
  f.close();
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--json] [--quick] [--sections abcde] [--psytrack-times FILE] "
               "[--write-sim FILE]\n",
               argv0);
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  effinfer::apply_blas_kernel_fix(argc, argv);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") {
      g_opt.json = true;
    } else if (a == "--quick") {
      g_opt.quick = true;
    } else if (a == "--sections" && i + 1 < argc) {
      g_opt.sections = argv[++i];
    } else if (a == "--psytrack-times" && i + 1 < argc) {
      g_opt.psytrack_times = argv[++i];
    } else if (a == "--write-sim" && i + 1 < argc) {
      g_opt.write_sim = argv[++i];
    } else if (a == "--scale-point" && i + 1 < argc) {
      g_opt.scale_point = std::atoi(argv[++i]);
    } else {
      return usage(argv[0]);
    }
  }
  effinfer::io::silence_hdf5_errors();
  effinfer::set_blas_threads(1);
  try {
    if (!g_opt.write_sim.empty()) {
      write_sim(g_opt.write_sim);
      return 0;
    }
    if (g_opt.scale_point > 0) {
      std::printf("%s", scale_point_line(scaling_point(g_opt.scale_point)).c_str());
      return 0;
    }
    const char* core = openblas_get_corename();
    g_core_name = core != nullptr ? core : "unknown";
    if (!g_opt.psytrack_times.empty()) read_live_times(g_opt.psytrack_times);
    const auto& bi = effinfer::build_info();
    std::printf("psytrack-fit benchmark (bench_psytrack_fit, spec section 7)\n");
    std::printf(
        "CPU: %s | OpenBLAS core: %s (OPENBLAS_CORETYPE=%s) | OPENBLAS_NUM_THREADS=%s "
        "OMP_NUM_THREADS=%s | one thread\n",
        cpu_model().c_str(), g_core_name.c_str(), env_or("OPENBLAS_CORETYPE", "unset").c_str(),
        env_or("OPENBLAS_NUM_THREADS", "unset").c_str(),
        env_or("OMP_NUM_THREADS", "unset").c_str());
    std::printf("build: %s %s, flags '%s', commit %s\n", bi.compiler, bi.build_type, bi.cxx_flags,
                bi.git_commit);
    g_per_phase_rss = reset_peak_rss();
    std::printf(
        "times: CPU s = getrusage user+sys per repetition; ratio = psytrack s / ours CPU s; "
        "peak MiB = %s\n",
        g_per_phase_rss ? "peak RSS during the phase (VmHWM reset per phase)"
                        : "process peak RSS so far (cumulative)");
    std::printf("psytrack live: %s\n",
                g_opt.psytrack_times.empty()
                    ? "skipped (no --psytrack-times; run.sh adds it when PSYTRACK_SRC is set)"
                    : ("from " + g_opt.psytrack_times).c_str());
    {
      Json j = Json::object();
      j.set("set", "environment");
      j.set("cpu", cpu_model());
      j.set("openblas_coretype", env_or("OPENBLAS_CORETYPE", ""));
      j.set("cxx_flags", bi.cxx_flags);
      j.set("git_commit", bi.git_commit);
      j.set("per_phase_rss", g_per_phase_rss);
      print_json("env", std::move(j));
    }
    const double w0 = effinfer::wall_seconds();
    const auto want = [](char c) { return g_opt.sections.find(c) != std::string::npos; };
    if (want('a')) section_a();
    if (want('b')) section_b();
    if (want('c')) section_c();
    if (want('d')) section_d();
    if (want('e')) section_e();
    std::printf("\nbench_psytrack_fit: done in %.1f s wall, core %s\n",
                effinfer::wall_seconds() - w0, g_core_name.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_psytrack_fit: error: %s\n", e.what());
    return 70;
  }
  return 0;
}
