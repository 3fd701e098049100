// Spec 2.6 `qat`: quantization-aware training from an FP32 checkpoint.
#include "qat.hpp"

#include <string>
#include <vector>

#include "core/error.hpp"

namespace effinfer::climbq {

QatResult qat(Network<float>& fp32, Method method, int bits_w, int bits_a, const Dataset& data,
              const QatOptions& options, uint64_t seed, int threads,
              const std::function<void(const EpochReport&)>& progress) {
  if (fp32.spec().method != Method::kFp32)
    throw ConfigError("qat --model: expected an fp32 model, found method " +
                      method_name(fp32.spec().method));
  if (method == Method::kFp32)
    throw ConfigError("qat.method: expected climbq|climbq-noscale|uniform|lsq, found fp32");
  for (size_t c = 0; c < data.class_counts.size(); ++c)
    if (data.class_counts[c] < 1)
      throw DataError("/data/class_counts: class " + std::to_string(c) +
                      " has no training samples (counts " + std::to_string(data.class_counts[c]) +
                      "); QAT needs every class");
  ModelSpec spec = fp32.spec();
  options.calibration.quant.apply(spec);
  spec.method = method;
  spec.bits_w = bits_w;
  spec.bits_a = bits_a;
  spec.mode = "qat";
  spec.loss = to_string(options.loss);
  validate(spec);
  Network<float> q = build_model<float>(spec, seed);
  copy_state(fp32, q);
  // Uniform clips start from calibration (spec 2.5), then follow the EMA of the batch max.
  if (method == Method::kUniform) calibrate_uniform(q, data, options.calibration, seed, threads);
  const ClassificationLoss loss(
      options.loss, std::vector<double>(data.class_counts.begin(), data.class_counts.end()),
      options.homovar);
  const SplitView select_view =
      options.select == SelectKind::kBestTest ? test_view(data) : val_view(data);
  const SplitView* select_on = options.select == SelectKind::kLast ? nullptr : &select_view;
  if (select_on != nullptr && select_on->y->empty())
    throw ConfigError("qat.select: " +
                      std::string(options.select == SelectKind::kBestVal
                                      ? "best_val needs a val split"
                                      : "best_test needs a test split") +
                      " (the data file has none)");
  TrainResult tr = train_epochs(q.seq(), q.feature_tap(), train_view(data), loss, options.train,
                                seed, threads, progress, select_on);
  return QatResult{std::move(q), std::move(tr)};
}

}  // namespace effinfer::climbq
