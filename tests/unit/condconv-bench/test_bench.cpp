// bench: suite from the architecture tables, static-equal-mac widths, MACs / bytes / bound_ms
// against hand-computed values (spec condconv-bench 2.2, 2.5, 7), ratios, shards and the HDF5
// round trip that `merge` relies on. No wall-clock time is asserted.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "bench.hpp"
#include "core/error.hpp"
#include "io/hdf5.hpp"
#include "net.hpp"
#include "test_support.hpp"

using namespace effinfer::condconv;

namespace {
LayerShape conv1x1_14(int64_t n) {
  LayerShape s;
  s.kind = Kind::kConv, s.h = s.w = 14, s.cin = 112, s.cout = 672, s.experts = n;
  return s;
}
}  // namespace

TEST_CASE("bench suite: 13 distinct CondConv-B0 shapes, 7 MobileNetV1 tail shapes") {
  // CondConv-B0 blocks 8..15 (spec 2.3): b8 3 new; b9 3 new (b10 same); b11 dw5/2 and
  // project 672->192 new (expand = b9's); b12 3 new (b13, b14 same); b15 dw3 and 1152->320 new.
  const auto b0 = bench_suite({"efficientnet-b0-cc"});
  CHECK(b0.size() == 13);
  const auto mb = bench_suite({"mobilenet-v1-tail"});
  // Conv2d_7 (dw, pw; 8..11 identical), Conv2d_12 (dw/2, pw), Conv2d_13 (dw, pw), FC 1024->1000.
  CHECK(mb.size() == 7);
  int fc = 0;
  for (const auto& l : mb)
    if (l.shape.kind == Kind::kFc) {
      ++fc;
      CHECK(l.shape.cin == 1024);
      CHECK(l.shape.cout == 1000);
      CHECK(l.shape.expert_bias);
    }
  CHECK(fc == 1);
  int s2 = 0;
  for (const auto& l : b0) {
    CHECK((l.shape.h == 14 || l.shape.h == 7));
    if (l.shape.stride == 2) {
      ++s2;
      CHECK(l.shape.kind == Kind::kDepthwise);
      CHECK(l.shape.kh == 5);
      CHECK(l.shape.ho() == 7);
    }
  }
  CHECK(s2 == 1);
  CHECK(bench_suite({"efficientnet-b0-cc", "mobilenet-v1-tail"}).size() == 20);
  CHECK_THROWS_AS(bench_suite({"resnet"}), effinfer::UsageError);
}

TEST_CASE("static-equal-mac widths: Cout (1 + n / (Ho Wo)) to a multiple of 8") {
  // 672 * (1 + 8/196) = 699.43 -> 696; 672 * (1 + 32/196) = 781.71 -> 784.
  CHECK(equal_mac_width(conv1x1_14(8), 8) == 696);
  CHECK(equal_mac_width(conv1x1_14(32), 32) == 784);
  // FC (Ho Wo = 1): 1000 * 9 = 9000.
  LayerShape fc;
  fc.kind = Kind::kFc, fc.cin = 1024, fc.cout = 1000;
  CHECK(equal_mac_width(fc, 8) == 9000);
  // Depthwise 5x5 at 7x7, C = 1152: 1152 (1 + 8/49) = 1340.08 -> 1344, input widened too.
  LayerShape dw;
  dw.kind = Kind::kDepthwise, dw.h = dw.w = 7, dw.cin = dw.cout = 1152, dw.kh = dw.kw = 5;
  const LayerShape w = equal_mac_shape(dw, 8);
  CHECK(w.cout == 1344);
  CHECK(w.cin == 1344);
  // The widened static costs within 1% of CondConv's macs + macs_mix.
  dw.experts = 8;
  const double cc = static_cast<double>(dw.macs() + dw.macs_mix());
  CHECK(std::abs(static_cast<double>(w.macs()) / cc - 1.0) < 0.01);
}

TEST_CASE("case MACs and bytes: hand-computed, 1x1 14x14 112->672, n = 8") {
  // K = 75,264; in = 21,952; out = 131,712; macs = 196 K = 14,751,744.
  const LayerShape s = conv1x1_14(8);
  CHECK(case_macs(s, 1, "static") == 14'751'744);
  CHECK(case_macs(s, 1, "per-example") == 14'751'744 + 602'112);
  CHECK(case_macs(s, 4, "auto") == 4 * (14'751'744 + 602'112));
  CHECK(case_macs(s, 1, "moe-loop") == 8 * 14'751'744 + 8 * 131'712);
  CHECK(case_macs(s, 2, "openblas") == 2 * 14'751'744);
  // static: 4 (in + K + out) = 4 * 228,928.
  CHECK(case_bytes(s, 1, "static") == 915'712);
  // B = 1: mixing 4 (nK + K) + conv 4 (in + K + out) = 4 (677,376 + 228,928).
  CHECK(case_bytes(s, 1, "per-example") == 3'625'216);
  // B = 4: mixing 4 (nK + 4K) + conv 4 (4 in + 4 K + 4 out) = 4 (903,168 + 915,712).
  CHECK(case_bytes(s, 4, "grouped") == 7'275'520);
  // MoE: 4 (B in + n K + B out) = 4 (87,808 + 602,112 + 526,848).
  CHECK(case_bytes(s, 4, "moe-concat") == 4'867'072);
  // static-equal-mac at Cout 696: 4 (21,952 + 77,952 + 136,416).
  CHECK(case_bytes(s, 1, "static-equal-mac") == 945'280);
  CHECK(case_macs(s, 1, "static-equal-mac") == 196 * 112 * 696);
}

TEST_CASE("bound_ms = max(2 MACs / P, bytes / BW)") {
  // 1e9 MACs at 100 GFLOP/s: 20 ms; 1e9 bytes at 10 GB/s: 100 ms.
  CHECK(bound_ms(1'000'000'000, 1'000'000'000, 100.0, 10.0) == doctest::Approx(100.0));
  CHECK(bound_ms(1'000'000'000, 1'000'000, 100.0, 10.0) == doctest::Approx(20.0));
}

TEST_CASE("ratios vs static, moe-loop and bound; targets from the table") {
  std::vector<BenchCase> cs(4);
  for (auto& c : cs) {
    c.layer = "blocks_9/expand", c.kind = "conv", c.h = c.w = 14, c.c_in = 112, c.c_out = 672;
    c.kernel = 1, c.stride = 1, c.batch = 1, c.threads = 1, c.bound_ms = 0.5;
  }
  cs[0].strategy = "static", cs[0].median_ms = 1.0;
  cs[1].strategy = "moe-loop", cs[1].experts = 8, cs[1].median_ms = 8.0;
  cs[2].strategy = "auto", cs[2].experts = 8, cs[2].median_ms = 1.2;
  cs[3].strategy = "grouped", cs[3].experts = 8, cs[3].skipped = "workspace";
  compute_ratios(cs);
  CHECK(cs[2].ratio_vs_static == doctest::Approx(1.2));
  CHECK(cs[2].ratio_vs_moe == doctest::Approx(0.15));
  CHECK(cs[2].ratio_vs_bound == doctest::Approx(2.4));
  CHECK(cs[0].ratio_vs_moe == 0.0);  // static has no n
  CHECK(cs[3].ratio_vs_static == 0.0);
  const Targets t = evaluate_targets(cs, int64_t{1024} << 20);
  REQUIRE(t.b.has_value());
  CHECK(*t.b);  // 196 rows: 1.2x static, 6.7x faster than moe-loop
  REQUIRE(t.c.has_value());
  CHECK(*t.c);  // auto 1.2 ms <= 1.1 x the best fixed (moe-loop 8 ms; grouped skipped)
  cs[3].skipped = "", cs[3].median_ms = 1.0;  // grouped now 1.0 ms: auto 1.2x the best
  CHECK(!*evaluate_targets(cs, int64_t{1024} << 20).c);
  CHECK(median_overhead_vs_static(cs) == doctest::Approx(0.2));
  CHECK(best_speedup_vs_moe(cs) == doctest::Approx(8.0 / 1.2));
}

TEST_CASE("shards cover the cells once, in order; HDF5 round trip") {
  BenchOptions o;
  o.suites = {"mobilenet-v1-tail"};
  o.experts = {1, 8};
  o.batch = {1, 4};
  o.threads = {1};
  o.strategies = {"static", "auto", "moe-concat"};
  o.peers = {"openblas"};
  const auto layers = bench_suite(o.suites);
  const auto cells = bench_cells(layers, o);
  // Per (layer, B, t): static + openblas + 2 n x 2 strategies = 6.
  CHECK(cells.size() == layers.size() * 2 * 6);

  effinfer::test::TempDir dir;
  BenchResult r;
  BenchCase c;
  c.layer = "Conv2d_7_depthwise", c.kind = "depthwise", c.strategy = "static", c.h = 14;
  c.median_ms = 0.25, c.macs = 42, c.bytes_est = 7, c.skipped = "";
  r.cases = {c, c};
  r.cases[1].skipped = "workspace 2000 MiB";
  r.machine = {{1, 50.0, 10.0}};
  {
    auto f = effinfer::io::H5File::create(dir.file("b.h5"));
    write_bench_results(f, r);
  }
  const auto f = effinfer::io::H5File::open(dir.file("b.h5"));
  const BenchResult back = read_bench_results(f);
  REQUIRE(back.cases.size() == 2);
  CHECK(back.cases[0].layer == "Conv2d_7_depthwise");
  CHECK(back.cases[0].macs == 42);
  CHECK(back.cases[0].median_ms == 0.25);
  CHECK(back.cases[1].skipped == "workspace 2000 MiB");
  REQUIRE(back.machine.size() == 1);
  CHECK(back.machine[0].gemm_gflops == 50.0);
  CHECK(f.read_attribute_string("/results/cases/median_ms", "units") == "ms");
}

TEST_CASE("net: check 9, per-row counters equal count's rows times B") {
  NetOptions o;
  o.reps = 1, o.warmup = 0, o.threads = 1;
  SUBCASE("CondConv-B0-4e, B = 2") {
    o.arch = "efficientnet-condconv-b0-4e", o.experts = 4, o.batch = 2;
    const NetResult r = run_net(o);
    for (const auto& m : r.mismatches) MESSAGE(m);
    CHECK(r.counters_match);
    int64_t macs = 0, mix = 0;
    for (const auto& l : r.layers) macs += l.macs + l.macs_mix + l.macs_route, mix += l.macs_mix;
    // Spec 5 check 3: 396,513,888 MACs per image; mixing 4 K_total = 4 x 2,673,600.
    CHECK(macs == 2 * 396'513'888LL);
    CHECK(mix == 2 * 4 * 2'673'600LL);
    CHECK(r.logits.size() == 2 * 1000);
    for (float v : r.logits) REQUIRE(std::isfinite(v));
  }
  SUBCASE("static B0, B = 1") {
    o.arch = "efficientnet-b0", o.experts = 0, o.batch = 1;
    const NetResult r = run_net(o);
    CHECK(r.counters_match);
    int64_t macs = 0, other = 0;
    for (const auto& l : r.layers)
      macs += l.macs + l.macs_mix + l.macs_route, other += l.flops_other;
    CHECK(macs == 385'814'752LL);  // check 2
    // madds_tf = macs + flops_other / 2 = 391,341,824 (check 2).
    CHECK(2 * (391'341'824LL - 385'814'752LL) == other);
  }
  CHECK_THROWS_AS(run_net(NetOptions{.arch = "mobilenet-v1"}), effinfer::UsageError);
}
