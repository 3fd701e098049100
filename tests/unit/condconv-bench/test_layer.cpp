// CondConv layer kernels (spec condconv-bench 5, checks 10-14). Every reference is written here:
// a naive float64 direct convolution of the MoE form sum_i alpha_i conv(x, E_i) (+ alpha Eb), the
// TF SAME padding rule from its definition, a float64 sigmoid routing, and BN applied after the
// unfolded layer.
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <vector>

#include "condconv_kernels.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "strategy.hpp"
#include "test_support.hpp"

namespace cc = effinfer::condconv;
using cc::Kind;
using cc::LayerShape;
using cc::Padding;
using cc::Strategy;

namespace {

struct Data {
  std::vector<double> x, experts, bias, rk, rb;
};

Data make_data(const LayerShape& s, int64_t batch, uint64_t seed) {
  effinfer::Rng rng(seed, 1);
  Data d;
  d.x.resize(batch * s.in_size());
  for (auto& v : d.x) v = rng.normal();
  d.experts.resize(s.experts * s.k());
  for (auto& v : d.experts) v = rng.normal() * 0.3;
  d.bias.resize(s.experts * s.cout);
  for (auto& v : d.bias) v = rng.normal() * 0.1;
  d.rk.resize(s.cin * s.experts);
  for (auto& v : d.rk) v = rng.uniform() * 2 - 1;
  d.rb.resize(s.experts);
  for (auto& v : d.rb) v = rng.uniform() - 0.5;
  return d;
}

// Independent SAME/VALID rule: out and the padding before, from the definition in spec 2.1.
void tf_pad(int64_t in, int64_t k, int64_t s, bool same, int64_t& out, int64_t& before) {
  if (same) {
    out = (in % s == 0) ? in / s : in / s + 1;
    int64_t total = (out - 1) * s + k - in;
    if (total < 0) total = 0;
    before = total / 2;
  } else {
    out = (in - k) / s + 1;
    before = 0;
  }
}

// MoE form in float64: y_b = sum_i alpha_bi conv(x_b, E_i) + sum_i alpha_bi Eb_i.
std::vector<double> naive_moe(const LayerShape& s, int64_t batch, const Data& d,
                              const std::vector<double>& alpha) {
  const bool fc = s.kind == Kind::kFc, dw = s.kind == Kind::kDepthwise;
  int64_t ho = 1, wo = 1, top = 0, left = 0;
  if (!fc) {
    tf_pad(s.h, s.kh, s.stride, s.padding == Padding::kSame, ho, top);
    tf_pad(s.w, s.kw, s.stride, s.padding == Padding::kSame, wo, left);
  }
  const int64_t n = s.experts, cin = s.cin, cout = s.cout, k = s.k();
  std::vector<double> y(batch * ho * wo * cout, 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < n; ++i) {
      const double a = alpha[b * n + i];
      const double* e = d.experts.data() + i * k;
      for (int64_t oi = 0; oi < ho; ++oi)
        for (int64_t oj = 0; oj < wo; ++oj)
          for (int64_t co = 0; co < cout; ++co) {
            double acc = 0;
            for (int64_t di = 0; di < s.kh; ++di)
              for (int64_t dj = 0; dj < s.kw; ++dj) {
                const int64_t r = oi * s.stride + di - top, c = oj * s.stride + dj - left;
                if (r < 0 || c < 0 || r >= s.h || c >= s.w) continue;
                const double* xp = d.x.data() + ((b * s.h + r) * s.w + c) * cin;
                if (dw) {
                  acc += xp[co] * e[(di * s.kw + dj) * cin + co];
                } else {
                  for (int64_t ci = 0; ci < cin; ++ci)
                    acc += xp[ci] * e[((di * s.kw + dj) * cin + ci) * cout + co];
                }
              }
            if (s.expert_bias) acc += d.bias[i * cout + co];
            y[((b * ho + oi) * wo + oj) * cout + co] += a * acc;
          }
    }
  return y;
}

std::vector<double> naive_alpha(const LayerShape& s, int64_t batch, const Data& d) {
  const int64_t hw = s.kind == Kind::kFc ? 1 : s.h * s.w, n = s.experts;
  std::vector<double> alpha(batch * n);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < n; ++i) {
      double z = d.rb[i];
      for (int64_t c = 0; c < s.cin; ++c) {
        double p = 0;
        for (int64_t q = 0; q < hw; ++q) p += d.x[(b * hw + q) * s.cin + c];
        z += p / hw * d.rk[c * n + i];
      }
      alpha[b * n + i] = 1 / (1 + std::exp(-z));
    }
  return alpha;
}

template <class T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

double rel(const std::vector<double>& a, const std::vector<double>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - ref[i]) * (a[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return std::sqrt(num / den);
}

template <class T>
std::vector<double> run(const LayerShape& s, int64_t batch, const Data& d, Strategy st, int threads,
                        const std::vector<T>& alpha, int64_t max_bytes = 1LL << 40,
                        Strategy* resolved = nullptr, int64_t* chunk = nullptr) {
  const auto x = cast<T>(d.x), e = cast<T>(d.experts), b = cast<T>(d.bias);
  cc::CondConvExecutor<T> ex(s, batch, st, threads, max_bytes);
  cc::LayerWeights<T> w;
  w.experts = e.data();
  w.expert_bias = s.expert_bias ? b.data() : nullptr;
  ex.bind(w);
  std::vector<T> y(batch * s.out_size(), T(-7));
  ex.forward(x.data(), alpha.data(), y.data());
  if (resolved) *resolved = ex.strategy();
  if (chunk) *chunk = ex.chunk();
  return std::vector<double>(y.begin(), y.end());
}

LayerShape shape_of(Kind kind, int64_t k, int64_t stride, Padding pad, int64_t hw, int64_t n,
                    bool bias) {
  LayerShape s;
  s.kind = kind;
  s.experts = n;
  s.expert_bias = bias;
  if (kind == Kind::kFc) {
    s.cin = 9, s.cout = 7;
    return s;
  }
  s.kh = s.kw = k, s.stride = stride, s.padding = pad, s.h = s.w = hw;
  s.cin = kind == Kind::kDepthwise ? 6 : 5;
  s.cout = kind == Kind::kDepthwise ? 6 : 4;
  return s;
}

}  // namespace

TEST_CASE("check 13: TF SAME padding of spec 2.1, and placement with a one-hot input") {
  struct Row {
    int64_t h, k, s, ho, top, bottom;
  };
  // The three cases listed in spec check 13.
  for (const Row& r : {Row{15, 3, 2, 8, 1, 1}, Row{14, 3, 2, 7, 0, 1}, Row{14, 5, 2, 7, 1, 2}}) {
    CAPTURE(r.h);
    CAPTURE(r.k);
    const auto p = cc::tf_padding(r.h, r.k, r.s, Padding::kSame);
    CHECK(p.out == r.ho);
    CHECK(p.before == r.top);
    CHECK(p.after == r.bottom);
    // One input and one output channel, distinct tap values w[di][dj] = 1 + di k + dj; a one at
    // the top-left pixel lands on tap (top, left) of output (0, 0), one at the bottom-right on tap
    // (k-1-bottom, k-1-right) of the last output.
    LayerShape s = shape_of(Kind::kConv, r.k, r.s, Padding::kSame, r.h, 1, false);
    s.cin = s.cout = 1;
    std::vector<float> w(r.k * r.k);
    for (int64_t i = 0; i < r.k * r.k; ++i) w[i] = static_cast<float>(1 + i);
    for (int corner = 0; corner < 2; ++corner) {
      std::vector<float> x(r.h * r.h, 0.f), y(r.ho * r.ho, -1.f);
      const int64_t pix = corner == 0 ? 0 : r.h * r.h - 1;
      x[pix] = 1.f;
      for (Strategy st : {Strategy::kStatic, Strategy::kPerExample, Strategy::kMoeConcat}) {
        std::fill(y.begin(), y.end(), -1.f);
        if (st == Strategy::kStatic) {
          cc::static_forward<float>(s, 1, x.data(), w.data(), nullptr, y.data(), 1);
        } else {
          cc::CondConvExecutor<float> ex(s, 1, st, 1, 1LL << 30);
          cc::LayerWeights<float> lw;
          lw.experts = w.data();
          ex.bind(lw);
          const float one = 1.f;
          ex.forward(x.data(), &one, y.data());
        }
        if (corner == 0) {
          CHECK(y[0] == static_cast<float>(1 + r.top * r.k + r.top));
        } else {
          const int64_t t = r.k - 1 - r.bottom;
          CHECK(y.back() == static_cast<float>(1 + t * r.k + t));
        }
      }
    }
  }
  CHECK(cc::tf_padding(14, 3, 1, Padding::kSame).before == 1);
  CHECK(cc::tf_padding(7, 5, 2, Padding::kValid).out == 2);
  CHECK(cc::tf_padding(3, 5, 1, Padding::kValid).out == 0);
}

TEST_CASE("check 10: CondConv = MoE form = naive float64 convolution over the spec matrix") {
  const int64_t kernels[] = {1, 3, 5}, strides[] = {1, 2}, hws[] = {7, 14, 15},
                batches[] = {1, 3, 8}, experts[] = {1, 2, 8, 32};
  const Kind kinds[] = {Kind::kConv, Kind::kDepthwise, Kind::kFc};
  const Padding pads[] = {Padding::kSame, Padding::kValid};
  std::set<std::string> seen;
  effinfer::Rng pick(2026, 10);
  double worst32 = 0, worst64 = 0;
  const int cases = 48;
  for (int c = 0; c < cases; ++c) {
    // Round-robin over every axis with coprime periods covers each value; the rest is random.
    const int64_t k = kernels[c % 3], stride = strides[(c / 3) % 2];
    const Padding pad = pads[(c / 2) % 2];
    const int64_t hw = hws[(c / 5) % 3], batch = batches[(c / 7) % 3];
    const int64_t n = experts[pick.uniform_int(4)];
    const Kind kind = kinds[(c / 4) % 3];
    const bool bias = pick.uniform() < 0.5;
    seen.insert("k" + std::to_string(k));
    seen.insert("s" + std::to_string(stride));
    seen.insert(cc::padding_name(pad));
    seen.insert("h" + std::to_string(hw));
    seen.insert("b" + std::to_string(batch));
    seen.insert("n" + std::to_string(n));
    seen.insert(cc::kind_name(kind));
    seen.insert(bias ? "bias" : "nobias");
    const LayerShape s = shape_of(kind, k, stride, pad, hw, n, bias);
    CAPTURE(s.str());
    CAPTURE(batch);
    const Data d = make_data(s, batch, 100 + c);
    const auto alpha = naive_alpha(s, batch, d);
    const auto ref = naive_moe(s, batch, d, alpha);
    for (Strategy st : {Strategy::kPerExample, Strategy::kGrouped, Strategy::kMoeConcat,
                        Strategy::kMoeLoop, Strategy::kAuto}) {
      CAPTURE(cc::strategy_name(st));
      const double e32 =
          rel(run<float>(s, batch, d, st, c % 4 == 0 ? 2 : 1, cast<float>(alpha)), ref);
      const double e64 = rel(run<double>(s, batch, d, st, c % 4 == 0 ? 2 : 1, alpha), ref);
      CHECK(e32 <= 2e-5);
      CHECK(e64 <= 1e-12);
      worst32 = std::max(worst32, e32);
      worst64 = std::max(worst64, e64);
    }
    // The library's own float64 oracle (--verify) against the independent one.
    std::vector<double> y(ref.size());
    cc::LayerWeights<double> w;
    w.experts = d.experts.data();
    w.expert_bias = bias ? d.bias.data() : nullptr;
    cc::reference_forward<double>(s, batch, d.x.data(), alpha.data(), w, y.data());
    CHECK(rel(y, ref) <= 1e-13);
  }
  // Every value of every axis of the spec matrix was exercised.
  CHECK(seen.size() == 3 + 2 + 2 + 3 + 3 + 4 + 3 + 2);
  MESSAGE("check 10 worst rel-L2: float32 " << worst32 << ", float64 " << worst64);
}

TEST_CASE("check 11: per-example, grouped, auto bitwise at 1 thread; n=1 alpha=1 == static") {
  const struct {
    Kind kind;
    int64_t k, stride;
  } layers[] = {
      {Kind::kConv, 1, 1}, {Kind::kConv, 3, 2}, {Kind::kDepthwise, 5, 1}, {Kind::kFc, 1, 1}};
  for (const auto& l : layers) {
    for (int64_t n : {1, 8}) {
      const LayerShape s = shape_of(l.kind, l.k, l.stride, Padding::kSame, 14, n, true);
      CAPTURE(s.str());
      const int64_t batch = 5;
      const Data d = make_data(s, batch, 7 + n);
      const auto alpha = cast<float>(naive_alpha(s, batch, d));
      const auto pe = run<float>(s, batch, d, Strategy::kPerExample, 1, alpha);
      const auto gr = run<float>(s, batch, d, Strategy::kGrouped, 1, alpha);
      Strategy resolved;
      const auto au = run<float>(s, batch, d, Strategy::kAuto, 1, alpha, 1LL << 40, &resolved);
      CHECK(pe == gr);
      if (resolved == Strategy::kPerExample || resolved == Strategy::kGrouped)
        CHECK(pe == au);
      else
        CHECK(rel(au, pe) <= 1e-6);
      // Two threads and a chunked batch: reassociation only.
      CHECK(rel(run<float>(s, batch, d, Strategy::kGrouped, 2, alpha), pe) <= 1e-6);
      CHECK(rel(run<float>(s, batch, d, Strategy::kPerExample, 2, alpha), pe) <= 1e-6);
      int64_t chunk = 0;
      const int64_t tight = cc::workspace_bytes(s, Strategy::kMoeConcat, 2, 1, 4);
      const auto ch =
          run<float>(s, batch, d, Strategy::kMoeConcat, 1, alpha, tight, nullptr, &chunk);
      CHECK(chunk == 2);
      CHECK(rel(ch, pe) <= 1e-6);
      if (n == 1) {
        // alpha = 1 mixes exactly E_0 (1 * e is exact), so CondConv is the static layer bitwise.
        const std::vector<float> ones(batch, 1.f);
        const auto x = cast<float>(d.x), e = cast<float>(d.experts), b = cast<float>(d.bias);
        std::vector<float> ys(batch * s.out_size());
        cc::static_forward<float>(s, batch, x.data(), e.data(), b.data(), ys.data(), 1);
        const auto one = run<float>(s, batch, d, Strategy::kPerExample, 1, ones);
        const std::vector<double> yd(ys.begin(), ys.end());
        if (s.kind != Kind::kFc && !s.direct_gemm()) {
          CHECK(one == yd);
        } else {
          // A static FC or 1x1 conv is one GEMM over the batch, per-example one GEMM per
          // example: OpenBLAS rounds a row differently for another M, so bitwise only at B = 1.
          CHECK(rel(one, yd) <= 1e-6);
          std::vector<float> y1(s.out_size());
          cc::static_forward<float>(s, 1, x.data(), e.data(), b.data(), y1.data(), 1);
          const auto one1 = run<float>(s, 1, d, Strategy::kPerExample, 1, ones);
          CHECK(one1 == std::vector<double>(y1.begin(), y1.end()));
        }
        const auto one_g = run<float>(s, batch, d, Strategy::kGrouped, 1, ones);
        CHECK(one_g == one);
      }
    }
  }
}

TEST_CASE("chunking: workspace limit, chunk 1 over the limit is a usage error") {
  // Spec 2.2: unchunked moe-concat at B=64, 14x14, Cout=672, n=32 needs 1.08 GB.
  LayerShape s = shape_of(Kind::kConv, 1, 1, Padding::kSame, 14, 32, false);
  s.cin = 112, s.cout = 672;
  const int64_t inter = 64LL * 14 * 14 * 32 * 672 * 4;
  CHECK(inter == 1078984704LL);
  CHECK(cc::workspace_bytes(s, Strategy::kMoeConcat, 64, 1, 4) ==
        inter + 4LL * (32 * 112 * 672 + 64 * 672));
  // Mixed kernels for B=64, K=600,192 need 154 MB (K = 1152 x 521 here).
  LayerShape big = s;
  big.cin = 1152, big.cout = 521;
  CHECK(big.k() == 600192);
  CHECK(cc::workspace_bytes(big, Strategy::kPerExample, 64, 1, 4) - 64LL * 521 * 4 == 153649152LL);
  const int64_t limit = 1024LL << 20;
  CHECK(cc::choose_chunk(s, Strategy::kMoeConcat, 64, 1, 4, limit) < 64);
  CHECK(cc::choose_chunk(s, Strategy::kPerExample, 64, 1, 4, limit) == 64);
  const std::string msg = effinfer::test::error_message<effinfer::UsageError>(
      [&] { cc::CondConvExecutor<float> ex(s, 64, Strategy::kMoeConcat, 1, 1 << 20); });
  CHECK(effinfer::test::contains(msg, "MiB"));
  CHECK(effinfer::test::contains(msg, "limits.max_workspace_mb"));
  CHECK(effinfer::test::contains(msg, "--strategy auto"));
}

TEST_CASE("check 12: routing alpha vs a float64 reference, every alpha in (0,1)") {
  for (Kind kind : {Kind::kConv, Kind::kFc}) {
    LayerShape s = shape_of(kind, 3, 1, Padding::kSame, 15, 8, false);
    s.cin = 40;
    const int64_t batch = 6;
    Data d = make_data(s, batch, 99);
    for (auto& v : d.x) v += 0.5;  // non-zero means so routing logits spread out
    const auto ref = naive_alpha(s, batch, d);
    const auto x = cast<float>(d.x), rk = cast<float>(d.rk), rb = cast<float>(d.rb);
    std::vector<float> alpha(batch * s.experts);
    cc::compute_routing<float>(s, batch, x.data(), rk.data(), rb.data(), alpha.data());
    double worst = 0;
    for (size_t i = 0; i < alpha.size(); ++i) {
      worst = std::max(worst, std::abs(alpha[i] - ref[i]));
      CHECK(alpha[i] > 0.f);
      CHECK(alpha[i] < 1.f);
    }
    CHECK(worst <= 1e-6);
    std::set<float> distinct(alpha.begin(), alpha.end());
    CHECK(distinct.size() > alpha.size() / 2);  // not a constant
    // forward_routed = routing + forward.
    cc::CondConvExecutor<float> ex(s, batch, Strategy::kPerExample, 1, 1LL << 30);
    const auto e = cast<float>(d.experts);
    cc::LayerWeights<float> w;
    w.experts = e.data(), w.routing_kernel = rk.data(), w.routing_bias = rb.data();
    ex.bind(w);
    std::vector<float> a2(alpha.size()), y(batch * s.out_size());
    ex.forward_routed(x.data(), a2.data(), y.data());
    CHECK(a2 == alpha);
    CHECK(rel(std::vector<double>(y.begin(), y.end()), naive_moe(s, batch, d, ref)) <= 2e-5);
  }
}

TEST_CASE("check 14: BN-folded experts reproduce BN after the unfolded layer") {
  for (Kind kind : {Kind::kConv, Kind::kDepthwise, Kind::kFc}) {
    const LayerShape s = shape_of(kind, 3, 2, Padding::kSame, 14, 8, false);
    CAPTURE(s.str());
    const int64_t batch = 4;
    Data d = make_data(s, batch, 5);
    const auto alpha = cast<float>(naive_alpha(s, batch, d));
    effinfer::Rng rng(3, 14);
    std::vector<float> gamma(s.cout), beta(s.cout), mean(s.cout), var(s.cout);
    for (int64_t c = 0; c < s.cout; ++c) {
      gamma[c] = static_cast<float>(0.5 + rng.uniform());
      beta[c] = static_cast<float>(rng.normal());
      mean[c] = static_cast<float>(rng.normal() * 0.2);
      var[c] = static_cast<float>(0.2 + rng.uniform());
    }
    const double eps = 1e-3;
    auto y = run<float>(s, batch, d, Strategy::kPerExample, 1, alpha);
    for (size_t i = 0; i < y.size(); ++i) {
      const int64_t c = static_cast<int64_t>(i) % s.cout;
      y[i] = gamma[c] * (y[i] - mean[c]) / std::sqrt(var[c] + eps) + beta[c];
    }
    auto e = cast<float>(d.experts);
    const auto t = cc::fold_batch_norm<float>(s, e.data(), nullptr, gamma.data(), beta.data(),
                                              mean.data(), var.data(), eps);
    for (Strategy st : {Strategy::kPerExample, Strategy::kMoeConcat}) {
      cc::CondConvExecutor<float> ex(s, batch, st, 1, 1LL << 30);
      cc::LayerWeights<float> w;
      w.experts = e.data();
      w.static_bias = t.data();
      ex.bind(w);
      const auto x = cast<float>(d.x);
      std::vector<float> yf(y.size());
      ex.forward(x.data(), alpha.data(), yf.data());
      CHECK(rel(std::vector<double>(yf.begin(), yf.end()), y) <= 1e-5);
    }
  }
}

TEST_CASE("auto picks moe-concat for FC at B > 1; strategy names round-trip") {
  LayerShape s = shape_of(Kind::kFc, 1, 1, Padding::kSame, 1, 8, true);
  s.cin = 1024, s.cout = 1000;
  for (int64_t b : {2, 16, 64})
    CHECK(cc::resolve_strategy(Strategy::kAuto, s, b, 1, 1LL << 30) == Strategy::kMoeConcat);
  for (const auto& name : cc::strategy_names())
    CHECK(cc::strategy_name(cc::parse_strategy(name)) == name);
  const std::string msg =
      effinfer::test::error_message<effinfer::UsageError>([] { cc::parse_strategy("fastest"); });
  CHECK(effinfer::test::contains(msg, "moe-concat"));
  const auto& r = cc::calibrated_rates(1);
  CHECK(r.gemm_gflops > 0);
  CHECK(r.copy_gbs > 0);
  // Spec 2.5: per-example MACs of a CondConv FC are (n+1) K, MoE n K.
  CHECK(s.macs() + s.macs_mix() - 8 * 1000 == 9LL * 1024 * 1000);
  CHECK(s.macs_moe() == 8LL * 1024 * 1000 + 8 * 1000);
}
