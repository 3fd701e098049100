// Part (c) of condconv-bench (spec 2.8, 3, 4): data loading, the training recipe (SGD with
// momentum, L2 decay on kernels / experts / routing kernels, cosine per step, dropout before the
// FC), evaluation, run planning over variants x experts x seeds, and model (de)serialisation.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/system.hpp"
#include "io/config.hpp"
#include "io/hdf5.hpp"
#include "nn/layers.hpp"
#include "train_nets.hpp"

namespace effinfer::condconv {

// Images as float32 [N, H, W, 1], already scaled to [0, 1] (Fashion-MNIST /255, digits /16).
struct TrainData {
  std::string dataset;  // "fashion-mnist" | "digits"
  std::string source;   // file or folder read
  int64_t h = 0, w = 0;
  int classes = 10;
  std::vector<float> train_x, test_x;
  std::vector<int> train_y, test_y;
  int64_t n_train() const { return static_cast<int64_t>(train_y.size()); }
  int64_t n_test() const { return static_cast<int64_t>(test_y.size()); }
};

// Fashion-MNIST from `data_dir` (empty = /usr/share/datasets/fashion-mnist; absent files -> 66
// with "install dataset-fashion-mnist"), or sklearn digits (data_dir/digits.csv.gz, empty = the
// Debian path; rows with index = 4 mod 5 are the test split). train_subset > 0 keeps the first
// train_subset training images. UsageError on an unknown dataset name.
TrainData load_train_data(const std::string& dataset, const std::string& data_dir,
                          int64_t train_subset);

struct TrainSettings {
  std::string dataset = "fashion-mnist";
  std::string data_dir;  // "" = the dataset's default location
  std::vector<int64_t> experts{1, 2, 4, 8};
  std::vector<Variant> variants{Variant::kStatic, Variant::kCondConv, Variant::kStaticEqualMacs};
  int repeats = 3;
  int epochs = 5;
  int64_t batch = 64;
  double lr = 0.05;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  double dropout_fc = 0.2;
  int64_t train_subset = 0;
  std::string save_models = "first_seed";  // none | first_seed | all
};

// Reads and range-checks the train.* keys (ConfigError 78 naming the key).
TrainSettings train_settings(const io::Config& c);

struct RunSpec {
  NetSpec net;
  uint64_t seed = 0;
  int repeat = 0;    // 0-based index of the seed (s + repeat)
  std::string name;  // e.g. "condconv_n4_s0", "static_equal_macs_n4_c67_s1"
};

// Every run in order: variants x experts (static once) x seeds s, s+1, ... (spec 2.8).
std::vector<RunSpec> plan_runs(const TrainSettings& s, uint64_t base_seed);

struct RunResult {
  RunSpec spec;
  int64_t macs = 0, params = 0;  // per image at the data's H x W (lib/nn cost())
  double madds_tf = 0;
  int epochs = 0;
  bool diverged = false;  // non-finite loss: training stopped there
  double train_loss_last = 0, test_loss = 0, test_acc = 0;
  std::vector<double> epoch_loss, epoch_test_acc;  // per completed epoch
  std::vector<double> step_loss;                   // every step
  std::vector<int64_t> confusion;                  // classes x classes, [true][predicted]
};

struct EpochInfo {
  const RunSpec* run;
  int epoch, epochs;
  double train_loss, test_acc, lr;
};

// Trains one run with the recipe of spec 2.8 and evaluates it on the test split after every
// epoch. `threads` drives OpenMP loops; the result is bitwise reproducible for a fixed seed and
// thread count. On return `net` holds the trained model.
RunResult train_run(const RunSpec& run, const TrainSettings& s, const TrainData& data, int threads,
                    std::unique_ptr<nn::Sequential<float>>& net,
                    const std::function<void(const EpochInfo&)>& progress = {});

struct EvalResult {
  double loss = 0, acc = 0;
  std::vector<int64_t> confusion;  // classes x classes
};
EvalResult evaluate_net(nn::Sequential<float>& net, const std::vector<float>& x,
                        const std::vector<int>& y, int64_t h, int64_t w, int classes, int threads);

// Stores the model under `group` (e.g. /results/models/<run>): attributes variant, experts,
// width, dropout, dataset, height, width_px; datasets <layer>/<param> as float64 [dim0, rest]
// with a "shape" attribute.
void save_model(io::H5File& f, const std::string& group, nn::Sequential<float>& net,
                const NetSpec& spec, const TrainData& data);
// Loads a model written by save_model; DataError (65) naming the path on missing or mis-shaped
// parameters.
std::unique_ptr<nn::Sequential<float>> load_model(const io::H5File& f, const std::string& group,
                                                  NetSpec& spec, std::string& dataset);

}  // namespace effinfer::condconv
