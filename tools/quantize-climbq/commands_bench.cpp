// The `bench` and `inspect` subcommands of quantize-climbq (spec 3.3, 3.5, 3.6, 7).
#include "commands_bench.hpp"

#include <algorithm>
#include <cmath>

#include "bench.hpp"
#include "core/error.hpp"
#include "inspect.hpp"
#include "int_export.hpp"
#include "io/atomic_output.hpp"
#include "io/provenance.hpp"
#include "lt_dataset.hpp"
#include "model.hpp"

namespace effinfer::climbq {
namespace {

// A flag that may be a comma list ("1,64,256") becomes a YAML list.
void set_list_flag(RunContext& ctx, const std::string& key, const std::string& value) {
  if (value.empty()) return;
  ctx.config.set(key + "=" + (value.find(',') != std::string::npos ? "[" + value + "]" : value));
}

int64_t positive_int(const io::Config& c, const std::string& key, double v, int64_t min) {
  if (!std::isfinite(v) || v != std::floor(v) || v < static_cast<double>(min))
    c.fail(key, "expected an integer >= " + std::to_string(min) + ", found " + std::to_string(v));
  return static_cast<int64_t>(v);
}

int64_t flag_int(const std::string& flag, const std::string& value, int64_t fallback, int64_t min) {
  if (value.empty()) return fallback;
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || v < min)
    throw UsageError(flag + ": expected an integer >= " + std::to_string(min) + ", found '" +
                     value + "'");
  return v;
}

}  // namespace

void run_bench(RunContext& ctx, const BenchFlags& flags) {
  if (!ctx.options.output.empty()) io::check_output_path(ctx.options.output, ctx.options.force);
  if (flags.quantizers) {
    // B2: one thread, 10^7 floats by default; a few repeats suffice at ~0.1 s per call.
    const int64_t elements = flag_int("--elements", flags.elements, 10'000'000, 1000);
    if (elements % 1000 != 0)
      throw UsageError("--elements: expected a multiple of 1000, found " + flags.elements);
    const int repeats = static_cast<int>(flag_int("--repeats", flags.repeats, 11, 1));
    const int warmup = static_cast<int>(flag_int("--warmup", flags.warmup, 2, 0));
    const QuantizerBench b = bench_quantizers(elements, warmup, repeats, ctx.seed);
    for (const auto& q : b.rows)
      ctx.log.info(q.name + ": " + std::to_string(q.ms.median) + " ms, " +
                   std::to_string(q.ns_per_element) + " ns/element");
    if (!ctx.options.output.empty())
      io::write_hdf5_output(ctx, kSchema, [&](io::H5File& f) {
        f.set_attribute("/", "content", "bench");
        write_quantizer_bench(f, b);
      });
    ctx.summary.set("mode", "quantizers");
    ctx.summary.update(quantizer_bench_json(b));
    return;
  }

  if (flags.model.empty()) throw UsageError("bench: --model is required (or --quantizers)");
  set_list_flag(ctx, "bench.batch", flags.batch);
  set_list_flag(ctx, "bench.repeats", flags.repeats);
  set_list_flag(ctx, "bench.warmup", flags.warmup);
  const io::Config& c = ctx.config;
  BenchOptions o;
  o.batches.clear();
  for (double b : c.get_doubles("bench.batch"))
    o.batches.push_back(positive_int(c, "bench.batch", b, 1));
  if (o.batches.empty()) c.fail("bench.batch", "expected at least one batch size");
  o.repeats = static_cast<int>(positive_int(c, "bench.repeats", c.get_double("bench.repeats"), 1));
  o.warmup = static_cast<int>(positive_int(c, "bench.warmup", c.get_double("bench.warmup"), 0));
  o.gemm_size = positive_int(c, "bench.peak_gemm_size", c.get_double("bench.peak_gemm_size"), 16);
  o.kernel = c.get_string("int.kernel");
  if (o.kernel != "auto" && o.kernel != "vnni" && o.kernel != "avx2" && o.kernel != "portable")
    c.fail("int.kernel", "expected auto, vnni, avx2 or portable, found '" + o.kernel + "'");
  o.seed = ctx.seed;
  o.threads = {1};
  if (ctx.threads > 1) o.threads.push_back(ctx.threads);

  Network<float> net = load_model<float>(flags.model);
  std::vector<uint8_t> pixels;
  std::string input;
  if (!ctx.options.inputs.empty()) {
    if (ctx.options.inputs.size() != 1) throw UsageError("bench: expected at most one -i file");
    const std::string& path = ctx.options.inputs.front();
    const Dataset d = read_dataset(path);
    const ModelSpec& s = net.spec();
    if (d.height != s.height || d.width != s.width || d.channels != s.channels)
      throw DataError(path + ":/data/test/x: images " + std::to_string(d.height) + "x" +
                      std::to_string(d.width) + "x" + std::to_string(d.channels) + "; " +
                      flags.model + ":/model expects " + std::to_string(s.height) + "x" +
                      std::to_string(s.width) + "x" + std::to_string(s.channels));
    pixels = d.test.x;
    input = path + ":/data/test/x (" + std::to_string(d.test.size()) + " images)";
  }
  BenchResult r =
      bench_inference(net, pixels, o, [&](const std::string& line) { ctx.log.info(line); });
  if (!input.empty()) r.input = input;
  if (!ctx.options.output.empty())
    io::write_hdf5_output(ctx, kSchema, [&](io::H5File& f) {
      f.set_attribute("/", "content", "bench");
      write_bench(f, r);
    });
  ctx.summary.set("mode", "inference");
  ctx.summary.update(bench_json(r));
}

void run_inspect(RunContext& ctx, const InspectFlags& flags) {
  if (flags.model.empty()) throw UsageError("inspect: --model is required");
  if (!ctx.options.output.empty()) io::check_output_path(ctx.options.output, ctx.options.force);
  InspectReport r;
  bool int_model = false;
  {
    const io::H5File f = io::H5File::open(flags.model);
    int_model = f.is_group("/int_model") && !f.is_group("/model");
  }
  if (int_model) {
    r = inspect_int_model(load_int_model(flags.model));
  } else {
    Network<float> net = load_model<float>(flags.model);
    r = inspect_network(net);
  }
  if (!ctx.options.output.empty())
    io::write_hdf5_output(ctx, kSchema, [&](io::H5File& f) {
      f.set_attribute("/", "content", "results");
      write_inspect(f, r);
      f.set_attribute("/results/inspect", "model_file", flags.model);
    });
  ctx.summary.update(inspect_json(r));
}

}  // namespace effinfer::climbq
