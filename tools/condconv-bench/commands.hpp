// Subcommands of condconv-bench (spec condconv-bench section 3). Each group of subcommands
// registers itself on the Tool from its own file, so main.cpp stays one call per group:
//   commands_count.cpp  count (exact MACs, madds_tf, params of the built-in architectures)
//   commands_layer.cpp  gen, layer (one CondConv forward with a chosen strategy)
//   commands_bench.cpp  bench, net, merge (latency grid with roofline bounds; full networks)
//   commands_train.cpp  train, eval (small CondConv CNNs on Fashion-MNIST / digits)
//   commands_plot.cpp   plot (SVG of a train or bench output)
#pragma once

#include "core/tool.hpp"

namespace effinfer::condconv {

void register_count(Tool& tool);
void register_layer(Tool& tool);
void register_bench(Tool& tool);
void register_train(Tool& tool);
void register_plot(Tool& tool);

}  // namespace effinfer::condconv
