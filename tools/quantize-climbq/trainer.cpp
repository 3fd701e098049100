#include "trainer.hpp"

#include <algorithm>
#include <cmath>
#include <span>
#include <sstream>

#include "core/error.hpp"
#include "metrics.hpp"
#include "nn/optim.hpp"

namespace effinfer::climbq {

ScheduleKind parse_schedule_kind(const std::string& name) {
  if (name == "cosine") return ScheduleKind::kCosine;
  if (name == "multistep") return ScheduleKind::kMultiStep;
  if (name == "constant") return ScheduleKind::kConstant;
  throw ConfigError("optim.schedule: expected cosine, multistep or constant, found '" + name + "'");
}

SelectKind parse_select_kind(const std::string& name) {
  if (name == "last") return SelectKind::kLast;
  if (name == "best_val") return SelectKind::kBestVal;
  if (name == "best_test") return SelectKind::kBestTest;
  throw ConfigError("select: expected last, best_val or best_test, found '" + name + "'");
}

namespace {

SplitView view_of(const Dataset& d, const ImageSplit& s) {
  SplitView v;
  v.x = &s.x;
  v.y = &s.y;
  v.sample_shape = nn::Shape{d.height, d.width, d.channels};
  v.norm = nn::Normalization{d.pixel_scale, d.norm_mean, d.norm_std};
  return v;
}

void check_view(const SplitView& v, const char* what) {
  if (!v.x || !v.y) throw InternalError(std::string(what) + ": split view without data");
  const int64_t n = static_cast<int64_t>(v.y->size());
  if (static_cast<int64_t>(v.x->size()) != n * v.sample_shape.numel()) {
    throw InternalError(std::string(what) + ": " + std::to_string(v.x->size()) + " pixels for " +
                        std::to_string(n) + " samples of shape " + v.sample_shape.str());
  }
}

std::string lr_hint(double lr) {
  std::ostringstream s;
  s << "training diverged; try a lower learning rate than " << lr;
  return s.str();
}

// Mean per-class accuracy of the network on a split (eval mode).
double mean_class_accuracy(nn::Sequential<float>& net, const SplitView& split, int threads) {
  const std::vector<int> pred = evaluate(net, split, 500, threads);
  const int classes = static_cast<int>(net.tap(net.size() - 1).dim(1));
  return compute_metrics(pred, std::span<const int>(*split.y), classes, {}).acc;
}

}  // namespace

SplitView train_view(const Dataset& data) { return view_of(data, data.train); }
SplitView val_view(const Dataset& data) { return view_of(data, data.val); }
SplitView test_view(const Dataset& data) { return view_of(data, data.test); }

TrainResult train_epochs(nn::Sequential<float>& net, size_t feature_tap, const SplitView& train,
                         const ClassificationLoss& loss, const TrainOptions& options, uint64_t seed,
                         int threads, const std::function<void(const EpochReport&)>& progress,
                         const SplitView* select_on) {
  check_view(train, "train_epochs");
  if (select_on) check_view(*select_on, "train_epochs (selection split)");
  if (options.epochs < 1)
    throw ConfigError("epochs: expected >= 1, found " + std::to_string(options.epochs));
  if (options.batch_size < 2) {
    throw ConfigError("optim.batch_size: expected >= 2, found " +
                      std::to_string(options.batch_size));
  }
  if (!(options.lr >= 0))
    throw ConfigError("lr: expected >= 0, found " + std::to_string(options.lr));
  if (!(options.momentum >= 0) || !(options.weight_decay >= 0)) {
    throw ConfigError("optim.momentum / optim.weight_decay: expected >= 0");
  }
  if (feature_tap + 1 >= net.size()) {
    throw InternalError("train_epochs: feature tap " + std::to_string(feature_tap) +
                        " is not before the last of " + std::to_string(net.size()) + " layers");
  }

  nn::Loader<float>::Options lo;
  lo.batch_size = options.batch_size;
  lo.mode = nn::Loader<float>::Mode::kTrain;
  lo.seed = seed;
  lo.norm = train.norm;
  nn::Loader<float> loader(std::span<const uint8_t>(*train.x), std::span<const int>(*train.y),
                           train.sample_shape, lo);
  const int64_t per_epoch = loader.num_batches();
  if (per_epoch < 1) {
    throw DataError("train_epochs: " + std::to_string(loader.size()) +
                    " training samples give no batch of at least 2");
  }
  const int64_t total = per_epoch * options.epochs;

  nn::Schedule schedule;
  switch (options.schedule) {
    case ScheduleKind::kCosine:
      schedule = nn::Schedule::cosine(options.lr, total);
      break;
    case ScheduleKind::kMultiStep:
      schedule = nn::Schedule::multistep(options.lr, options.milestones, options.gamma);
      break;
    case ScheduleKind::kConstant:
      schedule = nn::Schedule::constant(options.lr);
      break;
  }
  schedule.validate();

  nn::Sgd<float> sgd(net.params(), options.momentum, options.weight_decay);
  const bool need_features = loss.kind() == LossKind::kHomoVar;

  // Parameters and buffers of the selected epoch (with select_on).
  std::vector<nn::Param<float>> state = net.params();
  for (const auto& b : net.buffers()) state.push_back(b);
  std::vector<nn::Tensor<float>> best_state;

  TrainResult result;
  nn::Tensor<float> x, dlogits, empty;
  std::vector<int> y;
  int64_t step = 0;
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    loader.start_epoch(epoch);
    const int sched_epoch = options.multistep_at_epoch_start ? epoch + 1 : epoch;
    double sum = 0;
    int64_t batches = 0;
    double lr = 0;
    while (loader.next(x, y)) {
      nn::Pass pass;
      pass.training = true;
      pass.labels = &y;
      pass.threads = threads;
      pass.seed = seed;
      pass.stream = static_cast<uint64_t>(step);
      const nn::Tensor<float>& logits = net.run(x, pass);
      const nn::Tensor<float>& features = need_features ? net.tap(feature_tap) : empty;
      const double value = loss(features, std::span<const int>(y), logits, &dlogits);
      auto where = [&] {
        return "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options.epochs) +
               ", step " + std::to_string(step + 1) + " (batch " + std::to_string(batches + 1) +
               " of the epoch), loss " + to_string(loss.kind());
      };
      if (!std::isfinite(value) || !dlogits.vec().allFinite()) {
        throw NumericalError("non-finite " +
                             std::string(std::isfinite(value) ? "loss gradient" : "loss value") +
                             " at " + where() + ": " + lr_hint(options.lr));
      }
      net.zero_grad();
      net.backward(dlogits, nullptr, pass);
      for (const auto& p : sgd.params()) {
        if (p.grad && !p.frozen && !p.grad->vec().allFinite()) {
          throw NumericalError("non-finite gradient of " + p.name + " at " + where() + ": " +
                               lr_hint(options.lr));
        }
      }
      lr = schedule.lr(step, sched_epoch);
      sgd.step(lr);
      sum += value;
      ++batches;
      ++step;
    }
    result.epoch_loss.push_back(sum / static_cast<double>(batches));
    result.final_lr = lr;
    EpochReport report{epoch, options.epochs, result.epoch_loss.back(), lr};
    if (select_on) {
      report.select_acc = mean_class_accuracy(net, *select_on, threads);
      if (result.selected_epoch < 0 || report.select_acc > result.selected_acc) {
        result.selected_epoch = epoch;
        result.selected_acc = report.select_acc;
        best_state.resize(state.size());
        for (size_t i = 0; i < state.size(); ++i) best_state[i] = *state[i].value;
      }
    }
    if (progress) progress(report);
  }
  result.steps = step;
  if (select_on) {
    for (size_t i = 0; i < state.size(); ++i) *state[i].value = best_state[i];
  } else {
    result.selected_epoch = options.epochs - 1;
  }
  return result;
}

std::vector<int> evaluate(nn::Sequential<float>& net, const SplitView& split, int64_t batch_size,
                          int threads) {
  check_view(split, "evaluate");
  if (batch_size < 1)
    throw ConfigError("eval.batch_size: expected >= 1, found " + std::to_string(batch_size));
  nn::Loader<float>::Options lo;
  lo.batch_size = batch_size;
  lo.mode = nn::Loader<float>::Mode::kEval;
  lo.norm = split.norm;
  nn::Loader<float> loader(std::span<const uint8_t>(*split.x), std::span<const int>(*split.y),
                           split.sample_shape, lo);
  std::vector<int> predictions;
  predictions.reserve(split.y->size());
  nn::Tensor<float> x;
  std::vector<int> y;
  while (loader.next(x, y)) {
    nn::Pass pass;
    pass.training = false;
    pass.threads = threads;
    const nn::Tensor<float>& logits = net.run(x, pass);
    const int64_t b = logits.dim(0), c = logits.size() / std::max<int64_t>(b, 1);
    for (int64_t i = 0; i < b; ++i) {
      const float* row = logits.data() + i * c;
      int64_t best = 0;
      for (int64_t k = 1; k < c; ++k)
        if (row[k] > row[best]) best = k;
      predictions.push_back(static_cast<int>(best));
    }
  }
  return predictions;
}

}  // namespace effinfer::climbq
