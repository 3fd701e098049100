// `bench` (latency grid, spec condconv-bench 7) and `merge` (join --shard outputs) of
// condconv-bench. Flags override the `bench:` config keys; a bad value is a usage error (64) from
// a flag and a config error (78) from YAML or --set.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "arch.hpp"
#include "bench.hpp"
#include "commands.hpp"
#include "core/blas.hpp"
#include "core/error.hpp"
#include "io/atomic_output.hpp"
#include "io/hdf5.hpp"
#include "io/provenance.hpp"
#include "net.hpp"
#include "strategy.hpp"

namespace effinfer::condconv {
namespace {

constexpr const char* kSchema = "condconv-bench/1";

struct BenchFlags {
  std::string suite, experts, batch, strategies, peers, reps, warmup, min_time_ms;
  bool quick = false;
};

struct NetFlags {
  std::string arch, experts, batch, reps, input;
};

struct MergeFlags {
  std::vector<std::string> files;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

bool parse_int(const std::string& text, int64_t& out) {
  if (text.empty()) return false;
  size_t used = 0;
  try {
    out = std::stoll(text, &used);
  } catch (const std::exception&) {
    return false;
  }
  return used == text.size();
}

// Integers >= min from a flag (64) or a config key (78).
std::vector<int64_t> int_list(const io::Config& c, const std::string& key, const std::string& flag,
                              const std::string& value, int64_t min) {
  std::vector<int64_t> out;
  const std::string need = "expected integers >= " + std::to_string(min);
  if (!value.empty()) {
    for (const auto& item : split_list(value)) {
      int64_t v = 0;
      if (!parse_int(item, v) || v < min)
        throw UsageError(flag + ": " + need + ", found '" + item + "'");
      out.push_back(v);
    }
    if (out.empty()) throw UsageError(flag + ": " + need + ", found an empty list");
    return out;
  }
  for (double d : c.get_doubles(key)) {
    if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(min))
      c.fail(key, need + ", found " + std::to_string(d));
    out.push_back(static_cast<int64_t>(d));
  }
  if (out.empty()) c.fail(key, need + ", found an empty list");
  return out;
}

int64_t one_int(const io::Config& c, const std::string& key, const std::string& flag,
                const std::string& value, int64_t min, std::optional<int64_t> fallback) {
  if (value.empty() && fallback) return *fallback;
  const auto v = int_list(c, key, flag, value, min);
  if (v.size() != 1) {
    if (!value.empty()) throw UsageError(flag + ": expected one integer, found '" + value + "'");
    c.fail(key, "expected one integer");
  }
  return v.front();
}

std::vector<std::string> name_list(const io::Config& c, const std::string& key,
                                   const std::string& flag, const std::string& value,
                                   const std::vector<std::string>& valid, bool allow_empty) {
  const bool from_flag = !value.empty();
  std::vector<std::string> out = from_flag ? split_list(value) : c.get_strings(key);
  std::string names;
  for (const auto& v : valid) names += (names.empty() ? "" : ", ") + v;
  for (const auto& v : out)
    if (std::find(valid.begin(), valid.end(), v) == valid.end()) {
      const std::string m = "expected a list of " + names + ", found '" + v + "'";
      if (from_flag) throw UsageError(flag + ": " + m);
      c.fail(key, m);
    }
  if (out.empty() && !allow_empty) {
    if (from_flag) throw UsageError(flag + ": expected at least one of " + names);
    c.fail(key, "expected at least one of " + names);
  }
  return out;
}

Json opt_bool(const std::optional<bool>& v) { return v ? Json(*v) : Json(nullptr); }

void fill_summary(RunContext& ctx, const BenchResult& r, int64_t max_ws) {
  int64_t skipped = 0;
  for (const auto& c : r.cases)
    if (!c.skipped.empty()) ++skipped;
  const Targets t = evaluate_targets(r.cases, max_ws);
  Json targets = Json::object();
  targets.set("a", opt_bool(t.a));
  targets.set("b", opt_bool(t.b));
  targets.set("c", opt_bool(t.c));
  targets.set("d", nullptr);  // network target: `net`
  ctx.summary.set("cases", static_cast<int64_t>(r.cases.size()));
  ctx.summary.set("skipped", skipped);
  ctx.summary.set("median_overhead_vs_static", median_overhead_vs_static(r.cases));
  ctx.summary.set("best_speedup_vs_moe", best_speedup_vs_moe(r.cases));
  ctx.summary.set("targets_met", std::move(targets));
  ctx.summary.set("openblas_core", blas_core_name());
  double g = 0, bw = 0;
  int best_t = 0;
  for (const auto& m : r.machine)
    if (m.threads > best_t) best_t = m.threads, g = m.gemm_gflops, bw = m.copy_gbs;
  ctx.summary.set("gemm_gflops", g);
  ctx.summary.set("copy_gbs", bw);
  for (const auto& n : t.notes) ctx.log.info("target " + n);
}

void write_machine_provenance(io::H5File& f, const BenchResult& r) {
  f.set_attribute("/provenance", "openblas_core", blas_core_name());
  for (const auto& m : r.machine) {
    const std::string t = std::to_string(m.threads);
    f.set_attribute("/provenance", "gemm_gflops_t" + t, m.gemm_gflops);
    f.set_attribute("/provenance", "copy_gbs_t" + t, m.copy_gbs);
  }
  std::ifstream cpu("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpu, line))
    if (line.rfind("model name", 0) == 0) {
      const auto p = line.find(':');
      f.set_attribute("/provenance", "cpu_model",
                      p == std::string::npos ? line : line.substr(p + 2));
      break;
    }
}

void warn_prescott(RunContext& ctx) {
  if (blas_core_name() == "Prescott" && __builtin_cpu_supports("avx2"))
    ctx.log.warn(
        "OpenBLAS runs its SSE3 Prescott kernels on an AVX2 CPU (about 5x slower); set "
        "OPENBLAS_CORETYPE=Haswell or SkylakeX");
}

void run_bench(RunContext& ctx, const BenchFlags& f) {
  if (!ctx.options.inputs.empty()) throw UsageError("bench: takes no -i input");
  if (!ctx.options.output.empty()) io::check_output_path(ctx.options.output, ctx.options.force);
  const io::Config& c = ctx.config;
  BenchOptions o;
  o.suites = name_list(c, "bench.suite", "--suite", f.suite, suite_names(), false);
  o.strategies =
      name_list(c, "bench.strategies", "--strategies", f.strategies, bench_strategy_names(), false);
  o.peers = name_list(c, "bench.peers", "--peers", f.peers, {"openblas", "onednn"}, true);
  // --quick (spec 7): n {1, 8}, B {1, 16}, 1 thread, 5 reps, 20 ms; explicit flags still win.
  const auto q = [&](int64_t v) { return f.quick ? std::optional<int64_t>(v) : std::nullopt; };
  o.experts = f.quick && f.experts.empty()
                  ? std::vector<int64_t>{1, 8}
                  : int_list(c, "bench.experts", "--experts", f.experts, 1);
  o.batch = f.quick && f.batch.empty() ? std::vector<int64_t>{1, 16}
                                       : int_list(c, "bench.batch", "--batch", f.batch, 1);
  if (f.quick) {
    o.threads = {1};
  } else {
    o.threads.clear();
    for (int64_t t : int_list(c, "bench.threads", "", "", 1))
      o.threads.push_back(static_cast<int>(t));
  }
  o.reps = static_cast<int>(one_int(c, "bench.reps", "--reps", f.reps, 1, q(5)));
  o.warmup = static_cast<int>(one_int(c, "bench.warmup", "--warmup", f.warmup, 0, q(1)));
  if (!f.min_time_ms.empty()) {
    char* end = nullptr;
    o.min_time_ms = std::strtod(f.min_time_ms.c_str(), &end);
    if (end != f.min_time_ms.c_str() + f.min_time_ms.size() || !std::isfinite(o.min_time_ms) ||
        o.min_time_ms < 0)
      throw UsageError("--min-time-ms: expected a number >= 0, found '" + f.min_time_ms + "'");
  } else if (f.quick) {
    o.min_time_ms = 20;
  } else {
    o.min_time_ms = c.get_double("bench.min_time_ms");
    if (!std::isfinite(o.min_time_ms) || o.min_time_ms < 0)
      c.fail("bench.min_time_ms", "expected a number >= 0");
  }
  o.gemm_n = one_int(c, "bench.roofline_gemm_n", "", "", 16, std::nullopt);
  o.copy_mb = one_int(c, "bench.copy_mb", "", "", 1, std::nullopt);
  const int64_t ws_mb = c.get_int("limits.max_workspace_mb");
  if (ws_mb < 1) c.fail("limits.max_workspace_mb", "expected an integer >= 1");
  o.max_workspace_bytes = ws_mb << 20;
  o.seed = ctx.seed;
  o.shard_index = ctx.shard.index, o.shard_count = ctx.shard.count;
  warn_prescott(ctx);

  const BenchResult r = run_bench_grid(o, [&](const std::string& s) { ctx.log.debug(s); });
  if (!ctx.options.output.empty())
    io::write_hdf5_output(ctx, kSchema, [&](io::H5File& h5) {
      write_bench_results(h5, r);
      write_machine_provenance(h5, r);
    });
  fill_summary(ctx, r, o.max_workspace_bytes);
}

// `net`: the static network for a plain arch, CondConv with n experts for an alias
// (efficientnet-condconv-b0-8e: 8) or when --experts / net.experts is given explicitly.
void run_net_command(RunContext& ctx, const NetFlags& flags) {
  // The common -i/--input carries net's input kind (spec 3: `--input`): random weights only.
  NetFlags f = flags;
  if (ctx.options.inputs.size() > 1) throw UsageError("net: --input expected one value");
  if (!ctx.options.inputs.empty()) f.input = ctx.options.inputs.front();
  if (!ctx.options.output.empty()) io::check_output_path(ctx.options.output, ctx.options.force);
  const io::Config& c = ctx.config;
  NetOptions o;
  o.arch = f.arch.empty() ? c.get_string("net.arch") : f.arch;
  ArchSpec arch;
  try {
    arch = make_arch(o.arch);
  } catch (const UsageError& e) {
    if (f.arch.empty()) c.fail("net.arch", e.what());
    throw UsageError(std::string("--arch: ") + e.what());
  }
  const bool experts_given = !f.experts.empty() || c.origin("net.experts") != "defaults";
  if (experts_given)
    o.experts =
        static_cast<int>(one_int(c, "net.experts", "--experts", f.experts, 1, std::nullopt));
  else
    o.experts = arch.default_experts;
  o.batch = one_int(c, "net.batch", "--batch", f.batch, 1, std::nullopt);
  o.reps = static_cast<int>(one_int(c, "net.reps", "--reps", f.reps, 1, std::nullopt));
  o.warmup = static_cast<int>(one_int(c, "net.warmup", "", "", 0, std::nullopt));
  const std::string input = f.input.empty() ? c.get_string("net.input") : f.input;
  if (input != "gaussian") {
    const std::string m =
        "expected gaussian (camera input is not implemented for net), found '" + input + "'";
    if (!f.input.empty()) throw UsageError("--input: " + m);
    c.fail("net.input", m);
  }
  o.threads = ctx.threads;
  o.seed = ctx.seed;
  warn_prescott(ctx);
  const NetResult r = run_net(o);
  for (const auto& m : r.mismatches) ctx.log.warn("check 9: " + m);
  if (!ctx.options.output.empty())
    io::write_hdf5_output(ctx, kSchema, [&](io::H5File& h5) {
      write_net_results(h5, r);
      write_machine_provenance(h5, BenchResult{});  // openblas_core, cpu_model
      h5.set_attribute("/provenance", "ftz_daz", static_cast<int64_t>(r.ftz_daz));
      h5.set_attribute("/provenance", "latency_ms", r.latency_ms);
    });
  double mix_mac = 0, mix_time = 0;
  for (const auto& g : r.groups)
    if (g.group == "mixing") mix_mac = g.mac_share, mix_time = g.time_share;
  ctx.summary.set("arch", r.arch.name);
  ctx.summary.set("experts", static_cast<int64_t>(r.count.experts));
  ctx.summary.set("batch", r.batch);
  ctx.summary.set("latency_ms", r.latency_ms);
  ctx.summary.set("macs", r.count.totals.macs);
  ctx.summary.set("madds_tf", r.count.totals.madds_tf);
  ctx.summary.set("mixing_mac_share", mix_mac);
  ctx.summary.set("mixing_time_share", mix_time);
  ctx.summary.set("counters_match_count", r.counters_match);
  ctx.summary.set("openblas_core", blas_core_name());
  Json groups = Json::object();
  for (const auto& g : r.groups) groups.set(g.group, g.time_share);
  ctx.summary.set("time_shares", std::move(groups));
}

// --- merge of `train --shard` outputs: /results/runs and /results/curves are concatenated in
// shard order, /results/summary is recomputed as train does (mean and sample std of test_acc per
// (variant, experts, width) over the runs with a finite loss), /results/models copied.
struct Column {
  std::string name, units;
  io::ElementClass element = io::ElementClass::kOther;
  std::vector<std::string> s;
  std::vector<int64_t> i;
  std::vector<double> d;
};

std::vector<Column> read_table(const io::H5File& f, const std::string& group) {
  std::vector<Column> cols;
  for (const auto& name : f.children(group)) {
    const std::string p = group + "/" + name;
    Column c;
    c.name = name;
    c.units = f.has_attribute(p, "units") ? f.read_attribute_string(p, "units") : "1";
    c.element = f.info(p).element;
    if (c.element == io::ElementClass::kString) {
      c.s = f.read_strings(p);
    } else if (c.element == io::ElementClass::kInteger) {
      c.i = f.read_int_vector(p);
    } else {
      const Eigen::VectorXd v =
          f.info(p).shape.empty() || f.info(p).shape[0] == 0 ? Eigen::VectorXd() : f.read_vector(p);
      c.d.assign(v.data(), v.data() + v.size());
    }
    cols.push_back(std::move(c));
  }
  return cols;
}

void append_table(std::vector<Column>& all, std::vector<Column> part, const std::string& where) {
  if (all.empty()) {
    all = std::move(part);
    return;
  }
  if (all.size() != part.size())
    throw DataError(where + ": expected " + std::to_string(all.size()) + " columns, found " +
                    std::to_string(part.size()));
  for (size_t k = 0; k < all.size(); ++k) {
    if (all[k].name != part[k].name || all[k].element != part[k].element)
      throw DataError(where + "/" + part[k].name + ": column differs from the first shard's " +
                      all[k].name);
    all[k].s.insert(all[k].s.end(), part[k].s.begin(), part[k].s.end());
    all[k].i.insert(all[k].i.end(), part[k].i.begin(), part[k].i.end());
    all[k].d.insert(all[k].d.end(), part[k].d.begin(), part[k].d.end());
  }
}

void write_table(io::H5File& f, const std::string& group, const std::vector<Column>& cols) {
  f.create_group(group);
  for (const auto& c : cols) {
    const std::string p = group + "/" + c.name;
    if (c.element == io::ElementClass::kString)
      f.write_strings(p, c.s);
    else if (c.element == io::ElementClass::kInteger)
      f.write_int64(p, c.i);
    else
      f.write_vector(
          p, Eigen::Map<const Eigen::VectorXd>(c.d.data(), static_cast<Eigen::Index>(c.d.size())));
    f.set_units(p, c.units);
  }
}

const Column& column_named(const std::vector<Column>& cols, const std::string& name,
                           const std::string& where) {
  for (const auto& c : cols)
    if (c.name == name) return c;
  throw DataError(where + "/" + name + ": missing dataset");
}

void merge_train(RunContext& ctx, const std::vector<std::string>& files) {
  std::vector<Column> runs, curves;
  std::string dataset;
  for (const auto& path : files) {
    const io::H5File h5 = io::H5File::open(path);
    if (!h5.is_group("/results/runs"))
      throw DataError(path + ":/results/runs: missing (the first input is a train output)");
    append_table(runs, read_table(h5, "/results/runs"), path + ":/results/runs");
    if (h5.is_group("/results/curves"))
      append_table(curves, read_table(h5, "/results/curves"), path + ":/results/curves");
    if (dataset.empty() && h5.has_attribute("/results", "dataset"))
      dataset = h5.read_attribute_string("/results", "dataset");
  }
  const std::string w = "/results/runs";
  const auto& variant = column_named(runs, "variant", w).s;
  const auto& experts = column_named(runs, "experts", w).i;
  const auto& width = column_named(runs, "width", w).i;
  const auto& macs = column_named(runs, "macs", w).i;
  const auto& params = column_named(runs, "params", w).i;
  const auto& loss = column_named(runs, "train_loss_last", w).d;
  const auto& acc = column_named(runs, "test_acc", w).d;
  struct Row {
    std::string variant;
    int64_t experts, width, macs, params;
    std::vector<double> accs;
  };
  std::vector<Row> rows;
  int64_t diverged = 0;
  for (size_t r = 0; r < variant.size(); ++r) {
    auto it = std::find_if(rows.begin(), rows.end(), [&](const Row& x) {
      return x.variant == variant[r] && x.experts == experts[r] && x.width == width[r];
    });
    if (it == rows.end()) {
      rows.push_back({variant[r], experts[r], width[r], macs[r], params[r], {}});
      it = rows.end() - 1;
    }
    if (std::isfinite(loss[r]))
      it->accs.push_back(acc[r]);
    else
      ++diverged;
  }
  std::vector<Column> summary(8);
  const char* names[] = {"variant", "experts",       "width",        "macs",
                         "params",  "test_acc_mean", "test_acc_std", "runs"};
  const char* units[] = {"1", "1", "1", "MAC", "parameter", "1", "1", "1"};
  for (size_t k = 0; k < 8; ++k) {
    summary[k].name = names[k], summary[k].units = units[k];
    summary[k].element = k == 0               ? io::ElementClass::kString
                         : (k == 5 || k == 6) ? io::ElementClass::kFloat
                                              : io::ElementClass::kInteger;
  }
  Json jrows = Json(Json::Array{});
  for (const auto& r : rows) {
    double m = 0, sd = 0;
    for (double a : r.accs) m += a;
    if (!r.accs.empty()) m /= static_cast<double>(r.accs.size());
    if (r.accs.size() > 1) {
      for (double a : r.accs) sd += (a - m) * (a - m);
      sd = std::sqrt(sd / static_cast<double>(r.accs.size() - 1));
    }
    summary[0].s.push_back(r.variant);
    summary[1].i.push_back(r.experts), summary[2].i.push_back(r.width);
    summary[3].i.push_back(r.macs), summary[4].i.push_back(r.params);
    summary[5].d.push_back(m), summary[6].d.push_back(sd);
    summary[7].i.push_back(static_cast<int64_t>(r.accs.size()));
    Json j = Json::object();
    j.set("variant", r.variant);
    j.set("experts", r.experts);
    j.set("width", r.width);
    j.set("macs", r.macs);
    j.set("params", r.params);
    j.set("test_acc_mean", m);
    j.set("test_acc_std", sd);
    jrows.push_back(std::move(j));
  }
  // Keep train's column order for /results/summary (HDF5 lists children sorted; order of
  // creation does not matter for readers).
  io::write_hdf5_output(ctx, kSchema, [&](io::H5File& h5) {
    write_table(h5, "/results/runs", runs);
    write_table(h5, "/results/summary", summary);
    if (!curves.empty()) write_table(h5, "/results/curves", curves);
    h5.create_group("/results/models");
    if (!dataset.empty()) h5.set_attribute("/results", "dataset", dataset);
    for (const auto& path : files) {
      const io::H5File src = io::H5File::open(path);
      if (!src.is_group("/results/models")) continue;
      for (const auto& m : src.children("/results/models"))
        io::copy_object(src, "/results/models/" + m, h5, "/results/models/" + m);
    }
    h5.set_attribute("/provenance", "merged_from", files);
  });
  ctx.summary.set("dataset", dataset);
  ctx.summary.set("runs", static_cast<int64_t>(variant.size()));
  ctx.summary.set("diverged_runs", diverged);
  ctx.summary.set("rows", std::move(jrows));
  ctx.summary.set("inputs", static_cast<int64_t>(files.size()));
}

// Joins bench shards (/results/cases) in the order given; ratios are recomputed over the whole
// table so the result is what one unsharded run writes.
void run_merge(RunContext& ctx, const MergeFlags& f) {
  std::vector<std::string> files = ctx.options.inputs;
  files.insert(files.end(), f.files.begin(), f.files.end());
  if (files.empty()) throw UsageError("merge: expected input files (merge -o OUT IN...)");
  if (ctx.options.output.empty()) throw UsageError("merge: -o OUT is required");
  io::check_output_path(ctx.options.output, ctx.options.force);
  {
    const io::H5File first = io::H5File::open(files.front());
    if (first.is_group("/results/runs")) return merge_train(ctx, files);
  }
  BenchResult all;
  std::map<int, MachineRow> machine;
  for (const auto& path : files) {
    const io::H5File h5 = io::H5File::open(path);
    if (!h5.is_group("/results/cases"))
      throw DataError(path +
                      ":/results/cases: missing (merge joins `bench` or `train` shard "
                      "outputs: /results/cases or /results/runs)");
    BenchResult r = read_bench_results(h5);
    for (auto& c : r.cases) all.cases.push_back(std::move(c));
    for (const auto& m : r.machine) machine.emplace(m.threads, m);
  }
  for (const auto& [t, m] : machine) all.machine.push_back(m);
  compute_ratios(all.cases);
  const int64_t ws = ctx.config.get_int("limits.max_workspace_mb") << 20;
  io::write_hdf5_output(ctx, kSchema, [&](io::H5File& h5) {
    write_bench_results(h5, all);
    write_machine_provenance(h5, all);
    h5.set_attribute("/provenance", "merged_from", files);
  });
  fill_summary(ctx, all, ws);
  ctx.summary.set("inputs", static_cast<int64_t>(files.size()));
}

}  // namespace

void register_bench(Tool& tool) {
  static BenchFlags bf;
  CLI::App* b = tool.add_command(
      "bench", "Latency grid of CondConv strategies vs static, MoE and the physical bound",
      "Examples:\n"
      "  condconv-bench bench --quick -o quick.h5\n"
      "  condconv-bench bench -c configs/condconv-bench/bench.yaml -o grid.h5\n"
      "  condconv-bench bench --suite mobilenet-v1-tail --experts 8 --batch 1,16 --shard 0/4 -o "
      "s0.h5",
      [](RunContext& ctx) { run_bench(ctx, bf); });
  b->add_option("--suite", bf.suite, "Layer suites: efficientnet-b0-cc,mobilenet-v1-tail");
  b->add_option("--experts", bf.experts, "Expert counts, comma list (>= 1)");
  b->add_option("--batch", bf.batch, "Batch sizes, comma list (>= 1)");
  b->add_option("--strategies", bf.strategies,
                "static,static-equal-mac,per-example,grouped,moe-concat,moe-loop,auto");
  b->add_option("--peers", bf.peers, "Peers: openblas (bare sgemm), onednn (if built)");
  b->add_option("--reps", bf.reps, "Timed repetitions per cell (>= 1)");
  b->add_option("--warmup", bf.warmup, "Warm-up calls per cell (>= 0)");
  b->add_option("--min-time-ms", bf.min_time_ms, "Minimum timed work per cell, ms");
  b->add_flag("--quick", bf.quick, "Smoke run: n 1,8; B 1,16; 1 thread; 5 reps; 20 ms");

  static NetFlags nf;
  CLI::App* n = tool.add_command(
      "net", "Full EfficientNet / CondConv-EfficientNet forward: counters and latency split",
      "Examples:\n"
      "  condconv-bench net --arch efficientnet-b0 --batch 1 -o b0.h5\n"
      "  condconv-bench net --arch efficientnet-condconv-b0-8e --batch 8 -o b0-8e.h5\n"
      "  condconv-bench net --arch efficientnet-b0 --experts 4 --reps 5",
      [](RunContext& ctx) { run_net_command(ctx, nf); });
  n->add_option("--arch", nf.arch,
                "efficientnet-b0..b3 or efficientnet-condconv-b0-4e|-8e|-8e-depth");
  n->add_option("--experts", nf.experts,
                "Experts (>= 1) in the official placement; default: "
                "the alias's own, static for a plain arch");
  n->add_option("--batch", nf.batch, "Batch size (>= 1)");
  n->add_option("--reps", nf.reps, "Timed forwards (>= 1)");

  static MergeFlags mf;
  CLI::App* m =
      tool.add_command("merge", "Join the outputs of --shard runs into what one run writes",
                       "Examples:\n"
                       "  condconv-bench merge -o grid.h5 s0.h5 s1.h5 s2.h5 s3.h5\n"
                       "  condconv-bench merge -o grid.h5 -i s0.h5 -i s1.h5",
                       [](RunContext& ctx) { run_merge(ctx, mf); });
  m->add_option("files", mf.files, "Shard outputs in shard order");
}

}  // namespace effinfer::condconv
