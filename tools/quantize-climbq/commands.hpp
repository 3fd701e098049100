// Subcommands of quantize-climbq (spec 3.3). Built up milestone by milestone (issue 4): make-data.
#pragma once

#include <string>

#include "core/tool.hpp"

namespace effinfer::climbq {

// Flags that mirror config keys (spec 3.3: "each flag is also a config key"); empty = not given.
struct CommandFlags {
  std::string source, rho, n_max, count_rule, class_order, val_per_class;
};

void run_make_data(RunContext& ctx, const CommandFlags& flags);

}  // namespace effinfer::climbq
