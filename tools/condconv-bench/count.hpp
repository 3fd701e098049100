// The exact cost counter of condconv-bench (spec condconv-bench 2.3, 2.5): per-row and total
// MACs, CondConv mixing and routing MACs, the MoE-form MACs, parameters, and madds_tf (the
// TensorFlow-1 profiler convention behind every published CondConv / EfficientNet total).
//
//   ArchSpec arch = make_arch("efficientnet-b0");
//   CountResult r = count_network(arch, CountOptions{.experts = 8});
//   r.totals.macs == 407'213'024, r.totals.madds_tf == 412'799'712.0
//
// Per example; all counts int64, madds_tf float64 (flops_other / 2 can end in .5).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "arch.hpp"

namespace effinfer::io {
class H5File;
}

namespace effinfer::condconv {

// --placement official|none|all|stages:A-B|layers:N1,N2 (spec 3).
//   official  the arch's official (EfficientNet) or inferred placement (others, [unverified])
//   none      static network
//   all       every block conv (expand, depthwise, project, shortcut, fmnist-s convs; never stem,
//             SE, head)
//   stages:A-B  the block convs of stages A..B (1-based, inclusive)
//   layers:N1,N2  named groups (e.g. blocks_12, Conv2d_7, conv5_1: all their convs, one routing)
//             or single layers (e.g. blocks_12/depthwise; the group's routing is still shared)
// The classifier follows fc_condconv in every mode except `none` and `layers:` (where it is
// CondConv only when named or when fc_condconv is explicitly on).
struct Placement {
  enum class Mode { kOfficial, kNone, kAll, kStages, kLayers };
  Mode mode = Mode::kOfficial;
  int first_stage = 0, last_stage = 0;  // kStages
  std::vector<std::string> names;       // kLayers
  std::string text;                     // canonical spelling
};
// UsageError (64) on bad syntax; names are checked against an architecture by count_network.
Placement parse_placement(const std::string& text);

struct CountOptions {
  std::optional<int> experts;  // n; 0 = static; null = the arch's default (aliases: 4 or 8)
  std::string placement = "official";
  std::optional<bool> fc_condconv;  // null = the arch's own (mobilenet-v1/v2, fmnist-s: on)
  std::optional<bool> expert_bias;  // null = the arch's own (on: biased CondConv layers mix them)
};

// One row of /results/layers (spec 3). CondConv rows count the convolution once with the mixed
// kernel (macs), the mixing n*K (+ n*Cout with expert biases) in macs_mix, and every expert in
// weights. A routing row (kind routing) carries the routing Dense: macs = weights = Cin*n.
struct LayerRow {
  std::string name;
  int block = -1;
  RowKind kind = RowKind::kConv;
  bool condconv = false;
  int h_in = 1, h_out = 1, c_in = 0, c_out = 0, kernel = 1, stride = 1;
  int experts = 0;        // n on CondConv and routing rows, 0 on static rows
  int64_t macs = 0;       // Ho*Wo*K (conv), Ho*Wo*k*k*C (depthwise), Cin*Cout (FC), Cin*n (routing)
  int64_t macs_mix = 0;   // n*K (+ n*Cout with expert biases)
  int64_t macs_moe = 0;   // MoE form: n*macs + n*Ho*Wo*Cout on CondConv rows, else macs
  int64_t weights = 0;    // kernels only (all experts)
  int64_t biases = 0;     // conv / FC / expert / routing biases
  int64_t bn_params = 0;  // BN gamma and beta: 2 per output channel
  int64_t params = 0;     // weights + biases + bn_params
  int64_t flops_other = 0;  // TF profiler FLOPs of the non-MAC ops charged to this row (spec 2.5)
  int layer = -1;           // index into ArchSpec::layers; -1 for routing rows
  int group = -1;           // index into ArchSpec::groups, -1 outside every group
  bool expert_bias = false;
};

struct CountTotals {
  int64_t macs = 0;        // sum of macs + macs_mix over all rows (routing included)
  int64_t macs_mix = 0;    // mixing only
  int64_t macs_route = 0;  // routing Dense only
  int64_t macs_moe = 0;    // sum of macs_moe (the same network in MoE form)
  int64_t weights = 0;
  int64_t params = 0;
  int64_t flops_other = 0;
  double madds_tf = 0;  // macs + flops_other / 2
};

struct CountResult {
  std::vector<LayerRow> rows;
  CountTotals totals;
  int experts = 0;                  // resolved n
  std::string placement;            // canonical placement text
  bool placement_verified = false;  // official code behind it: EfficientNet family + official
  bool fc_condconv = false;         // resolved
  bool expert_bias = false;         // resolved
};

// Counts one network. UsageError (64) for experts < 0 or a bad placement (unknown `layers:` name,
// a static-only layer such as a stem, stages outside 1..arch.stages).
CountResult count_network(const ArchSpec& arch, const CountOptions& options);

// fmnist-s equal-cost widths (spec 2.8): the conv3/conv4 width c whose static network S'(c) has
// MACs (equal_params = false) or params (true) nearest to C(n)'s; ties go to the smaller c.
int fmnist_equal_width(int experts, bool equal_params, int resolution = 28);

// Writes /results/layers/*, /results/totals/* and the attributes of /results (spec 3, `count`),
// every dataset with its `units`.
void write_count_results(io::H5File& file, const ArchSpec& arch, const CountResult& result);

}  // namespace effinfer::condconv
