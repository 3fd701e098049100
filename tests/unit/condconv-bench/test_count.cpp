// The exact counter (spec condconv-bench 2.5, 2.6, 2.8; section 5 checks 1-8, 17). Every expected
// figure is an integer from the spec (tolerance 0) or, for the MobileNetV1 rows, the docstring
// table of tensorflow/models research/slim/nets/mobilenet_v1.py, typed in here.
#include <cmath>
#include <map>

#include "core/error.hpp"
#include "count.hpp"
#include "io/hdf5.hpp"
#include "test_support.hpp"

using namespace effinfer;
using namespace effinfer::condconv;

namespace {

CountResult count(const std::string& arch, std::optional<int> experts = std::nullopt,
                  const ArchOverrides& o = {}, const std::string& placement = "official") {
  CountOptions opt;
  opt.experts = experts;
  opt.placement = placement;
  return count_network(make_arch(arch, o), opt);
}

ArchOverrides width(double w) {
  ArchOverrides o;
  o.width = w;
  return o;
}

const LayerRow& row(const CountResult& r, const std::string& name) {
  for (const auto& x : r.rows)
    if (x.name == name) return x;
  FAIL("no row " << name);
  return r.rows.front();
}

int64_t round_to_million(double v) { return std::llround(v / 1e6); }

}  // namespace

TEST_CASE("check 1: MobileNetV1 body rows equal the slim docstring (1.0@224, 0.75@128)") {
  struct Line {
    const char* name;
    int64_t weights, macs;
  };
  // mobilenet_v1.py docstring, "Mobilenet V1 (base) with input size 224x224" and
  // "75% Mobilenet V1 (base) with input size 128x128".
  const std::vector<Line> full = {{"Conv2d_0", 864, 10838016},
                                  {"Conv2d_1_depthwise", 288, 3612672},
                                  {"Conv2d_1_pointwise", 2048, 25690112},
                                  {"Conv2d_2_depthwise", 576, 1806336},
                                  {"Conv2d_2_pointwise", 8192, 25690112},
                                  {"Conv2d_3_depthwise", 1152, 3612672},
                                  {"Conv2d_3_pointwise", 16384, 51380224},
                                  {"Conv2d_4_depthwise", 1152, 903168},
                                  {"Conv2d_4_pointwise", 32768, 25690112},
                                  {"Conv2d_5_depthwise", 2304, 1806336},
                                  {"Conv2d_5_pointwise", 65536, 51380224},
                                  {"Conv2d_6_depthwise", 2304, 451584},
                                  {"Conv2d_6_pointwise", 131072, 25690112},
                                  {"Conv2d_7_depthwise", 4608, 903168},
                                  {"Conv2d_7_pointwise", 262144, 51380224},
                                  {"Conv2d_8_depthwise", 4608, 903168},
                                  {"Conv2d_8_pointwise", 262144, 51380224},
                                  {"Conv2d_9_depthwise", 4608, 903168},
                                  {"Conv2d_9_pointwise", 262144, 51380224},
                                  {"Conv2d_10_depthwise", 4608, 903168},
                                  {"Conv2d_10_pointwise", 262144, 51380224},
                                  {"Conv2d_11_depthwise", 4608, 903168},
                                  {"Conv2d_11_pointwise", 262144, 51380224},
                                  {"Conv2d_12_depthwise", 4608, 225792},
                                  {"Conv2d_12_pointwise", 524288, 25690112},
                                  {"Conv2d_13_depthwise", 9216, 451584},
                                  {"Conv2d_13_pointwise", 1048576, 51380224}};
  const std::vector<Line> small = {{"Conv2d_0", 648, 2654208},
                                   {"Conv2d_1_depthwise", 216, 884736},
                                   {"Conv2d_1_pointwise", 1152, 4718592},
                                   {"Conv2d_2_depthwise", 432, 442368},
                                   {"Conv2d_2_pointwise", 4608, 4718592},
                                   {"Conv2d_3_depthwise", 864, 884736},
                                   {"Conv2d_3_pointwise", 9216, 9437184},
                                   {"Conv2d_4_depthwise", 864, 221184},
                                   {"Conv2d_4_pointwise", 18432, 4718592},
                                   {"Conv2d_5_depthwise", 1728, 442368},
                                   {"Conv2d_5_pointwise", 36864, 9437184},
                                   {"Conv2d_6_depthwise", 1728, 110592},
                                   {"Conv2d_6_pointwise", 73728, 4718592},
                                   {"Conv2d_7_depthwise", 3456, 221184},
                                   {"Conv2d_7_pointwise", 147456, 9437184},
                                   {"Conv2d_8_depthwise", 3456, 221184},
                                   {"Conv2d_8_pointwise", 147456, 9437184},
                                   {"Conv2d_9_depthwise", 3456, 221184},
                                   {"Conv2d_9_pointwise", 147456, 9437184},
                                   {"Conv2d_10_depthwise", 3456, 221184},
                                   {"Conv2d_10_pointwise", 147456, 9437184},
                                   {"Conv2d_11_depthwise", 3456, 221184},
                                   {"Conv2d_11_pointwise", 147456, 9437184},
                                   {"Conv2d_12_depthwise", 3456, 55296},
                                   {"Conv2d_12_pointwise", 294912, 4718592},
                                   {"Conv2d_13_depthwise", 6912, 110592},
                                   {"Conv2d_13_pointwise", 589824, 9437184}};
  auto check = [](const CountResult& r, const std::vector<Line>& table, int64_t weights,
                  int64_t macs) {
    int64_t sw = 0, sm = 0;
    for (const Line& l : table) {
      const LayerRow& x = row(r, l.name);
      CHECK_MESSAGE(x.weights == l.weights, l.name);
      CHECK_MESSAGE(x.macs == l.macs, l.name);
      sw += x.weights;
      sm += x.macs;
    }
    CHECK(sw == weights);
    CHECK(sm == macs);
    // The body is every row but the classifier.
    CHECK(r.rows.size() == table.size() + 1);
  };
  check(count("mobilenet-v1"), full, 3185088, 567716352);
  ArchOverrides o = width(0.75);
  o.resolution = 128;
  check(count("mobilenet-v1", 0, o), small, 1800144, 106002432);
}

TEST_CASE("check 2: EfficientNet-B0 macs, madds_tf, params") {
  const CountResult r = count("efficientnet-b0");
  CHECK(r.totals.macs == 385814752);
  CHECK(r.totals.madds_tf == 391341824.0);
  CHECK(r.totals.params == 5288548);
  CHECK(r.totals.macs_mix == 0);
  CHECK(r.totals.macs_route == 0);
  CHECK(r.placement_verified);
  // Spot rows: stem 3x3/2 3->32 at 112x112; blocks_15 SE reduce width floor(0.25*192) = 48.
  CHECK(row(r, "stem").macs == 10838016);
  CHECK(row(r, "blocks_15/se_reduce").c_out == 48);
  CHECK(row(r, "head").c_out == 1280);
  CHECK(row(r, "classifier").macs == 1280000);
}

TEST_CASE("check 3 and 4: CondConv-EfficientNet-B0 configurations and B1-B3") {
  struct Case {
    const char* arch;
    int64_t macs;
    double madds;
    int64_t params, million;
  };
  for (const Case& c :
       {Case{"efficientnet-condconv-b0-4e", 396513888, 402100560, 13314116, 402},
        Case{"efficientnet-condconv-b0-8e", 407213024, 412799712, 24013284, 413},
        Case{"efficientnet-condconv-b0-8e-depth", 606131552, 614262488, 39715968, 614}}) {
    CAPTURE(c.arch);
    const CountResult r = count(c.arch);
    CHECK(r.totals.macs == c.macs);
    CHECK(r.totals.madds_tf == c.madds);
    CHECK(r.totals.params == c.params);
    CHECK(round_to_million(r.totals.madds_tf) == c.million);
  }
  // The same through efficientnet-b0 with explicit experts / depth.
  ArchOverrides depth;
  depth.depth = 1.1;
  CHECK(count("efficientnet-b0", 8, depth).totals.macs == 606131552);
  CHECK(count("efficientnet-b0", 4).totals.madds_tf == 402100560.0);
  CHECK(round_to_million(count("efficientnet-b0").totals.madds_tf) == 391);

  const CountResult b1 = count("efficientnet-b1");
  CHECK(b1.totals.macs == 686802832);
  CHECK(b1.totals.madds_tf == 696181188.0);
  CHECK(b1.totals.params == 7794184);
  CHECK(std::fabs(b1.totals.madds_tf / 700e6 - 1) <= 0.01);
  // SHOULD figures (EfficientNet Table 2: 1.0B, 1.8B), reproduced exactly.
  CHECK(count("efficientnet-b2").totals.madds_tf == 1005541206.0);
  CHECK(count("efficientnet-b3").totals.madds_tf == 1847655060.0);
}

TEST_CASE("check 5: CondConv-B0 affine laws for n = 1..32") {
  const CountResult s = count("efficientnet-b0", 0);
  const CountResult none = count("efficientnet-b0", 8, {}, "none");
  REQUIRE(s.rows.size() == none.rows.size());
  for (size_t i = 0; i < s.rows.size(); ++i) {
    CHECK(s.rows[i].name == none.rows[i].name);
    CHECK(s.rows[i].macs == none.rows[i].macs);
    CHECK(s.rows[i].params == none.rows[i].params);
    CHECK(s.rows[i].flops_other == none.rows[i].flops_other);
  }
  CHECK(none.totals.madds_tf == s.totals.madds_tf);
  // K_total and the routing widths from the rows of n = 1.
  const CountResult one = count("efficientnet-b0", 1);
  int64_t k_total = 0, c_blocks = 0;
  for (const auto& x : one.rows) {
    if (x.kind == RowKind::kRouting)
      c_blocks += x.c_in;
    else if (x.condconv)
      k_total += x.weights;
  }
  CHECK(k_total == 2673600);
  CHECK(c_blocks == 1184);
  CHECK(one.totals.macs - s.totals.macs == 2673600 + 1184);
  CHECK(one.totals.params - s.totals.params == 1192);
  for (int n = 1; n <= 32; ++n) {
    CAPTURE(n);
    const CountResult r = count("efficientnet-b0", n);
    CHECK(r.totals.macs == 385814752 + 2674784LL * n);
    CHECK(r.totals.madds_tf == 391341824.0 + 2674788.0 * n + 59584.0);
    CHECK(r.totals.params == 5288548 + 2673600LL * (n - 1) + 1192LL * n);
    CHECK(r.totals.macs_mix == 2673600LL * n);
    CHECK(r.totals.macs_route == 1184LL * n);
  }
}

TEST_CASE("check 6: MnasNet-A1 and CondConv-MnasNet") {
  const CountResult r = count("mnasnet-a1");
  CHECK(r.totals.macs == 311579072);
  CHECK(r.totals.madds_tf == 312321787.0);
  CHECK(r.totals.params == 3887038);
  CHECK_FALSE(r.placement_verified);
  // SHOULD (paper 325M, [unverified]), reproduced exactly.
  const CountResult c = count("mnasnet-a1", 8);
  CHECK(c.totals.macs == 324261184);
  CHECK(c.totals.madds_tf == 325045475.0);
}

TEST_CASE("check 7: MobileNetV1 widths and MobileNetV2") {
  const CountResult r = count("mobilenet-v1");
  CHECK(r.totals.macs == 568740352);
  CHECK(r.totals.madds_tf == 568765940.0);
  CHECK(r.totals.params == 4231976);
  CHECK(count("mobilenet-v1", 0, width(0.75)).totals.madds_tf == 325419764.0);
  CHECK(count("mobilenet-v1", 0, width(0.5)).totals.madds_tf == 149510132.0);
  CHECK(count("mobilenet-v1", 0, width(0.25)).totals.madds_tf == 41037044.0);
  const CountResult v2 = count("mobilenet-v2");
  CHECK(v2.totals.macs == 300774272);
  CHECK(v2.totals.madds_tf == 300914324.0);
}

TEST_CASE("check 8 (SHOULD): ResNet-50 v1.5 and CondConv-MobileNetV1, reproduced exactly") {
  const CountResult r = count("resnet50");
  CHECK(r.totals.macs == 4089184256);
  CHECK(r.totals.madds_tf == 4092897780.0);
  const CountResult c = count("resnet50", 8);
  CHECK(c.totals.macs == 4208762880);
  CHECK(c.totals.madds_tf == 4212677120.0);
  CHECK(count("mobilenet-v1", 8).totals.madds_tf == 600696660.0);
  const double full32 = count("mobilenet-v1", 32).totals.madds_tf;
  const double half32 = count("mobilenet-v1", 32, width(0.5)).totals.madds_tf;
  CHECK(full32 == 695510388.0);
  CHECK(half32 == 189829748.0);
  // The abstract's +22% and +27% (to 0.1%: +22.3%, +27.0%).
  CHECK(std::llround(1000 * (full32 / 568765940.0 - 1)) == 223);
  CHECK(std::llround(1000 * (half32 / 149510132.0 - 1)) == 270);
  // The classifier is a CondConv FC with expert biases: (n+1)*K + n*Cout, more than the MoE
  // form's n*K + n*Cout (spec 2.5).
  const CountResult c8 = count("mobilenet-v1", 8);
  const LayerRow& fc = row(c8, "Logits");
  CHECK(fc.condconv);
  CHECK(fc.macs_mix == 8LL * 1024 * 1000 + 8 * 1000);
  CHECK(fc.macs + fc.macs_mix == 9LL * 1024 * 1000 + 8 * 1000);
  CHECK(fc.macs_moe == 8LL * 1024 * 1000 + 8 * 1000);
}

TEST_CASE("check 17: fmnist-s S, C(n), S'(n), S''(n)") {
  const CountResult s = count("fmnist-s");
  CHECK(s.totals.macs == 3726208);
  CHECK(s.totals.params == 60874);
  const std::vector<int64_t> per_layer = {112896, 903168, 903168, 1806336, 640};
  const std::vector<std::string> names = {"conv1", "conv2", "conv3", "conv4", "fc"};
  for (size_t i = 0; i < names.size(); ++i) CHECK(row(s, names[i]).macs == per_layer[i]);
  for (int n = 1; n <= 32; ++n) {
    CAPTURE(n);
    const CountResult c = count("fmnist-s", n);
    CHECK(c.totals.macs == 3726208 + 56234LL * n);
    CHECK(c.totals.macs_mix == 56074LL * n);
    CHECK(c.totals.macs_route == 160LL * n);
    CHECK(c.totals.params == 4800 + 56237LL * n);
  }
  const CountResult c8 = count("fmnist-s", 8);
  CHECK(c8.totals.macs == 4176080);
  CHECK(c8.totals.params == 454696);
  CHECK(std::llround(1e4 * (4176080.0 / 3726208 - 1)) == 1207);  // +12.07%
  for (int c : {16, 64, 65, 70, 100, 208}) {
    CAPTURE(c);
    const CountResult w = count("fmnist-s", 0, width(c));
    CHECK(w.totals.macs == 1016064 + 14122LL * c + 441LL * c * c);
    CHECK(w.totals.params == 4810 + 300LL * c + 9LL * c * c);
  }
  const std::map<int, std::pair<int, int>> widths = {
      {1, {65, 64}}, {2, {66, 96}}, {4, {67, 142}}, {8, {70, 208}}};
  for (const auto& [n, w] : widths) {
    CAPTURE(n);
    CHECK(fmnist_equal_width(n, false) == w.first);
    CHECK(fmnist_equal_width(n, true) == w.second);
    const double target = static_cast<double>(count("fmnist-s", n).totals.macs);
    const double equal = static_cast<double>(count("fmnist-s", 0, width(w.first)).totals.macs);
    CHECK(std::fabs(equal / target - 1) <= 0.01);
  }
}

TEST_CASE("rows: totals are the row sums; CondConv row formulas of spec 2.5") {
  const CountResult r = count("efficientnet-b0", 8);
  CountTotals t;
  for (const auto& x : r.rows) {
    t.macs += x.macs + x.macs_mix;
    t.params += x.params;
    t.flops_other += x.flops_other;
    CHECK(x.params == x.weights + x.biases + x.bn_params);
  }
  CHECK(t.macs == r.totals.macs);
  CHECK(t.params == r.totals.params);
  CHECK(r.totals.madds_tf == r.totals.macs + t.flops_other / 2.0);
  // blocks_12 (stage 6, 7x7, 112 -> 192 with expand 6 on 112: stride 2 depthwise 5x5).
  const LayerRow& route = row(r, "blocks_11/routing");
  CHECK(route.kind == RowKind::kRouting);
  CHECK(route.c_in == 112);
  CHECK(route.macs == 112 * 8);
  CHECK(route.flops_other == 14 * 14 * 112 + 8);
  const size_t expand = static_cast<size_t>(&row(r, "blocks_11/expand") - r.rows.data());
  CHECK(r.rows[expand - 1].name == "blocks_11/routing");  // routing precedes the block
  const LayerRow& dw = row(r, "blocks_11/depthwise");
  CHECK(dw.condconv);
  CHECK(dw.h_in == 14);
  CHECK(dw.h_out == 7);
  CHECK(dw.macs == 7 * 7 * 25 * 672);
  CHECK(dw.weights == 8 * 25 * 672);
  CHECK(dw.macs_mix == 8 * 25 * 672);
  CHECK(dw.macs_moe == 8 * dw.macs + 8 * 7 * 7 * 672);
  CHECK(dw.bn_params == 2 * 672);
  CHECK_FALSE(row(r, "blocks_11/se_reduce").condconv);
  CHECK_FALSE(row(r, "blocks_7/expand").condconv);  // stage 4 stays static
  // 8 of 16 blocks route (spec 2.3).
  int routes = 0;
  for (const auto& x : r.rows) routes += x.kind == RowKind::kRouting;
  CHECK(routes == 8);
}

TEST_CASE("SAME output sizes (spec 2.1) in the tables") {
  CHECK(same_out(15, 2) == 8);
  CHECK(same_out(14, 2) == 7);
  CHECK(same_out(1, 2) == 1);
  const ArchSpec a = make_arch("efficientnet-b3");  // 300 -> 150 -> 75 -> 38 -> 19 -> 10
  const CountResult r = count_network(a, {});
  CHECK(row(r, "stem").h_out == 150);
  CHECK(row(r, "head").h_out == 10);
  CHECK(row(r, "stem").c_out == 40);  // round_filters(32, 1.2) = 40 (38.4 -> 40)
  CHECK(row(r, "head").c_out == 1536);
  CHECK(round_filters_efficientnet(16, 1.1) == 16);  // 17.6 -> 16 (>= 0.9 * 17.6)
  CHECK(round_filters_efficientnet(24, 1.2) == 32);  // 28.8 -> 32
  CHECK(round_filters_mobilenet_v1(32, 0.25) == 8);
}

TEST_CASE("placements: stages, layers, all, fc_condconv, expert_bias") {
  const CountResult official = count("efficientnet-b0", 8);
  const CountResult stages = count("efficientnet-b0", 8, {}, "stages:5-7");
  CHECK(stages.totals.macs == official.totals.macs);
  CHECK(stages.totals.params == official.totals.params);
  const CountResult one = count("efficientnet-b0", 8, {}, "layers:blocks_15");
  CHECK(one.totals.macs_route == 192 * 8);
  const CountResult dw = count("efficientnet-b0", 8, {}, "layers:blocks_15/depthwise");
  CHECK(dw.totals.macs_mix == 8 * 9 * 1152);
  CHECK(dw.totals.macs_route == 192 * 8);  // the group's routing, computed once
  const CountResult all = count("efficientnet-b0", 2, {}, "all");
  int routes = 0;
  for (const auto& x : all.rows) routes += x.kind == RowKind::kRouting;
  CHECK(routes == 16);
  CHECK_FALSE(row(all, "stem").condconv);
  CHECK_FALSE(row(all, "head").condconv);
  CHECK_FALSE(row(all, "classifier").condconv);

  // mobilenet-v1: the classifier follows fc_condconv; off removes its mixing and routing.
  CountOptions opt;
  opt.experts = 8;
  opt.fc_condconv = false;
  const CountResult no_fc = count_network(make_arch("mobilenet-v1"), opt);
  const CountResult with_fc = count("mobilenet-v1", 8);
  CHECK(with_fc.totals.macs - no_fc.totals.macs == 8LL * 1024 * 1000 + 8 * 1000 + 1024 * 8);
  opt.fc_condconv = std::nullopt;
  opt.expert_bias = false;
  const LayerRow& fc = row(count_network(make_arch("mobilenet-v1"), opt), "Logits");
  CHECK(fc.biases == 1000);
  CHECK(fc.macs_mix == 8LL * 1024 * 1000);
  // layers: with the classifier named.
  const CountResult named = count("mobilenet-v1", 8, {}, "layers:Conv2d_13,Logits");
  CHECK(row(named, "Logits").condconv);
  CHECK(row(named, "Conv2d_13_pointwise").condconv);
  CHECK_FALSE(row(named, "Conv2d_12_pointwise").condconv);
  // ResNet: the projection shortcut of conv5_1 is CondConv and shares the block routing.
  const CountResult rn = count("resnet50", 8);
  CHECK(row(rn, "conv5_1/shortcut").condconv);
  CHECK(row(rn, "conv5_1/routing").c_in == 1024);
  CHECK(row(rn, "conv5_1/routing").h_in == 14);
  CHECK_FALSE(row(rn, "fc").condconv);
}

TEST_CASE("bad values are UsageError naming what is valid") {
  using test::contains;
  using test::error_message;
  std::string m = error_message<UsageError>([] { make_arch("foo"); });
  CHECK(contains(m, "foo"));
  CHECK(contains(m, "efficientnet-b0"));
  CHECK(contains(m, "fmnist-s"));
  m = error_message<UsageError>([] { count("efficientnet-b0", -1); });
  CHECK(contains(m, "experts"));
  CHECK(contains(m, "-1"));
  m = error_message<UsageError>([] { count("efficientnet-b0", 8, {}, "layers:blocks_99"); });
  CHECK(contains(m, "blocks_99"));
  CHECK(contains(m, "blocks_9"));
  m = error_message<UsageError>([] { count("efficientnet-b0", 8, {}, "layers:stem"); });
  CHECK(contains(m, "static"));
  m = error_message<UsageError>([] { count("efficientnet-b0", 8, {}, "stages:6-9"); });
  CHECK(contains(m, "1..7"));
  m = error_message<UsageError>([] { count("efficientnet-b0", 8, {}, "stages:3-2"); });
  CHECK(contains(m, "A <= B"));
  m = error_message<UsageError>([] { count("efficientnet-b0", 8, {}, "some"); });
  CHECK(contains(m, "official, none, all"));
  ArchOverrides d;
  d.depth = 1.2;
  m = error_message<UsageError>([&] { make_arch("mobilenet-v1", d); });
  CHECK(contains(m, "depth"));
  m = error_message<UsageError>([] { make_arch("fmnist-s", width(64.5)); });
  CHECK(contains(m, "integer"));
  m = error_message<UsageError>([] { make_arch("resnet50", width(0.5)); });
  CHECK(contains(m, "width"));
  ArchOverrides res;
  res.resolution = 0;
  m = error_message<UsageError>([&] { make_arch("efficientnet-b0", res); });
  CHECK(contains(m, "resolution"));
}

TEST_CASE("write_count_results: the HDF5 layout of spec 3") {
  test::TempDir dir;
  const std::string path = (dir.path() / "count.h5").string();
  const ArchSpec arch = make_arch("efficientnet-condconv-b0-8e");
  const CountResult r = count_network(arch, {});
  {
    io::H5File f = io::H5File::create(path);
    write_count_results(f, arch, r);
  }
  const io::H5File f = io::H5File::open(path);
  const auto names = f.read_strings("/results/layers/name");
  REQUIRE(names.size() == r.rows.size());
  CHECK(names.front() == "stem");
  CHECK(f.read_strings("/results/layers/kind")[0] == "stem");
  for (const char* col : {"block", "condconv", "h_in", "h_out", "c_in", "c_out", "kernel", "stride",
                          "experts", "macs", "macs_mix", "macs_moe", "weights", "biases",
                          "bn_params", "params", "flops_other"}) {
    CAPTURE(col);
    CHECK(f.info(std::string("/results/layers/") + col).shape[0] == r.rows.size());
    CHECK(f.has_attribute(std::string("/results/layers/") + col, "units"));
  }
  CHECK(f.info("/results/layers/macs").element_size == 8);
  CHECK(f.info("/results/layers/block").element_size == 4);
  CHECK(f.info("/results/layers/condconv").element_size == 1);
  CHECK(f.read_scalar("/results/totals/macs") == 407213024.0);
  CHECK(f.read_scalar("/results/totals/madds_tf") == 412799712.0);
  CHECK(f.read_scalar("/results/totals/params") == 24013284.0);
  CHECK(f.read_scalar("/results/totals/macs_route") == 9472.0);
  CHECK(f.read_attribute_string("/results/totals/madds_tf", "units") == "MADD");
  CHECK(f.read_attribute_string("/results", "arch") == "efficientnet-condconv-b0-8e");
  CHECK(f.read_attribute_string("/results", "placement") == "official");
  CHECK(f.read_attribute_int("/results", "placement_verified") == 1);
  CHECK(f.read_attribute_int("/results", "resolution") == 224);
  CHECK(f.read_attribute_double("/results", "width") == 1.0);
  const auto macs = f.read_int_vector("/results/layers/macs");
  const auto mix = f.read_int_vector("/results/layers/macs_mix");
  int64_t total = 0;
  for (size_t i = 0; i < macs.size(); ++i) total += macs[i] + mix[i];
  CHECK(total == 407213024);
}
