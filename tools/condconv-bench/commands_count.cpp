// `count`: exact MACs, madds_tf and parameters of a built-in architecture with CondConv placed as
// asked (spec condconv-bench 2.3, 2.5, 2.6, 3). Flags override the `count:` config keys; a bad
// value is a usage error (64) from a flag and a config error (78) from YAML or --set.
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "arch.hpp"
#include "commands.hpp"
#include "core/error.hpp"
#include "count.hpp"
#include "io/atomic_output.hpp"
#include "io/provenance.hpp"

namespace effinfer::condconv {
namespace {

constexpr const char* kSchema = "condconv-bench/1";

struct CountFlags {
  std::string arch, experts, placement, width, depth, resolution, fc_condconv;
  std::string expect_macs, expect_madds, expect_params, expect_tol;
  bool list_archs = false;
};

// Where a value came from, so a range error maps to 64 (flag) or 78 (YAML / --set).
struct Source {
  std::string key;   // config key, e.g. count.experts
  std::string flag;  // e.g. --experts
  bool from_flag = false;
};

[[noreturn]] void fail_value(const io::Config& c, const Source& s, const std::string& message) {
  if (s.from_flag) throw UsageError(s.flag + ": " + message);
  c.fail(s.key, message);
}

std::string quoted(const std::string& v) { return "'" + v + "'"; }

bool parse_double(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  out = std::strtod(text.c_str(), &end);
  return errno == 0 && end == text.c_str() + text.size() && std::isfinite(out);
}

bool parse_int(const std::string& text, int64_t& out) {
  double d = 0;
  if (!parse_double(text, d) || d != std::floor(d) || std::fabs(d) > 9.0e15) return false;
  out = static_cast<int64_t>(d);
  return true;
}

// Integers print exactly; other values with the digits needed to read them back.
std::string number(double v) {
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 9.0e15)
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  else
    std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

struct Resolved {
  std::string arch;
  ArchOverrides overrides;
  CountOptions options;
  Source arch_src, width_src, depth_src, resolution_src, experts_src, placement_src;
};

Resolved resolve(const RunContext& ctx, const CountFlags& f) {
  const io::Config& c = ctx.config;
  Resolved r;
  auto source = [&](const std::string& key, const std::string& flag, const std::string& value) {
    return Source{"count." + key, flag, !value.empty()};
  };
  r.arch_src = source("arch", "--arch", f.arch);
  r.arch = f.arch.empty() ? c.get_string("count.arch") : f.arch;

  // width / depth (numbers), resolution (integer): null = the architecture's own value.
  auto number_key = [&](const std::string& key, const std::string& flag, const std::string& value,
                        Source& src, bool integer) -> std::optional<double> {
    src = source(key, flag, value);
    if (!value.empty()) {
      double v = 0;
      if (!parse_double(value, v) || (integer && v != std::floor(v)))
        fail_value(c, src,
                   std::string("expected ") + (integer ? "an integer" : "a number") + ", found " +
                       quoted(value));
      return v;
    }
    if (c.is_null(src.key)) return std::nullopt;
    if (integer) return static_cast<double>(c.get_int(src.key));
    const double v = c.get_double(src.key);
    if (!std::isfinite(v)) c.fail(src.key, "expected a finite number");
    return v;
  };
  r.overrides.width = number_key("width", "--width", f.width, r.width_src, false);
  r.overrides.depth = number_key("depth", "--depth", f.depth, r.depth_src, false);
  if (auto res = number_key("resolution", "--resolution", f.resolution, r.resolution_src, true)) {
    if (*res < 1 || *res > 8192)
      fail_value(c, r.resolution_src, "expected an integer in 1..8192, found " + number(*res));
    r.overrides.resolution = static_cast<int>(*res);
  }

  // experts: left at its default, an alias supplies its own (efficientnet-condconv-b0-8e: 8).
  r.experts_src = source("experts", "--experts", f.experts);
  int64_t n = 0;
  if (!f.experts.empty()) {
    if (!parse_int(f.experts, n))
      fail_value(c, r.experts_src, "expected an integer >= 0, found " + quoted(f.experts));
    r.options.experts = static_cast<int>(std::clamp<int64_t>(n, -1, 1 << 30));
  } else if (c.origin("count.experts") != "defaults") {
    n = c.get_int("count.experts");
    r.options.experts = static_cast<int>(std::clamp<int64_t>(n, -1, 1 << 30));
  }
  if (r.options.experts && *r.options.experts < 0)
    fail_value(c, r.experts_src,
               "expected an integer >= 0 (0 = static), found " + std::to_string(n));

  r.placement_src = source("placement", "--placement", f.placement);
  r.options.placement = f.placement.empty() ? c.get_string("count.placement") : f.placement;

  if (!f.fc_condconv.empty()) {
    if (f.fc_condconv != "on" && f.fc_condconv != "off")
      throw UsageError("--fc-condconv: expected on or off, found " + quoted(f.fc_condconv));
    r.options.fc_condconv = f.fc_condconv == "on";
  } else if (!c.is_null("count.fc_condconv")) {
    r.options.fc_condconv = c.get_bool("count.fc_condconv");
  }
  if (!c.is_null("count.expert_bias")) r.options.expert_bias = c.get_bool("count.expert_bias");
  return r;
}

// The library reports a bad value as UsageError("<key>: ..."); name the flag or the config key.
[[noreturn]] void rethrow_keyed(const io::Config& c, const Resolved& r, const UsageError& e) {
  const std::string m = e.what();
  auto starts = [&](const char* p) { return m.rfind(p, 0) == 0; };
  const Source* s = &r.arch_src;
  std::string rest = m;
  if (starts("width: "))
    s = &r.width_src, rest = m.substr(7);
  else if (starts("depth: "))
    s = &r.depth_src, rest = m.substr(7);
  else if (starts("resolution: "))
    s = &r.resolution_src, rest = m.substr(12);
  else if (starts("experts: "))
    s = &r.experts_src, rest = m.substr(9);
  else if (starts("placement "))
    s = &r.placement_src;
  fail_value(c, *s, rest);
}

struct Expectation {
  const char* flag;
  const char* what;
  double found;
  std::string text;
};

void run_count(RunContext& ctx, const CountFlags& f) {
  const io::Config& c = ctx.config;
  if (f.list_archs) {
    Json names = Json(Json::Array{});
    for (const auto& name : arch_names()) {
      std::cout << name << "\t" << arch_description(name) << "\n";
      names.push_back(name);
    }
    ctx.summary.set("archs", std::move(names));
    return;
  }
  if (!ctx.options.inputs.empty()) throw UsageError("count: takes no -i input");
  if (!ctx.options.output.empty()) io::check_output_path(ctx.options.output, ctx.options.force);

  double tol = 0.005;
  if (!f.expect_tol.empty() && (!parse_double(f.expect_tol, tol) || tol < 0))
    throw UsageError("--expect-tol: expected a relative tolerance >= 0, found " +
                     quoted(f.expect_tol));
  std::vector<Expectation> expects;
  for (const auto& [flag, what, text] :
       {std::tuple<const char*, const char*, std::string>{"--expect-macs", "macs", f.expect_macs},
        {"--expect-madds", "madds_tf", f.expect_madds},
        {"--expect-params", "params", f.expect_params}}) {
    if (text.empty()) continue;
    double v = 0;
    if (!parse_double(text, v) || v < 0)
      throw UsageError(std::string(flag) + ": expected a number >= 0, found " + quoted(text));
    expects.push_back({flag, what, v, text});
  }

  const Resolved r = resolve(ctx, f);
  ArchSpec arch;
  CountResult result;
  try {
    arch = make_arch(r.arch, r.overrides);
    result = count_network(arch, r.options);
  } catch (const UsageError& e) {
    rethrow_keyed(c, r, e);
  }
  const CountTotals& t = result.totals;
  ctx.log.info(arch.name + " (" + result.placement + ", " + std::to_string(result.experts) +
               " experts): macs " + std::to_string(t.macs) + ", madds_tf " + number(t.madds_tf) +
               ", params " + std::to_string(t.params));

  if (!ctx.options.output.empty())
    io::write_hdf5_output(ctx, kSchema,
                          [&](io::H5File& file) { write_count_results(file, arch, result); });

  Json& s = ctx.summary;
  s.set("arch", arch.name);
  s.set("experts", result.experts);
  s.set("placement", result.placement);
  s.set("placement_verified", result.placement_verified);
  s.set("width", arch.width);
  s.set("depth", arch.depth);
  s.set("resolution", arch.resolution);
  s.set("macs", static_cast<long long>(t.macs));
  s.set("macs_mix", static_cast<long long>(t.macs_mix));
  s.set("macs_route", static_cast<long long>(t.macs_route));
  s.set("madds_tf", t.madds_tf);
  s.set("params", static_cast<long long>(t.params));
  if (expects.empty()) return;

  // --expect-*: relative |found - expected| <= tol * |expected| (tol 0: exact).
  std::string failures;
  for (const Expectation& e : expects) {
    const double found = std::string(e.what) == "macs"       ? static_cast<double>(t.macs)
                         : std::string(e.what) == "madds_tf" ? t.madds_tf
                                                             : static_cast<double>(t.params);
    const double diff = std::fabs(found - e.found);
    if (diff <= tol * std::fabs(e.found)) continue;
    char rel[64];
    std::snprintf(rel, sizeof rel, "%.3g", e.found != 0 ? diff / std::fabs(e.found) : INFINITY);
    failures += std::string(failures.empty() ? "" : "; ") + e.flag + ": " + e.what + " expected " +
                number(e.found) + ", found " + number(found) + " (relative difference " + rel +
                " > --expect-tol " + number(tol) + ")";
  }
  s.set("expect_ok", failures.empty());
  if (!failures.empty()) ctx.check_failure = failures;
}

}  // namespace

void register_count(Tool& tool) {
  static CountFlags flags;
  CLI::App* cmd = tool.add_command(
      "count", "Exact MACs, madds_tf (TF-profiler convention) and parameters per layer and total",
      "Examples:\n"
      "  condconv-bench count --arch efficientnet-condconv-b0-8e\n"
      "  condconv-bench count --arch mobilenet-v1 --width 0.5 --experts 32 -o mbv1.h5\n"
      "  condconv-bench count --arch efficientnet-b0 --expect-madds 391341824 --expect-tol 0",
      [](RunContext& ctx) { run_count(ctx, flags); });
  cmd->add_option("--arch", flags.arch, "Architecture (count.arch); see --list-archs");
  cmd->add_option("--experts", flags.experts, "Experts n, 0 = static (count.experts)");
  cmd->add_option("--placement", flags.placement,
                  "official | none | all | stages:A-B | layers:N1,N2 (count.placement)");
  cmd->add_option("--width", flags.width,
                  "Width multiplier; fmnist-s: conv3/conv4 channels (count.width)");
  cmd->add_option("--depth", flags.depth, "Depth multiplier (count.depth)");
  cmd->add_option("--resolution", flags.resolution, "Input resolution (count.resolution)");
  cmd->add_option("--fc-condconv", flags.fc_condconv,
                  "on | off: classifier as CondConv FC (count.fc_condconv)");
  cmd->add_option("--expect-macs", flags.expect_macs, "Exit 1 unless total MACs match");
  cmd->add_option("--expect-madds", flags.expect_madds, "Exit 1 unless madds_tf matches");
  cmd->add_option("--expect-params", flags.expect_params, "Exit 1 unless params match");
  cmd->add_option("--expect-tol", flags.expect_tol,
                  "Relative tolerance of --expect-* (default 0.005; 0 = exact)");
  cmd->add_flag("--list-archs", flags.list_archs, "List the built-in architectures and exit");
}

}  // namespace effinfer::condconv
