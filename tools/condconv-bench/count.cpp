#include "count.hpp"

#include <hdf5.h>

#include <cstdlib>
#include <limits>

#include "core/error.hpp"
#include "io/config.hpp"
#include "io/hdf5.hpp"

namespace effinfer::condconv {
namespace {

constexpr int kMaxExperts = 1 << 20;

bool parse_int(const std::string& s, int& out) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  out = std::atoi(s.c_str());
  return true;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return parts;
}

// K of spec 2.1: the elements of one expert kernel.
int64_t kernel_elements(const LayerSpec& l) {
  const int64_t k2 = static_cast<int64_t>(l.kernel) * l.kernel;
  switch (l.op) {
    case OpKind::kConv:
      return k2 * l.c_in * l.c_out;
    case OpKind::kDepthwise:
      return k2 * l.c_in;
    case OpKind::kFc:
      return static_cast<int64_t>(l.c_in) * l.c_out;
  }
  return 0;
}

// Which layers are CondConv under a placement (spec 2.3 and Placement's comment).
std::vector<bool> select_layers(const ArchSpec& arch, const Placement& p, bool fc_condconv,
                                bool fc_explicit_on) {
  std::vector<bool> on(arch.layers.size(), false);
  auto select_group = [&](const GroupSpec& g) {
    for (int i : g.layers) on[static_cast<size_t>(i)] = true;
  };
  for (const GroupSpec& g : arch.groups) {
    bool chosen = false;
    if (g.classifier) {
      chosen = p.mode == Placement::Mode::kLayers ? fc_explicit_on
                                                  : p.mode != Placement::Mode::kNone && fc_condconv;
    } else {
      switch (p.mode) {
        case Placement::Mode::kOfficial:
          chosen = g.official;
          break;
        case Placement::Mode::kNone:
          chosen = false;
          break;
        case Placement::Mode::kAll:
          chosen = true;
          break;
        case Placement::Mode::kStages:
          chosen = g.stage >= p.first_stage && g.stage <= p.last_stage;
          break;
        case Placement::Mode::kLayers:
          chosen = false;
          break;
      }
    }
    if (chosen) select_group(g);
  }
  if (p.mode == Placement::Mode::kStages && p.last_stage > arch.stages)
    throw UsageError("placement '" + p.text + "': " + arch.name + " has stages 1.." +
                     std::to_string(arch.stages));
  if (p.mode != Placement::Mode::kLayers) return on;

  std::vector<std::string> candidates;
  for (const GroupSpec& g : arch.groups) candidates.push_back(g.name);
  for (const std::string& name : p.names) {
    bool found = false;
    for (const GroupSpec& g : arch.groups)
      if (g.name == name) select_group(g), found = true;
    for (size_t i = 0; i < arch.layers.size() && !found; ++i) {
      const LayerSpec& l = arch.layers[i];
      if (l.name != name) continue;
      if (l.group < 0)
        throw UsageError("placement '" + p.text + "': layer '" + name + "' of " + arch.name +
                         " stays static (stem, SE, head); choose a block conv or a group");
      on[i] = true;
      found = true;
    }
    if (!found) {
      std::string valid;
      for (const auto& c : candidates) valid += (valid.empty() ? "" : ", ") + c;
      throw UsageError("placement '" + p.text + "': " + arch.name + " has no layer or group '" +
                       name + "' (did you mean '" + io::nearest(name, candidates) +
                       "'?); groups: " + valid + "; single layers by their row names");
    }
  }
  return on;
}

}  // namespace

Placement parse_placement(const std::string& text) {
  Placement p;
  p.text = text;
  auto bad = [&](const std::string& why) -> UsageError {
    return UsageError("placement '" + text + "': " + why +
                      "; expected official, none, all, stages:A-B or layers:N1,N2");
  };
  if (text == "official") {
    p.mode = Placement::Mode::kOfficial;
  } else if (text == "none") {
    p.mode = Placement::Mode::kNone;
  } else if (text == "all") {
    p.mode = Placement::Mode::kAll;
  } else if (text.rfind("stages:", 0) == 0) {
    p.mode = Placement::Mode::kStages;
    const auto range = split(text.substr(7), '-');
    if (range.size() == 1 && parse_int(range[0], p.first_stage)) {
      p.last_stage = p.first_stage;
    } else if (range.size() != 2 || !parse_int(range[0], p.first_stage) ||
               !parse_int(range[1], p.last_stage)) {
      throw bad("stages need integers A-B");
    }
    if (p.first_stage < 1 || p.last_stage < p.first_stage)
      throw bad("stages are 1-based with A <= B");
  } else if (text.rfind("layers:", 0) == 0) {
    p.mode = Placement::Mode::kLayers;
    for (const auto& name : split(text.substr(7), ','))
      if (!name.empty()) p.names.push_back(name);
    if (p.names.empty()) throw bad("no layer names");
  } else {
    throw bad("unknown mode");
  }
  return p;
}

CountResult count_network(const ArchSpec& arch, const CountOptions& options) {
  CountResult r;
  const int n = options.experts.value_or(arch.default_experts);
  if (n < 0 || n > kMaxExperts)
    throw UsageError("experts: expected an integer in 0.." + std::to_string(kMaxExperts) +
                     " (0 = static), found " + std::to_string(n));
  const Placement placement = parse_placement(options.placement);
  r.experts = n;
  r.placement = placement.text;
  r.placement_verified = arch.placement_verified && placement.mode == Placement::Mode::kOfficial;
  r.fc_condconv = options.fc_condconv.value_or(arch.fc_condconv);
  r.expert_bias = options.expert_bias.value_or(arch.expert_bias);
  std::vector<bool> on =
      select_layers(arch, placement, r.fc_condconv, options.fc_condconv.value_or(false));
  if (n == 0) on.assign(on.size(), false);  // --experts 0 == --placement none (spec 5.5)

  // A group routes when any of its layers is CondConv; its routing row precedes its first layer.
  std::vector<int> first_on(arch.groups.size(), -1);
  for (size_t i = 0; i < arch.layers.size(); ++i) {
    const int g = arch.layers[i].group;
    if (on[i] && g >= 0 && first_on[static_cast<size_t>(g)] < 0)
      first_on[static_cast<size_t>(g)] = static_cast<int>(i);
  }
  for (size_t i = 0; i < arch.layers.size(); ++i) {
    const LayerSpec& l = arch.layers[i];
    if (l.group >= 0 && first_on[static_cast<size_t>(l.group)] == static_cast<int>(i)) {
      const GroupSpec& g = arch.groups[static_cast<size_t>(l.group)];
      LayerRow row;
      row.name = g.routing_name;
      row.block = g.block;
      row.kind = RowKind::kRouting;
      row.condconv = true;
      row.h_in = g.h_in;
      row.c_in = g.c_in;
      row.c_out = n;
      row.experts = n;
      // GAP -> Dense(C -> n) + bias -> sigmoid (spec 2.1): Mean over the block input (none for
      // the classifier's vector input) and n BiasAdds are flops_other.
      row.macs = static_cast<int64_t>(g.c_in) * n;
      row.macs_moe = row.macs;
      row.weights = row.macs;
      row.biases = n;
      row.params = row.weights + row.biases;
      row.flops_other = (g.classifier ? 0 : static_cast<int64_t>(g.h_in) * g.w_in * g.c_in) + n;
      row.group = l.group;
      r.rows.push_back(std::move(row));
    }
    LayerRow row;
    row.name = l.name;
    row.block = l.group >= 0 ? arch.groups[static_cast<size_t>(l.group)].block : -1;
    row.kind = l.kind;
    row.condconv = on[i];
    row.h_in = l.h_in;
    row.h_out = l.h_out;
    row.c_in = l.c_in;
    row.c_out = l.c_out;
    row.kernel = l.kernel;
    row.stride = l.stride;
    row.layer = static_cast<int>(i);
    row.group = l.group;
    const int64_t k = kernel_elements(l);
    const int64_t hw_out = static_cast<int64_t>(l.h_out) * l.w_out;
    const int64_t out_elements = hw_out * l.c_out;
    row.macs = l.op == OpKind::kFc ? k : hw_out * k;
    row.bn_params = l.bn ? 2LL * l.c_out : 0;
    row.flops_other = l.extra_flops + (l.bias ? out_elements : 0) +
                      (l.act == Activation::kSwish ? out_elements : 0);
    if (on[i]) {
      row.experts = n;
      row.expert_bias = l.bias && r.expert_bias;
      row.weights = n * k;
      row.biases = l.bias ? (row.expert_bias ? static_cast<int64_t>(n) * l.c_out : l.c_out) : 0;
      row.macs_mix = n * k + (row.expert_bias ? static_cast<int64_t>(n) * l.c_out : 0);
      row.macs_moe = n * row.macs + n * out_elements;  // n convolutions + the weighted sum
    } else {
      row.weights = k;
      row.biases = l.bias ? l.c_out : 0;
      row.macs_moe = row.macs;
    }
    row.params = row.weights + row.biases + row.bn_params;
    r.rows.push_back(std::move(row));
  }

  CountTotals& t = r.totals;
  for (const LayerRow& row : r.rows) {
    t.macs += row.macs + row.macs_mix;
    t.macs_mix += row.macs_mix;
    if (row.kind == RowKind::kRouting) t.macs_route += row.macs;
    t.macs_moe += row.macs_moe;
    t.weights += row.weights;
    t.params += row.params;
    t.flops_other += row.flops_other;
  }
  t.madds_tf = static_cast<double>(t.macs) + static_cast<double>(t.flops_other) / 2.0;
  return r;
}

int fmnist_equal_width(int experts, bool equal_params, int resolution) {
  ArchOverrides o;
  o.resolution = resolution;
  CountOptions cc;
  cc.experts = experts;
  const CountResult target = count_network(make_arch("fmnist-s", o), cc);
  CountOptions st;
  st.experts = 0;
  const int64_t goal = equal_params ? target.totals.params : target.totals.macs;
  int best = 1;
  int64_t best_gap = std::numeric_limits<int64_t>::max();
  // Both costs grow monotonically in c: stop once past the goal.
  for (int c = 1; c <= 4096; ++c) {
    o.width = c;
    const CountResult s = count_network(make_arch("fmnist-s", o), st);
    const int64_t v = equal_params ? s.totals.params : s.totals.macs;
    const int64_t gap = v > goal ? v - goal : goal - v;
    if (gap < best_gap) best = c, best_gap = gap;
    if (v > goal) break;
  }
  return best;
}

namespace {

// A uint8 scalar attribute (H5File's set_attribute has int64 / double / string only).
void set_uint8_attribute(io::H5File& file, const std::string& object, const std::string& name,
                         uint8_t value) {
  io::H5Id obj(H5Oopen(file.id(), object.c_str(), H5P_DEFAULT));
  io::H5Id space(H5Screate(H5S_SCALAR));
  if (!obj.valid() || !space.valid())
    throw WriteError(file.path() + ":" + object + ": cannot open for attribute " + name);
  if (H5Aexists(obj.get(), name.c_str()) > 0) H5Adelete(obj.get(), name.c_str());
  io::H5Id attr(
      H5Acreate2(obj.get(), name.c_str(), H5T_STD_U8LE, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attr.valid() || H5Awrite(attr.get(), H5T_NATIVE_UINT8, &value) < 0)
    throw WriteError(file.path() + ":" + object + ": cannot write attribute " + name);
}

}  // namespace

void write_count_results(io::H5File& file, const ArchSpec& arch, const CountResult& r) {
  const std::string L = "/results/layers/";
  const size_t rows = r.rows.size();
  std::vector<std::string> names(rows), kinds(rows);
  std::vector<uint8_t> condconv(rows);
  auto column32 = [&](const std::string& name, auto get, const std::string& units) {
    std::vector<int32_t> v(rows);
    for (size_t i = 0; i < rows; ++i) v[i] = static_cast<int32_t>(get(r.rows[i]));
    file.write_int32(L + name, v);
    file.set_units(L + name, units);
  };
  auto column64 = [&](const std::string& name, auto get, const std::string& units) {
    std::vector<int64_t> v(rows);
    for (size_t i = 0; i < rows; ++i) v[i] = get(r.rows[i]);
    file.write_int64(L + name, v);
    file.set_units(L + name, units);
  };
  for (size_t i = 0; i < rows; ++i) {
    names[i] = r.rows[i].name;
    kinds[i] = row_kind_name(r.rows[i].kind);
    condconv[i] = r.rows[i].condconv ? 1 : 0;
  }
  file.write_strings(L + "name", names);
  file.set_units(L + "name", "1");
  column32(
      "block", [](const LayerRow& x) { return x.block; }, "1");
  file.write_strings(L + "kind", kinds);
  file.set_units(L + "kind", "1");
  file.write_uint8(L + "condconv", condconv);
  file.set_units(L + "condconv", "1");
  column32(
      "h_in", [](const LayerRow& x) { return x.h_in; }, "1");
  column32(
      "h_out", [](const LayerRow& x) { return x.h_out; }, "1");
  column32(
      "c_in", [](const LayerRow& x) { return x.c_in; }, "1");
  column32(
      "c_out", [](const LayerRow& x) { return x.c_out; }, "1");
  column32(
      "kernel", [](const LayerRow& x) { return x.kernel; }, "1");
  column32(
      "stride", [](const LayerRow& x) { return x.stride; }, "1");
  column32(
      "experts", [](const LayerRow& x) { return x.experts; }, "1");
  column64(
      "macs", [](const LayerRow& x) { return x.macs; }, "MAC");
  column64(
      "macs_mix", [](const LayerRow& x) { return x.macs_mix; }, "MAC");
  column64(
      "macs_moe", [](const LayerRow& x) { return x.macs_moe; }, "MAC");
  column64(
      "weights", [](const LayerRow& x) { return x.weights; }, "parameter");
  column64(
      "biases", [](const LayerRow& x) { return x.biases; }, "parameter");
  column64(
      "bn_params", [](const LayerRow& x) { return x.bn_params; }, "parameter");
  column64(
      "params", [](const LayerRow& x) { return x.params; }, "parameter");
  column64(
      "flops_other", [](const LayerRow& x) { return x.flops_other; }, "FLOP");

  const std::string T = "/results/totals/";
  const CountTotals& t = r.totals;
  auto total = [&](const std::string& name, int64_t v, const std::string& units) {
    file.write_int64(T + name, {v});
    file.set_units(T + name, units);
  };
  total("macs", t.macs, "MAC");
  total("macs_mix", t.macs_mix, "MAC");
  total("macs_route", t.macs_route, "MAC");
  total("macs_moe", t.macs_moe, "MAC");
  total("weights", t.weights, "parameter");
  total("params", t.params, "parameter");
  total("flops_other", t.flops_other, "FLOP");
  Eigen::VectorXd madds(1);
  madds(0) = t.madds_tf;
  file.write_vector(T + "madds_tf", madds);
  file.set_units(T + "madds_tf", "MADD");

  file.set_attribute("/results", "arch", arch.name);
  file.set_attribute("/results", "family", arch.family);
  file.set_attribute("/results", "placement", r.placement);
  set_uint8_attribute(file, "/results", "placement_verified", r.placement_verified ? 1 : 0);
  file.set_attribute("/results", "width", arch.width);
  file.set_attribute("/results", "depth", arch.depth);
  file.set_attribute("/results", "resolution", static_cast<int64_t>(arch.resolution));
  file.set_attribute("/results", "experts", static_cast<int64_t>(r.experts));
  set_uint8_attribute(file, "/results", "fc_condconv", r.fc_condconv ? 1 : 0);
  set_uint8_attribute(file, "/results", "expert_bias", r.expert_bias ? 1 : 0);
}

}  // namespace effinfer::condconv
