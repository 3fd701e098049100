// Spec quantize-climbq 2.8.2, checks 12 and 15 (kernel part): every integer GEMM kernel this CPU
// can run equals a naive int64 loop on random and extreme operands; dispatch and parsing errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "int_gemm.hpp"
#include "test_support.hpp"

namespace cq = effinfer::climbq;

namespace {

std::vector<cq::GemmImpl> available_impls(int64_t max_q, int64_t max_abs_c) {
  const cq::CpuFeatures cpu = cq::cpu_features();
  std::vector<cq::GemmImpl> v{cq::GemmImpl::kPortable};
  if (cpu.avx512vnni) v.push_back(cq::GemmImpl::kVnni512);
  if (cpu.avxvnni) v.push_back(cq::GemmImpl::kAvxVnni);
  if (cpu.avx2 && cq::avx2_exact(max_q, max_abs_c)) v.push_back(cq::GemmImpl::kAvx2);
  return v;
}

// Runs one case on every kernel and 1 / 2 threads against the naive loop.
void check_case(int64_t n, int64_t rows, int64_t k, int m, int o, int mode, std::mt19937& gen) {
  std::vector<int8_t> c(static_cast<size_t>(rows * k));
  const int64_t ldq = cq::padded_k(k) + 4;  // a stride larger than needed, padding filled
  std::vector<uint8_t> q(static_cast<size_t>(n * ldq));
  std::uniform_int_distribution<int> dc(-128, 127), dq(0, 255), dsmall(-8, 7), dqs(0, 15);
  for (auto& v : c) v = static_cast<int8_t>(mode == 0 ? dc(gen) : mode == 1 ? -128 : dsmall(gen));
  for (auto& v : q) v = static_cast<uint8_t>(mode == 0 ? dq(gen) : mode == 1 ? 255 : dqs(gen));
  std::vector<int64_t> ref(static_cast<size_t>(n * rows));
  cq::int_gemm_naive(c.data(), rows, k, m, o, q.data(), n, ldq, ref.data());
  const cq::PackedWeights w = cq::pack_weights(c.data(), rows, k, m, o);
  const int64_t max_q = mode == 2 ? 15 : 255;
  const int64_t ldacc = rows + 3;
  for (cq::GemmImpl impl : available_impls(max_q, w.max_abs_c)) {
    for (int threads : {1, 2}) {
      std::vector<int32_t> acc(static_cast<size_t>(n * ldacc), -7);
      cq::int_gemm(w, q.data(), n, ldq, acc.data(), ldacc, impl, threads, max_q);
      int64_t bad = 0;
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t r = 0; r < rows; ++r)
          bad += acc[static_cast<size_t>(i * ldacc + r)] != ref[static_cast<size_t>(i * rows + r)];
        for (int64_t r = rows; r < ldacc; ++r) bad += acc[static_cast<size_t>(i * ldacc + r)] != -7;
      }
      INFO(cq::gemm_impl_name(impl) << " threads " << threads << " n " << n << " rows " << rows
                                    << " k " << k << " m " << m << " o " << o << " mode " << mode);
      CHECK(bad == 0);
    }
  }
}

}  // namespace

TEST_CASE("climbq int gemm: check 12, every kernel equals the naive int64 loop") {
  std::mt19937 gen(12);
  const cq::CpuFeatures cpu = cq::cpu_features();
  MESSAGE("CPU flags: " << cq::cpu_flags_string(cpu));
  if (!cpu.avxvnni) MESSAGE("AVX-VNNI kernel not testable here: this CPU has no AVX-VNNI");
  if (!cpu.avx512vnni) MESSAGE("AVX-512 VNNI kernel not testable here: this CPU has none");
  for (int64_t k : {1, 3, 4, 63, 64, 65, 784})
    for (int64_t mn : {1, 15, 16, 17, 64}) {
      check_case(mn, 17, k, 1, 0, 0, gen);       // random, N varies
      check_case(15, mn, k, 1, 0, 0, gen);       // random, rows vary
      check_case(mn, mn, k, 2, 1, 1, gen);       // extreme q = 255, c = -128, lambda = 2c + 1
      check_case(mn, 64 - mn, k, 2, 1, 2, gen);  // small operands (avx2 allowed)
    }
}

TEST_CASE("climbq int gemm: acc of the toy layer of check 11") {
  // lambda rows [9,-13,1,5] and [-5,1,13,-11] stored as c = (lambda - 1)/2, m 2, o 1.
  const std::vector<int8_t> c{4, -7, 0, 2, -3, 0, 6, -6};
  const std::vector<uint8_t> q{255, 255, 255, 255, 10, 200, 30, 90, 128, 64, 250, 3};
  const cq::PackedWeights w = cq::pack_weights(c.data(), 2, 4, 2, 1);
  for (cq::GemmImpl impl : available_impls(255, 7)) {
    std::vector<int32_t> acc(6);
    cq::int_gemm(w, q.data(), 3, 4, acc.data(), 2, impl, 1);
    INFO(cq::gemm_impl_name(impl));
    CHECK(acc == std::vector<int32_t>{510, -510, -2030, -450, 585, 2641});
  }
}

TEST_CASE("climbq int gemm: kernel parsing and dispatch (check 15, 78)") {
  CHECK(cq::parse_int_kernel("auto") == cq::IntKernel::kAuto);
  CHECK(cq::parse_int_kernel("vnni") == cq::IntKernel::kVnni);
  CHECK(cq::parse_int_kernel("avx2") == cq::IntKernel::kAvx2);
  CHECK(cq::parse_int_kernel("portable") == cq::IntKernel::kPortable);
  CHECK_THROWS_AS(cq::parse_int_kernel("sse"), effinfer::ConfigError);

  // A CPU without VNNI (mocked: the real one cannot be switched off).
  cq::CpuFeatures old_cpu;
  old_cpu.avx2 = true;
  const std::string msg = effinfer::test::error_message<effinfer::ConfigError>(
      [&] { cq::resolve_kernel(cq::IntKernel::kVnni, old_cpu, 255, 8); });
  CHECK(msg.find("int.kernel: vnni: this CPU has no AVX-512 VNNI or AVX-VNNI") !=
        std::string::npos);
  try {
    cq::resolve_kernel(cq::IntKernel::kVnni, old_cpu, 255, 8);
  } catch (const effinfer::Error& e) {
    CHECK(e.exit_code() == 78);
  }
  // avx2 only where vpmaddubsw cannot saturate: 2 x 255 x 64 = 32640 <= 32767; 2 x 255 x 65 not.
  CHECK(cq::resolve_kernel(cq::IntKernel::kAvx2, old_cpu, 255, 64) == cq::GemmImpl::kAvx2);
  CHECK_THROWS_AS(cq::resolve_kernel(cq::IntKernel::kAvx2, old_cpu, 255, 65),
                  effinfer::ConfigError);
  CHECK(cq::resolve_kernel(cq::IntKernel::kAuto, old_cpu, 255, 64) == cq::GemmImpl::kAvx2);
  CHECK(cq::resolve_kernel(cq::IntKernel::kAuto, old_cpu, 255, 128) == cq::GemmImpl::kPortable);
  cq::CpuFeatures vnni = old_cpu;
  vnni.avx512vnni = vnni.avx512bw = true;
  CHECK(cq::resolve_kernel(cq::IntKernel::kAuto, vnni, 255, 128) == cq::GemmImpl::kVnni512);
  CHECK(cq::resolve_kernel(cq::IntKernel::kVnni, vnni, 255, 128) == cq::GemmImpl::kVnni512);
  cq::CpuFeatures avxvnni = old_cpu;
  avxvnni.avxvnni = true;
  CHECK(cq::resolve_kernel(cq::IntKernel::kVnni, avxvnni, 255, 128) == cq::GemmImpl::kAvxVnni);
  CHECK(cq::resolve_kernel(cq::IntKernel::kPortable, vnni, 255, 128) == cq::GemmImpl::kPortable);

  // The real CPU: a vnni request either resolves or gives the 78 message.
  const cq::CpuFeatures cpu = cq::cpu_features();
  if (cpu.avx512vnni || cpu.avxvnni) {
    CHECK(cq::resolve_kernel(cq::IntKernel::kVnni, cpu, 255, 128) != cq::GemmImpl::kPortable);
  } else {
    MESSAGE("this CPU has no VNNI: the vnni request is checked through the mock only");
    CHECK_THROWS_AS(cq::resolve_kernel(cq::IntKernel::kVnni, cpu, 255, 128), effinfer::ConfigError);
  }
}

TEST_CASE("climbq int gemm: fused requantization equals GEMM + threshold count") {
  if (!cq::fused_requant_available(cq::GemmImpl::kVnni512, 8)) {
    MESSAGE("skipped: no AVX-512 VNNI on this CPU (the fused epilogue is vnni512 only)");
    return;
  }
  CHECK(!cq::fused_requant_available(cq::GemmImpl::kVnni512, 32));
  CHECK(!cq::fused_requant_available(cq::GemmImpl::kPortable, 8));
  std::mt19937 gen(21);
  std::uniform_int_distribution<int> dc(-128, 127), dq(0, 255), dsign(0, 1);
  for (int64_t rows : {1, 17, 64})
    for (int64_t n : {1, 5, 64})
      for (int64_t levels : {1, 8, 15, 31}) {
        const int64_t k = 65;
        std::vector<int8_t> c(static_cast<size_t>(rows * k));
        std::vector<uint8_t> q(static_cast<size_t>(n * k + 8));
        for (auto& v : c) v = static_cast<int8_t>(dc(gen));
        for (auto& v : q) v = static_cast<uint8_t>(dq(gen));
        std::vector<int64_t> acc(static_cast<size_t>(n * rows));
        cq::int_gemm_naive(c.data(), rows, k, 1, 0, q.data(), n, k, acc.data());
        // Thresholds around the accumulators' range, sorted per row; random signs and table.
        std::uniform_int_distribution<int> dt(-300000, 300000);
        std::vector<int32_t> thr(static_cast<size_t>(rows * levels)), thr_t(thr.size());
        std::vector<int32_t> sign(static_cast<size_t>(rows)), mask(sign.size()), lut32(32, 0);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t l = 0; l < levels; ++l) thr[r * levels + l] = dt(gen);
          std::sort(thr.begin() + r * levels, thr.begin() + (r + 1) * levels);
          for (int64_t l = 0; l < levels; ++l) thr_t[l * rows + r] = thr[r * levels + l];
          sign[r] = dsign(gen) ? 1 : -1;
          mask[r] = sign[r] < 0 ? -1 : 0;
        }
        for (int64_t l = 0; l <= levels; ++l) lut32[l] = static_cast<int32_t>(3 * l + 1);
        cq::RequantParams p;
        p.levels = levels;
        p.thr_t = thr_t.data();
        p.sign_mask = mask.data();
        p.lut32 = lut32.data();
        const cq::PackedWeights w = cq::pack_weights(c.data(), rows, k);
        for (int threads : {1, 2}) {
          std::vector<uint8_t> dst(static_cast<size_t>(n * (rows + 1)), 200);
          cq::int_gemm_requant(w, q.data(), n, k, p, dst.data(), rows + 1, cq::GemmImpl::kVnni512,
                               threads);
          int64_t bad = 0;
          for (int64_t i = 0; i < n; ++i) {
            for (int64_t r = 0; r < rows; ++r) {
              const int64_t v = sign[r] * acc[i * rows + r];
              int64_t level = 0;
              for (int64_t l = 0; l < levels; ++l) level += v >= thr[r * levels + l];
              bad += dst[i * (rows + 1) + r] != lut32[level];
            }
            bad += dst[i * (rows + 1) + rows] != 200;  // untouched past the rows
          }
          INFO("rows " << rows << " n " << n << " levels " << levels << " threads " << threads);
          CHECK(bad == 0);
        }
      }
}
