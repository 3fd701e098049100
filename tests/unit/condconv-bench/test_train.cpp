// Part (c) of condconv-bench (spec 2.8; checks 17 and 18): exact MACs / params of S, C(n), S'(n),
// S''(n) through the layers' cost(), the digits smoke training (loss decreases, >= 90 % test
// accuracy after 10 epochs for S and C(4)), bitwise reproducibility, run planning and the model
// save / load round trip.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "io/digits.hpp"
#include "io/hdf5.hpp"
#include "test_support.hpp"
#include "train.hpp"
#include "train_nets.hpp"

using namespace effinfer;
using namespace effinfer::condconv;

namespace {

nn::Cost cost_of(Variant v, int64_t n) {
  auto net = build_net<float>(make_net_spec(v, n, 0.2), 1);
  return net->cost(nn::Shape{1, 28, 28, 1});
}

double mean_range(const std::vector<double>& v, size_t lo, size_t hi) {
  double s = 0;
  for (size_t i = lo; i < hi; ++i) s += v[i];
  return s / static_cast<double>(hi - lo);
}

bool digits_present() {
  if (std::filesystem::exists(io::kDigitsCsv)) return true;
  MESSAGE("SKIPPED: " << io::kDigitsCsv << " absent (install python3-sklearn)");
  return false;
}

}  // namespace

TEST_CASE("check 17: MACs and params of S, C(n), S'(n), S''(n) from the layers' cost()") {
  // Spec 2.8 figures.
  const nn::Cost s = cost_of(Variant::kStatic, 0);
  CHECK(s.macs == 3726208);
  CHECK(s.params == 60874);
  for (int64_t n : {1, 2, 4, 8}) {
    const nn::Cost c = cost_of(Variant::kCondConv, n);
    CHECK(c.macs == 3726208 + 56234 * n);
    CHECK(c.params == 4800 + 56237 * n);
    const nn::Cost e = cost_of(Variant::kStaticEqualMacs, n);
    CHECK(e.macs ==
          1016064 + 14122 * width_equal_macs(n) + 441 * width_equal_macs(n) * width_equal_macs(n));
    CHECK(std::abs(static_cast<double>(e.macs - c.macs)) <= 0.01 * static_cast<double>(c.macs));
    const nn::Cost p = cost_of(Variant::kStaticEqualParams, n);
    const int64_t w = width_equal_params(n);
    CHECK(p.params == 4810 + 300 * w + 9 * w * w);
  }
  CHECK(cost_of(Variant::kCondConv, 8).macs == 4176080);
  CHECK(cost_of(Variant::kCondConv, 8).params == 454696);
  CHECK(width_equal_macs(1) == 65);
  CHECK(width_equal_macs(2) == 66);
  CHECK(width_equal_macs(4) == 67);
  CHECK(width_equal_macs(8) == 70);
  CHECK(width_equal_params(1) == 64);
  CHECK(width_equal_params(2) == 96);
  CHECK(width_equal_params(4) == 142);
  CHECK(width_equal_params(8) == 208);
}

TEST_CASE("plan_runs: static once, others per n, seeds s..s+R-1, names") {
  TrainSettings s;
  s.experts = {2, 8};
  s.variants = {Variant::kStatic, Variant::kCondConv, Variant::kStaticEqualMacs};
  s.repeats = 3;
  const auto runs = plan_runs(s, 5);
  REQUIRE(runs.size() == 15);  // (1 + 2 + 2) x 3
  CHECK(runs[0].name == "static_s5");
  CHECK(runs[2].seed == 7);
  CHECK(runs[3].name == "condconv_n2_s5");
  CHECK(runs[14].name == "static_equal_macs_n8_c70_s7");
  CHECK(runs[14].net.width == 70);
}

TEST_CASE("check 18: digits smoke, S and C(4), 10 epochs; loss falls, test acc >= 90 %") {
  if (!digits_present()) return;
  const TrainData d = load_train_data("digits", "", 0);
  REQUIRE(d.n_train() == 1438);
  REQUIRE(d.n_test() == 359);
  TrainSettings s;
  s.dataset = "digits";
  s.epochs = 10;
  for (Variant v : {Variant::kStatic, Variant::kCondConv}) {
    RunSpec run;
    run.net = make_net_spec(v, 4, 0.2);
    run.seed = 0;
    std::unique_ptr<nn::Sequential<float>> net;
    const RunResult r = train_run(run, s, d, 1, net);
    CAPTURE(variant_name(v));
    CHECK_FALSE(r.diverged);
    REQUIRE(r.step_loss.size() == 23 * 10);  // 22 full batches of 64 + one of 30 per epoch
    const size_t k = r.step_loss.size() / 10;
    const double first = mean_range(r.step_loss, 0, k);
    const double last = mean_range(r.step_loss, r.step_loss.size() - k, r.step_loss.size());
    MESSAGE(variant_name(v) << ": first-10% loss " << first << ", last-10% " << last
                            << ", test acc " << r.test_acc);
    CHECK(first > 2.0);  // about ln 10 at the start
    CHECK(last < first);
    CHECK(r.test_acc >= 0.90);
  }
}

TEST_CASE("train_run: same seed and threads -> bitwise identical; save / load round trip") {
  if (!digits_present()) return;
  const TrainData d = load_train_data("digits", "", 0);
  TrainSettings s;
  s.dataset = "digits";
  s.epochs = 2;
  RunSpec run;
  run.net = make_net_spec(Variant::kCondConv, 3, 0.2);
  run.seed = 11;
  std::unique_ptr<nn::Sequential<float>> a, b;
  const RunResult ra = train_run(run, s, d, 1, a);
  const RunResult rb = train_run(run, s, d, 1, b);
  REQUIRE(ra.step_loss.size() == rb.step_loss.size());
  bool same = true;
  for (size_t i = 0; i < ra.step_loss.size(); ++i)
    same = same && ra.step_loss[i] == rb.step_loss[i];
  const auto pa = a->params(), pb = b->params();
  for (size_t i = 0; i < pa.size(); ++i)
    for (int64_t j = 0; j < pa[i].value->size(); ++j)
      same = same && (*pa[i].value)[j] == (*pb[i].value)[j];
  CHECK(same);
  // Another seed trains differently.
  run.seed = 12;
  std::unique_ptr<nn::Sequential<float>> c;
  CHECK(train_run(run, s, d, 1, c).step_loss[5] != ra.step_loss[5]);

  test::TempDir tmp;
  const std::string path = (tmp.path() / "m.h5").string();
  {
    io::H5File f = io::H5File::create(path);
    save_model(f, "/results/models/x", *a, run.net, d);
  }
  const io::H5File f = io::H5File::open(path);
  NetSpec spec;
  std::string dataset;
  auto loaded = load_model(f, "/results/models/x", spec, dataset);
  CHECK(dataset == "digits");
  CHECK(spec.experts == 3);
  const EvalResult e1 = evaluate_net(*a, d.test_x, d.test_y, d.h, d.w, 10, 1);
  const EvalResult e2 = evaluate_net(*loaded, d.test_x, d.test_y, d.h, d.w, 10, 1);
  CHECK(e1.acc == e2.acc);
  CHECK(e1.acc == doctest::Approx(ra.test_acc));
  int64_t total = 0;
  for (int64_t v : e2.confusion) total += v;
  CHECK(total == 359);
}
