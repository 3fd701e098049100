// `net`: a full EfficientNet / CondConv-EfficientNet forward with random weights (spec
// condconv-bench 2.7; BN folded as identity), swish, SE, residuals, the CondConv blocks sharing
// one routing from the block input (spec 2.3). Every kernel wrapper increments per-row counters
// (MACs, mixing MACs, routing MACs, TF flops_other) by the work it ran, so check 9 compares them
// with `count`'s rows times B; per-layer latency is split into groups (conv1x1, depthwise,
// mixing, routing, se, elementwise, classifier).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "arch.hpp"
#include "count.hpp"

namespace effinfer::io {
class H5File;
}

namespace effinfer::condconv {

struct NetOptions {
  std::string arch = "efficientnet-b0";
  int experts = 0;  // 0 = static network
  int64_t batch = 1;
  int reps = 20, warmup = 3;
  int threads = 1;
  uint64_t seed = 0;
};

struct NetLayerStat {
  std::string name, group;  // row name (as count); time group
  int64_t macs = 0, macs_mix = 0, macs_route = 0, flops_other = 0;  // whole batch, one forward
  double median_ms = 0;
};

struct NetGroupStat {
  std::string group;
  int64_t macs = 0;
  double mac_share = 0, median_ms = 0, time_share = 0;
};

struct NetResult {
  ArchSpec arch;
  CountResult count;
  std::vector<float> logits;  // [B, classes]
  int64_t batch = 1, classes = 1000;
  std::vector<NetLayerStat> layers;
  std::vector<NetGroupStat> groups;
  double latency_ms = 0;  // median of whole forwards
  bool counters_match = false;
  std::vector<std::string> mismatches;  // "row: field counted X, count B*Y"
  bool ftz_daz = false;
};

// The time groups of /results/groups, in order.
const std::vector<std::string>& net_group_names();

// Builds, runs and times the network. UsageError (64) for a non-EfficientNet arch or experts < 0;
// InternalError (70) when the logits are not finite.
NetResult run_net(const NetOptions& o);

void write_net_results(io::H5File& f, const NetResult& r);

}  // namespace effinfer::condconv
