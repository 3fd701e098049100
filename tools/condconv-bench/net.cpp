// `net`: full EfficientNet / CondConv-EfficientNet forward with instrumented counters (spec
// condconv-bench 2.3, 2.7, 5 check 9, 7). See net.hpp.
#include "net.hpp"

#include <pmmintrin.h>
#include <xmmintrin.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "condconv_kernels.hpp"
#include "core/blas.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "io/hdf5.hpp"

namespace effinfer::condconv {
namespace {

double now_ms() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double, std::milli>(clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

enum Group { kConv1x1, kDepthwiseG, kMixing, kRouting, kSe, kElementwise, kClassifier, kGroups };

struct Counter {
  int64_t macs = 0, macs_mix = 0, macs_route = 0, flops_other = 0;
};

struct Layer {
  const LayerSpec* spec = nullptr;
  const LayerRow* row = nullptr;
  LayerShape shape;
  bool condconv = false;
  std::vector<float> kernel, bias, out;  // kernel: [n, K] for CondConv
};

struct RoutingUnit {
  const LayerRow* row = nullptr;
  LayerShape shape;  // cin = block channels, h/w = block input
  std::vector<float> kernel, bias, alpha;
};

void swish(float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = y[i] / (1.0f + std::exp(-y[i]));
}

// Global average pool [B, hw, C] -> [B, C]; returns the input elements read (TF Mean FLOPs).
int64_t gap(const float* x, int64_t batch, int64_t hw, int64_t c, float* p) {
  for (int64_t b = 0; b < batch; ++b) {
    float* pb = p + b * c;
    std::fill(pb, pb + c, 0.0f);
    for (int64_t i = 0; i < hw; ++i) {
      const float* xi = x + (b * hw + i) * c;
      for (int64_t k = 0; k < c; ++k) pb[k] += xi[k];
    }
    for (int64_t k = 0; k < c; ++k) pb[k] /= static_cast<float>(hw);
  }
  return batch * hw * c;
}

}  // namespace

const std::vector<std::string>& net_group_names() {
  static const std::vector<std::string> names{"conv1x1", "depthwise",   "mixing",    "routing",
                                              "se",      "elementwise", "classifier"};
  return names;
}

NetResult run_net(const NetOptions& o) {
  if (o.experts < 0)
    throw UsageError("experts: expected an integer >= 0, found " + std::to_string(o.experts));
  if (o.batch < 1) throw UsageError("batch: expected an integer >= 1");
  NetResult r;
  r.arch = make_arch(o.arch);
  if (r.arch.family != "efficientnet")
    throw UsageError(
        "arch: net runs the EfficientNet family (efficientnet-b0..b3, "
        "efficientnet-condconv-b0-4e|-8e|-8e-depth), found '" +
        o.arch + "'");
  CountOptions co;
  co.experts = o.experts;
  co.placement = o.experts > 0 ? "official" : "none";
  r.count = count_network(r.arch, co);
  const ArchSpec& a = r.arch;
  const int64_t B = o.batch;
  const int n = r.count.experts;
  r.batch = B;
  r.classes = a.classes;

  // FTZ/DAZ on the calling thread: denormals must not distort timings (spec 3).
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
  r.ftz_daz = true;

  std::map<int, const LayerRow*> row_of_layer;
  std::map<int, const LayerRow*> routing_of_group;
  for (const auto& row : r.count.rows) {
    if (row.layer >= 0)
      row_of_layer[row.layer] = &row;
    else if (row.kind == RowKind::kRouting)
      routing_of_group[row.group] = &row;
  }

  // Weights per spec 2.7: He-normal with fan_out per kernel and per expert, Glorot-uniform
  // routing, classifier U(+-1/sqrt(Cout)), biases 0. BN folded as identity.
  Rng rng(o.seed, named_stream("net/weights"));
  std::vector<Layer> layers(a.layers.size());
  std::map<int, RoutingUnit> routing;
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const LayerSpec& l = a.layers[i];
    Layer& L = layers[i];
    L.spec = &l;
    L.row = row_of_layer.at(static_cast<int>(i));
    L.condconv = L.row->condconv;
    LayerShape& s = L.shape;
    s.kind = l.op == OpKind::kFc          ? Kind::kFc
             : l.op == OpKind::kDepthwise ? Kind::kDepthwise
                                          : Kind::kConv;
    if (s.kind != Kind::kFc)
      s.h = l.h_in, s.w = l.w_in, s.kh = s.kw = l.kernel, s.stride = l.stride;
    s.cin = l.c_in;
    s.cout = l.c_out;
    s.experts = L.condconv ? n : 1;
    const int64_t k = s.k();
    L.kernel.resize(static_cast<size_t>(s.experts * k));
    if (l.kind == RowKind::kClassifier) {
      const double lim = 1.0 / std::sqrt(static_cast<double>(l.c_out));
      for (auto& v : L.kernel) v = static_cast<float>((2 * rng.uniform() - 1) * lim);
    } else {
      const double fan_out =
          static_cast<double>(l.kernel) * l.kernel * (s.kind == Kind::kDepthwise ? 1 : l.c_out);
      const double sd = std::sqrt(2.0 / fan_out);
      for (auto& v : L.kernel) v = static_cast<float>(rng.normal() * sd);
    }
    if (l.bias) L.bias.assign(static_cast<size_t>(l.c_out), 0.0f);
    if (s.kind != Kind::kFc)
      L.out.resize(static_cast<size_t>(B * s.out_size()));
    else
      L.out.resize(static_cast<size_t>(B * s.cout));
    if (L.condconv && !routing.count(l.group)) {
      const GroupSpec& g = a.groups[static_cast<size_t>(l.group)];
      RoutingUnit& u = routing[l.group];
      u.row = routing_of_group.at(l.group);
      u.shape.kind = Kind::kConv;
      u.shape.h = g.h_in, u.shape.w = g.w_in, u.shape.cin = g.c_in, u.shape.cout = g.c_in;
      u.shape.experts = n;
      const double lim = std::sqrt(6.0 / static_cast<double>(g.c_in + n));
      u.kernel.resize(static_cast<size_t>(g.c_in * n));
      for (auto& v : u.kernel) v = static_cast<float>((2 * rng.uniform() - 1) * lim);
      u.bias.assign(static_cast<size_t>(n), 0.0f);
      u.alpha.resize(static_cast<size_t>(B * n));
    }
  }
  int64_t max_k = 0, max_c = 0;
  for (const auto& L : layers) {
    if (L.condconv) max_k = std::max(max_k, L.shape.k());
    max_c = std::max(max_c, std::max(L.shape.cin, L.shape.cout));
  }
  std::vector<float> mixed(static_cast<size_t>(B * max_k)), pooled(static_cast<size_t>(B * max_c));
  std::vector<float> gate(static_cast<size_t>(B * max_c));
  std::vector<float> input(static_cast<size_t>(B * a.resolution * a.resolution * a.in_channels));
  Rng xr(o.seed, named_stream("net/input"));
  for (auto& v : input) v = static_cast<float>(xr.normal());

  const int t = std::max(1, o.threads);
  set_blas_threads(t);
  std::map<std::string, Counter> counted;
  std::vector<double> row_ms(r.count.rows.size());
  std::map<const LayerRow*, size_t> row_index;
  for (size_t i = 0; i < r.count.rows.size(); ++i) row_index[&r.count.rows[i]] = i;
  double group_ms[kGroups];

  auto timed = [&](const LayerRow* row, Group g, auto&& f) {
    const double t0 = now_ms();
    f();
    const double dt = now_ms() - t0;
    row_ms[row_index.at(row)] += dt;
    group_ms[g] += dt;
  };

  // One forward; `count` = increment the counters (first pass only).
  auto forward = [&](bool count) {
    std::fill(row_ms.begin(), row_ms.end(), 0.0);
    std::fill(group_ms, group_ms + kGroups, 0.0);
    auto ctr = [&](const LayerRow* row) -> Counter* {
      static Counter sink;
      return count ? &counted[row->name] : &sink;
    };
    const float* x = input.data();
    int64_t xh = a.resolution, xc = a.in_channels;
    std::string block;
    const float* block_in = nullptr;
    int64_t block_h = 0, block_c = 0;
    int routed_group = -1;
    for (size_t i = 0; i < layers.size(); ++i) {
      Layer& L = layers[i];
      const LayerSpec& l = *L.spec;
      const LayerShape& s = L.shape;
      const std::string prefix = l.name.substr(0, l.name.find('/'));
      if (l.name.find('/') != std::string::npos && prefix != block) {
        block = prefix, block_in = x, block_h = xh, block_c = xc;
      }
      Counter* c = ctr(L.row);
      if (l.kind == RowKind::kSeReduce) {
        timed(L.row, kSe, [&] {
          c->flops_other += gap(x, B, xh * xh, xc, pooled.data());
          static_forward<float>(s, B, pooled.data(), L.kernel.data(), L.bias.data(), L.out.data(),
                                t);
          c->macs += B * s.cin * s.cout;
          c->flops_other += B * s.cout;  // BiasAdd
          swish(L.out.data(), B * s.cout);
          c->flops_other += B * s.cout;  // swish Mul
        });
        continue;
      }
      if (l.kind == RowKind::kSeExpand) {
        const Layer& red = layers[i - 1];
        timed(L.row, kSe, [&] {
          static_forward<float>(s, B, red.out.data(), L.kernel.data(), L.bias.data(), gate.data(),
                                t);
          c->macs += B * s.cin * s.cout;
          c->flops_other += B * s.cout;  // BiasAdd; sigmoid counts 0
          for (int64_t k = 0; k < B * s.cout; ++k) gate[k] = 1.0f / (1.0f + std::exp(-gate[k]));
          // Gating Mul in place on the depthwise output.
          float* y = const_cast<float*>(x);
          const int64_t hw = xh * xh;
          for (int64_t b = 0; b < B; ++b)
            for (int64_t p = 0; p < hw; ++p)
              for (int64_t k = 0; k < xc; ++k) y[(b * hw + p) * xc + k] *= gate[b * xc + k];
          c->flops_other += B * hw * xc;
        });
        continue;
      }
      if (l.kind == RowKind::kClassifier) {
        timed(L.row, kClassifier, [&] {
          c->flops_other += gap(x, B, xh * xh, xc, pooled.data());
          static_forward<float>(s, B, pooled.data(), L.kernel.data(), L.bias.data(), L.out.data(),
                                t);
          c->macs += B * s.cin * s.cout;
          c->flops_other += B * s.cout;
        });
        x = L.out.data();
        continue;
      }
      // Convolutions: stem, expand, depthwise, project, head.
      const Group g = s.kind == Kind::kDepthwise ? kDepthwiseG : kConv1x1;
      const int64_t rows = s.ho() * s.wo();
      const int64_t conv_macs =
          s.kind == Kind::kDepthwise ? rows * s.kh * s.kw * s.cin : rows * s.patch() * s.cout;
      if (L.condconv) {
        RoutingUnit& u = routing.at(l.group);
        if (routed_group != l.group) {
          routed_group = l.group;
          Counter* rc = ctr(u.row);
          timed(u.row, kRouting, [&] {
            compute_routing<float>(u.shape, B, block_in, u.kernel.data(), u.bias.data(),
                                   u.alpha.data());
          });
          rc->macs_route += B * block_c * n;
          rc->flops_other += B * block_h * block_h * block_c + B * n;  // Mean + BiasAdd
        }
        timed(L.row, kMixing,
              [&] { mix_kernels<float>(s, B, u.alpha.data(), L.kernel.data(), mixed.data(), t); });
        c->macs_mix += B * n * s.k();
        timed(L.row, g, [&] {
          for (int64_t b = 0; b < B; ++b)
            static_forward<float>(s, 1, x + b * s.in_size(), mixed.data() + b * s.k(), nullptr,
                                  L.out.data() + b * s.out_size(), t);
        });
      } else {
        timed(L.row, g,
              [&] { static_forward<float>(s, B, x, L.kernel.data(), nullptr, L.out.data(), t); });
      }
      c->macs += B * conv_macs;
      const int64_t elems = B * s.out_size();
      if (l.act == Activation::kSwish) {
        timed(L.row, kElementwise, [&] { swish(L.out.data(), elems); });
        c->flops_other += elems;
      }
      if (l.kind == RowKind::kProject && block_in && block_c == s.cout && block_h == s.ho()) {
        // Residual only when the block kept its size (stride 1 and Cin = Cout, spec 2.6).
        bool strided = false;
        for (size_t j = 0; j < i; ++j)
          if (layers[j].spec->name.rfind(block + "/", 0) == 0 && layers[j].shape.stride != 1)
            strided = true;
        if (!strided) {
          timed(L.row, kElementwise, [&] {
            float* y = L.out.data();
            for (int64_t k = 0; k < elems; ++k) y[k] += block_in[k];
          });
          c->flops_other += elems;
        }
      }
      x = L.out.data();
      xh = s.ho(), xc = s.cout;
    }
  };

  // Counting pass (also a warm-up), then timed passes.
  forward(true);
  for (int w = 0; w < o.warmup; ++w) forward(false);
  std::vector<std::vector<double>> row_samples(row_ms.size()), group_samples(kGroups);
  std::vector<double> total;
  for (int rep = 0; rep < std::max(1, o.reps); ++rep) {
    const double t0 = now_ms();
    forward(false);
    total.push_back(now_ms() - t0);
    for (size_t i = 0; i < row_ms.size(); ++i) row_samples[i].push_back(row_ms[i]);
    for (int g = 0; g < kGroups; ++g) group_samples[g].push_back(group_ms[g]);
  }
  r.latency_ms = median(total);
  const Layer& cls = layers.back();
  r.logits = cls.out;
  for (float v : r.logits)
    if (!std::isfinite(v))
      throw InternalError("net: logits not finite (" + o.arch + ", n=" + std::to_string(n) + ")");

  // Check 9: counters equal count's rows times B.
  r.counters_match = true;
  int64_t macs_total = 0;
  for (size_t i = 0; i < r.count.rows.size(); ++i) {
    const LayerRow& row = r.count.rows[i];
    const Counter c = counted.count(row.name) ? counted.at(row.name) : Counter{};
    const bool is_route = row.kind == RowKind::kRouting;
    const int64_t got_macs = is_route ? c.macs_route : c.macs;
    auto check = [&](const char* field, int64_t got, int64_t want) {
      if (got != want) {
        r.counters_match = false;
        r.mismatches.push_back(row.name + ": " + field + " counted " + std::to_string(got) +
                               ", count " + std::to_string(B) + " x " +
                               std::to_string(want / std::max<int64_t>(1, B)));
      }
    };
    check("macs", got_macs, B * row.macs);
    check("macs_mix", c.macs_mix, B * row.macs_mix);
    check("flops_other", c.flops_other, B * row.flops_other);
    NetLayerStat st;
    st.name = row.name;
    st.macs = is_route ? 0 : c.macs;
    st.macs_mix = c.macs_mix;
    st.macs_route = c.macs_route;
    st.flops_other = c.flops_other;
    st.median_ms = median(row_samples[i]);
    switch (row.kind) {
      case RowKind::kRouting:
        st.group = "routing";
        break;
      case RowKind::kDepthwise:
        st.group = "depthwise";
        break;
      case RowKind::kSeReduce:
      case RowKind::kSeExpand:
        st.group = "se";
        break;
      case RowKind::kClassifier:
        st.group = "classifier";
        break;
      default:
        st.group = "conv1x1";
    }
    macs_total += c.macs + c.macs_mix + c.macs_route;
    r.layers.push_back(std::move(st));
  }
  for (const auto& [name, c] : counted) {
    bool known = false;
    for (const auto& row : r.count.rows) known = known || row.name == name;
    if (!known) r.counters_match = false, r.mismatches.push_back(name + ": not a count row");
  }
  for (int g = 0; g < kGroups; ++g) {
    NetGroupStat gs;
    gs.group = net_group_names()[static_cast<size_t>(g)];
    for (const auto& st : r.layers) {
      if (g == kMixing) continue;
      if (g == kRouting && st.group == "routing")
        gs.macs += st.macs_route;
      else if (st.group == gs.group)
        gs.macs += st.macs;
    }
    if (g == kMixing)
      for (const auto& st : r.layers) gs.macs += st.macs_mix;
    gs.mac_share = macs_total > 0 ? static_cast<double>(gs.macs) / macs_total : 0.0;
    gs.median_ms = median(group_samples[static_cast<size_t>(g)]);
    gs.time_share = r.latency_ms > 0 ? gs.median_ms / r.latency_ms : 0.0;
    r.groups.push_back(gs);
  }
  return r;
}

void write_net_results(io::H5File& f, const NetResult& r) {
  f.create_group("/results/layers");
  f.create_group("/results/groups");
  io::RowMatrixXd logits(r.batch, r.classes);
  for (int64_t b = 0; b < r.batch; ++b)
    for (int64_t k = 0; k < r.classes; ++k)
      logits(b, k) = r.logits[static_cast<size_t>(b * r.classes + k)];
  f.write_matrix("/results/logits", logits);
  f.set_units("/results/logits", "1");
  auto strs = [&](const std::string& p, const std::vector<std::string>& v) {
    f.write_strings(p, v);
    f.set_units(p, "1");
  };
  auto ints = [&](const std::string& p, const std::vector<int64_t>& v, const char* u) {
    f.write_int64(p, v, {static_cast<hsize_t>(v.size())});
    f.set_units(p, u);
  };
  auto dbls = [&](const std::string& p, const std::vector<double>& v, const char* u) {
    f.write_vector(
        p, Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size())));
    f.set_units(p, u);
  };
  std::vector<std::string> name, group;
  std::vector<int64_t> macs, mix, route, other;
  std::vector<double> ms;
  for (const auto& s : r.layers) {
    name.push_back(s.name), group.push_back(s.group), macs.push_back(s.macs);
    mix.push_back(s.macs_mix), route.push_back(s.macs_route), other.push_back(s.flops_other);
    ms.push_back(s.median_ms);
  }
  strs("/results/layers/name", name);
  strs("/results/layers/group", group);
  ints("/results/layers/macs", macs, "MAC");
  ints("/results/layers/macs_mix", mix, "MAC");
  ints("/results/layers/macs_route", route, "MAC");
  ints("/results/layers/flops_other", other, "FLOP");
  dbls("/results/layers/median_ms", ms, "ms");
  std::vector<std::string> gname;
  std::vector<int64_t> gmacs;
  std::vector<double> gshare, gms, gtshare;
  for (const auto& g : r.groups) {
    gname.push_back(g.group), gmacs.push_back(g.macs), gshare.push_back(g.mac_share);
    gms.push_back(g.median_ms), gtshare.push_back(g.time_share);
  }
  strs("/results/groups/group", gname);
  ints("/results/groups/macs", gmacs, "MAC");
  dbls("/results/groups/mac_share", gshare, "1");
  dbls("/results/groups/median_ms", gms, "ms");
  dbls("/results/groups/time_share", gtshare, "1");
}

}  // namespace effinfer::condconv
