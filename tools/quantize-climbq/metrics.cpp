#include "metrics.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.hpp"

namespace effinfer::climbq {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double nan_mean(const std::vector<double>& v) {
  double s = 0;
  int n = 0;
  for (double x : v)
    if (!std::isnan(x)) s += x, ++n;
  return n ? s / n : kNaN;
}

}  // namespace

EvalMetrics compute_metrics(std::span<const int> predictions, std::span<const int> labels,
                            int classes, const std::vector<Split>& splits) {
  if (classes < 1) throw InternalError("compute_metrics: classes " + std::to_string(classes));
  if (predictions.size() != labels.size()) {
    throw InternalError("compute_metrics: " + std::to_string(predictions.size()) +
                        " predictions for " + std::to_string(labels.size()) + " labels");
  }
  if (!splits.empty() && splits.size() != static_cast<size_t>(classes)) {
    throw InternalError("compute_metrics: " + std::to_string(splits.size()) + " splits for " +
                        std::to_string(classes) + " classes");
  }
  const size_t c = static_cast<size_t>(classes);
  std::vector<int64_t> confusion(c * c, 0);
  for (size_t i = 0; i < labels.size(); ++i) {
    const int y = labels[i], p = predictions[i];
    if (y < 0 || y >= classes || p < 0 || p >= classes) {
      throw InternalError("compute_metrics: sample " + std::to_string(i) + " label " +
                          std::to_string(y) + " / prediction " + std::to_string(p) +
                          " outside [0, " + std::to_string(classes) + ")");
    }
    ++confusion[static_cast<size_t>(y) * c + static_cast<size_t>(p)];
  }
  return metrics_from_confusion(std::move(confusion), classes, splits);
}

EvalMetrics metrics_from_confusion(std::vector<int64_t> confusion, int classes,
                                   const std::vector<Split>& splits) {
  const size_t c = static_cast<size_t>(classes);
  if (classes < 1 || confusion.size() != c * c)
    throw InternalError("metrics_from_confusion: " + std::to_string(confusion.size()) +
                        " entries for " + std::to_string(classes) + " classes");
  if (!splits.empty() && splits.size() != c)
    throw InternalError("metrics_from_confusion: " + std::to_string(splits.size()) +
                        " splits for " + std::to_string(classes) + " classes");
  EvalMetrics m;
  m.classes = classes;
  m.confusion = std::move(confusion);
  m.per_class_acc.assign(c, kNaN);
  for (size_t i = 0; i < c; ++i) {
    int64_t row = 0;
    for (size_t j = 0; j < c; ++j) row += m.confusion[i * c + j];
    if (row > 0) {
      m.per_class_acc[i] = static_cast<double>(m.confusion[i * c + i]) / static_cast<double>(row);
    } else {
      m.warnings.push_back("class " + std::to_string(i) +
                           " has no evaluation samples; its accuracy is NaN and left out");
    }
  }
  m.acc = nan_mean(m.per_class_acc);
  m.worst_class = -1;
  m.worst_class_acc = kNaN;
  for (size_t i = 0; i < c; ++i) {
    const double a = m.per_class_acc[i];
    if (std::isnan(a)) continue;
    if (m.worst_class < 0 || a < m.worst_class_acc) {
      m.worst_class = static_cast<int>(i);
      m.worst_class_acc = a;
    }
  }
  m.many = m.medium = m.few = kNaN;
  if (!splits.empty()) {
    for (Split s : {Split::kMany, Split::kMedium, Split::kFew}) {
      std::vector<double> members;
      for (size_t i = 0; i < c; ++i)
        if (splits[i] == s) members.push_back(m.per_class_acc[i]);
      double v = nan_mean(members);
      if (members.empty()) {
        m.warnings.push_back(std::string("split '") + to_string(s) +
                             "' has no classes; its mean accuracy is null");
      }
      (s == Split::kMany ? m.many : s == Split::kMedium ? m.medium : m.few) = v;
    }
  }
  return m;
}

Drops drops_against(const EvalMetrics& reference, const EvalMetrics& value) {
  // NaN propagates through the subtraction.
  return {reference.acc - value.acc, reference.many - value.many, reference.medium - value.medium,
          reference.few - value.few};
}

std::string run_name(size_t index, const RunRecord& run) {
  char prefix[16];
  std::snprintf(prefix, sizeof(prefix), "%03zu", index);
  return std::string(prefix) + "_" + run.method + "_" + run.mode + "_" + run.loss + "_w" +
         std::to_string(run.bits_w) + "a" + std::to_string(run.bits_a) + "_s" +
         std::to_string(run.seed);
}

void write_results(io::H5File& file, const ResultsHeader& header,
                   const std::vector<RunRecord>& runs) {
  const size_t c = header.class_names.size();
  if (header.class_counts.size() != c || header.splits.size() != c) {
    throw InternalError("write_results: " + std::to_string(c) + " class names, " +
                        std::to_string(header.class_counts.size()) + " counts, " +
                        std::to_string(header.splits.size()) + " splits");
  }
  for (const auto& r : runs) {
    if (r.metrics.classes != static_cast<int>(c)) {
      throw InternalError("write_results: run " + r.method + " has " +
                          std::to_string(r.metrics.classes) + " classes, expected " +
                          std::to_string(c));
    }
  }
  file.create_group("/results");
  file.write_strings("/results/class_names", header.class_names);
  file.write_int64("/results/class_counts", header.class_counts);
  file.set_units("/results/class_counts", "count");
  file.create_group("/results/split");
  for (Split s : {Split::kMany, Split::kMedium, Split::kFew}) {
    std::vector<int32_t> labels;
    for (size_t i = 0; i < c; ++i)
      if (header.splits[i] == s) labels.push_back(static_cast<int32_t>(i));
    const std::string path = std::string("/results/split/") + to_string(s);
    file.write_int32(path, labels, {static_cast<hsize_t>(labels.size())});
  }

  const size_t n = runs.size();
  std::vector<std::string> col_run(n), col_method(n), col_mode(n), col_loss(n);
  std::vector<int32_t> col_bits_w(n), col_bits_a(n), col_worst(n);
  std::vector<int64_t> col_seed(n);
  Eigen::VectorXd acc(n), many(n), medium(n), few(n), worst_acc(n), d_acc(n), d_many(n),
      d_medium(n), d_few(n), agreement(n);
  bool any_int = false;
  file.create_group("/results/runs");
  for (size_t k = 0; k < n; ++k) {
    const RunRecord& r = runs[k];
    const EvalMetrics& m = r.metrics;
    const std::string name = run_name(k, r);
    const std::string g = "/results/runs/" + name;
    file.create_group(g);
    file.write_vector(
        g + "/per_class_acc",
        Eigen::Map<const Eigen::VectorXd>(m.per_class_acc.data(), static_cast<Eigen::Index>(c)));
    file.set_units(g + "/per_class_acc", "1");
    file.write_int64(g + "/confusion", m.confusion, {c, c});
    file.set_units(g + "/confusion", "count");
    const Drops d = r.has_drops ? r.drops : Drops{kNaN, kNaN, kNaN, kNaN};
    file.set_attribute(g, "method", r.method);
    file.set_attribute(g, "mode", r.mode);
    file.set_attribute(g, "loss", r.loss);
    file.set_attribute(g, "bits_w", r.bits_w);
    file.set_attribute(g, "bits_a", r.bits_a);
    file.set_attribute(g, "seed", static_cast<int64_t>(r.seed));
    file.set_attribute(g, "acc", m.acc);
    file.set_attribute(g, "many", m.many);
    file.set_attribute(g, "medium", m.medium);
    file.set_attribute(g, "few", m.few);
    file.set_attribute(g, "worst_class", m.worst_class);
    file.set_attribute(g, "worst_class_acc", m.worst_class_acc);
    file.set_attribute(g, "drop_acc", d.acc);
    file.set_attribute(g, "drop_many", d.many);
    file.set_attribute(g, "drop_medium", d.medium);
    file.set_attribute(g, "drop_few", d.few);
    file.set_attribute(g, "units", "1");
    if (r.has_int) file.set_attribute(g, "label_agreement_int", r.label_agreement_int);
    any_int = any_int || r.has_int;

    const Eigen::Index e = static_cast<Eigen::Index>(k);
    col_run[k] = name;
    col_method[k] = r.method;
    col_mode[k] = r.mode;
    col_loss[k] = r.loss;
    col_bits_w[k] = r.bits_w;
    col_bits_a[k] = r.bits_a;
    col_seed[k] = static_cast<int64_t>(r.seed);
    col_worst[k] = m.worst_class;
    acc[e] = m.acc, many[e] = m.many, medium[e] = m.medium, few[e] = m.few;
    worst_acc[e] = m.worst_class_acc;
    d_acc[e] = d.acc, d_many[e] = d.many, d_medium[e] = d.medium, d_few[e] = d.few;
    agreement[e] = r.has_int ? r.label_agreement_int : kNaN;
  }

  const std::string t = "/results/table/";
  file.create_group("/results/table");
  const std::vector<hsize_t> shape{static_cast<hsize_t>(n)};
  file.write_strings(t + "run", col_run);
  file.write_strings(t + "method", col_method);
  file.write_strings(t + "mode", col_mode);
  file.write_strings(t + "loss", col_loss);
  file.write_int32(t + "bits_w", col_bits_w, shape);
  file.write_int32(t + "bits_a", col_bits_a, shape);
  file.write_int64(t + "seed", col_seed, shape);
  file.write_int32(t + "worst_class", col_worst, shape);
  auto fraction = [&](const std::string& name, const Eigen::VectorXd& v) {
    file.write_vector(t + name, v);
    file.set_units(t + name, "1");
  };
  fraction("acc", acc);
  fraction("many", many);
  fraction("medium", medium);
  fraction("few", few);
  fraction("worst_class_acc", worst_acc);
  fraction("drop_acc", d_acc);
  fraction("drop_many", d_many);
  fraction("drop_medium", d_medium);
  fraction("drop_few", d_few);
  if (any_int) fraction("label_agreement_int", agreement);
}

ResultsFile read_results(const io::H5File& f) {
  auto need = [&](const std::string& path) {
    if (!f.exists(path)) throw DataError(f.path() + ":" + path + ": missing");
  };
  need("/results/class_names");
  ResultsFile r;
  r.header.class_names = f.read_strings("/results/class_names");
  need("/results/class_counts");
  r.header.class_counts = f.read_int_vector("/results/class_counts");
  const size_t c = r.header.class_names.size();
  if (c < 1 || r.header.class_counts.size() != c)
    throw DataError(f.path() + ":/results/class_counts: expected " + std::to_string(c) +
                    " counts, found " + std::to_string(r.header.class_counts.size()));
  r.header.splits.assign(c, Split::kMedium);
  for (Split s : {Split::kMany, Split::kMedium, Split::kFew}) {
    const std::string path = std::string("/results/split/") + to_string(s);
    need(path);
    for (int64_t label : f.read_int_vector(path)) {
      if (label < 0 || label >= static_cast<int64_t>(c))
        throw DataError(f.path() + ":" + path + ": label " + std::to_string(label) +
                        " outside [0, " + std::to_string(c) + ")");
      r.header.splits[static_cast<size_t>(label)] = s;
    }
  }
  need("/results/runs");
  for (const std::string& name : f.children("/results/runs")) {
    const std::string g = "/results/runs/" + name;
    const std::string cpath = g + "/confusion";
    need(cpath);
    const io::DatasetInfo info = f.info(cpath);
    if (info.shape != std::vector<hsize_t>{c, c})
      throw DataError(f.path() + ":" + cpath + ": expected (" + std::to_string(c) + ", " +
                      std::to_string(c) + "), found " + info.describe());
    RunRecord run;
    std::vector<int64_t> confusion(c * c);
    f.read_raw(cpath, H5T_NATIVE_INT64, confusion.data(), confusion.size());
    run.metrics =
        metrics_from_confusion(std::move(confusion), static_cast<int>(c), r.header.splits);
    auto text = [&](const char* key) {
      if (!f.has_attribute(g, key))
        throw DataError(f.path() + ":" + g + ": missing attribute '" + key + "'");
      return f.read_attribute_string(g, key);
    };
    auto integer = [&](const char* key) {
      if (!f.has_attribute(g, key))
        throw DataError(f.path() + ":" + g + ": missing attribute '" + key + "'");
      return f.read_attribute_int(g, key);
    };
    run.method = text("method");
    run.mode = text("mode");
    run.loss = text("loss");
    run.bits_w = static_cast<int>(integer("bits_w"));
    run.bits_a = static_cast<int>(integer("bits_a"));
    run.seed = static_cast<uint64_t>(integer("seed"));
    if (f.has_attribute(g, "label_agreement_int")) {
      run.has_int = true;
      run.label_agreement_int = f.read_attribute_double(g, "label_agreement_int");
    }
    r.runs.push_back(std::move(run));
  }
  // Drops against the first FP32 run, as written.
  const RunRecord* ref = nullptr;
  for (const auto& run : r.runs)
    if (run.mode == "fp32") {
      ref = &run;
      break;
    }
  if (ref != nullptr) {
    const EvalMetrics ref_metrics = ref->metrics;
    for (auto& run : r.runs) {
      run.drops = drops_against(ref_metrics, run.metrics);
      run.has_drops = true;
    }
  }
  return r;
}

Json run_json(const RunRecord& run) {
  const EvalMetrics& m = run.metrics;
  Json j = Json::object();
  j.set("method", run.method);
  j.set("mode", run.mode);
  j.set("loss", run.loss);
  j.set("bits_w", run.bits_w);
  j.set("bits_a", run.bits_a);
  j.set("acc", m.acc);
  j.set("many", m.many);
  j.set("medium", m.medium);
  j.set("few", m.few);
  j.set("worst_class", m.worst_class);
  j.set("worst_class_acc", m.worst_class_acc);
  if (run.has_drops) {
    Json d = Json::object();
    d.set("acc", run.drops.acc);
    d.set("many", run.drops.many);
    d.set("medium", run.drops.medium);
    d.set("few", run.drops.few);
    j.set("drop", std::move(d));
  }
  if (run.has_int) j.set("label_agreement_int", run.label_agreement_int);
  return j;
}

}  // namespace effinfer::climbq
