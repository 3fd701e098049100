// `bench` of quantize-climbq (spec 7 B1, B2).
#include "bench.hpp"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "core/blas.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "fp32_engine.hpp"
#include "int_engine.hpp"
#include "int_export.hpp"
#include "int_gemm.hpp"
#include "nn/loader.hpp"

namespace effinfer::climbq {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Keeps a computed value alive so the compiler cannot drop the work that produced it.
void keep(const void* p) { asm volatile("" : : "g"(p) : "memory"); }

std::string cpu_flag_line() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, 5, "flags") == 0) return " " + line + " ";
  return {};
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, 10, "model name") == 0) {
      const size_t colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  return "unknown";
}

// Converts pixels to the normalised float input of the Network (as nn::Loader does).
void normalise(const uint8_t* p, int64_t m, const nn::Normalization& norm, float* x) {
  for (int64_t i = 0; i < m; ++i) x[i] = static_cast<float>(norm.apply(p[i]));
}

void write_f64(io::H5File& f, const std::string& path, const std::vector<double>& v,
               const std::string& units) {
  f.write_vector(path,
                 Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size())));
  f.set_units(path, units);
}
void write_scalar(io::H5File& f, const std::string& path, double v, const std::string& units) {
  write_f64(f, path, {v}, units);
}

}  // namespace

// ---- statistics ------------------------------------------------------------------------------

double percentile(std::vector<double> v, double q) {
  if (v.empty()) throw InternalError("percentile: empty sample");
  if (!(q >= 0 && q <= 100)) throw InternalError("percentile: q outside [0, 100]");
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return v[lo] + frac * (v[hi] - v[lo]);
}

TimeSummary summarize(const std::vector<double>& samples) {
  TimeSummary s;
  s.median = percentile(samples, 50);
  s.p10 = percentile(samples, 10);
  s.p90 = percentile(samples, 90);
  s.n = static_cast<int64_t>(samples.size());
  return s;
}

std::vector<double> time_calls_ms(const std::function<void()>& f, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(std::max(repeats, 0)));
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    f();
    ms.push_back(ms_since(t0));
  }
  return ms;
}

// ---- machine facts ---------------------------------------------------------------------------

MachineInfo machine_info() {
  MachineInfo m;
  m.blas_core = blas_core_name();
  const char* ct = std::getenv("OPENBLAS_CORETYPE");
  m.openblas_coretype = ct ? ct : "";
  const std::string flags = cpu_flag_line();
  for (const char* f : {"avx512_vnni", "avx_vnni", "avx512bw", "avx512f", "avx2", "fma"})
    if (flags.find(std::string(" ") + f + " ") != std::string::npos)
      m.cpu_flags += (m.cpu_flags.empty() ? "" : " ") + std::string(f);
  m.cpu_model = cpu_model_name();
  return m;
}

double sgemm_gflops(int64_t n, int threads, int repeats) {
  set_blas_threads(std::max(threads, 1));
  Rng rng(1, named_stream("bench_gemm"));
  std::vector<float> a(static_cast<size_t>(n * n)), b(a.size()), c(a.size());
  for (auto& v : a) v = static_cast<float>(rng.uniform() - 0.5);
  for (auto& v : b) v = static_cast<float>(rng.uniform() - 0.5);
  const int ni = static_cast<int>(n);
  const auto ms = time_calls_ms(
      [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0f, a.data(), ni,
                    b.data(), ni, 0.0f, c.data(), ni);
        keep(c.data());
      },
      1, repeats);
  return 2.0 * static_cast<double>(n) * n * n / (summarize(ms).median * 1e6);
}

double int8_gemm_gops(int64_t n, GemmImpl impl, int threads, int repeats) {
  // Small operands (q <= 15, |c| <= 8) keep every kernel in its exact range; the rate does not
  // depend on the values.
  Rng rng(2, named_stream("bench_gemm"));
  std::vector<int8_t> c(static_cast<size_t>(n * n));
  for (auto& v : c) v = static_cast<int8_t>(static_cast<int>(rng.uniform_int(16)) - 8);
  const PackedWeights w = pack_weights(c.data(), n, n, 1, 0);
  const int64_t ldq = padded_k(n);
  AlignedBytes q(static_cast<size_t>(n * ldq));
  for (size_t i = 0; i < q.size(); ++i) q.data()[i] = static_cast<uint8_t>(rng.uniform_int(16));
  std::vector<int32_t> acc(static_cast<size_t>(n * n));
  const auto ms = time_calls_ms(
      [&] {
        int_gemm(w, q.data(), n, ldq, acc.data(), n, impl, threads, 15);
        keep(acc.data());
      },
      1, repeats);
  return 2.0 * static_cast<double>(n) * n * n / (summarize(ms).median * 1e6);
}

double copy_gb_s(int64_t bytes, int repeats) {
  std::vector<char> src(static_cast<size_t>(bytes), 1), dst(static_cast<size_t>(bytes), 0);
  const auto ms = time_calls_ms(
      [&] {
        std::memcpy(dst.data(), src.data(), src.size());
        keep(dst.data());
      },
      1, repeats);
  return 2.0 * static_cast<double>(bytes) / (summarize(ms).median * 1e6);
}

// ---- B1 --------------------------------------------------------------------------------------

BenchResult bench_inference(Network<float>& net, const std::vector<uint8_t>& pixels,
                            const BenchOptions& o,
                            const std::function<void(const std::string&)>& progress) {
  if (o.batches.empty() || o.threads.empty())
    throw InternalError("bench_inference: no batch sizes or thread counts");
  if (o.repeats < 1 || o.warmup < 0) throw InternalError("bench_inference: repeats < 1");
  const ModelSpec& spec = net.spec();
  BenchResult r;
  r.machine = machine_info();
  r.arch = arch_name(spec.arch);
  r.method = method_name(spec.method);
  const bool quant = spec.method != Method::kFp32;
  r.bits_w = quant ? spec.bits_w : 0;
  r.bits_a = quant ? spec.bits_a : 0;
  const int64_t per = spec.height * spec.width * spec.channels;
  const int64_t max_batch = *std::max_element(o.batches.begin(), o.batches.end());

  // Inputs: the given images (repeated to the largest batch) or seeded random uint8.
  std::vector<uint8_t> x(static_cast<size_t>(max_batch * per));
  if (pixels.empty()) {
    Rng rng(o.seed, named_stream("bench_input"));
    for (auto& p : x) p = static_cast<uint8_t>(rng.uniform_int(256));
    r.input = "random uint8 (seed " + std::to_string(o.seed) + ")";
  } else {
    if (pixels.size() % static_cast<size_t>(per) != 0)
      throw InternalError("bench_inference: pixel count is not a multiple of the image size");
    for (size_t i = 0; i < x.size(); ++i) x[i] = pixels[i % pixels.size()];
    r.input = std::to_string(pixels.size() / static_cast<size_t>(per)) + " given images";
  }

  // The bound: GEMM rates on gemm_size^3 at one thread, in this process.
  r.sgemm_gflops = sgemm_gflops(o.gemm_size, 1);
  r.sgemm_by_threads.emplace_back(1, r.sgemm_gflops);
  for (int t : o.threads)
    if (t > 1) r.sgemm_by_threads.emplace_back(t, sgemm_gflops(o.gemm_size, t));
  if (progress)
    progress("sgemm " + std::to_string(o.gemm_size) + "^3: " + std::to_string(r.sgemm_gflops) +
             " GFLOP/s");

  // The exported integer model (quantized networks only), its sizes and kernel.
  std::unique_ptr<IntModel> int_model;
  std::unique_ptr<IntEngine> engine;
  if (quant) {
    int_model = std::make_unique<IntModel>(export_int_model<float>(net));
    const IntSizes sizes = int_model_sizes(*int_model);
    r.fp32_bytes = sizes.fp32_bytes, r.int_bytes = sizes.int_bytes;
    r.packed_bytes = sizes.packed_bytes;
    engine = std::make_unique<IntEngine>(*int_model, parse_int_kernel(o.kernel), 1, max_batch);
    r.kernel = engine->kernel_name();
    r.int_available = true;
    const GemmImpl impl =
        engine->layer_kernels().empty() ? GemmImpl::kPortable : engine->layer_kernels().front();
    r.int8_gops = int8_gemm_gops(o.gemm_size, impl, 1);
    r.bound_ratio = r.int8_gops / r.sgemm_gflops;
    if (progress)
      progress("int8 GEMM (" + gemm_impl_name(impl) + ") " + std::to_string(o.gemm_size) +
               "^3: " + std::to_string(r.int8_gops) + " GOP/s");
  }

  Fp32Engine fp32(net, max_batch);
  std::vector<float> logits(static_cast<size_t>(max_batch * spec.classes));
  nn::Normalization norm{spec.pixel_scale, spec.norm_mean, spec.norm_std};
  nn::Tensor<float> xin;

  for (int64_t batch : o.batches) {
    for (int threads : o.threads) {
      set_blas_threads(threads);
      auto add_row = [&](const std::string& engine, const std::string& kernel,
                         const std::function<void()>& f) {
        BenchRow row;
        row.engine = engine, row.arch = r.arch, row.batch = batch, row.threads = threads;
        row.kernel = kernel;
        row.ms = summarize(time_calls_ms(f, o.warmup, o.repeats));
        row.img_s = static_cast<double>(batch) / (row.ms.median * 1e-3);
        if (progress)
          progress(engine + " batch " + std::to_string(batch) + " threads " +
                   std::to_string(threads) + ": " + std::to_string(row.ms.median) + " ms");
        r.rows.push_back(row);
        return row.ms.median;
      };
      const double fp32_ms = add_row("fp32", "sgemm", [&] {
        fp32.forward(x.data(), batch, logits.data(), threads);
        keep(logits.data());
      });
      const double fq_ms = add_row("fakequant", "network", [&] {
        xin.resize(net.input_shape(batch));
        normalise(x.data(), batch * per, norm, xin.data());
        nn::Pass pass;
        pass.threads = threads;
        const nn::Tensor<float>& y = net.forward(xin, pass);
        keep(y.data());
      });
      if (engine) {
        engine->set_threads(threads);
        const double int_ms = add_row("int", r.kernel, [&] {
          engine->forward(x.data(), batch, logits.data());
          keep(logits.data());
        });
        BenchRatio q;
        q.batch = batch, q.threads = threads;
        q.fp32_over_int = fp32_ms / int_ms;
        q.fakequant_over_int = fq_ms / int_ms;
        q.fraction_of_bound = q.fp32_over_int / r.bound_ratio;
        r.ratios.push_back(q);
      }
    }
  }
  set_blas_threads(*std::max_element(o.threads.begin(), o.threads.end()));
  // Headline: batch 64 (else the first batch) at one thread (else the first thread count).
  const int64_t head_batch =
      std::find(o.batches.begin(), o.batches.end(), 64) != o.batches.end() ? 64 : o.batches[0];
  const int head_threads =
      std::find(o.threads.begin(), o.threads.end(), 1) != o.threads.end() ? 1 : o.threads[0];
  for (const auto& q : r.ratios)
    if (q.batch == head_batch && q.threads == head_threads) {
      r.fp32_over_int = q.fp32_over_int;
      r.fakequant_over_int = q.fakequant_over_int;
      r.fraction_of_bound = q.fraction_of_bound;
    }
  return r;
}

void write_bench(io::H5File& f, const BenchResult& r) {
  const std::string g = "/results/bench";
  f.create_group(g);
  std::vector<std::string> engine, arch, kernel;
  std::vector<int64_t> batch, threads;
  std::vector<double> med, p10, p90, img_s;
  for (const auto& row : r.rows) {
    engine.push_back(row.engine), arch.push_back(row.arch), kernel.push_back(row.kernel);
    batch.push_back(row.batch), threads.push_back(row.threads);
    med.push_back(row.ms.median), p10.push_back(row.ms.p10), p90.push_back(row.ms.p90);
    img_s.push_back(row.img_s);
  }
  f.write_strings(g + "/engine", engine);
  f.write_strings(g + "/arch", arch);
  f.write_strings(g + "/kernel", kernel);
  f.write_int64(g + "/batch", batch);
  f.set_units(g + "/batch", "image");
  f.write_int64(g + "/threads", threads);
  f.set_units(g + "/threads", "1");
  write_f64(f, g + "/ms_median", med, "ms");
  write_f64(f, g + "/ms_p10", p10, "ms");
  write_f64(f, g + "/ms_p90", p90, "ms");
  write_f64(f, g + "/img_s", img_s, "image/s");
  if (!r.ratios.empty()) {
    std::vector<int64_t> rb, rt;
    std::vector<double> a, b, c;
    for (const auto& q : r.ratios) {
      rb.push_back(q.batch), rt.push_back(q.threads);
      a.push_back(q.fp32_over_int), b.push_back(q.fakequant_over_int);
      c.push_back(q.fraction_of_bound);
    }
    f.write_int64(g + "/ratios/batch", rb);
    f.set_units(g + "/ratios/batch", "image");
    f.write_int64(g + "/ratios/threads", rt);
    f.set_units(g + "/ratios/threads", "1");
    write_f64(f, g + "/ratios/fp32_over_int", a, "1");
    write_f64(f, g + "/ratios/fakequant_over_int", b, "1");
    write_f64(f, g + "/ratios/fraction_of_bound", c, "1");
  }
  write_scalar(f, g + "/sgemm_gflops", r.sgemm_gflops, "GFLOP/s");
  write_scalar(f, g + "/int8_gops", r.int8_gops, "GOP/s");
  write_scalar(f, g + "/bound_ratio", r.bound_ratio, "1");
  write_scalar(f, g + "/fp32_over_int", r.fp32_over_int, "1");
  write_scalar(f, g + "/fakequant_over_int", r.fakequant_over_int, "1");
  write_scalar(f, g + "/fraction_of_bound", r.fraction_of_bound, "1");
  for (const auto& [name, v] :
       {std::pair{"fp32_bytes", r.fp32_bytes}, std::pair{"int_bytes", r.int_bytes},
        std::pair{"packed_bytes", r.packed_bytes}}) {
    f.write_int64(g + "/" + name, {v});
    f.set_units(g + "/" + name, "byte");
  }
  f.set_attribute(g, "kernel", r.kernel);
  f.set_attribute(g, "model_arch", r.arch);
  f.set_attribute(g, "method", r.method);
  f.set_attribute(g, "bits_w", r.bits_w);
  f.set_attribute(g, "bits_a", r.bits_a);
  f.set_attribute(g, "input", r.input);
  f.set_attribute(g, "blas_core", r.machine.blas_core);
  f.set_attribute(g, "openblas_coretype", r.machine.openblas_coretype);
  f.set_attribute(g, "cpu_flags", r.machine.cpu_flags);
  f.set_attribute(g, "cpu_model", r.machine.cpu_model);
}

Json bench_json(const BenchResult& r) {
  Json rows = Json(Json::Array{});
  for (const auto& row : r.rows) {
    Json j = Json::object();
    j.set("engine", row.engine);
    j.set("arch", row.arch);
    j.set("batch", static_cast<long long>(row.batch));
    j.set("threads", row.threads);
    j.set("ms", row.ms.median);
    j.set("ms_p10", row.ms.p10);
    j.set("ms_p90", row.ms.p90);
    j.set("img_s", row.img_s);
    rows.push_back(std::move(j));
  }
  Json out = Json::object();
  out.set("rows", std::move(rows));
  Json ratios = Json::object();
  ratios.set("fp32_over_int", r.int_available ? Json(r.fp32_over_int) : Json());
  ratios.set("fakequant_over_int", r.int_available ? Json(r.fakequant_over_int) : Json());
  ratios.set("bound", r.int_available ? Json(r.bound_ratio) : Json());
  ratios.set("fraction_of_bound", r.int_available ? Json(r.fraction_of_bound) : Json());
  out.set("ratios", std::move(ratios));
  Json per = Json(Json::Array{});
  for (const auto& q : r.ratios) {
    Json j = Json::object();
    j.set("batch", static_cast<long long>(q.batch));
    j.set("threads", q.threads);
    j.set("fp32_over_int", q.fp32_over_int);
    j.set("fakequant_over_int", q.fakequant_over_int);
    j.set("fraction_of_bound", q.fraction_of_bound);
    per.push_back(std::move(j));
  }
  out.set("ratio_rows", std::move(per));
  out.set("sgemm_gflops", r.sgemm_gflops);
  Json by = Json(Json::Array{});
  for (const auto& [t, g] : r.sgemm_by_threads) {
    Json j = Json::object();
    j.set("threads", t);
    j.set("sgemm_gflops", g);
    by.push_back(std::move(j));
  }
  out.set("sgemm_by_threads", std::move(by));
  out.set("int8_gops", r.int_available ? Json(r.int8_gops) : Json());
  Json size = Json::object();
  size.set("fp32", static_cast<long long>(r.fp32_bytes));
  size.set("int", static_cast<long long>(r.int_bytes));
  size.set("packed", static_cast<long long>(r.packed_bytes));
  out.set("size_bytes", std::move(size));
  out.set("arch", r.arch);
  out.set("method", r.method);
  out.set("bits_w", r.bits_w);
  out.set("bits_a", r.bits_a);
  out.set("kernel", r.kernel.empty() ? Json() : Json(r.kernel));
  out.set("blas_core", r.machine.blas_core);
  out.set("openblas_coretype",
          r.machine.openblas_coretype.empty() ? Json() : Json(r.machine.openblas_coretype));
  out.set("cpu_flags", r.machine.cpu_flags);
  out.set("input", r.input);
  return out;
}

// ---- B2 --------------------------------------------------------------------------------------

QuantizerBench bench_quantizers(int64_t elements, int warmup, int repeats, uint64_t seed,
                                int bits) {
  const int64_t cols = 1000;
  if (elements < cols || elements % cols != 0)
    throw InternalError("bench_quantizers: elements must be a positive multiple of 1000");
  QuantizerBench b;
  b.elements = elements;
  b.bits = bits;
  nn::Tensor<float> x(nn::Shape{elements / cols, cols}), y(x.shape());
  Rng rng(seed, named_stream("bench_quantizers"));
  for (int64_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(2.0 * rng.normal());  // N(0,4)
  nn::Pass pass;  // eval mode (sigma = sigma_test), one thread
  pass.threads = 1;

  auto row = [&](const std::string& name, const std::function<void()>& f) {
    QuantizerRow q;
    q.name = name;
    q.ms = summarize(time_calls_ms(f, warmup, repeats));
    q.ns_per_element = q.ms.median * 1e6 / static_cast<double>(elements);
    b.rows.push_back(q);
    return q.ms.median;
  };
  ClimbqOptions co;
  co.bits = bits;
  co.forward = ForwardPath::kErfc;
  ClimbqActivation<float> erfc(co);
  co.forward = ForwardPath::kBucketize;
  ClimbqActivation<float> bucket(co);
  UniformActivation<float> uniform(bits, ClipRule::kMax);
  uniform.set_clip(8.0);  // 4 sigma of N(0, 4)
  const double t_erfc = row("climbq_erfc", [&] {
    erfc.forward(x, y, pass);
    keep(y.data());
  });
  const double t_bucket = row("climbq_bucketize", [&] {
    bucket.forward(x, y, pass);
    keep(y.data());
  });
  const double t_uniform = row("uniform", [&] {
    uniform.forward(x, y, pass);
    keep(y.data());
  });
  const double t_copy = row("copy", [&] {
    std::memcpy(y.data(), x.data(), sizeof(float) * static_cast<size_t>(x.size()));
    keep(y.data());
  });
  b.bound_ms = t_copy;
  b.copy_gb_s = 8.0 * static_cast<double>(elements) / (t_copy * 1e6);
  for (auto& q : b.rows) q.over_bound = q.ms.median / b.bound_ms;
  b.erfc_over_bucketize = t_erfc / t_bucket;
  b.bucketize_over_uniform = t_bucket / t_uniform;
  return b;
}

void write_quantizer_bench(io::H5File& f, const QuantizerBench& b) {
  const std::string g = "/results/bench/quantizers";
  f.create_group(g);
  std::vector<std::string> name;
  std::vector<double> med, p10, p90, ns, over;
  for (const auto& q : b.rows) {
    name.push_back(q.name);
    med.push_back(q.ms.median), p10.push_back(q.ms.p10), p90.push_back(q.ms.p90);
    ns.push_back(q.ns_per_element), over.push_back(q.over_bound);
  }
  f.write_strings(g + "/name", name);
  write_f64(f, g + "/ms_median", med, "ms");
  write_f64(f, g + "/ms_p10", p10, "ms");
  write_f64(f, g + "/ms_p90", p90, "ms");
  write_f64(f, g + "/ns_per_element", ns, "ns");
  write_f64(f, g + "/over_bound", over, "1");
  write_scalar(f, g + "/copy_gb_s", b.copy_gb_s, "GB/s");
  write_scalar(f, g + "/bound_ms", b.bound_ms, "ms");
  write_scalar(f, g + "/erfc_over_bucketize", b.erfc_over_bucketize, "1");
  write_scalar(f, g + "/bucketize_over_uniform", b.bucketize_over_uniform, "1");
  f.write_int64(g + "/elements", {b.elements});
  f.set_units(g + "/elements", "1");
  f.set_attribute(g, "bits", b.bits);
}

Json quantizer_bench_json(const QuantizerBench& b) {
  Json rows = Json(Json::Array{});
  for (const auto& q : b.rows) {
    Json j = Json::object();
    j.set("name", q.name);
    j.set("ms", q.ms.median);
    j.set("ms_p10", q.ms.p10);
    j.set("ms_p90", q.ms.p90);
    j.set("ns_per_element", q.ns_per_element);
    j.set("over_bound", q.over_bound);
    rows.push_back(std::move(j));
  }
  Json out = Json::object();
  out.set("elements", static_cast<long long>(b.elements));
  out.set("bits", b.bits);
  out.set("quantizers", std::move(rows));
  out.set("copy_gb_s", b.copy_gb_s);
  out.set("bound_ms", b.bound_ms);
  Json ratios = Json::object();
  ratios.set("erfc_over_bucketize", b.erfc_over_bucketize);
  ratios.set("bucketize_over_uniform", b.bucketize_over_uniform);
  out.set("ratios", std::move(ratios));
  const MachineInfo m = machine_info();
  out.set("blas_core", m.blas_core);
  out.set("openblas_coretype", m.openblas_coretype.empty() ? Json() : Json(m.openblas_coretype));
  return out;
}

}  // namespace effinfer::climbq
