// `train` and `eval` (spec condconv-bench 2.8, 3): S vs C(n) vs S'(n) / S''(n) on Fashion-MNIST or
// sklearn digits, mean +- std over seeds; `eval` re-evaluates saved models. Flags are sugar for
// train.* keys: a bad flag value is a usage error (64), the same value from YAML / --set a config
// error (78).
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <sstream>

#include "commands.hpp"
#include "core/error.hpp"
#include "core/system.hpp"
#include "io/atomic_output.hpp"
#include "io/provenance.hpp"
#include "train.hpp"

namespace effinfer::condconv {
namespace {

constexpr const char* kSchema = "condconv-bench/1";

struct TrainFlags {
  std::string dataset, epochs, experts, variants, train_subset;
  bool strict = false;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    out.push_back(item);
  }
  return out;
}

bool parse_int(const std::string& text, int64_t& out) {
  if (text.empty() || text.size() > 12) return false;
  size_t pos = 0;
  try {
    out = std::stoll(text, &pos);
  } catch (const std::exception&) {
    return false;
  }
  return pos == text.size();
}

// Validates the flags (UsageError 64) and writes them into the config.
void apply_flags(RunContext& ctx, const TrainFlags& f) {
  io::Config& c = ctx.config;
  if (!f.dataset.empty()) {
    if (f.dataset != "fashion-mnist" && f.dataset != "digits")
      throw UsageError("--dataset: expected fashion-mnist or digits, found '" + f.dataset + "'");
    c.set("train.dataset=" + f.dataset);
  }
  int64_t v = 0;
  if (!f.epochs.empty()) {
    if (!parse_int(f.epochs, v) || v < 1)
      throw UsageError("--epochs: expected an integer >= 1, found '" + f.epochs + "'");
    c.set("train.epochs=" + std::to_string(v));
  }
  if (!f.train_subset.empty()) {
    if (!parse_int(f.train_subset, v) || v < 0)
      throw UsageError("--train-subset: expected an integer >= 0 (0 = all), found '" +
                       f.train_subset + "'");
    c.set("train.train_subset=" + std::to_string(v));
  }
  if (!f.experts.empty()) {
    std::string list;
    for (const std::string& item : split_list(f.experts)) {
      if (!parse_int(item, v) || v < 1 || v > 1024)
        throw UsageError(
            "--experts: expected a list of integers >= 1 (at least one expert), "
            "found '" +
            item + "'");
      list += (list.empty() ? "" : ",") + std::to_string(v);
    }
    c.set("train.experts=[" + list + "]");
  }
  if (!f.variants.empty()) {
    std::string list;
    for (const std::string& item : split_list(f.variants)) {
      Variant var;
      if (!parse_variant(item, var))
        throw UsageError("--variants: unknown variant '" + item +
                         "' (expected static, condconv, static_equal_macs, static_equal_params)");
      list += (list.empty() ? "" : ",") + item;
    }
    c.set("train.variants=[" + list + "]");
  }
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

// Sample standard deviation (n - 1); 0 for a single run.
double std_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

std::vector<double> column(const std::vector<RunResult>& rs, double RunResult::*field) {
  std::vector<double> out;
  for (const auto& r : rs) out.push_back(r.*field);
  return out;
}

struct SummaryRow {
  std::string variant;
  int64_t experts = 0, width = 0, macs = 0, params = 0;
  std::vector<double> accs;
};

void write_train(io::H5File& f, const std::vector<RunResult>& rs,
                 const std::vector<SummaryRow>& rows,
                 const std::function<void(io::H5File&)>& models) {
  f.create_group("/results/runs");
  std::vector<std::string> names, variants;
  std::vector<int64_t> experts, width, seed, macs, params, epochs;
  for (const auto& r : rs) {
    names.push_back(r.spec.name);
    variants.push_back(variant_name(r.spec.net.variant));
    experts.push_back(r.spec.net.experts);
    width.push_back(r.spec.net.width);
    seed.push_back(static_cast<int64_t>(r.spec.seed));
    macs.push_back(r.macs);
    params.push_back(r.params);
    epochs.push_back(r.epochs);
  }
  auto vec = [&](const std::string& path, const std::vector<double>& v, const char* units) {
    f.write_vector(path,
                   Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<int64_t>(v.size())));
    f.set_units(path, units);
  };
  auto ints = [&](const std::string& path, const std::vector<int64_t>& v, const char* units) {
    f.write_int64(path, v);
    f.set_units(path, units);
  };
  auto strs = [&](const std::string& path, const std::vector<std::string>& v) {
    f.write_strings(path, v);
    f.set_units(path, "1");
  };
  strs("/results/runs/run", names);
  strs("/results/runs/variant", variants);
  ints("/results/runs/experts", experts, "1");
  ints("/results/runs/width", width, "1");
  ints("/results/runs/seed", seed, "1");
  ints("/results/runs/macs", macs, "MAC");
  vec("/results/runs/madds_tf", column(rs, &RunResult::madds_tf), "MADD");
  ints("/results/runs/params", params, "parameter");
  ints("/results/runs/epochs", epochs, "1");
  vec("/results/runs/train_loss_last", column(rs, &RunResult::train_loss_last), "1");
  vec("/results/runs/test_loss", column(rs, &RunResult::test_loss), "1");
  vec("/results/runs/test_acc", column(rs, &RunResult::test_acc), "1");

  f.create_group("/results/summary");
  std::vector<std::string> sv;
  std::vector<int64_t> se, sw, sm, sp, sr;
  std::vector<double> am, as;
  for (const auto& row : rows) {
    sv.push_back(row.variant);
    se.push_back(row.experts), sw.push_back(row.width), sm.push_back(row.macs);
    sp.push_back(row.params), sr.push_back(static_cast<int64_t>(row.accs.size()));
    am.push_back(mean_of(row.accs)), as.push_back(std_of(row.accs));
  }
  strs("/results/summary/variant", sv);
  ints("/results/summary/experts", se, "1");
  ints("/results/summary/width", sw, "1");
  ints("/results/summary/macs", sm, "MAC");
  ints("/results/summary/params", sp, "parameter");
  vec("/results/summary/test_acc_mean", am, "1");
  vec("/results/summary/test_acc_std", as, "1");
  ints("/results/summary/runs", sr, "1");

  f.create_group("/results/curves");
  std::vector<std::string> cr;
  std::vector<int64_t> ce;
  std::vector<double> cl, ca;
  for (const auto& r : rs)
    for (size_t e = 0; e < r.epoch_loss.size(); ++e) {
      cr.push_back(r.spec.name);
      ce.push_back(static_cast<int64_t>(e + 1));
      cl.push_back(r.epoch_loss[e]);
      ca.push_back(r.epoch_test_acc[e]);
    }
  strs("/results/curves/run", cr);
  ints("/results/curves/epoch", ce, "1");
  vec("/results/curves/train_loss", cl, "1");
  vec("/results/curves/test_acc", ca, "1");
  models(f);
}

void run_train(RunContext& ctx, const TrainFlags& flags) {
  if (ctx.options.output.empty()) throw UsageError("train: -o/--output is required");
  apply_flags(ctx, flags);
  const TrainSettings s = train_settings(ctx.config);
  io::check_output_path(ctx.options.output, ctx.options.force);
  const TrainData data = load_train_data(s.dataset, s.data_dir, s.train_subset);
  if (data.n_train() < s.batch)
    throw DataError(data.source + ": " + std::to_string(data.n_train()) +
                    " training images, fewer than one batch of " + std::to_string(s.batch));
  std::vector<RunSpec> runs = plan_runs(s, ctx.seed);
  const int64_t planned = static_cast<int64_t>(runs.size());
  if (ctx.shard.active()) {
    const auto [lo, hi] = ctx.shard.range(planned);
    runs = std::vector<RunSpec>(runs.begin() + lo, runs.begin() + hi);
  }
  ctx.log.info("train: " + std::to_string(runs.size()) + " of " + std::to_string(planned) +
               " runs on " + s.dataset + " (" + std::to_string(data.n_train()) + " train / " +
               std::to_string(data.n_test()) + " test images)");

  std::vector<RunResult> results;
  // Saved models: parameters copied right after each run (nets are rebuilt per run).
  struct Saved {
    std::string name;
    NetSpec spec;
    std::unique_ptr<nn::Sequential<float>> net;
  };
  std::vector<Saved> saved;
  for (const RunSpec& run : runs) {
    std::unique_ptr<nn::Sequential<float>> net;
    const double t0 = wall_seconds();
    RunResult r = train_run(run, s, data, ctx.threads, net, [&](const EpochInfo& e) {
      ctx.log.info(run.name + " epoch " + std::to_string(e.epoch + 1) + "/" +
                   std::to_string(e.epochs) + ": loss " + std::to_string(e.train_loss) +
                   ", test acc " + std::to_string(e.test_acc));
    });
    ctx.log.info(run.name + ": test acc " + std::to_string(r.test_acc) + " (" +
                 std::to_string(wall_seconds() - t0) + " s)");
    if (r.diverged) ctx.log.warn(run.name + ": non-finite loss, training stopped (diverged)");
    if (s.save_models == "all" || (s.save_models == "first_seed" && run.repeat == 0))
      saved.push_back(Saved{run.name, run.net, std::move(net)});
    results.push_back(std::move(r));
  }

  // Summary rows per (variant, experts, width), in run order.
  std::vector<SummaryRow> rows;
  int diverged = 0;
  for (const auto& r : results) {
    if (r.diverged) ++diverged;
    const std::string v = variant_name(r.spec.net.variant);
    auto it = std::find_if(rows.begin(), rows.end(), [&](const SummaryRow& row) {
      return row.variant == v && row.experts == r.spec.net.experts && row.width == r.spec.net.width;
    });
    if (it == rows.end()) {
      rows.push_back(SummaryRow{v, r.spec.net.experts, r.spec.net.width, r.macs, r.params, {}});
      it = rows.end() - 1;
    }
    if (!r.diverged) it->accs.push_back(r.test_acc);
  }

  io::write_hdf5_output(ctx, kSchema, [&](io::H5File& f) {
    write_train(f, results, rows, [&](io::H5File& g) {
      g.create_group("/results/models");
      g.set_attribute("/results", "dataset", s.dataset);
      for (auto& m : saved) save_model(g, "/results/models/" + m.name, *m.net, m.spec, data);
    });
  });

  ctx.summary.set("dataset", s.dataset);
  ctx.summary.set("epochs", s.epochs);
  ctx.summary.set("runs", static_cast<long long>(results.size()));
  ctx.summary.set("diverged_runs", diverged);
  Json jrows = Json(Json::Array{});
  for (const auto& row : rows) {
    Json j = Json::object();
    j.set("variant", row.variant);
    j.set("experts", static_cast<long long>(row.experts));
    j.set("width", static_cast<long long>(row.width));
    j.set("macs", static_cast<long long>(row.macs));
    j.set("params", static_cast<long long>(row.params));
    j.set("test_acc_mean", mean_of(row.accs));
    j.set("test_acc_std", std_of(row.accs));
    jrows.push_back(j);
  }
  ctx.summary.set("rows", jrows);
  if (flags.strict && diverged > 0)
    ctx.check_failure = std::to_string(diverged) + " diverged run(s) (--strict)";
}

void run_eval(RunContext& ctx, const TrainFlags& flags) {
  if (ctx.options.inputs.size() != 1) throw UsageError("eval: expected one -i model file");
  if (!ctx.options.output.empty()) io::check_output_path(ctx.options.output, ctx.options.force);
  apply_flags(ctx, flags);
  const std::string& path = ctx.options.inputs.front();
  const io::H5File f = io::H5File::open(path);
  if (!f.is_group("/results/models"))
    throw DataError(path + ":/results/models: group missing (not a train output?)");
  const std::vector<std::string> names = f.children("/results/models");
  if (names.empty()) throw DataError(path + ":/results/models: no saved model");
  const std::string data_dir =
      ctx.config.is_null("train.data_dir") ? "" : ctx.config.get_string("train.data_dir");
  std::vector<std::string> runs;
  std::vector<double> accs, losses;
  std::vector<int64_t> confusion;
  std::map<std::string, TrainData> cache;
  std::string dataset_used;
  for (const std::string& name : names) {
    NetSpec spec;
    std::string dataset;
    auto net = load_model(f, "/results/models/" + name, spec, dataset);
    // The model's own dataset unless --dataset overrides it.
    if (!flags.dataset.empty()) dataset = flags.dataset;
    if (!cache.count(dataset)) cache.emplace(dataset, load_train_data(dataset, data_dir, 0));
    const TrainData& d = cache.at(dataset);
    const EvalResult ev = evaluate_net(*net, d.test_x, d.test_y, d.h, d.w, d.classes, ctx.threads);
    ctx.log.info(name + ": test acc " + std::to_string(ev.acc) + " on " + dataset);
    runs.push_back(name);
    accs.push_back(ev.acc);
    losses.push_back(ev.loss);
    confusion.insert(confusion.end(), ev.confusion.begin(), ev.confusion.end());
    dataset_used = dataset;
  }
  if (!ctx.options.output.empty())
    io::write_hdf5_output(ctx, kSchema, [&](io::H5File& g) {
      g.create_group("/results");
      g.write_strings("/results/run", runs);
      g.set_units("/results/run", "1");
      g.write_vector("/results/test_acc", Eigen::Map<const Eigen::VectorXd>(
                                              accs.data(), static_cast<int64_t>(accs.size())));
      g.set_units("/results/test_acc", "1");
      g.write_vector("/results/test_loss", Eigen::Map<const Eigen::VectorXd>(
                                               losses.data(), static_cast<int64_t>(losses.size())));
      g.set_units("/results/test_loss", "1");
      g.write_int64("/results/confusion", confusion, {runs.size(), 10, 10});
      g.set_units("/results/confusion", "1");
    });
  ctx.summary.set("dataset", dataset_used);
  ctx.summary.set("runs", static_cast<long long>(runs.size()));
  Json rows = Json(Json::Array{});
  for (size_t i = 0; i < runs.size(); ++i) {
    Json j = Json::object();
    j.set("run", runs[i]);
    j.set("test_acc", accs[i]);
    rows.push_back(j);
  }
  ctx.summary.set("rows", rows);
}

}  // namespace

void register_train(Tool& tool) {
  static TrainFlags train_flags, eval_flags;
  auto* train = tool.add_command(
      "train",
      "Train S, C(n), S'(n), S''(n) on Fashion-MNIST or digits (spec 2.8); mean +- std over seeds",
      "Examples:\n  condconv-bench train -c configs/condconv-bench/fmnist-quick.yaml -o quick.h5\n"
      "  condconv-bench train -c configs/condconv-bench/digits-smoke.yaml -o smoke.h5\n"
      "  condconv-bench train --experts 4,8 --variants static,condconv --shard 0/4 -o part0.h5",
      [](RunContext& ctx) { run_train(ctx, train_flags); });
  train->add_option("--dataset", train_flags.dataset, "fashion-mnist | digits (train.dataset)");
  train->add_option("--epochs", train_flags.epochs, "Training epochs (train.epochs)");
  train->add_option("--experts", train_flags.experts,
                    "Comma-separated expert counts n >= 1 (train.experts)");
  train->add_option("--variants", train_flags.variants,
                    "Comma-separated: static, condconv, static_equal_macs, static_equal_params "
                    "(train.variants)");
  train->add_option("--train-subset", train_flags.train_subset,
                    "Use the first N training images, 0 = all (train.train_subset)");
  train->add_flag("--strict", train_flags.strict, "Exit 1 when a run diverged");
  auto* eval =
      tool.add_command("eval", "Evaluate the models saved by train (-i) on their test split",
                       "Examples:\n  condconv-bench eval -i smoke.h5\n"
                       "  condconv-bench eval -i quick.h5 -o eval.h5",
                       [](RunContext& ctx) { run_eval(ctx, eval_flags); });
  eval->add_option("--dataset", eval_flags.dataset,
                   "Override the dataset stored with each model (fashion-mnist | digits)");
}

}  // namespace effinfer::condconv
