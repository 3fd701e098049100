// The `bench` latency grid (spec condconv-bench 7). See bench.hpp.
#include "bench.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

#include "arch.hpp"
#include "core/blas.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/hdf5.hpp"
#include "strategy.hpp"

namespace effinfer::condconv {
namespace {

double now_ms() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double, std::milli>(clock::now().time_since_epoch()).count();
}

bool is_condconv_strategy(const std::string& s) {
  return s == "per-example" || s == "grouped" || s == "auto";
}
bool is_moe_strategy(const std::string& s) { return s == "moe-concat" || s == "moe-loop"; }

// The layer shape of an architecture row (FC: a 1x1 conv on a 1x1 input, or an FC op).
LayerShape shape_of(const LayerSpec& l, bool expert_bias) {
  LayerShape s;
  if (l.op == OpKind::kFc || (l.h_in == 1 && l.w_in == 1 && l.kernel == 1 && l.op == OpKind::kConv))
    s.kind = Kind::kFc;
  else
    s.kind = l.op == OpKind::kDepthwise ? Kind::kDepthwise : Kind::kConv;
  if (s.kind != Kind::kFc) {
    s.h = l.h_in, s.w = l.w_in, s.kh = s.kw = l.kernel, s.stride = l.stride;
  }
  s.cin = l.c_in;
  s.cout = s.kind == Kind::kDepthwise ? l.c_in : l.c_out;
  s.padding = Padding::kSame;
  s.experts = 1;
  s.expert_bias = expert_bias && l.bias;
  return s;
}

std::string shape_key(const LayerShape& s) {
  return kind_name(s.kind) + ":" + std::to_string(s.h) + "x" + std::to_string(s.w) + ":" +
         std::to_string(s.cin) + ">" + std::to_string(s.cout) + ":k" + std::to_string(s.kh) + "/s" +
         std::to_string(s.stride) + (s.expert_bias ? ":b" : "");
}

LayerShape shape_of_case(const BenchCase& c) {
  LayerShape s;
  s.kind = c.kind == "fc" ? Kind::kFc : c.kind == "depthwise" ? Kind::kDepthwise : Kind::kConv;
  s.h = c.h, s.w = c.w, s.cin = c.c_in, s.cout = c.c_out, s.kh = s.kw = c.kernel;
  s.stride = c.stride, s.experts = std::max<int64_t>(1, c.experts);
  s.expert_bias = s.kind == Kind::kFc;  // the suite's only biased CondConv layer
  return s;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t i = static_cast<size_t>(std::floor(pos));
  const size_t j = std::min(i + 1, v.size() - 1);
  return v[i] + (pos - static_cast<double>(i)) * (v[j] - v[i]);
}

struct Timing {
  double median = 0, p10 = 0, p90 = 0;
};

// Warm-up calls, then samples until both `reps` samples and `min_ms` of timed work are reached.
template <class F>
Timing time_it(F&& f, int reps, int warmup, double min_ms) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  double total = 0;
  while (static_cast<int>(t.size()) < reps || total < min_ms) {
    const double t0 = now_ms();
    f();
    const double dt = now_ms() - t0;
    t.push_back(dt);
    total += dt;
    if (t.size() >= 1000000) break;
  }
  return {quantile(t, 0.5), quantile(t, 0.1), quantile(t, 0.9)};
}

void fill_gaussian(std::vector<float>& v, Rng& rng, double scale) {
  for (auto& x : v) x = static_cast<float>(rng.normal() * scale);
}

}  // namespace

const std::vector<std::string>& suite_names() {
  static const std::vector<std::string> names{"efficientnet-b0-cc", "mobilenet-v1-tail"};
  return names;
}

std::vector<SuiteLayer> bench_suite(const std::vector<std::string>& suites) {
  std::vector<SuiteLayer> out;
  std::set<std::string> seen;
  for (const auto& name : suites) {
    std::string arch_name;
    if (name == "efficientnet-b0-cc")
      arch_name = "efficientnet-condconv-b0-8e";
    else if (name == "mobilenet-v1-tail")
      arch_name = "mobilenet-v1";
    else
      throw UsageError("suite: expected one of efficientnet-b0-cc, mobilenet-v1-tail, found '" +
                       name + "'");
    const ArchSpec arch = make_arch(arch_name);
    for (const auto& g : arch.groups) {
      if (!g.official) continue;
      for (int li : g.layers) {
        const LayerSpec& l = arch.layers[li];
        const LayerShape s = shape_of(l, arch.expert_bias);
        if (seen.insert(shape_key(s)).second) out.push_back({l.name, s});
      }
    }
  }
  return out;
}

int64_t equal_mac_width(const LayerShape& s, int64_t experts) {
  const double rows = static_cast<double>(s.ho() * s.wo());
  const double wide = static_cast<double>(s.cout) * (1.0 + static_cast<double>(experts) / rows);
  return std::max<int64_t>(8, std::llround(wide / 8.0) * 8);
}

LayerShape equal_mac_shape(const LayerShape& s, int64_t experts) {
  LayerShape w = s;
  w.cout = equal_mac_width(s, experts);
  if (s.kind == Kind::kDepthwise) w.cin = w.cout;
  w.experts = 1;
  w.expert_bias = false;
  return w;
}

const std::vector<std::string>& bench_strategy_names() {
  static const std::vector<std::string> names{
      "static", "static-equal-mac", "per-example", "grouped", "moe-concat", "moe-loop", "auto"};
  return names;
}

int64_t case_macs(const LayerShape& s, int64_t batch, const std::string& strategy) {
  if (strategy == "static-equal-mac") return batch * equal_mac_shape(s, s.experts).macs();
  if (is_condconv_strategy(strategy)) return batch * (s.macs() + s.macs_mix());
  if (is_moe_strategy(strategy)) return batch * s.macs_moe();
  return batch * s.macs();  // static, openblas, onednn
}

int64_t case_bytes(const LayerShape& s0, int64_t batch, const std::string& strategy) {
  const LayerShape s = strategy == "static-equal-mac" ? equal_mac_shape(s0, s0.experts) : s0;
  const int64_t B = batch, n = s.experts, K = s.k(), in = s.in_size(), out = s.out_size();
  const int64_t bias = s.expert_bias ? s.cout : 0;
  if (is_condconv_strategy(strategy)) {
    // Mixing: each expert read once, B mixed kernels written (spec 7); the conv then reads
    // input, its example's kernel and writes the output.
    const int64_t mix = n * (K + bias) + (B == 1 ? K + bias : B * (K + bias));
    return 4 * (mix + B * in + B * K + B * out);
  }
  if (is_moe_strategy(strategy)) return 4 * (B * in + n * (K + bias) + B * out);
  return 4 * (B * in + K + B * out);
}

double bound_ms(int64_t macs, int64_t bytes, double gemm_gflops, double copy_gbs) {
  const double compute =
      gemm_gflops > 0 ? 2.0 * static_cast<double>(macs) / (gemm_gflops * 1e6) : 0.0;
  const double memory = copy_gbs > 0 ? static_cast<double>(bytes) / (copy_gbs * 1e6) : 0.0;
  return std::max(compute, memory);
}

MachineRow calibrate_machine(int threads, int64_t gemm_n, int64_t copy_mb) {
  MachineRow m;
  m.threads = threads;
  const int saved = blas_threads();
  set_blas_threads(threads);
  {
    const int64_t n = gemm_n;
    std::vector<float> a(static_cast<size_t>(n * n), 1.0f), b(a.size(), 0.5f), c(a.size());
    double best = 1e300;
    for (int i = 0; i < 3; ++i) {
      const double t0 = now_ms();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(),
                  n, 0.0f, c.data(), n);
      best = std::min(best, now_ms() - t0);
    }
    m.gemm_gflops = 2.0 * static_cast<double>(n) * n * n / (best * 1e6);
  }
  set_blas_threads(saved);
  {
    const size_t bytes = static_cast<size_t>(copy_mb) << 20;
    std::vector<char> src(bytes, 1), dst(bytes, 0);
    double best = 1e300;
    for (int i = 0; i < 5; ++i) {
      const double t0 = now_ms();
      std::memcpy(dst.data(), src.data(), bytes);
      best = std::min(best, now_ms() - t0);
      src[static_cast<size_t>(i)] = dst[bytes - 1 - static_cast<size_t>(i)];
    }
    m.copy_gbs = 2.0 * static_cast<double>(bytes) / (best * 1e6);  // read + write
  }
  return m;
}

std::vector<BenchCell> bench_cells(const std::vector<SuiteLayer>& layers, const BenchOptions& o) {
  std::vector<BenchCell> cells;
  for (const auto& l : layers)
    for (int64_t b : o.batch)
      for (int t : o.threads) {
        for (const auto& s : o.strategies)
          if (s == "static") cells.push_back({&l, 0, b, t, s});
        for (const auto& p : o.peers) cells.push_back({&l, 0, b, t, p});
        for (int64_t n : o.experts)
          for (const auto& s : o.strategies)
            if (s != "static") cells.push_back({&l, n, b, t, s});
      }
  return cells;
}

namespace {

// Times one cell; fills timing or `skipped`.
void run_cell(const BenchCell& cell, const BenchOptions& o, const MachineRow& m, BenchCase& r) {
  LayerShape s = cell.layer->shape;
  s.experts = std::max<int64_t>(1, cell.experts);
  const int64_t B = cell.batch;
  const int t = cell.threads;
  r.layer = cell.layer->name;
  r.kind = kind_name(s.kind);
  r.h = s.h, r.w = s.w, r.c_in = s.cin, r.c_out = s.cout, r.kernel = s.kh, r.stride = s.stride;
  r.experts = cell.experts, r.batch = B, r.threads = t, r.strategy = cell.strategy;
  r.macs = case_macs(s, B, cell.strategy);
  r.bytes_est = case_bytes(s, B, cell.strategy);
  r.bound_ms = bound_ms(r.macs, r.bytes_est, m.gemm_gflops, m.copy_gbs);

  Rng rng(o.seed, named_stream("bench/" + shape_key(s)));
  set_blas_threads(t);
  auto record = [&](const Timing& tm) {
    r.median_ms = tm.median, r.p10_ms = tm.p10, r.p90_ms = tm.p90;
    r.gflops = tm.median > 0 ? 2.0 * static_cast<double>(r.macs) / (tm.median * 1e6) : 0.0;
  };

  if (cell.strategy == "onednn") {
    r.skipped = "peer onednn not built (EFFINFER_WITH_DNNL off)";
    return;
  }
  if (cell.strategy == "openblas") {
    if (s.kind == Kind::kDepthwise) {
      r.skipped = "no GEMM form for depthwise";
      return;
    }
    const int64_t m_rows = B * s.ho() * s.wo(), k = s.patch(), n = s.cout;
    std::vector<float> a(static_cast<size_t>(m_rows * k)), w(static_cast<size_t>(k * n)),
        c(static_cast<size_t>(m_rows * n));
    fill_gaussian(a, rng, 1.0);
    fill_gaussian(w, rng, 0.05);
    record(time_it(
        [&] {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m_rows, n, k, 1.0f, a.data(), k,
                      w.data(), n, 0.0f, c.data(), n);
        },
        o.reps, o.warmup, o.min_time_ms));
    return;
  }
  if (cell.strategy == "static" || cell.strategy == "static-equal-mac") {
    const LayerShape ss = cell.strategy == "static" ? s : equal_mac_shape(s, s.experts);
    std::vector<float> x(static_cast<size_t>(B * ss.in_size())), k(static_cast<size_t>(ss.k())),
        y(static_cast<size_t>(B * ss.out_size()));
    fill_gaussian(x, rng, 1.0);
    fill_gaussian(k, rng, 0.05);
    record(time_it([&] { static_forward<float>(ss, B, x.data(), k.data(), nullptr, y.data(), t); },
                   o.reps, o.warmup, o.min_time_ms));
    return;
  }
  Strategy st = parse_strategy(cell.strategy);
  const Strategy resolved =
      resolve_strategy(st, s, B, t, o.max_workspace_bytes, static_cast<int>(sizeof(float)));
  if (choose_chunk(s, resolved, B, t, 4, o.max_workspace_bytes) == 0) {
    const int64_t need = workspace_bytes(s, resolved, 1, t, 4);
    r.skipped = "workspace " + std::to_string((need + (1 << 20) - 1) >> 20) +
                " MiB at chunk 1 over limits.max_workspace_mb=" +
                std::to_string(o.max_workspace_bytes >> 20);
    return;
  }
  std::vector<float> x(static_cast<size_t>(B * s.in_size())),
      e(static_cast<size_t>(s.experts * s.k())), eb, alpha(static_cast<size_t>(B * s.experts)),
      y(static_cast<size_t>(B * s.out_size()));
  fill_gaussian(x, rng, 1.0);
  fill_gaussian(e, rng, 0.05);
  for (auto& a : alpha) a = static_cast<float>(0.05 + 0.9 * rng.uniform());
  LayerWeights<float> wv;
  wv.experts = e.data();
  if (s.expert_bias) {
    eb.assign(static_cast<size_t>(s.experts * s.cout), 0.01f);
    wv.expert_bias = eb.data();
  }
  try {
    CondConvExecutor<float> ex(s, B, st, t, o.max_workspace_bytes);
    ex.bind(wv);
    record(time_it([&] { ex.forward(x.data(), alpha.data(), y.data()); }, o.reps, o.warmup,
                   o.min_time_ms));
  } catch (const UsageError& err) {
    r.skipped = err.what();  // over the workspace limit: recorded, not an error (spec 3)
  }
}

}  // namespace

BenchResult run_bench_grid(const BenchOptions& o, const LogFn& log) {
  BenchResult res;
  const std::vector<SuiteLayer> layers = bench_suite(o.suites);
  const std::vector<BenchCell> all = bench_cells(layers, o);
  const int64_t units = static_cast<int64_t>(all.size());
  const int64_t first = units * o.shard_index / o.shard_count;
  const int64_t last = units * (o.shard_index + 1) / o.shard_count;
  std::map<int, MachineRow> machine;
  for (int64_t i = first; i < last; ++i)
    machine.emplace(all[static_cast<size_t>(i)].threads, MachineRow{});
  for (auto& [t, m] : machine) {
    m = calibrate_machine(t, o.gemm_n, o.copy_mb);
    if (log)
      log("machine: " + std::to_string(t) + " thread(s): sgemm " + std::to_string(m.gemm_gflops) +
          " GFLOP/s, copy " + std::to_string(m.copy_gbs) + " GB/s");
    res.machine.push_back(m);
  }
  const int saved = blas_threads();
  for (int64_t i = first; i < last; ++i) {
    const BenchCell& cell = all[static_cast<size_t>(i)];
    BenchCase r;
    run_cell(cell, o, machine.at(cell.threads), r);
    if (log)
      log(r.layer + " " + r.kind + " n=" + std::to_string(r.experts) + " B=" +
          std::to_string(r.batch) + " t=" + std::to_string(r.threads) + " " + r.strategy + ": " +
          (r.skipped.empty() ? std::to_string(r.median_ms) + " ms"
                             : "skipped (" + r.skipped + ")"));
    res.cases.push_back(std::move(r));
  }
  set_blas_threads(saved);
  compute_ratios(res.cases);
  return res;
}

void compute_ratios(std::vector<BenchCase>& cases) {
  using Key = std::tuple<std::string, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                         int64_t, int64_t>;  // shape, B, threads
  auto key = [](const BenchCase& c) {
    return Key{c.kind, c.h, c.w, c.c_in, c.c_out, c.kernel, c.stride, c.batch, c.threads, 0};
  };
  std::map<Key, double> stat;
  std::map<std::pair<Key, int64_t>, double> moe;
  for (const auto& c : cases) {
    if (!c.skipped.empty() || c.median_ms <= 0) continue;
    if (c.strategy == "static") stat[key(c)] = c.median_ms;
    if (c.strategy == "moe-loop") moe[{key(c), c.experts}] = c.median_ms;
  }
  for (auto& c : cases) {
    c.ratio_vs_static = c.ratio_vs_moe = c.ratio_vs_bound = 0;
    if (!c.skipped.empty() || c.median_ms <= 0) continue;
    if (auto it = stat.find(key(c)); it != stat.end()) c.ratio_vs_static = c.median_ms / it->second;
    if (auto it = moe.find({key(c), c.experts}); it != moe.end() && c.experts > 0)
      c.ratio_vs_moe = c.median_ms / it->second;
    if (c.bound_ms > 0) c.ratio_vs_bound = c.median_ms / c.bound_ms;
  }
}

Targets evaluate_targets(const std::vector<BenchCase>& cases, int64_t max_workspace_bytes) {
  Targets t;
  auto fmt = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return std::string(buf);
  };
  auto where = [](const BenchCase& c) {
    return c.layer + " n=" + std::to_string(c.experts) + " B=" + std::to_string(c.batch) +
           " t=" + std::to_string(c.threads);
  };
  auto same_cell = [](const BenchCase& a, const BenchCase& b) {
    return a.layer == b.layer && a.batch == b.batch && a.threads == b.threads && a.kind == b.kind &&
           a.c_in == b.c_in && a.c_out == b.c_out && a.h == b.h && a.stride == b.stride &&
           a.kernel == b.kernel;
  };
  auto combine = [](std::optional<bool>& acc, bool v) { acc = acc.value_or(true) && v; };
  // (a) static vs the bare-sgemm peer; depthwise vs the bandwidth bound.
  for (const auto& c : cases) {
    if (c.strategy != "static" || !c.skipped.empty() || c.median_ms <= 0) continue;
    if (c.kind == "depthwise") {
      const double frac = c.bound_ms / c.median_ms;
      combine(t.a, frac >= 0.5);
      if (frac < 0.5)
        t.notes.push_back("(a) " + where(c) + ": depthwise at " + fmt(frac) + " of bound");
      continue;
    }
    for (const auto& p : cases) {
      if (p.strategy != "openblas" || !p.skipped.empty() || p.gflops <= 0 || !same_cell(c, p))
        continue;
      const double need = c.kind == "conv" && c.kernel > 1 ? 0.45 : 0.70;
      const double frac = c.gflops / p.gflops;
      combine(t.a, frac >= need);
      if (frac < need) t.notes.push_back("(a) " + where(c) + ": " + fmt(frac) + " of sgemm");
    }
  }
  // (b) CondConv (auto) at B = 1, n = 8.
  for (const auto& c : cases) {
    if (c.strategy != "auto" || c.batch != 1 || c.experts != 8 || !c.skipped.empty()) continue;
    const LayerShape s = shape_of_case(c);
    const int64_t rows = s.ho() * s.wo();
    if (rows >= 196) {
      const bool ok = c.ratio_vs_static > 0 && c.ratio_vs_static <= 1.3 && c.ratio_vs_moe > 0 &&
                      c.ratio_vs_moe <= 0.25;
      combine(t.b, ok);
      if (!ok)
        t.notes.push_back("(b) " + where(c) + ": " + fmt(c.ratio_vs_static) + "x static, " +
                          fmt(c.ratio_vs_moe > 0 ? 1 / c.ratio_vs_moe : 0) +
                          "x faster than moe-loop");
    } else if (rows == 49) {
      const bool ok = c.ratio_vs_bound > 0 && c.ratio_vs_bound <= 1.3;
      combine(t.b, ok);
      if (!ok) t.notes.push_back("(b) " + where(c) + ": " + fmt(c.ratio_vs_bound) + "x bound");
    }
  }
  // (c) auto within 1.1x of the best fixed strategy; moe-concat for FC at B > 1.
  for (const auto& c : cases) {
    if (c.strategy != "auto" || !c.skipped.empty() || c.median_ms <= 0) continue;
    double best = 0;
    for (const auto& f : cases)
      if ((f.strategy == "per-example" || f.strategy == "grouped" || f.strategy == "moe-concat" ||
           f.strategy == "moe-loop") &&
          f.skipped.empty() && f.median_ms > 0 && f.experts == c.experts && same_cell(c, f))
        best = best > 0 ? std::min(best, f.median_ms) : f.median_ms;
    if (best > 0) {
      const bool ok = c.median_ms <= 1.1 * best;
      combine(t.c, ok);
      if (!ok)
        t.notes.push_back("(c) " + where(c) + ": auto " + fmt(c.median_ms / best) + "x best");
    }
    if (c.kind == "fc" && c.batch > 1) {
      const Strategy r = resolve_strategy(Strategy::kAuto, shape_of_case(c), c.batch,
                                          static_cast<int>(c.threads), max_workspace_bytes);
      combine(t.c, r == Strategy::kMoeConcat);
      if (r != Strategy::kMoeConcat)
        t.notes.push_back("(c) " + where(c) + ": auto picked " + strategy_name(r) + " for FC");
    }
  }
  return t;
}

double median_overhead_vs_static(const std::vector<BenchCase>& cases) {
  std::vector<double> v;
  for (const auto& c : cases)
    if (c.strategy == "auto" && c.ratio_vs_static > 0) v.push_back(c.ratio_vs_static - 1.0);
  return quantile(v, 0.5);
}

double best_speedup_vs_moe(const std::vector<BenchCase>& cases) {
  double best = 0;
  for (const auto& c : cases)
    if (c.strategy == "auto" && c.ratio_vs_moe > 0) best = std::max(best, 1.0 / c.ratio_vs_moe);
  return best;
}

namespace {
const char* kCases = "/results/cases";
const char* kMachine = "/results/machine";
}  // namespace

void write_bench_results(io::H5File& f, const BenchResult& r) {
  f.create_group(kCases);
  f.create_group(kMachine);
  const auto& cs = r.cases;
  auto strs = [&](const char* name, auto get) {
    std::vector<std::string> v;
    for (const auto& c : cs) v.push_back(get(c));
    const std::string p = std::string(kCases) + "/" + name;
    f.write_strings(p, v);
    f.set_units(p, "1");
  };
  auto ints = [&](const char* name, const char* units, auto get) {
    std::vector<int64_t> v;
    for (const auto& c : cs) v.push_back(get(c));
    const std::string p = std::string(kCases) + "/" + name;
    f.write_int64(p, v, {static_cast<hsize_t>(v.size())});
    f.set_units(p, units);
  };
  auto dbls = [&](const char* name, const char* units, auto get) {
    Eigen::VectorXd v(static_cast<Eigen::Index>(cs.size()));
    for (size_t i = 0; i < cs.size(); ++i) v[static_cast<Eigen::Index>(i)] = get(cs[i]);
    const std::string p = std::string(kCases) + "/" + name;
    f.write_vector(p, v);
    f.set_units(p, units);
  };
  strs("layer", [](const BenchCase& c) { return c.layer; });
  strs("kind", [](const BenchCase& c) { return c.kind; });
  ints("h", "1", [](const BenchCase& c) { return c.h; });
  ints("w", "1", [](const BenchCase& c) { return c.w; });
  ints("c_in", "1", [](const BenchCase& c) { return c.c_in; });
  ints("c_out", "1", [](const BenchCase& c) { return c.c_out; });
  ints("kernel", "1", [](const BenchCase& c) { return c.kernel; });
  ints("stride", "1", [](const BenchCase& c) { return c.stride; });
  ints("experts", "1", [](const BenchCase& c) { return c.experts; });
  ints("batch", "1", [](const BenchCase& c) { return c.batch; });
  ints("threads", "1", [](const BenchCase& c) { return c.threads; });
  strs("strategy", [](const BenchCase& c) { return c.strategy; });
  dbls("median_ms", "ms", [](const BenchCase& c) { return c.median_ms; });
  dbls("p10_ms", "ms", [](const BenchCase& c) { return c.p10_ms; });
  dbls("p90_ms", "ms", [](const BenchCase& c) { return c.p90_ms; });
  dbls("gflops", "GFLOP/s", [](const BenchCase& c) { return c.gflops; });
  ints("macs", "MAC", [](const BenchCase& c) { return c.macs; });
  ints("bytes_est", "byte", [](const BenchCase& c) { return c.bytes_est; });
  dbls("bound_ms", "ms", [](const BenchCase& c) { return c.bound_ms; });
  dbls("ratio_vs_static", "1", [](const BenchCase& c) { return c.ratio_vs_static; });
  dbls("ratio_vs_moe", "1", [](const BenchCase& c) { return c.ratio_vs_moe; });
  dbls("ratio_vs_bound", "1", [](const BenchCase& c) { return c.ratio_vs_bound; });
  strs("skipped", [](const BenchCase& c) { return c.skipped; });

  std::vector<int64_t> th;
  Eigen::VectorXd g(static_cast<Eigen::Index>(r.machine.size())), bw(g.size());
  for (size_t i = 0; i < r.machine.size(); ++i) {
    th.push_back(r.machine[i].threads);
    g[static_cast<Eigen::Index>(i)] = r.machine[i].gemm_gflops;
    bw[static_cast<Eigen::Index>(i)] = r.machine[i].copy_gbs;
  }
  const std::string m = kMachine;
  f.write_int64(m + "/threads", th, {static_cast<hsize_t>(th.size())});
  f.set_units(m + "/threads", "1");
  f.write_vector(m + "/gemm_gflops", g);
  f.set_units(m + "/gemm_gflops", "GFLOP/s");
  f.write_vector(m + "/copy_gbs", bw);
  f.set_units(m + "/copy_gbs", "GB/s");
}

BenchResult read_bench_results(const io::H5File& f) {
  BenchResult r;
  const std::string c = kCases;
  if (!f.is_group(c))
    throw DataError(f.path() + ":" + c + ": missing group (not a condconv-bench bench output)");
  const auto layer = f.read_strings(c + "/layer");
  const size_t n = layer.size();
  auto strs = [&](const char* name) {
    auto v = f.read_strings(c + "/" + name);
    if (v.size() != n)
      throw DataError(f.path() + ":" + c + "/" + name + ": expected " + std::to_string(n) +
                      " rows, found " + std::to_string(v.size()));
    return v;
  };
  auto ints = [&](const char* name) {
    auto v = f.read_int_vector(c + "/" + name);
    if (v.size() != n)
      throw DataError(f.path() + ":" + c + "/" + name + ": expected " + std::to_string(n) +
                      " rows, found " + std::to_string(v.size()));
    return v;
  };
  auto dbls = [&](const char* name) {
    Eigen::VectorXd v = n == 0 ? Eigen::VectorXd() : f.read_vector(c + "/" + name);
    if (static_cast<size_t>(v.size()) != n)
      throw DataError(f.path() + ":" + c + "/" + name + ": expected " + std::to_string(n) +
                      " rows, found " + std::to_string(v.size()));
    return v;
  };
  const auto kind = strs("kind"), strategy = strs("strategy"), skipped = strs("skipped");
  const auto h = ints("h"), w = ints("w"), ci = ints("c_in"), co = ints("c_out"),
             k = ints("kernel"), s = ints("stride"), e = ints("experts"), b = ints("batch"),
             t = ints("threads"), macs = ints("macs"), bytes = ints("bytes_est");
  const auto med = dbls("median_ms"), p10 = dbls("p10_ms"), p90 = dbls("p90_ms"),
             gf = dbls("gflops"), bound = dbls("bound_ms");
  for (size_t i = 0; i < n; ++i) {
    BenchCase x;
    const auto j = static_cast<Eigen::Index>(i);
    x.layer = layer[i], x.kind = kind[i], x.strategy = strategy[i], x.skipped = skipped[i];
    x.h = h[i], x.w = w[i], x.c_in = ci[i], x.c_out = co[i], x.kernel = k[i], x.stride = s[i];
    x.experts = e[i], x.batch = b[i], x.threads = t[i], x.macs = macs[i], x.bytes_est = bytes[i];
    x.median_ms = med[j], x.p10_ms = p10[j], x.p90_ms = p90[j], x.gflops = gf[j];
    x.bound_ms = bound[j];
    r.cases.push_back(std::move(x));
  }
  const std::string m = kMachine;
  const auto th = f.read_int_vector(m + "/threads");
  const Eigen::VectorXd g = th.empty() ? Eigen::VectorXd() : f.read_vector(m + "/gemm_gflops");
  const Eigen::VectorXd bw = th.empty() ? Eigen::VectorXd() : f.read_vector(m + "/copy_gbs");
  for (size_t i = 0; i < th.size(); ++i)
    r.machine.push_back({static_cast<int>(th[i]), g[static_cast<Eigen::Index>(i)],
                         bw[static_cast<Eigen::Index>(i)]});
  return r;
}

}  // namespace effinfer::condconv
