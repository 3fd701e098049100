// Training driver of spec condconv-bench 2.8; see train.hpp.
#include "train.hpp"

#include <algorithm>
#include <cmath>
#include <span>

#include "core/error.hpp"
#include "io/digits.hpp"
#include "io/idx.hpp"
#include "nn/loader.hpp"
#include "nn/loss.hpp"
#include "nn/optim.hpp"

namespace effinfer::condconv {

namespace {

void append_images(const io::LabeledImages& im, double scale, std::vector<float>& x,
                   std::vector<int>& y, const std::vector<size_t>& rows) {
  const size_t ss = im.sample_size();
  for (size_t r : rows) {
    for (size_t i = 0; i < ss; ++i) x.push_back(static_cast<float>(im.pixels[r * ss + i] * scale));
    y.push_back(im.labels[r]);
  }
}

std::vector<size_t> all_rows(size_t n) {
  std::vector<size_t> r(n);
  for (size_t i = 0; i < n; ++i) r[i] = i;
  return r;
}

}  // namespace

TrainData load_train_data(const std::string& dataset, const std::string& data_dir,
                          int64_t train_subset) {
  TrainData d;
  d.dataset = dataset;
  if (dataset == "fashion-mnist") {
    const std::string dir = data_dir.empty() ? std::string(io::kFashionMnistDir) : data_dir;
    d.source = dir;
    const io::LabeledImages tr = io::read_fashion_mnist(true, dir);
    const io::LabeledImages te = io::read_fashion_mnist(false, dir);
    d.h = static_cast<int64_t>(tr.h), d.w = static_cast<int64_t>(tr.w), d.classes = tr.classes;
    append_images(tr, 1.0 / 255, d.train_x, d.train_y, all_rows(tr.n));
    append_images(te, 1.0 / 255, d.test_x, d.test_y, all_rows(te.n));
  } else if (dataset == "digits") {
    const std::string path =
        data_dir.empty() ? std::string(io::kDigitsCsv) : data_dir + "/digits.csv.gz";
    d.source = path;
    const io::LabeledImages im = io::read_digits(path);
    d.h = static_cast<int64_t>(im.h), d.w = static_cast<int64_t>(im.w), d.classes = im.classes;
    // Spec 4: rows with index = 4 (mod 5) are the test split.
    std::vector<size_t> train_rows, test_rows;
    for (size_t i = 0; i < im.n; ++i) (i % 5 == 4 ? test_rows : train_rows).push_back(i);
    append_images(im, 1.0 / 16, d.train_x, d.train_y, train_rows);
    append_images(im, 1.0 / 16, d.test_x, d.test_y, test_rows);
  } else {
    throw UsageError("unknown dataset '" + dataset + "' (expected fashion-mnist or digits)");
  }
  if (train_subset > 0 && train_subset < d.n_train()) {
    d.train_y.resize(static_cast<size_t>(train_subset));
    d.train_x.resize(static_cast<size_t>(train_subset * d.h * d.w));
  }
  return d;
}

TrainSettings train_settings(const io::Config& c) {
  TrainSettings s;
  s.dataset = c.get_string("train.dataset");
  if (s.dataset != "fashion-mnist" && s.dataset != "digits")
    c.fail("train.dataset", "expected fashion-mnist or digits, found '" + s.dataset + "'");
  s.data_dir = c.is_null("train.data_dir") ? "" : c.get_string("train.data_dir");
  s.experts.clear();
  for (double v : c.get_doubles("train.experts")) {
    if (!(v >= 1) || v != std::floor(v) || v > 1024)
      c.fail("train.experts",
             "expected integers >= 1 (at least one expert), found " + std::to_string(v));
    s.experts.push_back(static_cast<int64_t>(v));
  }
  s.variants.clear();
  for (const std::string& name : c.get_strings("train.variants")) {
    Variant v;
    if (!parse_variant(name, v))
      c.fail("train.variants", "unknown variant '" + name +
                                   "' (expected static, condconv, static_equal_macs or "
                                   "static_equal_params)");
    s.variants.push_back(v);
  }
  if (s.variants.empty()) c.fail("train.variants", "expected at least one variant");
  const bool needs_n = std::any_of(s.variants.begin(), s.variants.end(),
                                   [](Variant v) { return v != Variant::kStatic; });
  if (needs_n && s.experts.empty()) c.fail("train.experts", "expected at least one value");
  auto int_at_least = [&](const std::string& key, int64_t min) {
    const int64_t v = c.get_int(key);
    if (v < min)
      c.fail(key, "expected an integer >= " + std::to_string(min) + ", found " + std::to_string(v));
    return v;
  };
  s.repeats = static_cast<int>(int_at_least("train.repeats", 1));
  s.epochs = static_cast<int>(int_at_least("train.epochs", 1));
  s.batch = int_at_least("train.batch", 2);
  s.train_subset = int_at_least("train.train_subset", 0);
  s.lr = c.get_double("train.lr");
  if (!(s.lr > 0) || !std::isfinite(s.lr)) c.fail("train.lr", "expected a finite number > 0");
  if (c.get_string("train.lr_schedule") != "cosine")
    c.fail("train.lr_schedule", "only cosine (per step, spec 2.8) is implemented");
  s.momentum = c.get_double("train.momentum");
  if (!(s.momentum >= 0 && s.momentum < 1)) c.fail("train.momentum", "expected a number in [0, 1)");
  s.weight_decay = c.get_double("train.weight_decay");
  if (!(s.weight_decay >= 0)) c.fail("train.weight_decay", "expected a number >= 0");
  s.dropout_fc = c.get_double("train.dropout_fc");
  if (!(s.dropout_fc >= 0 && s.dropout_fc < 1))
    c.fail("train.dropout_fc", "expected a number in [0, 1)");
  s.save_models = c.get_string("train.save_models");
  if (s.save_models != "none" && s.save_models != "first_seed" && s.save_models != "all")
    c.fail("train.save_models", "expected none, first_seed or all, found '" + s.save_models + "'");
  return s;
}

std::vector<RunSpec> plan_runs(const TrainSettings& s, uint64_t base_seed) {
  std::vector<RunSpec> runs;
  for (Variant v : s.variants) {
    std::vector<int64_t> ns = v == Variant::kStatic ? std::vector<int64_t>{0} : s.experts;
    for (int64_t n : ns)
      for (int r = 0; r < s.repeats; ++r) {
        RunSpec run;
        run.net = make_net_spec(v, n, s.dropout_fc);
        run.seed = base_seed + static_cast<uint64_t>(r);
        run.repeat = r;
        run.name = variant_name(v);
        if (v != Variant::kStatic) run.name += "_n" + std::to_string(n);
        if (v == Variant::kStaticEqualMacs || v == Variant::kStaticEqualParams)
          run.name += "_c" + std::to_string(run.net.width);
        run.name += "_s" + std::to_string(run.seed);
        runs.push_back(run);
      }
  }
  return runs;
}

EvalResult evaluate_net(nn::Sequential<float>& net, const std::vector<float>& x,
                        const std::vector<int>& y, int64_t h, int64_t w, int classes, int threads) {
  EvalResult r;
  r.confusion.assign(static_cast<size_t>(classes * classes), 0);
  const int64_t n = static_cast<int64_t>(y.size()), chunk = 500;
  nn::Pass pass;
  pass.threads = threads;
  nn::Tensor<float> xb;
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t b0 = 0; b0 < n; b0 += chunk) {
    const int64_t m = std::min(chunk, n - b0);
    xb.resize(nn::Shape{m, h, w, 1});
    std::copy(x.begin() + b0 * h * w, x.begin() + (b0 + m) * h * w, xb.data());
    const nn::Tensor<float>& logits = net.run(xb, pass);
    const std::span<const int> labels(y.data() + b0, static_cast<size_t>(m));
    loss_sum += nn::softmax_cross_entropy<float>(logits, labels, nullptr) * static_cast<double>(m);
    for (int64_t i = 0; i < m; ++i) {
      const float* z = logits.data() + i * classes;
      const int pred = static_cast<int>(std::max_element(z, z + classes) - z);
      correct += pred == labels[i];
      ++r.confusion[static_cast<size_t>(labels[i] * classes + pred)];
    }
  }
  r.loss = n ? loss_sum / static_cast<double>(n) : 0;
  r.acc = n ? static_cast<double>(correct) / static_cast<double>(n) : 0;
  return r;
}

RunResult train_run(const RunSpec& run, const TrainSettings& s, const TrainData& data, int threads,
                    std::unique_ptr<nn::Sequential<float>>& net,
                    const std::function<void(const EpochInfo&)>& progress) {
  RunResult res;
  res.spec = run;
  net = build_net<float>(run.net, run.seed);
  const nn::Cost cost = net->cost(nn::Shape{1, data.h, data.w, 1});
  res.macs = cost.macs, res.params = cost.params;
  res.madds_tf = static_cast<double>(cost.macs) + madds_other(run.net, data.h, data.w);

  nn::Loader<float>::Options lo;
  lo.batch_size = s.batch;
  lo.mode = nn::Loader<float>::Mode::kTrain;
  lo.seed = run.seed;  // per-epoch shuffle from the seed (spec 2.8)
  nn::Loader<float> loader(std::span<const float>(data.train_x), std::span<const int>(data.train_y),
                           nn::Shape{data.h, data.w, 1}, lo);
  const int64_t per_epoch = loader.num_batches();
  const int64_t total = per_epoch * s.epochs;
  const nn::Schedule schedule = nn::Schedule::cosine(s.lr, total);
  nn::Sgd<float> sgd(train_params(*net), s.momentum, s.weight_decay);

  nn::Pass pass;
  pass.training = true;
  pass.threads = threads;
  pass.seed = run.seed;
  nn::Tensor<float> x, dlogits, dx;
  std::vector<int> y;
  int64_t step = 0;
  for (int e = 0; e < s.epochs && !res.diverged; ++e) {
    loader.start_epoch(e);
    double sum = 0;
    int64_t count = 0;
    double lr = 0;
    while (loader.next(x, y)) {
      lr = schedule.lr(step, e);
      pass.stream = static_cast<uint64_t>(step);  // a fresh dropout mask every step
      sgd.zero_grad();
      const nn::Tensor<float>& logits = net->run(x, pass);
      const double loss = nn::softmax_cross_entropy<float>(logits, y, &dlogits);
      res.step_loss.push_back(loss);
      if (!std::isfinite(loss)) {
        res.diverged = true;
        break;
      }
      net->backward(dlogits, nullptr, pass);
      sgd.step(lr);
      sum += loss;
      ++count;
      ++step;
    }
    if (res.diverged) break;
    const EvalResult ev =
        evaluate_net(*net, data.test_x, data.test_y, data.h, data.w, data.classes, threads);
    res.epoch_loss.push_back(count ? sum / static_cast<double>(count) : 0);
    res.epoch_test_acc.push_back(ev.acc);
    res.epochs = e + 1;
    res.train_loss_last = res.epoch_loss.back();
    res.test_loss = ev.loss, res.test_acc = ev.acc, res.confusion = ev.confusion;
    if (progress) progress(EpochInfo{&run, e, s.epochs, res.train_loss_last, ev.acc, lr});
  }
  if (res.diverged) {
    res.train_loss_last = std::nan("");
    res.test_loss = std::nan("");
    res.test_acc = std::nan("");
  }
  return res;
}

void save_model(io::H5File& f, const std::string& group, nn::Sequential<float>& net,
                const NetSpec& spec, const TrainData& data) {
  f.create_group(group);
  f.set_attribute(group, "variant", variant_name(spec.variant));
  f.set_attribute(group, "experts", static_cast<int64_t>(spec.experts));
  f.set_attribute(group, "width", static_cast<int64_t>(spec.width));
  f.set_attribute(group, "dropout", spec.dropout);
  f.set_attribute(group, "dataset", data.dataset);
  f.set_attribute(group, "height", static_cast<int64_t>(data.h));
  f.set_attribute(group, "width_px", static_cast<int64_t>(data.w));
  for (const auto& p : net.params()) {
    const std::string path = group + "/" + p.name;
    const auto slash = path.rfind('/');
    f.create_group(path.substr(0, slash));
    const nn::Tensor<float>& t = *p.value;
    const int64_t rows = t.dim(0), cols = t.size() / std::max<int64_t>(rows, 1);
    io::RowMatrixXd m(rows, cols);
    for (int64_t i = 0; i < t.size(); ++i) m(i / cols, i % cols) = t[i];
    f.write_matrix(path, m);
    f.set_attribute(path, "shape", t.shape().str());
    f.set_units(path, "1");
  }
}

std::unique_ptr<nn::Sequential<float>> load_model(const io::H5File& f, const std::string& group,
                                                  NetSpec& spec, std::string& dataset) {
  const std::string where = f.path() + ":" + group;
  for (const char* a : {"variant", "experts", "width", "dropout", "dataset"})
    if (!f.has_attribute(group, a))
      throw DataError(where + ": attribute '" + std::string(a) + "' missing");
  if (!parse_variant(f.read_attribute_string(group, "variant"), spec.variant))
    throw DataError(where + ": unknown variant '" + f.read_attribute_string(group, "variant") +
                    "'");
  spec.experts = f.read_attribute_int(group, "experts");
  spec.width = f.read_attribute_int(group, "width");
  spec.dropout = f.read_attribute_double(group, "dropout");
  dataset = f.read_attribute_string(group, "dataset");
  if (spec.width < 1 || spec.width > 4096 ||
      (spec.variant == Variant::kCondConv && (spec.experts < 1 || spec.experts > 1024)))
    throw DataError(where + ": width " + std::to_string(spec.width) + ", experts " +
                    std::to_string(spec.experts) + " out of range");
  auto net = build_net<float>(spec, 0);
  for (const auto& p : net->params()) {
    const std::string path = group + "/" + p.name;
    if (!f.is_dataset(path)) throw DataError(f.path() + ":" + path + ": dataset missing");
    const io::RowMatrixXd m = f.read_matrix(path);
    nn::Tensor<float>& t = *p.value;
    if (m.size() != t.size())
      throw DataError(f.path() + ":" + path + ": expected " + std::to_string(t.size()) +
                      " values " + t.shape().str() + ", found " + std::to_string(m.size()));
    for (int64_t i = 0; i < t.size(); ++i) {
      const double v = m(i / m.cols(), i % m.cols());
      if (!std::isfinite(v))
        throw DataError(f.path() + ":" + path + ": non-finite value at index " + std::to_string(i));
      t[i] = static_cast<float>(v);
    }
  }
  return net;
}

}  // namespace effinfer::condconv
