// Training loop and batched evaluation of quantize-climbq (spec 2.6, 3.4 optim/train/qat, 3.7):
// SGD with momentum and weight decay, per-step cosine | per-epoch multistep | constant learning
// rate, a seeded shuffle per epoch, BatchNorm in training mode, the batch labels in the pass
// (ClimbQ class-wise sigma_j), and ce | cb | homovar on the logits (HomoVar reads the features,
// the input of the final classifier; its class weights are constants, so only dL/dlogits flows
// back).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "homovar.hpp"
#include "lt_dataset.hpp"
#include "nn/layers.hpp"
#include "nn/loader.hpp"

namespace effinfer::climbq {

enum class ScheduleKind { kCosine, kMultiStep, kConstant };
ScheduleKind parse_schedule_kind(const std::string& name);  // cosine | multistep | constant (78)

struct TrainOptions {
  int epochs = 15;
  double lr = 0.05;
  int64_t batch_size = 128;
  double momentum = 0.9;
  double weight_decay = 1e-4;
  ScheduleKind schedule = ScheduleKind::kCosine;  // cosine per step over all epochs
  std::vector<int> milestones{80, 150};           // multistep: epochs
  double gamma = 0.1;                             // multistep factor
  // Multistep is stepped at epoch start as the official recipe (spec 2.6): epoch e (0-based)
  // uses lr0 gamma^#{m <= e + 1}.
  bool multistep_at_epoch_start = true;
};

// Checkpoint selection (spec 3.4 train.select / qat.select): the last epoch, or the epoch with
// the best mean per-class accuracy on a given split (best_val | best_test; the caller passes the
// split and logs that best_test selects on test).
enum class SelectKind { kLast, kBestVal, kBestTest };
SelectKind parse_select_kind(const std::string& name);  // last | best_val | best_test (78)

// One image split with its normalisation x = (p pixel_scale - norm_mean) / norm_std, as views:
// the referenced vectors must outlive the use.
struct SplitView {
  const std::vector<uint8_t>* x = nullptr;  // N x H x W x C
  const std::vector<int32_t>* y = nullptr;  // N
  nn::Shape sample_shape;                   // [H, W, C]
  nn::Normalization norm;
};
// Views of data.train / data.val / data.test.
SplitView train_view(const Dataset& data);
SplitView val_view(const Dataset& data);
SplitView test_view(const Dataset& data);

struct EpochReport {
  int epoch = 0;  // 0-based
  int epochs = 0;
  double mean_loss = 0;
  double lr = 0;  // learning rate of the epoch's last step
  double select_acc = std::numeric_limits<double>::quiet_NaN();  // with select_on
};

struct TrainResult {
  std::vector<double> epoch_loss;  // mean batch loss per epoch
  double final_lr = 0;             // learning rate of the last step
  int64_t steps = 0;
  int selected_epoch = -1;  // 0-based epoch whose weights the network holds at the end
  // Its mean per-class accuracy on the selection split (NaN without one).
  double selected_acc = std::numeric_limits<double>::quiet_NaN();
};

// Trains `net` in place for options.epochs epochs on `train`. feature_tap is the index of the
// layer whose output is the input of the final classifier (read by homovar only). Epoch e
// visits the samples in the order of nn::Loader (seed, epoch e); the layers get Pass{training,
// labels, threads, seed}. `progress` (optional) is called after every epoch. With `select_on`
// (not null) the network is evaluated on that split after every epoch and the parameters and
// buffers of the best epoch (mean per-class accuracy; the earliest on ties) are restored at the
// end; without it the last epoch is kept.
// NumericalError (70) on a non-finite loss or gradient (naming epoch, step, the loss and
// suggesting a lower lr; the caller must then write nothing); ConfigError (78) on invalid options
// (epochs < 1, batch_size < 2, lr < 0, ...).
TrainResult train_epochs(nn::Sequential<float>& net, size_t feature_tap, const SplitView& train,
                         const ClassificationLoss& loss, const TrainOptions& options, uint64_t seed,
                         int threads, const std::function<void(const EpochReport&)>& progress = {},
                         const SplitView* select_on = nullptr);

// Predicted label (argmax of the logits, first maximum on ties) of every sample of `split`, in
// order, with the network in eval mode (BatchNorm running statistics).
std::vector<int> evaluate(nn::Sequential<float>& net, const SplitView& split,
                          int64_t batch_size = 500, int threads = 1);

}  // namespace effinfer::climbq
