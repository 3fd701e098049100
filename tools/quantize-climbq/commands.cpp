#include "commands.hpp"

#include <cmath>

#include "core/error.hpp"
#include "io/atomic_output.hpp"
#include "io/provenance.hpp"
#include "lt_dataset.hpp"

namespace effinfer::climbq {
namespace {

// A number key that may be `auto` (returned as -1).
double auto_number(const io::Config& c, const std::string& key) {
  if (c.node(key).IsScalar() && c.get_string(key) == "auto") return -1;
  const double v = c.get_double(key);
  if (!std::isfinite(v)) c.fail(key, "expected a finite number or auto");
  return v;
}

DataOptions data_options(const io::Config& c) {
  DataOptions o;
  o.source = c.get_string("data.source");
  o.rho = auto_number(c, "data.rho");
  if (o.rho >= 0 && o.rho < 1) c.fail("data.rho", "expected a number >= 1 or auto");
  const double n_max = auto_number(c, "data.n_max");
  if (n_max >= 0 && (n_max < 1 || n_max != std::floor(n_max)))
    c.fail("data.n_max", "expected an integer >= 1 or auto");
  o.n_max = static_cast<int64_t>(n_max);
  o.count_rule = parse_count_rule(c.get_string("data.count_rule"));
  o.class_order = parse_class_order(c.get_string("data.class_order"));
  const double val = auto_number(c, "data.val_per_class");
  if (val >= 0 && val != std::floor(val))
    c.fail("data.val_per_class", "expected an integer >= 0 or auto");
  o.val_per_class = static_cast<int64_t>(val);
  o.allow_clamp = c.get_bool("data.allow_clamp");
  o.fmnist_dir = c.get_string("data.fmnist_dir");
  o.digits_file = c.get_string("data.digits_file");
  o.synth.classes = static_cast<int>(c.get_int("synth.classes"));
  if (o.synth.classes < 2) c.fail("synth.classes", "expected >= 2");
  o.synth.dim = static_cast<int>(c.get_int("synth.dim"));
  o.synth.radius = c.get_double("synth.radius");
  o.synth.std_min = c.get_double("synth.std_min");
  o.synth.std_max = c.get_double("synth.std_max");
  o.synth.std_order = c.get_string("synth.std_order");
  o.synth.test_per_class = static_cast<int>(c.get_int("synth.test_per_class"));
  return o;
}

}  // namespace

void run_make_data(RunContext& ctx, const CommandFlags& flags) {
  if (ctx.options.output.empty()) throw UsageError("make-data: -o/--output is required");
  io::check_output_path(ctx.options.output, ctx.options.force);
  auto set = [&](const std::string& key, const std::string& value) {
    if (!value.empty()) ctx.config.set(key + "=" + value);
  };
  set("data.source", flags.source);
  set("data.rho", flags.rho);
  set("data.n_max", flags.n_max);
  set("data.count_rule", flags.count_rule);
  set("data.class_order", flags.class_order);
  set("data.val_per_class", flags.val_per_class);
  const Dataset d = build_dataset(data_options(ctx.config), ctx.seed);
  for (const auto& w : d.warnings) ctx.log.warn(w);
  io::write_hdf5_output(ctx, kSchema, [&](io::H5File& f) { write_dataset(f, d); });
  ctx.summary.set("source", d.source);
  ctx.summary.set("classes", d.classes);
  ctx.summary.set("counts", Json::array_of(d.class_counts));
  ctx.summary.set("n_train", static_cast<long long>(d.train.size()));
  ctx.summary.set("n_val", static_cast<long long>(d.val.size()));
  ctx.summary.set("n_test", static_cast<long long>(d.test.size()));
  ctx.summary.set("rho", d.rho);
  ctx.summary.set("n_max", static_cast<long long>(d.n_max));
}

}  // namespace effinfer::climbq
