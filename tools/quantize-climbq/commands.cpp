#include "commands.hpp"

#include <cmath>
#include <limits>

#include "compare.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "int_engine.hpp"
#include "int_export.hpp"
#include "io/atomic_output.hpp"
#include "io/provenance.hpp"
#include "lt_dataset.hpp"
#include "metrics.hpp"
#include "model.hpp"
#include "ptq.hpp"
#include "qat.hpp"
#include "trainer.hpp"

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

// Sets a config key from a flag when the flag was given (spec 3.3: flags are config keys).
void set_flag(RunContext& ctx, const std::string& key, const std::string& value) {
  if (!value.empty()) ctx.config.set(key + "=" + value);
}

TrainOptions train_options(const io::Config& c, const std::string& section) {
  TrainOptions o;
  o.epochs = static_cast<int>(c.get_int(section + ".epochs"));
  if (o.epochs < 1) c.fail(section + ".epochs", "expected >= 1");
  o.lr = c.get_double(section + ".lr");
  if (!(o.lr > 0) || !std::isfinite(o.lr)) c.fail(section + ".lr", "expected a finite number > 0");
  o.batch_size = c.get_int("optim.batch_size");
  if (o.batch_size < 2) c.fail("optim.batch_size", "expected >= 2");
  o.momentum = c.get_double("optim.momentum");
  o.weight_decay = c.get_double("optim.weight_decay");
  o.schedule = parse_schedule_kind(c.get_string("optim.schedule"));
  o.milestones.clear();
  for (double m : c.get_doubles("optim.milestones")) o.milestones.push_back(static_cast<int>(m));
  o.gamma = c.get_double("optim.gamma");
  return o;
}

HomoVarOptions homovar_options(const io::Config& c) {
  HomoVarOptions o;
  o.alpha = c.get_double("homovar.alpha");
  o.beta = c.get_double("homovar.beta");
  if (!(o.alpha > 0 && o.alpha < 1)) c.fail("homovar.alpha", "expected a number in (0, 1)");
  if (!(o.beta > 0 && o.beta < 1)) c.fail("homovar.beta", "expected a number in (0, 1)");
  o.counts = parse_homovar_counts(c.get_string("homovar.counts"));
  o.membership = parse_homovar_membership(c.get_string("homovar.membership"));
  return o;
}

std::vector<Split> splits_of(const io::Config& c, const std::vector<int64_t>& counts) {
  const std::string rule = c.get_string("eval.split");
  if (rule != "rank" && rule != "absolute") c.fail("eval.split", "expected rank or absolute");
  return class_splits(counts, rule == "rank" ? SplitRule::kRank : SplitRule::kAbsolute,
                      c.get_double("eval.rank_fraction"), c.get_int("eval.many_min"),
                      c.get_int("eval.few_max"));
}

SplitView view_of(const Dataset& d, const std::string& split) {
  if (split == "test") return test_view(d);
  if (split == "val") return val_view(d);
  if (split == "train") return train_view(d);
  throw UsageError("--split: expected test, val or train, found '" + split + "'");
}

EvalMetrics evaluate_model(Network<float>& net, const Dataset& d, const SplitView& view,
                           const std::vector<Split>& splits, const io::Config& c, int threads) {
  const auto pred = evaluate(net.seq(), view, c.get_int("eval.batch_size"), threads);
  std::vector<int> labels(view.y->begin(), view.y->end());
  return compute_metrics(pred, labels, d.classes, splits);
}

void check_model_matches(const Network<float>& net, const Dataset& d, const std::string& path) {
  const ModelSpec& s = net.spec();
  if (s.height != d.height || s.width != d.width || s.channels != d.channels ||
      s.classes != d.classes)
    throw DataError(path + ":/model: input " + std::to_string(s.height) + "x" +
                    std::to_string(s.width) + "x" + std::to_string(s.channels) + ", " +
                    std::to_string(s.classes) + " classes; the data has " +
                    std::to_string(d.height) + "x" + std::to_string(d.width) + "x" +
                    std::to_string(d.channels) + ", " + std::to_string(d.classes) + " classes");
}

// train and qat need every class (spec 6: "a class with 0 training samples").
void require_every_class(const Dataset& d, const std::string& path) {
  std::vector<std::string> empty;
  for (size_t c = 0; c < d.class_counts.size(); ++c)
    if (d.class_counts[c] < 1) empty.push_back(std::to_string(c));
  if (empty.empty()) return;
  std::string ids;
  for (const auto& e : empty) ids += (ids.empty() ? "" : ", ") + e;
  throw DataError(path + ":/data/class_counts: class(es) " + ids +
                  " have no training samples; every class needs at least one");
}

// "2,4" -> "[2,4]" for a list-valued config key given as a flag.
void set_list_flag(RunContext& ctx, const std::string& key, const std::string& value) {
  if (!value.empty()) ctx.config.set(key + "=[" + value + "]");
}

int checked_bits(const io::Config& c, const std::string& key) {
  const int64_t b = c.get_int(key);
  if (b == 1 && c.get_string("climbq.one_bit") == "sign") return 1;  // ClimbQ sign weights only
  if (b == 1)
    c.fail(key,
           "expected bits in 2..16, found 1: every weight is +1 in the official v2023 code; "
           "set climbq.one_bit: sign for sign weights");
  if (b < 2 || b > 16) c.fail(key, "expected bits in 2..16, found " + std::to_string(b));
  return static_cast<int>(b);
}

QuantSettings quant_settings(const io::Config& c) {
  QuantSettings q;
  q.first_layer = c.get_bool("quant.first_layer");
  q.last_layer = c.get_bool("quant.last_layer");
  ClimbqOptions& o = q.climbq;
  o.variant = parse_levels_variant(c.get_string("climbq.levels_variant"));
  o.forward = parse_forward_path(c.get_string("climbq.forward"));
  o.one_bit = parse_one_bit(c.get_string("climbq.one_bit"));
  o.act_range = c.get_double("climbq.act_range");
  o.sigma_base = c.get_double("climbq.sigma_base");
  o.sigma_test = c.get_double("climbq.sigma_test");
  if (!(o.act_range > 0)) c.fail("climbq.act_range", "expected a number > 0");
  if (!(o.sigma_base > 1)) c.fail("climbq.sigma_base", "expected a number > 1");
  if (!(o.sigma_test > 0)) c.fail("climbq.sigma_test", "expected a number > 0");
  const std::string scaling = c.get_string("climbq.class_scaling");
  if (scaling != "batch_freq" && scaling != "off")
    c.fail("climbq.class_scaling", "expected batch_freq or off, found '" + scaling + "'");
  o.class_scaling = scaling == "batch_freq";
  if (c.get_string("climbq.weight_std") != "unbiased")
    c.fail("climbq.weight_std", "only unbiased (the official torch.std) is implemented");
  if (c.get_string("climbq.round") != "half_even")
    c.fail("climbq.round", "only half_even (torch.round) is implemented");
  q.act_clip = parse_clip_rule(c.get_string("uniform.act_clip"));
  q.act_percentile = c.get_double("uniform.act_percentile");
  if (!(q.act_percentile > 0 && q.act_percentile <= 100))
    c.fail("uniform.act_percentile", "expected a percentile in (0, 100]");
  q.act_ema = c.get_double("uniform.act_ema");
  if (!(q.act_ema >= 0 && q.act_ema < 1)) c.fail("uniform.act_ema", "expected a number in [0, 1)");
  q.lsq_grad_scale = c.get_bool("lsq.grad_scale");
  return q;
}

PtqOptions ptq_options(const io::Config& c) {
  PtqOptions o;
  o.quant = quant_settings(c);
  o.bn_recalibrate = parse_bn_recalibrate(c.get_string("ptq.bn_recalibrate"));
  o.calib_batches = static_cast<int>(c.get_int("ptq.calib_batches"));
  o.calib_batch_size = c.get_int("ptq.calib_batch_size");
  return o;
}

QatOptions qat_options(const io::Config& c) {
  QatOptions o;
  o.train = train_options(c, "qat");
  o.loss = parse_loss_kind(c.get_string("qat.loss"));
  o.homovar = homovar_options(c);
  o.calibration = ptq_options(c);
  o.select = parse_select_kind(c.get_string("qat.select"));
  return o;
}

Network<float> load_fp32(const std::string& path, const Dataset& d) {
  Network<float> fp32 = load_model<float>(path);
  check_model_matches(fp32, d, path);
  if (fp32.spec().method != Method::kFp32)
    throw DataError(path + ":/model (attr method): expected an FP32 model, found " +
                    method_name(fp32.spec().method));
  return fp32;
}

VerifyOptions verify_options(const io::Config& c, int threads) {
  VerifyOptions o;
  o.min_label_agreement = c.get_double("int.min_label_agreement");
  o.min_code_agreement = c.get_double("int.min_code_agreement");
  o.logit_rtol = c.get_double("int.logit_rtol");
  for (const char* key : {"int.min_label_agreement", "int.min_code_agreement"}) {
    const double v = c.get_double(key);
    if (!(v >= 0 && v <= 1)) c.fail(key, "expected a fraction in [0, 1]");
  }
  if (!(o.logit_rtol >= 0)) c.fail("int.logit_rtol", "expected a number >= 0");
  o.threads = threads;
  return o;
}

Json verify_json(const VerifyReport& r) {
  Json j = Json::object();
  j.set("n", static_cast<long long>(r.n));
  j.set("labels", r.label_agreement);
  j.set("codes_min", r.codes_min);
  j.set("within_tau", r.within_tau);
  j.set("max_excess", r.max_excess);
  j.set("pass", r.pass);
  return j;
}

// The root `content` attribute of a tool file ("" when absent).
std::string content_of(const std::string& path) {
  const io::H5File f = io::H5File::open(path);
  return f.has_attribute("/", "content") ? f.read_attribute_string("/", "content") : "";
}

void check_int_model_matches(const IntModel& m, const Dataset& d, const std::string& path) {
  if (m.height != d.height || m.width != d.width || m.channels != d.channels ||
      m.num_classes != d.classes)
    throw DataError(path + ":/int_model: input " + std::to_string(m.height) + "x" +
                    std::to_string(m.width) + "x" + std::to_string(m.channels) + ", " +
                    std::to_string(m.num_classes) + " classes; the data has " +
                    std::to_string(d.height) + "x" + std::to_string(d.width) + "x" +
                    std::to_string(d.channels) + ", " + std::to_string(d.classes) + " classes");
}

// Spec 6: a layer to be quantized whose weights are all equal (sigma = 0) has no ClimbQ
// standardisation and no uniform step; refused before any work.
void require_quantizable(Network<float>& net, const QuantSettings& q, const std::string& path) {
  const auto& layers = net.weight_layers();
  for (size_t k = 0; k < layers.size(); ++k) {
    const bool quantized = k == 0 ? q.first_layer : (k + 1 == layers.size() ? q.last_layer : true);
    if (!quantized) continue;
    for (const auto& p : net.seq().layer(layers[k]).params()) {
      if (p.name != "W") continue;
      const nn::Tensor<float>& w = *p.value;
      bool constant = true;
      for (int64_t i = 1; i < w.size() && constant; ++i) constant = w[i] == w[0];
      if (constant)
        throw DataError(path + ":/model/layers/" + net.seq().layer_name(layers[k]) +
                        "/W: constant weights (sigma = 0, all " + std::to_string(w[0]) +
                        "): nothing to quantize");
    }
  }
}

void summary_of_run(RunContext& ctx, const RunRecord& run) {
  const Json j = run_json(run);
  ctx.summary.update(j);
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

void run_train(RunContext& ctx, const CommandFlags& flags) {
  if (ctx.options.inputs.size() != 1) throw UsageError("train: expected one -i data file");
  if (ctx.options.output.empty()) throw UsageError("train: -o/--output is required");
  io::check_output_path(ctx.options.output, ctx.options.force);
  set_flag(ctx, "model.arch", flags.arch);
  set_flag(ctx, "train.loss", flags.loss);
  set_flag(ctx, "train.epochs", flags.epochs);
  set_flag(ctx, "train.lr", flags.lr);
  const io::Config& c = ctx.config;
  const TrainOptions options = train_options(c, "train");
  const LossKind loss_kind = parse_loss_kind(c.get_string("train.loss"));
  const HomoVarOptions hv = homovar_options(c);
  const SelectKind select = parse_select_kind(c.get_string("train.select"));
  const Dataset d = read_dataset(ctx.options.inputs.front());
  require_every_class(d, ctx.options.inputs.front());

  ModelSpec spec;
  spec.arch = parse_arch(c.get_string("model.arch"));
  if (spec.arch == Arch::kCnn && (d.height < 16 || d.width < 16))
    throw DataError(ctx.options.inputs.front() + ":/data/train/x: images are " +
                    std::to_string(d.height) + "x" + std::to_string(d.width) +
                    "; cnn needs H, W >= 16 (use --arch mlp)");
  spec.height = d.height, spec.width = d.width, spec.channels = d.channels;
  spec.classes = d.classes;
  spec.method = Method::kFp32;
  spec.pixel_scale = d.pixel_scale, spec.norm_mean = d.norm_mean, spec.norm_std = d.norm_std;
  spec.class_counts = d.class_counts;
  spec.mode = "fp32";
  spec.loss = to_string(loss_kind);
  validate(spec);
  Network<float> net = build_model<float>(spec, ctx.seed);
  const ClassificationLoss loss(
      loss_kind, std::vector<double>(d.class_counts.begin(), d.class_counts.end()), hv);
  const SplitView select_view = select == SelectKind::kBestTest ? test_view(d) : val_view(d);
  if (select != SelectKind::kLast && select_view.y->empty())
    c.fail("train.select", "the data file has no split to select on");
  if (select == SelectKind::kBestTest)
    ctx.log.warn(
        "train.select best_test selects the checkpoint on the test split (the official "
        "recipe); test accuracy is then optimistic");
  const TrainResult tr = train_epochs(
      net.seq(), net.feature_tap(), train_view(d), loss, options, ctx.seed, ctx.threads,
      [&](const EpochReport& e) {
        ctx.log.info("epoch " + std::to_string(e.epoch + 1) + "/" + std::to_string(e.epochs) +
                     ": loss " + std::to_string(e.mean_loss) + ", lr " + std::to_string(e.lr));
      },
      select == SelectKind::kLast ? nullptr : &select_view);
  const auto splits = splits_of(c, d.class_counts);
  RunRecord run;
  run.method = "fp32", run.mode = "fp32", run.loss = spec.loss, run.seed = ctx.seed;
  run.metrics = evaluate_model(net, d, test_view(d), splits, c, ctx.threads);
  run.has_drops = true;  // the FP32 model is its own reference: drops 0
  for (const auto& w : run.metrics.warnings) ctx.log.warn(w);
  io::write_hdf5_output(ctx, kSchema, [&](io::H5File& f) {
    f.set_attribute("/", "content", "model");
    save_model(f, net);
    write_results(f, ResultsHeader{d.class_names, d.class_counts, splits}, {run});
  });
  summary_of_run(ctx, run);
  ctx.summary.set("epochs", options.epochs);
  ctx.summary.set("final_loss", tr.epoch_loss.empty() ? 0.0 : tr.epoch_loss.back());
}

void run_eval(RunContext& ctx, const CommandFlags& flags) {
  if (ctx.options.inputs.size() != 1) throw UsageError("eval: expected one -i data file");
  if (flags.model.empty()) throw UsageError("eval: --model is required");
  if (!ctx.options.output.empty()) io::check_output_path(ctx.options.output, ctx.options.force);
  const io::Config& c = ctx.config;
  const std::string split = flags.split.empty() ? "test" : flags.split;
  const Dataset d = read_dataset(ctx.options.inputs.front());
  const SplitView view = view_of(d, split);
  const auto splits = splits_of(c, d.class_counts);
  RunRecord run;
  run.seed = ctx.seed;
  if (content_of(flags.model) == "int_model") {
    // The exported integer model, run by the int8 engine (spec 2.8).
    const IntModel im = load_int_model(flags.model);
    check_int_model_matches(im, d, flags.model);
    IntEngine engine(im, parse_int_kernel(c.get_string("int.kernel")), ctx.threads);
    const std::vector<int> pred = int_predict(engine, view);
    run.metrics =
        compute_metrics(pred, std::vector<int>(view.y->begin(), view.y->end()), d.classes, splits);
    run.method = im.method, run.mode = "int", run.loss = "-";
    run.bits_w = im.bits_w, run.bits_a = im.bits_a;
    ctx.summary.set("kernel", engine.kernel_name());
  } else {
    Network<float> net = load_model<float>(flags.model);
    check_model_matches(net, d, flags.model);
    run.method = method_name(net.spec().method);
    run.mode = net.spec().mode;
    run.loss = net.spec().loss;
    run.bits_w = net.spec().method == Method::kFp32 ? 0 : net.spec().bits_w;
    run.bits_a = net.spec().method == Method::kFp32 ? 0 : net.spec().bits_a;
    run.metrics = evaluate_model(net, d, view, splits, c, ctx.threads);
  }
  std::vector<RunRecord> runs;
  if (!flags.reference.empty()) {
    Network<float> ref = load_model<float>(flags.reference);
    check_model_matches(ref, d, flags.reference);
    RunRecord r;
    r.method = "fp32", r.mode = "fp32", r.loss = ref.spec().loss, r.seed = ctx.seed;
    r.metrics = evaluate_model(ref, d, view, splits, c, ctx.threads);
    r.has_drops = true;
    run.drops = drops_against(r.metrics, run.metrics);
    run.has_drops = true;
    runs.push_back(r);
  }
  runs.push_back(run);
  for (const auto& w : run.metrics.warnings) ctx.log.warn(w);
  if (!flags.svg.empty()) io::check_output_path(flags.svg, ctx.options.force);
  if (!ctx.options.output.empty())
    io::write_hdf5_output(ctx, kSchema, [&](io::H5File& f) {
      f.set_attribute("/", "content", "results");
      write_results(f, ResultsHeader{d.class_names, d.class_counts, splits}, runs);
    });
  if (!flags.svg.empty())
    io::write_text_atomic(flags.svg,
                          per_class_svg(ResultsHeader{d.class_names, d.class_counts, splits}, runs),
                          ctx.options.force);
  summary_of_run(ctx, run);
  ctx.summary.set("split", split);
}

void run_ptq(RunContext& ctx, const CommandFlags& flags) {
  if (ctx.options.inputs.size() != 1) throw UsageError("ptq: expected one -i data file");
  if (flags.model.empty()) throw UsageError("ptq: --model (the FP32 model) is required");
  if (ctx.options.output.empty()) throw UsageError("ptq: -o/--output is required");
  io::check_output_path(ctx.options.output, ctx.options.force);
  set_flag(ctx, "ptq.method", flags.method);
  set_flag(ctx, "quant.bits_w", flags.bits.empty() ? flags.bits_w : flags.bits);
  set_flag(ctx, "quant.bits_a", flags.bits.empty() ? flags.bits_a : flags.bits);
  const io::Config& c = ctx.config;
  const Method method = parse_method(c.get_string("ptq.method"));
  const int bits_w = checked_bits(c, "quant.bits_w");
  const int bits_a = checked_bits(c, "quant.bits_a");
  const PtqOptions options = ptq_options(c);
  const Dataset d = read_dataset(ctx.options.inputs.front());
  Network<float> fp32 = load_model<float>(flags.model);
  check_model_matches(fp32, d, flags.model);
  if (fp32.spec().method != Method::kFp32)
    throw DataError(flags.model + ":/model (attr method): expected an FP32 model, found " +
                    method_name(fp32.spec().method));
  require_quantizable(fp32, options.quant, flags.model);
  Network<float> q = ptq(fp32, method, bits_w, bits_a, d, options, ctx.seed, ctx.threads);
  const auto splits = splits_of(c, d.class_counts);
  RunRecord ref;
  ref.method = "fp32", ref.mode = "fp32", ref.loss = fp32.spec().loss, ref.seed = ctx.seed;
  ref.metrics = evaluate_model(fp32, d, test_view(d), splits, c, ctx.threads);
  ref.has_drops = true;
  RunRecord run;
  run.method = method_name(method), run.mode = "ptq", run.loss = fp32.spec().loss;
  run.bits_w = bits_w, run.bits_a = bits_a, run.seed = ctx.seed;
  run.metrics = evaluate_model(q, d, test_view(d), splits, c, ctx.threads);
  run.drops = drops_against(ref.metrics, run.metrics);
  run.has_drops = true;
  for (const auto& w : run.metrics.warnings) ctx.log.warn(w);
  io::write_hdf5_output(ctx, kSchema, [&](io::H5File& f) {
    f.set_attribute("/", "content", "model");
    save_model(f, q);
    write_results(f, ResultsHeader{d.class_names, d.class_counts, splits}, {ref, run});
  });
  summary_of_run(ctx, run);
}

}  // namespace effinfer::climbq

namespace effinfer::climbq {

void run_qat(RunContext& ctx, const CommandFlags& flags) {
  if (ctx.options.inputs.size() != 1) throw UsageError("qat: expected one -i data file");
  if (flags.model.empty()) throw UsageError("qat: --model (the FP32 model) is required");
  if (ctx.options.output.empty()) throw UsageError("qat: -o/--output is required");
  io::check_output_path(ctx.options.output, ctx.options.force);
  set_flag(ctx, "qat.method", flags.method);
  set_flag(ctx, "qat.loss", flags.loss);
  set_flag(ctx, "qat.epochs", flags.epochs);
  set_flag(ctx, "qat.lr", flags.lr);
  set_flag(ctx, "quant.bits_w", flags.bits.empty() ? flags.bits_w : flags.bits);
  set_flag(ctx, "quant.bits_a", flags.bits.empty() ? flags.bits_a : flags.bits);
  const io::Config& c = ctx.config;
  const Method method = parse_method(c.get_string("qat.method"));
  if (method == Method::kFp32)
    c.fail("qat.method", "expected climbq|climbq-noscale|uniform|lsq, found fp32");
  const int bits_w = checked_bits(c, "quant.bits_w");
  const int bits_a = checked_bits(c, "quant.bits_a");
  const QatOptions options = qat_options(c);
  const std::string& data_path = ctx.options.inputs.front();
  const Dataset d = read_dataset(data_path);
  require_every_class(d, data_path);
  Network<float> fp32 = load_fp32(flags.model, d);
  require_quantizable(fp32, options.calibration.quant, flags.model);
  if (options.select == SelectKind::kBestTest)
    ctx.log.warn(
        "qat.select best_test selects the checkpoint on the test split (the official "
        "recipe); test accuracy is then optimistic");
  QatResult result = qat(
      fp32, method, bits_w, bits_a, d, options, ctx.seed, ctx.threads, [&](const EpochReport& e) {
        ctx.log.info("qat epoch " + std::to_string(e.epoch + 1) + "/" + std::to_string(e.epochs) +
                     ": loss " + std::to_string(e.mean_loss) + ", lr " + std::to_string(e.lr));
      });
  const auto splits = splits_of(c, d.class_counts);
  const int64_t batch = c.get_int("eval.batch_size");
  RunRecord ref;
  ref.method = "fp32", ref.mode = "fp32", ref.loss = fp32.spec().loss, ref.seed = ctx.seed;
  ref.metrics = evaluate_test(fp32, d, splits, batch, ctx.threads);
  ref.has_drops = true;
  RunRecord run;
  run.method = method_name(method), run.mode = "qat", run.loss = to_string(options.loss);
  run.bits_w = bits_w, run.bits_a = bits_a, run.seed = ctx.seed;
  run.metrics = evaluate_test(result.net, d, splits, batch, ctx.threads);
  run.drops = drops_against(ref.metrics, run.metrics);
  run.has_drops = true;
  for (const auto& w : run.metrics.warnings) ctx.log.warn(w);
  io::write_hdf5_output(ctx, kSchema, [&](io::H5File& f) {
    f.set_attribute("/", "content", "model");
    save_model(f, result.net);
    write_results(f, ResultsHeader{d.class_names, d.class_counts, splits}, {ref, run});
  });
  summary_of_run(ctx, run);
  ctx.summary.set("epochs", options.train.epochs);
  ctx.summary.set("final_loss",
                  result.train.epoch_loss.empty() ? 0.0 : result.train.epoch_loss.back());
}

namespace {

void write_compare_output(RunContext& ctx, const ResultsHeader& header,
                          const std::vector<RunRecord>& runs, const CompareIdentity& id,
                          const std::string& svg) {
  if (!svg.empty()) io::check_output_path(svg, ctx.options.force);
  io::write_hdf5_output(ctx, kSchema, [&](io::H5File& f) {
    f.set_attribute("/", "content", "results");
    write_results(f, header, runs);
    write_compare_identity(f, id);
  });
  if (!svg.empty()) io::write_text_atomic(svg, per_class_svg(header, runs), ctx.options.force);
  Json list = Json::array_of(std::vector<int>{});
  for (const auto& r : runs) {
    if (r.mode == "fp32") {
      ctx.summary.set("fp32", run_json(r));
      continue;
    }
    Json j = run_json(r);
    j.set("bits", r.bits_w);
    j.set("seed", static_cast<long long>(r.seed));
    j.set("drop_few", r.drops.few);
    list.push_back(std::move(j));
  }
  ctx.summary.set("classes", static_cast<int>(header.class_names.size()));
  ctx.summary.set("runs", std::move(list));
  if (!svg.empty()) ctx.summary.set("svg", svg);
}

}  // namespace

void run_compare(RunContext& ctx, const CommandFlags& flags) {
  if (ctx.options.output.empty()) throw UsageError("compare: -o/--output is required");
  io::check_output_path(ctx.options.output, ctx.options.force);
  if (!flags.merge.empty()) {
    if (!ctx.options.inputs.empty() || !flags.model.empty())
      throw UsageError("compare --merge: takes shard files only (no -i or --model)");
    CompareIdentity id;
    const ResultsFile merged = merge_compare(flags.merge, &id);
    write_compare_output(ctx, merged.header, merged.runs, id, flags.svg);
    ctx.summary.set("merged", static_cast<int>(flags.merge.size()));
    return;
  }
  if (ctx.options.inputs.size() != 1) throw UsageError("compare: expected one -i data file");
  if (flags.model.empty()) throw UsageError("compare: --model (the FP32 model) is required");
  set_list_flag(ctx, "compare.methods", flags.methods);
  set_list_flag(ctx, "compare.losses", flags.losses);
  set_list_flag(ctx, "compare.bits", flags.bits_list);
  set_list_flag(ctx, "compare.seeds", flags.seeds);
  if (flags.qat) ctx.config.set("compare.qat=true");
  if (flags.int_path) ctx.config.set("compare.int=true");
  const io::Config& c = ctx.config;
  CompareOptions o;
  o.methods.clear();
  for (const auto& m : c.get_strings("compare.methods")) {
    const Method method = parse_method(m);
    if (method == Method::kFp32)
      c.fail("compare.methods", "fp32 is always run; expected uniform|lsq|climbq|climbq-noscale");
    o.methods.push_back(method);
  }
  o.losses.clear();
  for (const auto& l : c.get_strings("compare.losses")) o.losses.push_back(parse_loss_kind(l));
  o.bits.clear();
  for (double b : c.get_doubles("compare.bits")) {
    if (b == 1)
      c.fail("compare.bits",
             "expected bits in 2..16, found 1: every weight is +1 in the "
             "official v2023 code; set climbq.one_bit: sign for sign weights");
    if (b != std::floor(b) || b < 2 || b > 16)
      c.fail("compare.bits", "expected bits in 2..16, found " + std::to_string(b));
    o.bits.push_back(static_cast<int>(b));
  }
  o.seeds.clear();
  for (double s : c.get_doubles("compare.seeds")) {
    if (s < 0 || s != std::floor(s)) c.fail("compare.seeds", "expected integers >= 0");
    o.seeds.push_back(static_cast<uint64_t>(s));
  }
  o.qat = c.get_bool("compare.qat");
  const bool want_int = c.get_bool("compare.int");
  const IntKernel kernel = parse_int_kernel(c.get_string("int.kernel"));
  const VerifyOptions vo = verify_options(c, ctx.threads);
  o.ptq = ptq_options(c);
  o.qat_options = qat_options(c);
  o.eval_batch = c.get_int("eval.batch_size");
  const std::string& data_path = ctx.options.inputs.front();
  const Dataset d = read_dataset(data_path);
  if (o.qat) require_every_class(d, data_path);
  Network<float> fp32 = load_fp32(flags.model, d);
  require_quantizable(fp32, o.ptq.quant, flags.model);
  o.splits = splits_of(c, d.class_counts);
  const std::vector<PlannedRun> plan = plan_compare(o, parse_loss_kind(fp32.spec().loss));

  CompareIdentity id;
  id.data_sha256 = file_sha256(data_path);
  id.model_sha256 = file_sha256(flags.model);
  for (const auto& r : plan) id.plan += (id.plan.empty() ? "" : "; ") + r.label();
  id.shard = ctx.shard;
  const auto [begin, end] = ctx.shard.range(static_cast<int64_t>(plan.size()));

  std::vector<RunRecord> runs;
  RunRecord ref;
  ref.method = "fp32", ref.mode = "fp32", ref.loss = fp32.spec().loss, ref.seed = ctx.seed;
  ref.metrics = evaluate_test(fp32, d, o.splits, o.eval_batch, ctx.threads);
  ref.has_drops = true;
  runs.push_back(ref);
  Progress progress(ctx.log, ctx.progress, "compare", static_cast<long>(end - begin));
  for (int64_t k = begin; k < end; ++k) {
    const PlannedRun& p = plan[static_cast<size_t>(k)];
    CompareRun r = execute_run(p, fp32, d, o, ref.metrics, ctx.threads);
    ctx.log.info(p.label() + ": acc " + std::to_string(100 * r.record.metrics.acc) + " %, few " +
                 std::to_string(100 * r.record.metrics.few) + " %");
    if (want_int) {
      // Export + verification on the test split (spec 3.3 `--int`); an impossible export (e.g.
      // v2022 levels at 8 bits) is logged and recorded as NaN.
      r.record.has_int = true;
      try {
        IntEngine engine(export_int_model(r.net), kernel, ctx.threads);
        const VerifyReport v = verify_int_model(engine, r.net, test_view(d), vo);
        r.record.label_agreement_int = v.label_agreement;
        if (!v.pass) {
          ctx.log.warn(p.label() + ": integer path below the agreement thresholds (labels " +
                       std::to_string(v.label_agreement) + ", codes " +
                       std::to_string(v.codes_min) + ")");
          if (flags.strict) ctx.check_failure = "--strict: integer verification failed";
        }
      } catch (const DataError& e) {
        r.record.label_agreement_int = std::numeric_limits<double>::quiet_NaN();
        ctx.log.warn(p.label() + ": no integer export: " + e.what());
      }
    }
    runs.push_back(std::move(r.record));
    progress.tick();
  }
  write_compare_output(ctx, ResultsHeader{d.class_names, d.class_counts, o.splits}, runs, id,
                       flags.svg);
  ctx.summary.set("planned_runs", static_cast<long long>(plan.size()));
  if (ctx.shard.active()) ctx.summary.set("shard", ctx.shard.str());
}

}  // namespace effinfer::climbq

namespace effinfer::climbq {

void run_export(RunContext& ctx, const CommandFlags& flags) {
  if (flags.model.empty()) throw UsageError("export: --model (a ptq or qat model) is required");
  if (ctx.options.output.empty()) throw UsageError("export: -o/--output is required");
  if (flags.verify && ctx.options.inputs.empty())
    throw UsageError("export --verify: needs -i DATA.h5 (verification runs on its test split)");
  if (ctx.options.inputs.size() > 1) throw UsageError("export: expected at most one -i data file");
  io::check_output_path(ctx.options.output, ctx.options.force);
  const io::Config& c = ctx.config;
  const IntKernel kernel = parse_int_kernel(c.get_string("int.kernel"));
  const VerifyOptions vo = verify_options(c, ctx.threads);
  Network<float> net = load_model<float>(flags.model);
  if (net.spec().method == Method::kFp32)
    throw DataError(flags.model +
                    ":/model (attr method): fp32 has no integer form; export a "
                    "ptq or qat model");
  const IntModel im = export_int_model(net);
  const IntSizes sizes = int_model_sizes(im);
  IntEngine engine(im, kernel, ctx.threads);
  bool verified = false;
  VerifyReport report;
  if (!ctx.options.inputs.empty()) {
    const Dataset d = read_dataset(ctx.options.inputs.front());
    check_model_matches(net, d, flags.model);
    report = verify_int_model(engine, net, test_view(d), vo);
    verified = true;
  }
  io::write_hdf5_output(ctx, kSchema, [&](io::H5File& f) {
    f.set_attribute("/", "content", "int_model");
    save_int_model(f, im);
    write_int_sizes(f, sizes);
    if (verified) write_verify(f, report);
  });
  Json size = Json::object();
  size.set("fp32", static_cast<long long>(sizes.fp32_bytes));
  size.set("int", static_cast<long long>(sizes.int_bytes));
  size.set("packed", static_cast<long long>(sizes.packed_bytes));
  ctx.summary.set("method", im.method);
  ctx.summary.set("bits_w", im.bits_w);
  ctx.summary.set("bits_a", im.bits_a);
  ctx.summary.set("size_bytes", std::move(size));
  ctx.summary.set("first_layer", im.first_layer);
  ctx.summary.set("kernel", engine.kernel_name());
  if (verified) {
    ctx.summary.set("verify", verify_json(report));
    if (!report.pass) {
      ctx.log.warn("integer path below the agreement thresholds: labels " +
                   std::to_string(report.label_agreement) + ", codes " +
                   std::to_string(report.codes_min) + ", within tau " +
                   std::to_string(report.within_tau));
      if (flags.verify) ctx.check_failure = "--verify: integer inference disagrees";
    }
  }
}

}  // namespace effinfer::climbq
