// Spec 3.3 `compare`: run list, sharding, merge and the per-class picture.
#include "compare.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <numeric>

#include "core/error.hpp"
#include "core/sha256.hpp"
#include "io/svg.hpp"
#include "trainer.hpp"

namespace effinfer::climbq {

std::string PlannedRun::label() const {
  return method_name(method) + " " + mode + " " + to_string(loss) + " w" + std::to_string(bits) +
         "a" + std::to_string(bits) + " s" + std::to_string(seed);
}

std::vector<PlannedRun> plan_compare(const CompareOptions& o, LossKind fp32_loss) {
  if (o.methods.empty()) throw ConfigError("compare.methods: expected at least one method");
  if (o.bits.empty()) throw ConfigError("compare.bits: expected at least one bit width");
  if (o.seeds.empty()) throw ConfigError("compare.seeds: expected at least one seed");
  if (o.qat && o.losses.empty()) throw ConfigError("compare.losses: expected at least one loss");
  for (int b : o.bits)
    if (b < 2 || b > 16)
      throw ConfigError("compare.bits: expected bits in 2..16, found " + std::to_string(b));
  for (Method m : o.methods)
    if (m == Method::kFp32)
      throw ConfigError(
          "compare.methods: fp32 is always run; expected uniform|lsq|climbq|"
          "climbq-noscale");
  std::vector<PlannedRun> plan;
  for (int b : o.bits)
    for (uint64_t seed : o.seeds) {
      for (Method m : o.methods)
        if (m != Method::kLsq) plan.push_back({m, "ptq", fp32_loss, b, seed});
      if (o.qat)
        for (Method m : o.methods)
          for (LossKind l : o.losses) plan.push_back({m, "qat", l, b, seed});
    }
  return plan;
}

EvalMetrics evaluate_test(Network<float>& net, const Dataset& data,
                          const std::vector<Split>& splits, int64_t batch, int threads) {
  const SplitView v = test_view(data);
  const std::vector<int> pred = evaluate(net.seq(), v, batch, threads);
  const std::vector<int> labels(v.y->begin(), v.y->end());
  return compute_metrics(pred, labels, data.classes, splits);
}

CompareRun execute_run(const PlannedRun& run, Network<float>& fp32, const Dataset& data,
                       const CompareOptions& o, const EvalMetrics& fp32_metrics, int threads) {
  Network<float> net = [&] {
    if (run.mode == "ptq")
      return ptq(fp32, run.method, run.bits, run.bits, data, o.ptq, run.seed, threads);
    QatOptions q = o.qat_options;
    q.loss = run.loss;
    return qat(fp32, run.method, run.bits, run.bits, data, q, run.seed, threads).net;
  }();
  RunRecord r;
  r.method = method_name(run.method);
  r.mode = run.mode;
  r.loss = to_string(run.loss);
  r.bits_w = r.bits_a = run.bits;
  r.seed = run.seed;
  r.metrics = evaluate_test(net, data, o.splits, o.eval_batch, threads);
  r.drops = drops_against(fp32_metrics, r.metrics);
  r.has_drops = true;
  return CompareRun{std::move(r), std::move(net)};
}

std::string file_sha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot read");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return sha256_hex(bytes);
}

void write_compare_identity(io::H5File& f, const CompareIdentity& id) {
  f.set_attribute("/results", "data_sha256", id.data_sha256);
  f.set_attribute("/results", "model_sha256", id.model_sha256);
  f.set_attribute("/results", "plan", id.plan);
  f.set_attribute("/results", "shard_index", id.shard.index);
  f.set_attribute("/results", "shard_count", id.shard.count);
}

CompareIdentity read_compare_identity(const io::H5File& f) {
  CompareIdentity id;
  for (const char* key : {"data_sha256", "model_sha256", "plan", "shard_index", "shard_count"})
    if (!f.has_attribute("/results", key))
      throw DataError(f.path() + ":/results: missing attribute '" + key +
                      "' (not a compare output)");
  id.data_sha256 = f.read_attribute_string("/results", "data_sha256");
  id.model_sha256 = f.read_attribute_string("/results", "model_sha256");
  id.plan = f.read_attribute_string("/results", "plan");
  id.shard.index = static_cast<int>(f.read_attribute_int("/results", "shard_index"));
  id.shard.count = static_cast<int>(f.read_attribute_int("/results", "shard_count"));
  return id;
}

ResultsFile merge_compare(const std::vector<std::string>& paths, CompareIdentity* merged) {
  if (paths.empty()) throw UsageError("compare --merge: expected shard files");
  std::vector<ResultsFile> files;
  std::vector<CompareIdentity> ids;
  for (const auto& p : paths) {
    const io::H5File f = io::H5File::open(p);
    ids.push_back(read_compare_identity(f));
    files.push_back(read_results(f));
  }
  const CompareIdentity& first = ids.front();
  std::vector<int> owner(static_cast<size_t>(std::max(first.shard.count, 1)), -1);
  for (size_t k = 0; k < ids.size(); ++k) {
    const CompareIdentity& id = ids[k];
    const std::string both = paths.front() + " and " + paths[k];
    if (id.data_sha256 != first.data_sha256)
      throw DataError("compare --merge: " + both + " were computed on different data files");
    if (id.model_sha256 != first.model_sha256)
      throw DataError("compare --merge: " + both + " come from different FP32 models");
    if (id.plan != first.plan || id.shard.count != first.shard.count)
      throw DataError("compare --merge: " + both +
                      " have different run lists (methods, losses, "
                      "bits, seeds or shard count)");
    if (files[k].header.class_names != files.front().header.class_names ||
        files[k].header.class_counts != files.front().header.class_counts)
      throw DataError("compare --merge: " + both + " have different classes or class counts");
    if (id.shard.index < 0 || id.shard.index >= first.shard.count)
      throw DataError("compare --merge: " + paths[k] + ": shard " + id.shard.str() +
                      " out of range");
    int& o = owner[static_cast<size_t>(id.shard.index)];
    if (o >= 0)
      throw DataError("compare --merge: " + paths[static_cast<size_t>(o)] + " and " + paths[k] +
                      " are both shard " + id.shard.str());
    o = static_cast<int>(k);
  }
  for (size_t s = 0; s < owner.size(); ++s)
    if (owner[s] < 0)
      throw DataError("compare --merge: shard " + std::to_string(s) + "/" +
                      std::to_string(first.shard.count) + " is missing");
  ResultsFile out;
  out.header = files.front().header;
  bool fp32_done = false;
  for (int k : owner)
    for (const auto& run : files[static_cast<size_t>(k)].runs) {
      if (run.mode == "fp32") {
        if (fp32_done) continue;
        fp32_done = true;
      }
      out.runs.push_back(run);
    }
  if (merged != nullptr) {
    *merged = first;
    merged->shard = Shard{};
  }
  return out;
}

std::string per_class_svg(const ResultsHeader& header, const std::vector<RunRecord>& runs) {
  const size_t c = header.class_names.size();
  std::vector<size_t> rank(c);
  std::iota(rank.begin(), rank.end(), size_t{0});
  std::stable_sort(rank.begin(), rank.end(), [&](size_t a, size_t b) {
    return header.class_counts[a] > header.class_counts[b];
  });
  // One panel per bit width; one line per (method, mode, loss): the mean over its seeds. Colour =
  // method, dash = mode/loss (PTQ solid, QAT ce dashed, homovar dotted, cb dash-dot).
  auto color = [](const std::string& method) {
    if (method == "uniform") return "#1f77b4";
    if (method == "lsq") return "#2ca02c";
    if (method == "climbq") return "#d62728";
    if (method == "climbq-noscale") return "#ff7f0e";
    return "#000000";
  };
  auto dash = [](const RunRecord& r) {
    if (r.mode != "qat") return "";
    if (r.loss == "ce") return "6,3";
    if (r.loss == "homovar") return "2,2";
    return "8,2,2,2";
  };
  std::vector<int> bits;
  for (const RunRecord& r : runs)
    if (r.mode != "fp32" && std::find(bits.begin(), bits.end(), r.bits_w) == bits.end())
      bits.push_back(r.bits_w);
  if (bits.empty()) bits.push_back(0);  // FP32 only
  std::vector<std::string> panels;
  const int panel_width = 620, legend = 190;
  int height = 420;
  for (int b : bits) {
    struct Group {
      const RunRecord* first;
      std::string label;
      std::vector<double> sum;
      std::vector<int> n;
    };
    std::vector<Group> groups;
    for (const RunRecord& r : runs) {
      if (r.mode != "fp32" && r.bits_w != b) continue;
      const std::string label =
          r.mode == "fp32" ? std::string("FP32")
                           : r.method + " " + r.mode + (r.mode == "qat" ? "/" + r.loss : "");
      auto it = std::find_if(groups.begin(), groups.end(),
                             [&](const Group& g) { return g.label == label; });
      if (it == groups.end()) {
        groups.push_back({&r, label, std::vector<double>(c, 0.0), std::vector<int>(c, 0)});
        it = groups.end() - 1;
      }
      for (size_t i = 0; i < c; ++i)
        if (!std::isnan(r.metrics.per_class_acc[i])) {
          it->sum[i] += r.metrics.per_class_acc[i];
          ++it->n[i];
        }
    }
    height = std::max(height, 80 + 16 * static_cast<int>(groups.size()));
    io::LinePlot plot(panel_width, height);
    plot.set_legend_width(legend);
    plot.set_title(b == 0 ? std::string("FP32 per-class test accuracy")
                          : "W" + std::to_string(b) + "A" + std::to_string(b) +
                                ": per-class test accuracy (mean over seeds)");
    plot.set_labels("class rank (0 = most training images)", "accuracy (%)");
    for (const Group& g : groups) {
      io::PlotLine line;
      line.label = g.label;
      line.color = color(g.first->mode == "fp32" ? "fp32" : g.first->method);
      line.width = g.first->mode == "fp32" ? 2.5 : 1.6;
      line.dash = dash(*g.first);
      for (size_t i = 0; i < c; ++i) {
        if (g.n[rank[i]] == 0) continue;
        line.x.push_back(static_cast<double>(i));
        line.y.push_back(100.0 * g.sum[rank[i]] / g.n[rank[i]]);
      }
      plot.add_line(std::move(line));
    }
    // Split boundaries: between the last many and the first medium, medium and few.
    for (size_t i = 1; i < c; ++i)
      if (header.splits[rank[i]] != header.splits[rank[i - 1]])
        plot.add_vline(static_cast<double>(i) - 0.5);
    panels.push_back(plot.render());
  }
  return panels.size() == 1 ? panels.front() : io::side_by_side(panels, panel_width, height);
}

}  // namespace effinfer::climbq
