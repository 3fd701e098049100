// Spec 2.6 `ptq`: weight copy, BN re-estimation (ClimbQ), clip calibration (uniform).
#include "ptq.hpp"

#include <span>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "nn/loader.hpp"
#include "trainer.hpp"

namespace effinfer::climbq {

BnRecalibrate parse_bn_recalibrate(const std::string& name) {
  if (name == "auto") return BnRecalibrate::kAuto;
  if (name == "on") return BnRecalibrate::kOn;
  if (name == "off") return BnRecalibrate::kOff;
  throw ConfigError("ptq.bn_recalibrate: expected auto|on|off, found \"" + name + "\"");
}

namespace {

// Layer names carry their index ("03_dense"), and the quantized network has extra activation
// quantizer layers, so parameters are matched by "<kind>#<occurrence of that kind>/<param>".
std::unordered_map<std::string, std::string> layer_keys(Network<float>& net) {
  std::unordered_map<std::string, std::string> keys;
  std::unordered_map<std::string, int> seen;
  for (size_t i = 0; i < net.seq().size(); ++i) {
    const std::string& name = net.seq().layer_name(i);
    const size_t u = name.find('_');
    const std::string kind = u == std::string::npos ? name : name.substr(u + 1);
    keys[name] = kind + "#" + std::to_string(seen[kind]++);
  }
  return keys;
}

std::string param_key(const std::unordered_map<std::string, std::string>& keys,
                      const std::string& name) {
  const size_t slash = name.find('/');
  const auto it = keys.find(name.substr(0, slash));
  if (slash == std::string::npos || it == keys.end()) return name;
  return it->second + name.substr(slash);
}

}  // namespace

void copy_state(Network<float>& from, Network<float>& to) {
  const auto from_keys = layer_keys(from), to_keys = layer_keys(to);
  std::unordered_map<std::string, nn::Tensor<float>*> dst;
  for (auto& p : to.params()) dst[param_key(to_keys, p.name)] = p.value;
  for (auto& p : to.buffers()) dst[param_key(to_keys, p.name)] = p.value;
  auto copy = [&](const std::vector<nn::Param<float>>& src) {
    for (const auto& p : src) {
      auto it = dst.find(param_key(from_keys, p.name));
      if (it == dst.end())
        throw InternalError("ptq: parameter " + p.name + " missing in the quantized network");
      if (it->second->shape() != p.value->shape())
        throw InternalError("ptq: parameter " + p.name + " has a different shape");
      *it->second = *p.value;
    }
  };
  copy(from.params());
  copy(from.buffers());
}

namespace {

// Calibration batches: a training-mode loader over the train split, seeded from "calib".
class CalibBatches {
 public:
  CalibBatches(const Dataset& data, const PtqOptions& o, uint64_t seed)
      : view_(train_view(data)), loader_(make(view_, o, seed)), left_(o.calib_batches) {}
  bool next(nn::Tensor<float>& x, std::vector<int>& y) {
    if (left_ <= 0) return false;
    while (!loader_.next(x, y)) loader_.start_epoch(loader_.epoch() + 1);
    --left_;
    return true;
  }

 private:
  static nn::Loader<float> make(const SplitView& v, const PtqOptions& o, uint64_t seed) {
    nn::Loader<float>::Options lo;
    lo.batch_size = o.calib_batch_size;
    lo.mode = nn::Loader<float>::Mode::kTrain;
    lo.seed = Rng(seed, named_stream("calib")).next_u64();
    lo.norm = v.norm;
    nn::Loader<float> l(std::span<const uint8_t>(*v.x), std::span<const int>(*v.y), v.sample_shape,
                        lo);
    if (l.num_batches() < 1)
      throw ConfigError("ptq: the train split has fewer than 2 samples for calibration");
    return l;
  }
  SplitView view_;
  nn::Loader<float> loader_;
  int left_;
};

// Equal-weight means over the calibration batches of the per-channel batch means and unbiased
// batch variances of every BN input (channel = last dimension, NHWC).
void reestimate_bn(Network<float>& net, const Dataset& data, const PtqOptions& o, uint64_t seed,
                   int threads) {
  auto& seq = net.seq();
  const auto& bns = net.batchnorm_layers();
  std::vector<std::vector<double>> sum_mean(bns.size()), sum_var(bns.size());
  for (size_t k = 0; k < bns.size(); ++k) {
    if (bns[k] == 0) throw InternalError("ptq: BatchNorm as first layer has no input tap");
    auto& bn = dynamic_cast<nn::BatchNorm<float>&>(seq.layer(bns[k]));
    bn.reset_running_stats();
    sum_mean[k].assign(bn.running_mean().size(), 0.0);
    sum_var[k].assign(bn.running_mean().size(), 0.0);
  }
  CalibBatches batches(data, o, seed);
  nn::Tensor<float> x;
  std::vector<int> y;
  int count = 0;
  while (batches.next(x, y)) {
    nn::Pass pass;
    pass.training = true;  // batch-statistics BN; no labels -> sigma_test
    pass.threads = threads;
    pass.seed = seed;
    net.forward(x, pass);
    for (size_t k = 0; k < bns.size(); ++k) {
      const nn::Tensor<float>& in = seq.tap(bns[k] - 1);
      const int64_t c = static_cast<int64_t>(sum_mean[k].size());
      const int64_t m = in.size() / c;
      if (m < 2) throw InternalError("ptq: BN re-estimation needs >= 2 values per channel");
      std::vector<double> s(c, 0.0), s2(c, 0.0);
      const float* p = in.data();
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < c; ++j) s[j] += p[i * c + j];
      for (int64_t j = 0; j < c; ++j) s[j] /= static_cast<double>(m);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < c; ++j) {
          const double d = p[i * c + j] - s[j];
          s2[j] += d * d;
        }
      for (int64_t j = 0; j < c; ++j) {
        sum_mean[k][j] += s[j];
        sum_var[k][j] += s2[j] / static_cast<double>(m - 1);
      }
    }
    ++count;
  }
  for (size_t k = 0; k < bns.size(); ++k) {
    auto& bn = dynamic_cast<nn::BatchNorm<float>&>(seq.layer(bns[k]));
    for (size_t j = 0; j < sum_mean[k].size(); ++j) {
      bn.running_mean()[static_cast<int64_t>(j)] = static_cast<float>(sum_mean[k][j] / count);
      bn.running_var()[static_cast<int64_t>(j)] = static_cast<float>(sum_var[k][j] / count);
    }
  }
}

}  // namespace

void calibrate_uniform(Network<float>& net, const Dataset& data, const PtqOptions& o, uint64_t seed,
                       int threads) {
  std::vector<UniformActivation<float>*> acts;
  for (const auto& a : net.act_quantizers()) {
    auto* u = dynamic_cast<UniformActivation<float>*>(a.quantizer);
    if (u == nullptr) throw InternalError("ptq: uniform network with a non-uniform quantizer");
    u->begin_calibration();
    acts.push_back(u);
  }
  CalibBatches batches(data, o, seed);
  nn::Tensor<float> x;
  std::vector<int> y;
  while (batches.next(x, y)) {
    nn::Pass pass;
    pass.training = false;
    pass.threads = threads;
    pass.seed = seed;
    net.forward(x, pass);
  }
  for (auto* u : acts) u->end_calibration();
}

Network<float> ptq(Network<float>& fp32, Method method, int bits_w, int bits_a, const Dataset& data,
                   const PtqOptions& options, uint64_t seed, int threads) {
  if (fp32.spec().method != Method::kFp32)
    throw ConfigError("ptq --model: expected an fp32 model, found method " +
                      method_name(fp32.spec().method));
  if (method == Method::kLsq) throw ConfigError("ptq.method: lsq is QAT only");
  if (method == Method::kFp32)
    throw ConfigError("ptq.method: expected uniform|climbq|climbq-noscale, found fp32");
  if (options.calib_batches < 1)
    throw ConfigError("ptq.calib_batches: expected >= 1, found " +
                      std::to_string(options.calib_batches));
  if (options.calib_batch_size < 2)
    throw ConfigError("ptq.calib_batch_size: expected >= 2, found " +
                      std::to_string(options.calib_batch_size));
  ModelSpec spec = fp32.spec();
  options.quant.apply(spec);
  spec.method = method;
  spec.bits_w = bits_w;
  spec.bits_a = bits_a;
  spec.mode = "ptq";
  validate(spec);
  Network<float> q = build_model<float>(spec, seed);
  copy_state(fp32, q);

  const bool uniform = method == Method::kUniform;
  const bool bn_on = options.bn_recalibrate == BnRecalibrate::kOn ||
                     (options.bn_recalibrate == BnRecalibrate::kAuto && !uniform);
  if (uniform) {
    calibrate_uniform(q, data, options, seed, threads);
    if (bn_on) {
      // Training forwards move the clips by their EMA: keep the calibrated ones.
      std::vector<double> clips;
      for (const auto& a : q.act_quantizers())
        clips.push_back(dynamic_cast<UniformActivation<float>*>(a.quantizer)->clip());
      reestimate_bn(q, data, options, seed, threads);
      for (size_t i = 0; i < clips.size(); ++i)
        dynamic_cast<UniformActivation<float>*>(q.act_quantizers()[i].quantizer)
            ->set_clip(clips[i]);
    }
  } else if (bn_on) {
    reestimate_bn(q, data, options, seed, threads);
  }
  return q;
}

}  // namespace effinfer::climbq
