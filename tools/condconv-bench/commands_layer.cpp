// The `gen` and `layer` subcommands of condconv-bench (spec condconv-bench sections 3, 4, 6).
// Flags are sugar for config keys; a range error is a usage error (64) when the value came from
// a flag and a config error (78) when it came from YAML or --set.
#include <cmath>
#include <set>

#include "commands.hpp"
#include "condconv_kernels.hpp"
#include "core/blas.hpp"
#include "core/error.hpp"
#include "core/system.hpp"
#include "gen.hpp"
#include "io/atomic_output.hpp"
#include "io/provenance.hpp"
#include "layer_io.hpp"

namespace effinfer::condconv {
namespace {

constexpr const char* kSchema = "condconv-bench/1";

struct GenFlags {
  std::string kind, padding, hw, dtype;
  int64_t kernel = 0, stride = 0, cin = 0, cout = 0, batch = 0, experts = 0;
  bool expert_bias = false;
  CLI::App* app = nullptr;
};

struct LayerFlags {
  std::string strategy, routing;
  bool verify = false, dump_kernels = false;
};

// Keys set from flags (range errors there are usage errors, exit 64).
class Keys {
 public:
  explicit Keys(RunContext& ctx) : ctx_(ctx) {}
  void flag(const std::string& key, const std::string& flag, const std::string& yaml_value) {
    ctx_.config.set(key + "=" + yaml_value);
    flags_[key] = flag;
  }
  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    auto it = flags_.find(key);
    if (it != flags_.end()) throw UsageError(it->second + " (" + key + "): " + message);
    ctx_.config.fail(key, message);
  }
  int64_t get_int(const std::string& key, int64_t min, const std::string& what = "") const {
    const int64_t v = ctx_.config.get_int(key);
    if (v < min)
      fail(key, "expected " + (what.empty() ? "" : what + ", i.e. ") +
                    "an integer >= " + std::to_string(min) + ", found " + std::to_string(v));
    return v;
  }
  std::string get_choice(const std::string& key, const std::set<std::string>& allowed) const {
    const std::string v = ctx_.config.get_string(key);
    if (!allowed.count(v)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(key, "expected one of " + list + ", found '" + v + "'");
    }
    return v;
  }

 private:
  RunContext& ctx_;
  std::map<std::string, std::string> flags_;
};

void set_int_flag(Keys& keys, CLI::App* app, const char* flag, const std::string& key,
                  int64_t value) {
  if (app->count(flag) > 0) keys.flag(key, flag, std::to_string(value));
}

void set_string_flag(Keys& keys, const char* flag, const std::string& key,
                     const std::string& value) {
  if (!value.empty()) keys.flag(key, flag, "\"" + value + "\"");
}

// --hw H or H,W -> [H, W].
std::string hw_yaml(const std::string& value) {
  const auto comma = value.find(',');
  auto parse = [&](const std::string& t) {
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(t, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != t.size() || t.empty())
      throw UsageError("--hw: expected H or H,W (integers), found '" + value + "'");
    return std::to_string(v);
  };
  if (comma == std::string::npos) return "[" + parse(value) + ", " + parse(value) + "]";
  return "[" + parse(value.substr(0, comma)) + ", " + parse(value.substr(comma + 1)) + "]";
}

void run_gen(RunContext& ctx, const GenFlags& f) {
  if (ctx.options.output.empty()) throw UsageError("gen: -o/--output is required");
  // gen reads no file: the common -i/--input carries gen.input (gaussian | camera), the
  // spelling of spec section 3.
  if (ctx.options.inputs.size() > 1)
    throw UsageError("gen: --input: expected one of gaussian, camera, found several values");
  Keys keys(ctx);
  CLI::App* app = f.app;
  set_string_flag(keys, "--kind", "gen.kind", f.kind);
  set_int_flag(keys, app, "--kernel", "gen.kernel", f.kernel);
  set_int_flag(keys, app, "--stride", "gen.stride", f.stride);
  set_string_flag(keys, "--padding", "gen.padding", f.padding);
  set_int_flag(keys, app, "--cin", "gen.cin", f.cin);
  set_int_flag(keys, app, "--cout", "gen.cout", f.cout);
  if (!f.hw.empty()) keys.flag("gen.hw", "--hw", hw_yaml(f.hw));
  set_int_flag(keys, app, "--batch", "gen.batch", f.batch);
  set_int_flag(keys, app, "--experts", "gen.experts", f.experts);
  if (f.expert_bias) keys.flag("gen.expert_bias", "--expert-bias", "true");
  set_string_flag(keys, "--dtype", "gen.dtype", f.dtype);
  if (!ctx.options.inputs.empty())
    set_string_flag(keys, "--input", "gen.input", ctx.options.inputs.front());

  const io::Config& c = ctx.config;
  GenOptions o;
  LayerShape& s = o.shape;
  const std::string kind = keys.get_choice("gen.kind", {"conv", "depthwise", "fc"});
  s.kind = kind == "conv" ? Kind::kConv : kind == "depthwise" ? Kind::kDepthwise : Kind::kFc;
  s.kh = s.kw = keys.get_int("gen.kernel", 1);
  s.stride = keys.get_int("gen.stride", 1);
  s.padding = keys.get_choice("gen.padding", {"same", "valid"}) == "same" ? Padding::kSame
                                                                          : Padding::kValid;
  s.cin = keys.get_int("gen.cin", 1);
  s.cout = keys.get_int("gen.cout", 1);
  const std::vector<double> hw = c.get_doubles("gen.hw");
  if (hw.empty() || hw.size() > 2) keys.fail("gen.hw", "expected [H, W] or H");
  for (double v : hw)
    if (!(v >= 1) || v != std::floor(v))
      keys.fail("gen.hw", "expected integers >= 1, found " + std::to_string(v));
  s.h = static_cast<int64_t>(hw[0]);
  s.w = static_cast<int64_t>(hw.size() == 2 ? hw[1] : hw[0]);
  o.batch = keys.get_int("gen.batch", 1);
  s.experts = keys.get_int("gen.experts", 1, "at least one expert");
  s.expert_bias = c.get_bool("gen.expert_bias");
  o.f64 = keys.get_choice("gen.dtype", {"float32", "float64"}) == "float64";
  o.input = keys.get_choice("gen.input", {"gaussian", "camera"});
  if (s.kind != Kind::kFc && s.padding == Padding::kValid && (s.kh > s.h || s.kh > s.w))
    keys.fail("gen.kernel", "VALID padding with kernel " + std::to_string(s.kh) +
                                " larger than the input " + std::to_string(s.h) + "x" +
                                std::to_string(s.w) + " gives an empty output");
  io::check_output_path(ctx.options.output, ctx.options.force);

  const LayerInput in = generate_layer(o, ctx.seed);
  io::write_hdf5_output(ctx, kSchema, [&](io::H5File& file) {
    file.set_attribute("/", "content", "layer_input");
    write_layer_input(file, in);
  });
  const LayerShape& g = in.shape;
  ctx.summary.set("kind", kind_name(g.kind));
  ctx.summary.set("batch", static_cast<long long>(in.batch));
  ctx.summary.set("experts", static_cast<long long>(g.experts));
  ctx.summary.set("h", static_cast<long long>(g.h));
  ctx.summary.set("w", static_cast<long long>(g.w));
  ctx.summary.set("c_in", static_cast<long long>(g.cin));
  ctx.summary.set("c_out", static_cast<long long>(g.cout));
  ctx.summary.set("kernel", static_cast<long long>(g.kh));
  ctx.summary.set("stride", static_cast<long long>(g.stride));
  ctx.summary.set("padding", padding_name(g.padding));
  ctx.summary.set("expert_bias", g.expert_bias);
  ctx.summary.set("dtype", in.f64 ? "float64" : "float32");
  ctx.summary.set("input", o.input);
  ctx.summary.set("k", static_cast<long long>(g.k()));
}

void write_scalar(io::H5File& f, const std::string& path, hid_t file_type, hid_t mem_type,
                  const void* value, const std::string& units) {
  const auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) f.create_group(path.substr(0, slash));
  io::H5Id space(H5Screate(H5S_SCALAR));
  io::H5Id ds(H5Dcreate2(f.id(), path.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT));
  if (!ds.valid() || H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, value) < 0)
    throw WriteError(f.path() + ":" + path + ": cannot write dataset");
  f.set_units(path, units);
}

struct LayerRun {
  Strategy strategy = Strategy::kPerExample;
  int64_t chunk = 0, workspace = 0;
  double time_ms = 0;
  std::vector<double> y, alpha, mixed;
  double rel_ref = 0, rel_moe = 0;
};

template <class T>
LayerRun run_layer_typed(const LayerInput& in, Strategy strategy, bool given, bool verify,
                         bool dump, int threads, int64_t max_bytes) {
  const LayerShape& s = in.shape;
  const int64_t batch = in.batch, n = s.experts;
  const std::vector<T> x(in.x.begin(), in.x.end()), e(in.experts.begin(), in.experts.end());
  const std::vector<T> eb(in.expert_bias.begin(), in.expert_bias.end());
  const std::vector<T> rk(in.routing_kernel.begin(), in.routing_kernel.end());
  const std::vector<T> rb(in.routing_bias.begin(), in.routing_bias.end());
  LayerWeights<T> w;
  w.experts = e.data();
  w.expert_bias = s.expert_bias ? eb.data() : nullptr;
  w.routing_kernel = in.has_routing ? rk.data() : nullptr;
  w.routing_bias = in.has_routing ? rb.data() : nullptr;
  // `static` runs expert 0 (and its bias) as the one kernel of the baseline.
  LayerShape shape = s;
  if (strategy == Strategy::kStatic) shape.experts = 1;
  CondConvExecutor<T> ex(shape, batch, strategy, threads, max_bytes);
  ex.bind(w);
  std::vector<T> alpha(batch * n), y(batch * s.out_size());
  if (given) alpha.assign(in.routing_weights.begin(), in.routing_weights.end());
  LayerRun r;
  const double t0 = wall_seconds();
  if (!given) compute_routing<T>(s, batch, x.data(), rk.data(), rb.data(), alpha.data());
  ex.forward(x.data(), alpha.data(), y.data());
  r.time_ms = (wall_seconds() - t0) * 1e3;
  r.strategy = ex.strategy();
  r.chunk = ex.chunk();
  r.workspace = ex.workspace_bytes();
  r.y.assign(y.begin(), y.end());
  r.alpha.assign(alpha.begin(), alpha.end());
  if (dump) {
    std::vector<T> mixed(batch * s.k());
    mix_kernels<T>(s, batch, alpha.data(), e.data(), mixed.data(), threads);
    r.mixed.assign(mixed.begin(), mixed.end());
  }
  if (verify) {
    std::vector<T> alpha_used = alpha;
    if (strategy == Strategy::kStatic) alpha_used.assign(batch, T(1));
    std::vector<double> ref(y.size());
    reference_forward<T>(shape, batch, x.data(), alpha_used.data(), w, ref.data());
    r.rel_ref = rel_l2(y.data(), ref.data(), static_cast<int64_t>(y.size()));
    // The MoE form (n convolutions + weighted sum) in the same precision.
    const Strategy other =
        r.strategy == Strategy::kMoeLoop ? Strategy::kPerExample : Strategy::kMoeLoop;
    CondConvExecutor<T> moe(shape, batch, other, threads, int64_t{1} << 62);
    moe.bind(w);
    std::vector<T> ym(y.size());
    moe.forward(x.data(), alpha_used.data(), ym.data());
    std::vector<double> ymd(ym.begin(), ym.end());
    r.rel_moe = rel_l2(y.data(), ymd.data(), static_cast<int64_t>(y.size()));
  }
  return r;
}

void run_layer(RunContext& ctx, const LayerFlags& f) {
  if (ctx.options.inputs.size() != 1) throw UsageError("layer: expected one -i layer input file");
  Keys keys(ctx);
  set_string_flag(keys, "--strategy", "layer.strategy", f.strategy);
  set_string_flag(keys, "--routing", "layer.routing", f.routing);
  if (f.dump_kernels) keys.flag("layer.dump_kernels", "--dump-kernels", "true");
  const io::Config& c = ctx.config;
  Strategy strategy;
  try {
    strategy = parse_strategy(c.get_string("layer.strategy"));
  } catch (const UsageError& e) {
    std::string msg = e.what();
    keys.fail("layer.strategy", msg.substr(msg.find(':') + 2));
  }
  const bool given = keys.get_choice("layer.routing", {"input", "given"}) == "given";
  const bool dump = c.get_bool("layer.dump_kernels");
  const double tol32 = c.get_double("numerics.rel_l2_tol_f32");
  const double tol64 = c.get_double("numerics.rel_l2_tol_f64");
  if (!(tol32 >= 0)) keys.fail("numerics.rel_l2_tol_f32", "expected a number >= 0");
  if (!(tol64 >= 0)) keys.fail("numerics.rel_l2_tol_f64", "expected a number >= 0");
  const double mb = c.get_double("limits.max_workspace_mb");
  if (!(mb > 0) || !std::isfinite(mb))
    keys.fail("limits.max_workspace_mb", "expected a number > 0");
  const int64_t max_bytes = static_cast<int64_t>(mb * 1024 * 1024);
  if (!ctx.options.output.empty()) io::check_output_path(ctx.options.output, ctx.options.force);

  const LayerInput in = read_layer_input(ctx.options.inputs.front(), !given, given);
  const LayerShape& s = in.shape;
  const LayerRun r =
      in.f64 ? run_layer_typed<double>(in, strategy, given, f.verify, dump, ctx.threads, max_bytes)
             : run_layer_typed<float>(in, strategy, given, f.verify, dump, ctx.threads, max_bytes);
  const double tol = in.f64 ? tol64 : tol32;
  const bool verify_ok = r.rel_ref <= tol && r.rel_moe <= tol;
  const int64_t B = in.batch;
  const bool is_static = r.strategy == Strategy::kStatic;
  const int64_t macs = B * s.macs();
  const int64_t macs_mix = is_static ? 0 : B * s.macs_mix();
  const int64_t macs_route = is_static || given ? 0 : B * s.macs_route();
  const int64_t macs_moe = B * s.macs_moe();
  const bool calibrated = strategy == Strategy::kAuto;
  if (!ctx.options.output.empty())
    io::write_hdf5_output(ctx, kSchema, [&](io::H5File& file) {
      file.set_attribute("/", "content", "layer");
      file.create_group("/results");
      write_float_dataset(file, "/results/y", r.y, y_shape(s, B), in.f64, "1");
      write_float_dataset(file, "/results/routing_weights", r.alpha,
                          {uint64_t(B), uint64_t(s.experts)}, in.f64, "1");
      if (dump)
        write_float_dataset(file, "/results/mixed_kernels", r.mixed, {uint64_t(B), uint64_t(s.k())},
                            in.f64, "1");
      const int64_t m[4] = {macs, macs_mix, macs_route, macs_moe};
      const char* names[4] = {"conv", "mix", "route", "moe"};
      for (int i = 0; i < 4; ++i)
        write_scalar(file, std::string("/results/macs/") + names[i], H5T_STD_I64LE,
                     H5T_NATIVE_INT64, &m[i], "MAC");
      if (f.verify) {
        write_scalar(file, "/results/verify/rel_l2_ref", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                     &r.rel_ref, "1");
        write_scalar(file, "/results/verify/rel_l2_moe", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                     &r.rel_moe, "1");
      }
      file.set_attribute("/results", "strategy", strategy_name(r.strategy));
      file.set_attribute("/results", "chunk", static_cast<int64_t>(r.chunk));
      file.set_attribute("/results", "kind", kind_name(s.kind));
      // Volatile facts: timing, machine rates, workspace.
      file.set_attribute("/provenance", "time_ms", r.time_ms);
      file.set_attribute("/provenance", "workspace_bytes", static_cast<int64_t>(r.workspace));
      file.set_attribute("/provenance", "openblas_core", blas_core_name());
      if (calibrated) {
        const MachineRates& mr = calibrated_rates(ctx.threads);
        file.set_attribute("/provenance", "gemm_gflops", mr.gemm_gflops);
        file.set_attribute("/provenance", "gemm_gflops_1thread", mr.gemm_gflops_1);
        file.set_attribute("/provenance", "copy_gbs", mr.copy_gbs);
        file.set_attribute("/provenance", "calibration_ms", mr.calib_ms);
      }
    });
  ctx.summary.set("strategy", strategy_name(r.strategy));
  ctx.summary.set("kind", kind_name(s.kind));
  ctx.summary.set("batch", static_cast<long long>(B));
  ctx.summary.set("experts", static_cast<long long>(s.experts));
  ctx.summary.set("chunk", static_cast<long long>(r.chunk));
  ctx.summary.set("dtype", in.f64 ? "float64" : "float32");
  ctx.summary.set("macs", static_cast<long long>(macs));
  ctx.summary.set("macs_mix", static_cast<long long>(macs_mix));
  ctx.summary.set("macs_moe", static_cast<long long>(macs_moe));
  ctx.summary.set("time_ms", r.time_ms);
  if (f.verify) {
    ctx.summary.set("verify_ok", verify_ok);
    ctx.summary.set("rel_l2_ref", r.rel_ref);
    ctx.summary.set("rel_l2_moe", r.rel_moe);
    if (!verify_ok)
      ctx.check_failure = "--verify: rel-L2 " + std::to_string(std::max(r.rel_ref, r.rel_moe)) +
                          " above the tolerance " + std::to_string(tol);
  }
}

}  // namespace

void register_layer(Tool& tool) {
  static GenFlags gen;
  static LayerFlags layer;
  auto* g = tool.add_command(
      "gen", "Write a synthetic, seeded CondConv layer input (spec section 4)",
      "-i/--input takes gaussian | camera here (gen.input).\nExamples:\n"
      "  condconv-bench gen --seed 7 -o layer.h5\n"
      "  condconv-bench gen --kind depthwise --kernel 5 --stride 2 --cin 240 --hw 14 -o dw.h5\n"
      "  condconv-bench gen --kind fc --cin 1024 --cout 1000 --expert-bias --input camera -o fc.h5",
      [](RunContext& ctx) { run_gen(ctx, gen); });
  gen.app = g;
  g->add_option("--kind", gen.kind, "conv | depthwise | fc (gen.kind)");
  g->add_option("--kernel", gen.kernel, "Kernel size k (k x k) (gen.kernel)");
  g->add_option("--stride", gen.stride, "Stride (gen.stride)");
  g->add_option("--padding", gen.padding, "same | valid, TF convention (gen.padding)");
  g->add_option("--cin", gen.cin, "Input channels (gen.cin; depthwise: C)");
  g->add_option("--cout", gen.cout, "Output channels (gen.cout; ignored for depthwise)");
  g->add_option("--hw", gen.hw, "Input size H or H,W (gen.hw)");
  g->add_option("--batch", gen.batch, "Batch size B (gen.batch)");
  g->add_option("--experts", gen.experts, "Number of experts n >= 1 (gen.experts)");
  g->add_flag("--expert-bias", gen.expert_bias, "Add expert biases N(0, 0.1^2) (gen.expert_bias)");
  g->add_option("--dtype", gen.dtype, "float32 | float64 (gen.dtype)");

  auto* l = tool.add_command(
      "layer", "One CondConv forward of a layer input (-i) with a chosen strategy",
      "Examples:\n  condconv-bench layer -i layer.h5 -o y.h5\n"
      "  condconv-bench layer -i layer.h5 --strategy moe-concat --verify -t 2 -o y.h5\n"
      "  condconv-bench layer -i layer.h5 --routing given --dump-kernels -o y.h5",
      [](RunContext& ctx) { run_layer(ctx, layer); });
  l->add_option("--strategy", layer.strategy,
                "per-example | grouped | moe-concat | moe-loop | static | auto (layer.strategy)");
  l->add_option("--routing", layer.routing,
                "input (GAP -> Dense -> sigmoid) | given (/routing_weights) (layer.routing)");
  l->add_flag("--verify", layer.verify,
              "Compare with a float64 direct convolution and the MoE form; exit 1 above "
              "numerics.rel_l2_tol_f32 / _f64");
  l->add_flag("--dump-kernels", layer.dump_kernels,
              "Write the mixed kernels /results/mixed_kernels [B,K] (layer.dump_kernels)");
}

}  // namespace effinfer::condconv
